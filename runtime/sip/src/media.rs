//! A call's RTP session: one task with the call's RTP and RTCP sockets.
//!
//! Each caller frame goes to the leg through its `CallerAudio` (the VAD
//! runs here, on this task), or to the bridged call; every 20 ms tick
//! conceals a frame that is missing, and it sends one RTP packet: the
//! next 20 ms of the prompt queue, or encoded silence when nothing is
//! queued. We send continuously because many peers (and NATs) treat a
//! silent RTP stream as a dead call, and because a constant stream keeps
//! the far end's jitter buffer steady between prompts; the cost is 50
//! small packets a second per call. Only hold (our direction `recvonly` or
//! `inactive`) stops sending; the timestamps keep moving with the clock
//! and the first packet after it carries the marker bit.
//!
//! The tick comes from a tokio interval with [`MissedTickBehavior::Burst`]:
//! a tick delayed by a busy runtime is caught up at once, so over any
//! stretch of time exactly one packet per 20 ms leaves.
//!
//! Events for the leg are never awaited here. Audio goes with `try_send`
//! and is dropped (and counted) when the consumer is behind; DTMF, hold and
//! playout events wait in a small queue of their own, tried on every tick
//! and ahead of any audio, so a slow consumer can delay them but never
//! lose them or stall the RTP clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_media::dtmf::{EventPacket, dtmf_tone, event_packets};
use switchyard_media::frame::{Frame, SAMPLES_PER_FRAME};
use switchyard_media::g711::Codec;
use switchyard_media::jitter::{FrameKind, JitterBuffer, JitterConfig};
use switchyard_media::leg::{CallerAudio, DtmfSource, LegEvent};
use switchyard_media::rtcp::{self, NtpTimestamp, RtcpPacket, SenderInfo};
use switchyard_media::rtp::{Packetizer, RtpPacket};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, warn};

use crate::dtmf_glue::{DtmfIn, InbandDetector};
use crate::ports::{PortLease, RtpSockets};
use crate::sdp_glue::RemoteMedia;
use crate::stats::Stats;

/// Frames queued between two bridged calls (each way).
const BRIDGE_DEPTH: usize = 16;
/// More than this many frames waiting from the bridge partner and the
/// oldest are dropped: latency beats completeness in a conversation.
const BRIDGE_MAX_BACKLOG: usize = 3;
/// Undelivered DTMF/hold/playout events kept for a slow consumer.
const MAX_PENDING_EVENTS: usize = 1024;
const FRAME: Duration = Duration::from_millis(20);
const TICKS_PER_SECOND: u32 = 50;
/// Frames of caller audio handed on ahead of the clock at most (a peer
/// whose clock runs fast, or a burst after a stall).
const MAX_AHEAD: i32 = 5;
/// A key relayed to a bridged call lasts this long (RFC 4733 event or tone).
const RELAYED_KEY_MS: u32 = 100;
/// RFC 4733 volume of a relayed key: −10 dBm0.
const RELAYED_KEY_VOLUME: u8 = 10;
/// Peak of each of a relayed key's two tones, where the far end has no
/// telephone-event: about −9 dBm0 each.
const RELAYED_KEY_AMPLITUDE: i16 = 8_000;
/// Keys waiting to be relayed to the bridged call.
const BRIDGE_KEY_DEPTH: usize = 32;

pub(crate) struct RtpParams {
    pub sockets: RtpSockets,
    pub remote: RemoteMedia,
    pub events: Option<LegSink>,
    pub stats: Arc<Stats>,
    pub jitter_frames: usize,
    pub rtcp_interval: Duration,
    pub cname: String,
}

/// Where a session's events and the caller's audio go: the leg's ends.
pub(crate) struct LegSink {
    pub events: mpsc::Sender<LegEvent>,
    pub audio: CallerAudio,
}

enum Ctl {
    Play {
        id: u64,
        audio: Arc<[i16]>,
    },
    Clear,
    Remote(RemoteMedia),
    Emit(Box<LegEvent>),
    /// A key the signalling carried (SIP INFO).
    Key(char),
    Events(Option<LegSink>),
    Bridge(BridgeEnds),
}

/// One call's ends of a bridge: its audio and RFC 4733 keys go to the other
/// call, whose audio and keys come back.
pub(crate) struct BridgeEnds {
    to_peer: mpsc::Sender<Frame>,
    from_peer: mpsc::Receiver<Frame>,
    keys_to_peer: mpsc::Sender<char>,
    keys_from_peer: mpsc::Receiver<char>,
}

impl BridgeEnds {
    /// The two ends of a new bridge.
    pub(crate) fn pair() -> (Self, Self) {
        let (to_b, from_a) = mpsc::channel(BRIDGE_DEPTH);
        let (to_a, from_b) = mpsc::channel(BRIDGE_DEPTH);
        let (keys_to_b, keys_from_a) = mpsc::channel(BRIDGE_KEY_DEPTH);
        let (keys_to_a, keys_from_b) = mpsc::channel(BRIDGE_KEY_DEPTH);
        (
            Self {
                to_peer: to_b,
                from_peer: from_b,
                keys_to_peer: keys_to_b,
                keys_from_peer: keys_from_b,
            },
            Self {
                to_peer: to_a,
                from_peer: from_a,
                keys_to_peer: keys_to_a,
                keys_from_peer: keys_from_a,
            },
        )
    }
}

/// A key being sent to the far end, in place of audio.
enum KeyOut {
    /// RFC 4733 packets (the far end offered telephone-event).
    Event {
        payload_type: u8,
        packets: Vec<EventPacket>,
        next: usize,
        elapsed_ms: u32,
    },
    /// The key's two tones, where it did not.
    Tone { samples: Vec<i16>, pos: usize },
}

/// The call task's handle on its RTP task.
pub(crate) struct RtpSession {
    ctl: mpsc::UnboundedSender<Ctl>,
    task: Option<JoinHandle<()>>,
}

impl RtpSession {
    pub(crate) fn start(params: RtpParams) -> Self {
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        Stats::add(&params.stats.rtp_sessions_live, 1);
        let session = Session::new(params);
        let task = tokio::spawn(session.run(ctl_rx));
        Self {
            ctl,
            task: Some(task),
        }
    }

    fn send(&self, ctl: Ctl) {
        let _ = self.ctl.send(ctl);
    }

    pub(crate) fn play(&self, id: u64, audio: Arc<[i16]>) {
        self.send(Ctl::Play { id, audio });
    }

    pub(crate) fn clear(&self) {
        self.send(Ctl::Clear);
    }

    pub(crate) fn set_remote(&self, remote: RemoteMedia) {
        self.send(Ctl::Remote(remote));
    }

    /// Queues an event for the leg behind any already waiting.
    pub(crate) fn emit(&self, event: LegEvent) {
        self.send(Ctl::Emit(Box::new(event)));
    }

    /// A key that arrived in the signalling (SIP INFO): reported and
    /// relayed like an RFC 4733 key.
    pub(crate) fn key(&self, digit: char) {
        self.send(Ctl::Key(digit));
    }

    pub(crate) fn attach_events(&self, sink: LegSink) {
        self.send(Ctl::Events(Some(sink)));
    }

    pub(crate) fn detach_events(&self) {
        self.send(Ctl::Events(None));
    }

    pub(crate) fn bridge(&self, ends: BridgeEnds) {
        self.send(Ctl::Bridge(ends));
    }

    /// Resolves if the task ends on its own (it only does on a socket
    /// failure); pending for ever once it has been seen ending.
    pub(crate) async fn ended(&mut self) {
        match &mut self.task {
            Some(task) => {
                let _ = task.await;
                self.task = None;
            }
            None => std::future::pending().await,
        }
    }

    /// Stops the task and waits for it, so its sockets are closed (and
    /// their ports free) when this returns.
    pub(crate) async fn stop(mut self) {
        let (closed, _) = mpsc::unbounded_channel();
        self.ctl = closed;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

struct Prompt {
    id: u64,
    audio: Arc<[i16]>,
    pos: usize,
}

struct Session {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    remote: RemoteMedia,
    events: Option<mpsc::Sender<LegEvent>>,
    /// The VAD and the leg's wishes for raw frames (with `events`).
    audio: Option<CallerAudio>,
    pending: VecDeque<LegEvent>,
    stats: Arc<Stats>,
    started: Instant,
    // Inbound.
    jitter: JitterBuffer,
    receiving: bool,
    dtmf_in: DtmfIn,
    inband: InbandDetector,
    last_sr: Option<(u32, Instant)>,
    counted_late_or_lost: u64,
    /// Frames handed on minus ticks passed since receiving began.
    ahead: i32,
    /// How far behind the clock (frames) before missing audio is concealed
    /// even with nothing newer behind it: the jitter target.
    lag_limit: i32,
    // Outbound.
    packetizer: Packetizer,
    queue: VecDeque<Prompt>,
    was_sending: bool,
    bridge: Option<BridgeEnds>,
    key_out: Option<KeyOut>,
    rtcp_interval: Duration,
    cname: String,
    out: Vec<u8>,
    tick_count: u32,
    // Last: the port goes back to the pool after the sockets are closed.
    _lease: PortLease,
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0x5eed);
        return nanos;
    }
    u32::from_le_bytes(bytes)
}

impl Session {
    fn new(params: RtpParams) -> Self {
        let RtpParams {
            sockets,
            remote,
            events,
            stats,
            jitter_frames,
            rtcp_interval,
            cname,
        } = params;
        let RtpSockets {
            rtp, rtcp, lease, ..
        } = sockets;
        let (events, audio) = events.map(|s| (s.events, s.audio)).unzip();
        let target_ms = (jitter_frames.max(1) as u32) * 20;
        let jitter = JitterBuffer::new(JitterConfig {
            target_depth_ms: target_ms,
            max_depth_ms: (target_ms * 3).max(160),
            ..JitterConfig::default()
        });
        let ssrc = random_u32();
        let packetizer =
            Packetizer::new(ssrc, remote.payload_type, random_u32() as u16, random_u32());
        Self {
            rtp,
            rtcp,
            _lease: lease,
            remote,
            events,
            audio,
            pending: VecDeque::new(),
            stats,
            started: Instant::now(),
            jitter,
            receiving: false,
            dtmf_in: DtmfIn::new(),
            inband: InbandDetector::new(),
            last_sr: None,
            counted_late_or_lost: 0,
            ahead: 0,
            lag_limit: jitter_frames.max(1) as i32,
            packetizer,
            queue: VecDeque::new(),
            was_sending: false,
            bridge: None,
            key_out: None,
            rtcp_interval,
            cname,
            out: Vec::with_capacity(256),
            tick_count: 0,
        }
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        let mut tick = tokio::time::interval_at(self.started + FRAME, FRAME);
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut rtcp_tick =
            tokio::time::interval_at(self.started + self.rtcp_interval, self.rtcp_interval);
        rtcp_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 1500];
        let mut recv_errors = 0u32;
        loop {
            tokio::select! {
                biased;
                command = ctl.recv() => match command {
                    Some(command) => self.on_ctl(command),
                    None => break,
                },
                _ = tick.tick() => {
                    self.on_tick().await;
                    recv_errors = 0;
                }
                received = self.rtp.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.on_rtp(&buf[..len], from),
                    Err(e) => {
                        // ICMP errors from an earlier send show up here; a
                        // run of them without a tick in between is a dead
                        // socket.
                        recv_errors += 1;
                        if recv_errors > 1000 {
                            warn!(error = %e, "RTP socket failing; stopping");
                            break;
                        }
                    }
                },
                received = self.rtcp.recv_from(&mut rtcp_buf) => {
                    if let Ok((len, _)) = received {
                        self.on_rtcp(&rtcp_buf[..len]);
                    }
                }
                _ = rtcp_tick.tick() => self.send_rtcp().await,
            }
        }
        self.send_rtcp_bye().await;
        self.count_late_or_lost();
        self.stats.rtp_sessions_live.fetch_sub(1, Ordering::Relaxed);
    }

    fn on_ctl(&mut self, ctl: Ctl) {
        match ctl {
            Ctl::Play { id, audio } => self.queue.push_back(Prompt { id, audio, pos: 0 }),
            Ctl::Clear => self.queue.clear(),
            Ctl::Remote(remote) => {
                if remote.payload_type != self.remote.payload_type {
                    // Keep the sequence and timestamp spaces; only the
                    // payload type changes.
                    let next_seq = self.packetizer.next_sequence();
                    let next_ts = self.packetizer.next_timestamp();
                    self.packetizer = Packetizer::new(
                        self.packetizer.ssrc(),
                        remote.payload_type,
                        next_seq,
                        next_ts,
                    );
                }
                self.remote = remote;
            }
            Ctl::Emit(event) => self.push_event(*event),
            Ctl::Key(digit) => self.on_key(digit, DtmfSource::SipInfo),
            Ctl::Events(sink) => {
                let (events, audio) = sink.map(|s| (s.events, s.audio)).unzip();
                self.events = events;
                self.audio = audio;
                if self.events.is_none() {
                    self.pending.clear();
                }
            }
            Ctl::Bridge(ends) => {
                self.queue.clear();
                self.bridge = Some(ends);
            }
        }
    }

    /// A key the caller pressed, signalled out of band (RFC 4733 or SIP
    /// INFO).
    fn on_key(&mut self, digit: char, source: DtmfSource) {
        Stats::add(&self.stats.dtmf_received, 1);
        self.push_event(LegEvent::Dtmf { digit, source });
        // A key is a turn: it goes now, not at the next tick.
        self.flush_events();
        // Bridged, it is the person's: an IVR or colleague on the other call
        // may be waiting for it.
        if let Some(bridge) = &self.bridge {
            let _ = bridge.keys_to_peer.try_send(digit);
        }
    }

    fn push_event(&mut self, event: LegEvent) {
        if self.events.is_none() {
            return;
        }
        if self.pending.len() >= MAX_PENDING_EVENTS {
            self.pending.pop_front();
            warn!("the leg's consumer is not reading events; dropping the oldest");
        }
        self.pending.push_back(event);
    }

    // ── Inbound ──────────────────────────────────────────────────────────

    fn on_rtp(&mut self, datagram: &[u8], from: SocketAddr) {
        let packet = match RtpPacket::parse(datagram) {
            Ok(packet) => packet,
            Err(e) => {
                Stats::add(&self.stats.rtp_malformed, 1);
                debug!(%from, error = %e, "not an RTP packet");
                return;
            }
        };
        // Without an address from SDP (offer in the ACK, c=0.0.0.0), send
        // to where the media comes from.
        if self.remote.rtp.is_none() {
            self.remote.rtp = Some(from);
        }
        Stats::add(&self.stats.rtp_packets_in, 1);
        let now = self.now_us();
        if Some(packet.payload_type) == self.remote.telephone_event {
            if let Some(digit) = self.dtmf_in.on_packet(&packet) {
                self.on_key(digit, DtmfSource::Rfc4733);
            }
            return;
        }
        let codec = if packet.payload_type == self.remote.payload_type {
            Some(self.remote.codec)
        } else {
            Codec::from_payload_type(packet.payload_type)
        };
        let Some(codec) = codec else {
            // Comfort noise, video on the wrong port, anything else.
            return;
        };
        self.jitter.push_g711(&packet, codec, now);
        self.receiving = true;
        self.deliver_ready();
    }

    /// Hands on every frame that is complete, as it arrives: nothing here
    /// plays caller audio to a listener, so waiting for the jitter
    /// buffer's depth would only make barge-in, keys and speech later (see
    /// [`JitterBuffer::pop_ready_into`]). At most [`MAX_AHEAD`] frames run
    /// ahead of the 20 ms clock.
    fn deliver_ready(&mut self) {
        while self.ahead < MAX_AHEAD {
            let mut frame = Frame::silence();
            if !self.jitter.pop_ready_into(&mut frame) {
                return;
            }
            self.ahead += 1;
            self.on_inbound_frame(frame);
        }
    }

    /// On the clock: where a frame is missing, waits as long as a playout
    /// buffer would (its target depth behind a gap, or that long without
    /// any packet), then conceals it, so that consumers still get 50
    /// frames a second when packets are lost or the caller's side sends
    /// nothing.
    fn keep_pace(&mut self, now_us: u64) {
        self.ahead -= 1;
        while self.ahead < 0 {
            let mut frame = Frame::silence();
            if !self.jitter.pop_ready_into(&mut frame) {
                if !(self.jitter.gap_waited() || self.ahead <= -self.lag_limit) {
                    return;
                }
                if self.jitter.pop_into(now_us, &mut frame) == FrameKind::Buffering {
                    self.ahead = 0;
                    return;
                }
            }
            self.ahead += 1;
            self.on_inbound_frame(frame);
        }
    }

    fn on_rtcp(&mut self, datagram: &[u8]) {
        for packet in rtcp::packets(datagram) {
            match packet {
                Ok(RtcpPacket::SenderReport(report)) => {
                    self.last_sr = Some((report.info.ntp.middle(), Instant::now()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    // ── The 20 ms tick ───────────────────────────────────────────────────

    async fn on_tick(&mut self) {
        self.tick_count = self.tick_count.wrapping_add(1);
        if self.receiving {
            let now = self.now_us();
            self.keep_pace(now);
            if self.tick_count.is_multiple_of(TICKS_PER_SECOND) {
                self.stats.record_jitter_ms(self.jitter.stats().jitter_ms);
                self.count_late_or_lost();
            }
        }
        self.flush_events();
        self.send_next_frame().await;
    }

    fn on_inbound_frame(&mut self, frame: Frame) {
        if self.remote.telephone_event.is_none()
            && let Some(digit) = self.inband.on_frame(&frame)
        {
            Stats::add(&self.stats.dtmf_received, 1);
            self.push_event(LegEvent::Dtmf {
                digit,
                source: DtmfSource::InBand,
            });
        }
        if let Some(bridge) = &self.bridge {
            let _ = bridge.to_peer.try_send(frame);
            return;
        }
        let Some(audio) = self.audio.as_mut() else {
            return;
        };
        let out = audio.push(frame);
        if let Some(speech) = out.speech {
            // Queued behind any events waiting: never dropped.
            self.push_event(LegEvent::Speech(speech));
        }
        self.flush_events();
        let (Some(events), Some(frame)) = (&self.events, out.raw) else {
            return;
        };
        if !self.pending.is_empty() {
            Stats::add(&self.stats.audio_events_dropped, 1);
            return;
        }
        if events.try_send(LegEvent::Audio(frame)).is_err() {
            Stats::add(&self.stats.audio_events_dropped, 1);
        }
    }

    fn flush_events(&mut self) {
        let Some(events) = &self.events else {
            self.pending.clear();
            return;
        };
        while let Some(event) = self.pending.pop_front() {
            match events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.pending.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.pending.clear();
                    self.events = None;
                    return;
                }
            }
        }
    }

    fn count_late_or_lost(&mut self) {
        let stats = self.jitter.stats();
        let total = stats.late + stats.lost;
        if total > self.counted_late_or_lost {
            Stats::add(
                &self.stats.rtp_late_or_lost,
                total - self.counted_late_or_lost,
            );
            self.counted_late_or_lost = total;
        }
    }

    // ── Outbound ─────────────────────────────────────────────────────────

    /// The next 20 ms to send, and the prompt it finished, if any.
    fn next_frame(&mut self) -> (Frame, Option<u64>) {
        if let Some(KeyOut::Tone { samples, pos }) = &mut self.key_out {
            let end = (*pos + SAMPLES_PER_FRAME).min(samples.len());
            let frame = Frame::from_samples(&samples[*pos..end]);
            *pos = end;
            if *pos >= samples.len() {
                self.key_out = None;
            }
            if let Some(bridge) = &mut self.bridge {
                // The partner's audio of this slot gives way to the key.
                let _ = bridge.from_peer.try_recv();
            }
            return (frame, None);
        }
        if let Some(bridge) = &mut self.bridge {
            // Keep only the newest few frames: latency beats completeness.
            while bridge.from_peer.len() > BRIDGE_MAX_BACKLOG {
                let _ = bridge.from_peer.try_recv();
            }
            let frame = bridge
                .from_peer
                .try_recv()
                .unwrap_or_else(|_| Frame::silence());
            return (frame, None);
        }
        let Some(prompt) = self.queue.front_mut() else {
            return (Frame::silence(), None);
        };
        if prompt.pos >= prompt.audio.len() {
            // An empty prompt is done at once.
            let id = prompt.id;
            self.queue.pop_front();
            return (Frame::silence(), Some(id));
        }
        let end = (prompt.pos + SAMPLES_PER_FRAME).min(prompt.audio.len());
        let frame = Frame::from_samples(&prompt.audio[prompt.pos..end]);
        prompt.pos = end;
        let done = (prompt.pos >= prompt.audio.len()).then_some(prompt.id);
        if done.is_some() {
            self.queue.pop_front();
        }
        (frame, done)
    }

    async fn send_next_frame(&mut self) {
        let destination = self.remote.rtp.filter(|_| self.remote.we_send());
        let Some(destination) = destination else {
            // Hold, or no address yet: time passes, prompts wait.
            self.packetizer.skip(SAMPLES_PER_FRAME as u32);
            self.was_sending = false;
            return;
        };
        if !self.was_sending {
            self.packetizer.start_talkspurt();
            self.was_sending = true;
        }
        if self.key_out.is_none() {
            self.start_relayed_key();
        }
        if self.send_key_event(destination).await {
            return;
        }
        let (frame, done) = self.next_frame();
        let payload = self.remote.codec.encode(&frame);
        self.out.clear();
        self.packetizer
            .packetize(&payload, SAMPLES_PER_FRAME as u32, &mut self.out);
        match self.rtp.send_to(&self.out, destination).await {
            Ok(_) => Stats::add(&self.stats.rtp_packets_out, 1),
            Err(e) => debug!(%destination, error = %e, "sending RTP failed"),
        }
        if let Some(id) = done {
            self.push_event(LegEvent::PlayoutDone { id });
        }
    }

    /// Takes the next key the bridged call relayed: RFC 4733 packets if
    /// this far end offered telephone-event, otherwise its tones.
    fn start_relayed_key(&mut self) {
        let Some(bridge) = &mut self.bridge else {
            return;
        };
        let Ok(digit) = bridge.keys_from_peer.try_recv() else {
            return;
        };
        let started = match self.remote.telephone_event {
            Some(payload_type) => event_packets(
                digit,
                RELAYED_KEY_MS,
                RELAYED_KEY_VOLUME,
                self.packetizer.next_timestamp(),
            )
            .map(|packets| KeyOut::Event {
                payload_type,
                packets,
                next: 0,
                elapsed_ms: 0,
            }),
            None => dtmf_tone(digit, RELAYED_KEY_MS, RELAYED_KEY_AMPLITUDE)
                .map(|samples| KeyOut::Tone { samples, pos: 0 }),
        };
        match started {
            Ok(key) => self.key_out = Some(key),
            Err(error) => debug!(%error, "key not relayed"),
        }
    }

    /// Sends the RFC 4733 packets of the key in progress that are due;
    /// true while the event stands in for this slot's audio.
    async fn send_key_event(&mut self, destination: SocketAddr) -> bool {
        let Some(KeyOut::Event {
            payload_type,
            packets,
            next,
            elapsed_ms,
        }) = &mut self.key_out
        else {
            return false;
        };
        while let Some(packet) = packets.get(*next).filter(|p| p.send_at_ms <= *elapsed_ms) {
            self.out.clear();
            self.packetizer.packetize_at(
                *payload_type,
                packet.timestamp,
                packet.marker,
                &packet.payload,
                &mut self.out,
            );
            if let Err(e) = self.rtp.send_to(&self.out, destination).await {
                debug!(%destination, error = %e, "sending a key failed");
            }
            *next += 1;
        }
        let covering = *elapsed_ms < RELAYED_KEY_MS;
        *elapsed_ms += FRAME.as_millis() as u32;
        if *next >= packets.len() {
            self.key_out = None;
        }
        if covering {
            // The event's duration replaces audio: its samples are skipped
            // and the partner's audio of this slot gives way.
            self.packetizer.skip(SAMPLES_PER_FRAME as u32);
            if let Some(bridge) = &mut self.bridge {
                let _ = bridge.from_peer.try_recv();
            }
        }
        covering
    }

    // ── RTCP ─────────────────────────────────────────────────────────────

    fn rtcp_destination(&self) -> Option<SocketAddr> {
        self.remote.rtcp.or_else(|| {
            self.remote
                .rtp
                .map(|a| SocketAddr::new(a.ip(), a.port() + 1))
        })
    }

    async fn send_rtcp(&mut self) {
        let Some(destination) = self.rtcp_destination() else {
            return;
        };
        let (last_sr, delay) = match self.last_sr {
            Some((middle, at)) => {
                let delay = at.elapsed().as_secs_f64() * 65_536.0;
                (middle, delay as u32)
            }
            None => (0, 0),
        };
        let blocks: Vec<_> = self
            .jitter
            .report_block(last_sr, delay)
            .into_iter()
            .collect();
        let mut out = Vec::with_capacity(128);
        let ssrc = self.packetizer.ssrc();
        let written = if self.packetizer.packets_sent() > 0 {
            let info = SenderInfo {
                ntp: NtpTimestamp::from_unix_micros(unix_micros()),
                rtp_timestamp: self.packetizer.next_timestamp(),
                packet_count: self.packetizer.packets_sent(),
                octet_count: self.packetizer.octets_sent(),
            };
            rtcp::write_sender_report(ssrc, &info, &blocks, &mut out)
        } else {
            rtcp::write_receiver_report(ssrc, &blocks, &mut out)
        };
        if written.is_err() || rtcp::write_sdes_cname(ssrc, &self.cname, &mut out).is_err() {
            return;
        }
        if self.rtcp.send_to(&out, destination).await.is_ok() {
            Stats::add(&self.stats.rtcp_reports_sent, 1);
        }
    }

    async fn send_rtcp_bye(&mut self) {
        let Some(destination) = self.rtcp_destination() else {
            return;
        };
        let ssrc = self.packetizer.ssrc();
        let mut out = Vec::with_capacity(64);
        if rtcp::write_receiver_report(ssrc, &[], &mut out).is_err()
            || rtcp::write_sdes_cname(ssrc, &self.cname, &mut out).is_err()
        {
            return;
        }
        rtcp::write_bye(ssrc, &mut out);
        let _ = self.rtcp.send_to(&out, destination).await;
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
