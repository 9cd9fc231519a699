//! `GET /v1/media-stream`: Twilio-compatible media streams.
//!
//! A Twilio number whose voice webhook answers
//! `<Connect><Stream url="wss://HOST/v1/media-stream"><Parameter name="token" value="..."/></Stream></Connect>`
//! opens this WebSocket. The stream must present a token (see [`token`])
//! in its `start` message's `customParameters` or in the URL before any
//! audio is accepted; a missing, expired or forged token closes the socket
//! with a policy-violation close frame and no call is created.
//!
//! After that the stream is a [`MediaLeg`]: inbound `media` (µ-law, 20 ms)
//! becomes audio frames, through the VAD on this task (see
//! [`switchyard_media::leg::CallerAudio`]), `dtmf` keys, `mark` echoes playout reports, `stop`
//! the caller's hang-up; prompts go out as `media` messages followed by a
//! `mark` named after the prompt, barge-in as `clear`. A mark Twilio echoes
//! because a `clear` dropped its audio is not counted as played.
//!
//! Garbage (not JSON, unknown events, bad base64) closes the socket with a
//! close frame saying what was wrong; nothing here panics on input.

pub mod token;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use switchyard_media::frame::SAMPLES_PER_FRAME;
use switchyard_media::g711::Codec;
use switchyard_media::leg::{
    ChannelEnds, ChannelKind, DtmfSource, LegCommand, LegEvent, LegInfo, MediaLeg,
};
use switchyard_media::twilio::{self, Inbound, MarkOutcome, MarkTracker};

use crate::api::error::{ApiError, ApiQuery, ErrorBody};
use crate::state::AppState;

/// How long a stream may take to send `start` after connecting.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The URL's query: a token may come here instead of `customParameters`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The media-stream token (`POST /v1/media-stream/tokens`), when the
    /// `start` message's `customParameters` does not carry it.
    token: Option<String>,
}

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 4 * 1024;

/// Opens a Twilio-compatible media stream (a WebSocket). The stream's
/// tenant and flow come from its token, presented in the `start` message's
/// `customParameters.token` or the URL's `token`, not from an API key; a
/// missing, expired or forged token closes the socket with code 1008 before
/// any audio is taken. A request that is not a WebSocket handshake is
/// answered in the API's error format.
#[utoipa::path(get, path = "/v1/media-stream", tag = "calls", params(StreamQuery),
    security(()),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open; Twilio's `connected`, `start`, `media`, `dtmf`, `mark` and `stop` messages follow"),
        (status = 400, body = ErrorBody, description = "Not a WebSocket handshake (`Connection: upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`), or a malformed query"),
        (status = 426, body = ErrorBody, description = "The connection cannot be upgraded")))]
pub async fn upgrade(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StreamQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                "websocket-required",
                format!(
                    "/v1/media-stream is a WebSocket for media streams: {}",
                    rejection.body_text()
                ),
            )
            .into_response();
        }
    };
    // Twilio's messages are small (a 20 ms `media` is about 400 bytes), and
    // tungstenite zero-fills its whole read buffer before every read: the
    // default 128 KiB buffer cost a memset of 128 KiB per frame per stream
    // and 128 KiB of memory per stream. Writes go out as they are sent.
    ws.max_message_size(1 << 20)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(state, socket, query.token))
}

async fn serve(state: AppState, mut socket: WebSocket, url_token: Option<String>) {
    let start = match tokio::time::timeout(START_TIMEOUT, wait_for_start(&mut socket)).await {
        Ok(Ok(start)) => start,
        Ok(Err(reason)) => return close(socket, close_code::PROTOCOL, &reason).await,
        Err(_) => return close(socket, close_code::POLICY, "no start message in time").await,
    };
    let presented = start.custom_parameters.get("token").cloned().or(url_token);
    let Some(presented) = presented else {
        return close(
            socket,
            close_code::POLICY,
            &token::TokenError::Missing.to_string(),
        )
        .await;
    };
    let grant = match token::verify(&state, &presented).await {
        Ok(grant) => grant,
        Err(error) => return close(socket, close_code::POLICY, &error.to_string()).await,
    };
    let info = LegInfo {
        channel: ChannelKind::MediaStream,
        from: start
            .custom_parameters
            .get("from")
            .cloned()
            .unwrap_or_default(),
        to: grant.to.clone(),
        channel_id: start.stream_sid.clone(),
    };
    let call = match crate::voice::open(&state, &grant.tenant, &info).await {
        Ok(call) => call,
        Err(error) => return close(socket, close_code::AGAIN, &error.message).await,
    };
    let (leg, ends) = MediaLeg::pair(info, 256);
    let driver = tokio::spawn(crate::voice::driver::run(state.clone(), call, leg));
    pump(socket, start.stream_sid, ends).await;
    let _ = driver.await;
}

/// Reads until `start` (skipping `connected`); anything else first is an error.
async fn wait_for_start(socket: &mut WebSocket) -> Result<twilio::Start, String> {
    loop {
        let Some(message) = socket.recv().await else {
            return Err("closed before start".into());
        };
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return Err("closed before start".into()),
            Ok(Message::Binary(_)) => {
                return Err("binary frames are not part of the protocol".into());
            }
        };
        match twilio::parse_inbound(&text) {
            Ok(Inbound::Connected(_)) => continue,
            Ok(Inbound::Start(start)) => return Ok(start),
            Ok(_) => return Err("media before start".into()),
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// How the stream's inbound audio kept up with real time, said once when
/// the stream ends (however it ends), at `info` under the target
/// `switchyard::ingress` (the stream benchmark reads it; see
/// docs/benchmarks-media.md).
///
/// A frame's lag is how much later than the stream's most punctual frame
/// it had been through the VAD, against its place in the stream's timeline
/// (Twilio's `timestamp`): (done − timestamp) − the least (done −
/// timestamp) so far, the packet delay variation of RTP measurement. It
/// includes the socket's queue, so a server that falls behind real time
/// shows a growing lag; audio queued while the call was being opened only
/// sets the reference (that wait is the answer time, measured apart). Raw frames the driver asked for (to
/// record them) and could not take are counted as dropped, and a warning
/// says so. The driver's queue holds 5 s of audio.
#[derive(Default)]
struct Ingress {
    /// When the stream began, for a monotonic clock in milliseconds.
    epoch: Option<std::time::Instant>,
    /// The least (done − timestamp) so far, in milliseconds.
    least_offset_ms: f64,
    frames: u64,
    lag_max_ms: f64,
    lag_ge_20ms: u64,
    lag_ge_100ms: u64,
    dropped_frames: u64,
}

impl Ingress {
    /// Counts the frames of one `media` message, after the VAD.
    fn through_vad(&mut self, timestamp_ms: u64, frames: u64) {
        let epoch = *self.epoch.get_or_insert_with(std::time::Instant::now);
        self.record(epoch.elapsed().as_secs_f64() * 1e3, timestamp_ms, frames);
    }

    /// Counts `frames` frames stamped `timestamp_ms` and done `done_ms`
    /// after the stream's first.
    fn record(&mut self, done_ms: f64, timestamp_ms: u64, frames: u64) {
        let offset_ms = done_ms - timestamp_ms as f64;
        if self.frames == 0 || offset_ms < self.least_offset_ms {
            self.least_offset_ms = offset_ms;
        }
        let lag_ms = offset_ms - self.least_offset_ms;
        self.frames += frames;
        self.lag_max_ms = self.lag_max_ms.max(lag_ms);
        self.lag_ge_20ms += frames * u64::from(lag_ms >= 20.0);
        self.lag_ge_100ms += frames * u64::from(lag_ms >= 100.0);
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        if self.dropped_frames > 0 {
            tracing::warn!(
                dropped_frames = self.dropped_frames,
                "media stream audio dropped"
            );
        }
        tracing::info!(
            target: "switchyard::ingress",
            frames = self.frames,
            lag_max_ms = (self.lag_max_ms * 10.0).round() / 10.0,
            lag_ge_20ms = self.lag_ge_20ms,
            lag_ge_100ms = self.lag_ge_100ms,
            "media stream inbound audio"
        );
    }
}

/// Moves messages between the socket and the leg until either side ends.
async fn pump(mut socket: WebSocket, stream_sid: String, mut ends: ChannelEnds) {
    let mut marks = MarkTracker::new();
    let mut samples = Vec::with_capacity(SAMPLES_PER_FRAME);
    let mut ingress = Ingress::default();
    loop {
        tokio::select! {
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        let _ = ends.events.send(LegEvent::Hangup { reason: "protocol error".into() }).await;
                        return close(socket, close_code::UNSUPPORTED, "binary frames are not part of the protocol").await;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        let _ = ends.events.send(LegEvent::Hangup { reason: "stream closed".into() }).await;
                        return;
                    }
                };
                match twilio::parse_inbound(&text) {
                    Ok(Inbound::Media(media)) => {
                        samples.clear();
                        media.decode_into(&mut samples);
                        let frames = switchyard_media::frame::frames_of(&samples);
                        let count = frames.len() as u64;
                        for frame in frames {
                            let out = ends.audio.push(frame);
                            if let Some(speech) = out.speech {
                                let _ = ends.events.send(LegEvent::Speech(speech)).await;
                            }
                            // A driver that falls behind loses raw audio,
                            // never the stream: the socket keeps its pace.
                            if let Some(frame) = out.raw
                                && ends.events.try_send(LegEvent::Audio(frame)).is_err()
                            {
                                ingress.dropped_frames += 1;
                            }
                        }
                        ingress.through_vad(media.timestamp_ms, count);
                    }
                    Ok(Inbound::Dtmf(dtmf)) => {
                        let _ = ends.events.send(LegEvent::Dtmf { digit: dtmf.digit, source: DtmfSource::Rfc4733 }).await;
                    }
                    Ok(Inbound::Mark(mark)) => {
                        if let MarkOutcome::Played(name) = marks.echoed(&mark.name)
                            && let Some(id) = twilio::prompt_id(&name)
                        {
                            let _ = ends.events.send(LegEvent::PlayoutDone { id }).await;
                        }
                    }
                    Ok(Inbound::Stop(_)) => {
                        let _ = ends.events.send(LegEvent::Hangup { reason: "stream stopped".into() }).await;
                        return close(socket, close_code::NORMAL, "stopped").await;
                    }
                    Ok(Inbound::Connected(_) | Inbound::Start(_)) => {
                        let _ = ends.events.send(LegEvent::Hangup { reason: "protocol error".into() }).await;
                        return close(socket, close_code::PROTOCOL, "the stream had already started").await;
                    }
                    Err(error) => {
                        let _ = ends.events.send(LegEvent::Hangup { reason: "protocol error".into() }).await;
                        return close(socket, close_code::INVALID, &error.to_string()).await;
                    }
                }
            }
            command = ends.commands.recv() => {
                let Some(command) = command else {
                    return close(socket, close_code::NORMAL, "call over").await;
                };
                match command {
                    LegCommand::Play { id, audio } => {
                        let mut payload = vec![0u8; audio.len()];
                        Codec::Pcmu.encode_into(&audio, &mut payload);
                        let mark = twilio::prompt_mark_name(id);
                        marks.sent(mark.clone());
                        let sent = socket.send(Message::Text(twilio::outbound_media(&stream_sid, &payload).into())).await.is_ok()
                            && socket.send(Message::Text(twilio::outbound_mark(&stream_sid, &mark).into())).await.is_ok();
                        if !sent {
                            let _ = ends.events.send(LegEvent::Hangup { reason: "stream closed".into() }).await;
                            return;
                        }
                    }
                    LegCommand::Clear => {
                        marks.cleared();
                        if socket.send(Message::Text(twilio::outbound_clear(&stream_sid).into())).await.is_err() {
                            let _ = ends.events.send(LegEvent::Hangup { reason: "stream closed".into() }).await;
                            return;
                        }
                    }
                    LegCommand::Transfer { reply, .. } => {
                        // A media stream carries audio only: the call leg
                        // belongs to the carrier, which transfers it.
                        let _ = reply.send(Err("a media stream cannot transfer the call; the carrier's call control must".into()));
                    }
                    LegCommand::Hangup => {
                        return close(socket, close_code::NORMAL, "call over").await;
                    }
                }
            }
        }
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    // A close reason is at most 123 bytes.
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use super::Ingress;

    #[test]
    fn ingress_lag_counts_from_the_most_punctual_frame() {
        let mut ingress = Ingress::default();
        // Queued while the call opened: 60 ms of audio handled at once.
        for ts in [20, 40, 60] {
            ingress.record(65.0, ts, 1);
        }
        // Then on time (5 ms after each frame's place), one 30 ms late,
        // and a stall of 150 ms.
        ingress.record(85.0, 80, 1);
        ingress.record(135.0, 100, 1);
        ingress.record(270.0, 120, 1);
        ingress.record(145.0, 140, 1);
        assert_eq!(ingress.frames, 7);
        assert!(
            (ingress.lag_max_ms - 145.0).abs() < 1e-9,
            "{}",
            ingress.lag_max_ms
        );
        assert_eq!(ingress.lag_ge_20ms, 2);
        assert_eq!(ingress.lag_ge_100ms, 1);
    }
}
