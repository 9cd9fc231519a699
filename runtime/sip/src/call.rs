//! One call: its dialog, its RTP session and the media leg the driver
//! holds, from the INVITE to the last teardown step.
//!
//! A call is one task. It reads the dialog's state changes (the SIP stack
//! reports ACK, re-INVITE, NOTIFY, BYE, CANCEL and timeouts there), the
//! driver's [`LegCommand`]s and its own internal messages, and it is the
//! only place that ends the call, so every path runs the same teardown:
//! RTP task stopped and its sockets freed, dialog removed from the stack,
//! the live count lowered, and then exactly one [`LegEvent::Hangup`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{
    DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle,
};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{
    Header, Request, Response, StatusCode, StatusCodeKind, Transport, Uri, Warning,
};
use rsipstack::transaction::transaction::Transaction;
use switchyard_media::leg::{ChannelKind, LegCommand, LegEvent, LegInfo, MediaLeg};
use switchyard_media::sdp::{Direction, LocalSession, Offer, SessionDescription};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::dtmf_glue::{self, InfoKey};
use crate::error::{AcceptError, DialError};
use crate::media::{LegSink, RtpParams, RtpSession};
use crate::ports::RtpSockets;
use crate::sdp_glue::{self, RemoteMedia};
use crate::server::{ALLOW, ServerInner};
use crate::stats::Stats;

/// How long a transfer may take, from REFER (or the bridge's INVITE) to
/// the final word.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the last `Hangup` event may wait for room in a full channel.
const HANGUP_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of [`SipServer::dial`](crate::SipServer::dial).
#[derive(Debug, Clone)]
pub struct DialOptions {
    /// How long to let it ring before cancelling the INVITE.
    pub ring_timeout: Duration,
    /// Digest credentials for a trunk that challenges our INVITE.
    pub credentials: Option<DialCredentials>,
}

impl Default for DialOptions {
    fn default() -> Self {
        Self {
            ring_timeout: Duration::from_secs(30),
            credentials: None,
        }
    }
}

/// A user name and password to answer a `401`/`407` challenge with.
#[derive(Clone)]
pub struct DialCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for DialCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The SIP transport a call arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    Udp,
    Tcp,
}

/// An inbound call waiting for the application's decision. Dropping it
/// refuses the call with `480 Temporarily Unavailable`.
#[derive(Debug)]
pub struct IncomingCall {
    /// Caller, called number (the request URI's user) and Call-ID.
    pub info: LegInfo,
    /// Where the INVITE came from (the packet's source, not the Via).
    pub source: SocketAddr,
    /// The transport it came over.
    pub transport: SipTransport,
    answer: Option<oneshot::Sender<Answer>>,
}

#[derive(Debug)]
enum Answer {
    Accept(oneshot::Sender<Result<MediaLeg, AcceptError>>),
    Reject(u16),
}

impl IncomingCall {
    /// Answers the call (`200 OK` with our SDP) and returns its media leg.
    ///
    /// # Errors
    /// [`AcceptError::Gone`] when the caller gave up first (CANCEL),
    /// [`AcceptError::NoRtpPort`] when no RTP port is free (the caller gets
    /// `503`), [`AcceptError::Signalling`] when the stack refused to answer.
    pub async fn accept(mut self) -> Result<MediaLeg, AcceptError> {
        let (reply, leg) = oneshot::channel();
        let Some(answer) = self.answer.take() else {
            return Err(AcceptError::Gone);
        };
        answer
            .send(Answer::Accept(reply))
            .map_err(|_| AcceptError::Gone)?;
        leg.await.unwrap_or(Err(AcceptError::Gone))
    }

    /// Refuses the call with a final status (`404` when no flow is routed
    /// to the number, `486` busy, `488` no acceptable media, `603` decline).
    /// Anything outside 300–699 is sent as `603`.
    pub fn reject(mut self, status: u16) {
        let status = if (300..700).contains(&status) {
            status
        } else {
            603
        };
        if let Some(answer) = self.answer.take() {
            let _ = answer.send(Answer::Reject(status));
        }
    }
}

/// Messages a call task gets from its helpers and its bridge partner.
enum CallCtl {
    /// The answer to our REFER (`None`: no response).
    ReferSent(Result<Option<u16>, String>),
    /// The second leg of a bridge transfer, answered or not.
    BridgeReady(Result<Box<Call>, DialError>),
    /// The other leg of our bridge ended.
    PartnerGone,
}

enum PendingTransfer {
    Refer {
        reply: oneshot::Sender<Result<(), String>>,
        /// The Refer-To target, until the REFER has gone out (it waits for
        /// the ACK: a REFER needs a confirmed dialog).
        unsent: Option<String>,
        deadline: tokio::time::Instant,
    },
    Bridge {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// Counts a live call while it exists.
struct LiveCall(Arc<Stats>);

impl LiveCall {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.calls_live.fetch_add(1, Ordering::Relaxed);
        Stats::add(&stats.calls_total, 1);
        Self(stats.clone())
    }
}

impl Drop for LiveCall {
    fn drop(&mut self) {
        self.0.calls_live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes the dialog from the stack when the call is done with it
/// (terminated dialogs otherwise stay in the stack's table for ever).
struct DialogEntry {
    dialogs: Arc<DialogLayer>,
    dialog: InviteDialog,
}

impl Drop for DialogEntry {
    fn drop(&mut self) {
        self.dialogs.remove_dialog(&self.dialog.id());
    }
}

pub(crate) struct Call {
    server: Arc<ServerInner>,
    dialog: InviteDialog,
    states: DialogStateReceiver,
    rtp: Option<RtpSession>,
    /// Our SDP session (address, port, `o=` version), once we have a port.
    local: Option<LocalSession>,
    /// An offer of ours whose answer is still to come (in an ACK).
    pending_offer: Option<Offer>,
    remote: RemoteMedia,
    on_hold: bool,
    peer_allows_refer: bool,
    /// The leg's own description (used as the caller of a bridge leg).
    info: LegInfo,
    leg_events: Option<mpsc::Sender<LegEvent>>,
    commands: Option<mpsc::Receiver<LegCommand>>,
    ctl_tx: mpsc::Sender<CallCtl>,
    ctl_rx: mpsc::Receiver<CallCtl>,
    partner: Option<mpsc::Sender<CallCtl>>,
    transfer: Option<PendingTransfer>,
    // Dropped last, in this order: the dialog leaves the stack, then the
    // call stops counting as live.
    entry: Option<DialogEntry>,
    live: Option<LiveCall>,
}

/// How a call ended, for the `Hangup` event and the BYE decision.
struct Ending {
    reason: String,
    send_bye: bool,
}

impl Ending {
    fn remote(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            send_bye: false,
        }
    }

    fn local(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            send_bye: true,
        }
    }
}

fn terminated_reason(reason: &TerminatedReason) -> String {
    match reason {
        TerminatedReason::UacBye | TerminatedReason::UasBye => "remote hangup".into(),
        TerminatedReason::Timeout => "no ACK for our answer".into(),
        TerminatedReason::UacCancel => "cancelled".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn user_or_uri(uri: &Uri) -> String {
    match uri.user() {
        Some(user) if !user.is_empty() => user.to_string(),
        _ => uri.to_string(),
    }
}

fn allows_refer(headers: &[&Header]) -> bool {
    headers.iter().any(|h| match h {
        Header::Allow(allow) => allow
            .value()
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("REFER")),
        _ => false,
    })
}

fn request_allows_refer(req: &Request) -> bool {
    allows_refer(&req.headers.iter().collect::<Vec<_>>())
}

fn response_allows_refer(resp: &Response) -> bool {
    allows_refer(&resp.headers.iter().collect::<Vec<_>>())
}

fn sdp_headers() -> Vec<Header> {
    vec![
        Header::ContentType("application/sdp".into()),
        Header::Allow(ALLOW.into()),
    ]
}

// ── Inbound ──────────────────────────────────────────────────────────────

/// Makes the dialog for a new INVITE, starts its task and offers it to
/// the application.
pub(crate) async fn start_inbound(
    server: Arc<ServerInner>,
    mut tx: Transaction,
    source: Option<SocketAddr>,
    transport: Transport,
    offer: Option<SessionDescription>,
) {
    let contact = Uri::try_from(server.contact_uri(transport).as_str()).ok();
    let (state_tx, states) = server.dialogs.new_dialog_state_channel();
    let dialog = match server
        .dialogs
        .get_or_create_server_invite(&tx, state_tx, None, contact)
    {
        Ok(dialog) => dialog,
        Err(e) => {
            info!(error = %e, "cannot make a dialog for an INVITE");
            crate::server::reply(&mut tx, StatusCode::BadRequest, vec![]).await;
            return;
        }
    };
    let entry = DialogEntry {
        dialogs: server.dialogs.clone(),
        dialog: dialog.clone(),
    };
    let live = LiveCall::new(&server.stats);
    Stats::add(&server.stats.calls_inbound, 1);

    let request = tx.original.clone();
    let info = LegInfo {
        channel: ChannelKind::Sip,
        from: request
            .from_header()
            .ok()
            .and_then(|h| h.uri().ok())
            .map(|uri| user_or_uri(&uri))
            .unwrap_or_default(),
        to: user_or_uri(&request.uri),
        channel_id: request
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default(),
    };

    // The INVITE transaction: 100 Trying now, then the answer, ACK and
    // CANCEL all pass through it.
    {
        let mut dialog = dialog.clone();
        tokio::spawn(async move {
            if let Err(e) = dialog.handle(&mut tx).await {
                debug!(error = %e, "INVITE transaction ended with an error");
            }
        });
    }

    let (answer_tx, answer_rx) = oneshot::channel();
    let incoming = IncomingCall {
        info: info.clone(),
        source: source.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        transport: if transport == Transport::Tcp {
            SipTransport::Tcp
        } else {
            SipTransport::Udp
        },
        answer: Some(answer_tx),
    };
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let call = Call {
        local: None,
        pending_offer: None,
        remote: RemoteMedia::default(),
        server: server.clone(),
        dialog,
        states,
        rtp: None,
        on_hold: false,
        peer_allows_refer: request_allows_refer(&request),
        info,
        leg_events: None,
        commands: None,
        ctl_tx,
        ctl_rx,
        partner: None,
        transfer: None,
        entry: Some(entry),
        live: Some(live),
    };
    if let Err(e) = server.incoming_sender().try_send(incoming) {
        // Nobody is taking calls, or too many are waiting: the IncomingCall
        // comes back inside the error and dropping it refuses the call.
        warn!("incoming call refused: the application is not taking calls");
        drop(e);
        call.dialog
            .reject(Some(StatusCode::ServiceUnavailable), None)
            .ok();
        Stats::add(&server.stats.calls_rejected, 1);
        return;
    }
    tokio::spawn(call.run_inbound(answer_rx, offer));
}

impl Call {
    async fn run_inbound(
        mut self,
        mut answer: oneshot::Receiver<Answer>,
        offer: Option<SessionDescription>,
    ) {
        let deadline = tokio::time::sleep(self.server.config.answer_timeout);
        tokio::pin!(deadline);
        let reply = loop {
            tokio::select! {
                biased;
                state = self.states.recv() => match state {
                    Some(DialogState::Terminated(_, reason)) => {
                        debug!(reason = %terminated_reason(&reason), "call ended before the answer");
                        return;
                    }
                    None => return,
                    Some(_) => {}
                },
                () = self.server.calls_cancel.cancelled() => {
                    self.refuse(StatusCode::ServiceUnavailable);
                    return;
                }
                () = &mut deadline => {
                    info!("no answer from the application in time");
                    self.refuse(StatusCode::TemporarilyUnavailable);
                    return;
                }
                decision = &mut answer => match decision {
                    Ok(Answer::Accept(reply)) => break reply,
                    Ok(Answer::Reject(status)) => {
                        self.refuse(StatusCode::from(status));
                        return;
                    }
                    Err(_) => {
                        self.refuse(StatusCode::TemporarilyUnavailable);
                        return;
                    }
                },
            }
        };
        // The caller may have cancelled while the decision was on its way.
        while let Ok(state) = self.states.try_recv() {
            if let DialogState::Terminated(..) = state {
                let _ = reply.send(Err(AcceptError::Gone));
                return;
            }
        }
        match self.answer(offer) {
            Ok(leg) => {
                // If the application stopped waiting, the leg is dropped
                // here and the call ends with BYE like any dropped leg.
                let _ = reply.send(Ok(leg));
                self.run_active().await;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn refuse(&self, status: StatusCode) {
        Stats::add(&self.server.stats.calls_rejected, 1);
        if let Err(e) = self.dialog.reject(Some(status), None) {
            debug!(error = %e, "refusing the call failed");
        }
    }

    /// Sends `200 OK` with our SDP and starts the media.
    fn answer(&mut self, offer: Option<SessionDescription>) -> Result<MediaLeg, AcceptError> {
        let Some(sockets) = self.server.ports.allocate() else {
            warn!("no free RTP port; refusing the call");
            self.refuse(StatusCode::ServiceUnavailable);
            return Err(AcceptError::NoRtpPort);
        };
        let mut local = LocalSession::new(self.server.media_ip(), sockets.port, session_id());
        let body = match &offer {
            Some(offer) => match local.answer(offer) {
                Ok(answer) => {
                    self.remote = RemoteMedia::from(&answer.negotiated);
                    answer.sdp
                }
                Err(rejection) => {
                    // Checked when the INVITE came; only a changed stack
                    // could get here.
                    self.refuse(StatusCode::NotAcceptableHere);
                    return Err(AcceptError::Signalling(rejection.reason));
                }
            },
            None => {
                let offer = local.offer(Direction::SendRecv);
                let sdp = offer.sdp.clone();
                self.pending_offer = Some(offer);
                sdp
            }
        };
        self.local = Some(local);
        self.dialog
            .accept(Some(sdp_headers()), Some(body.into_bytes()))
            .map_err(|e| AcceptError::Signalling(e.to_string()))?;
        self.on_hold = self.remote.on_hold;
        let (leg, ends) = MediaLeg::pair(self.info.clone(), self.server.config.leg_channel_depth);
        self.start_rtp(
            sockets,
            Some(LegSink {
                events: ends.events.clone(),
                audio: ends.audio,
            }),
        );
        self.leg_events = Some(ends.events);
        self.commands = Some(ends.commands);
        Ok(leg)
    }

    fn start_rtp(&mut self, sockets: RtpSockets, events: Option<LegSink>) {
        let params = RtpParams {
            sockets,
            remote: self.remote.clone(),
            events,
            stats: self.server.stats.clone(),
            jitter_frames: self.server.config.jitter_frames,
            rtcp_interval: self.server.config.rtcp_interval,
            cname: format!(
                "{}@{}",
                self.server.config.local_user,
                self.server.media_ip()
            ),
        };
        self.rtp = Some(RtpSession::start(params));
    }

    // ── The answered call ────────────────────────────────────────────────

    async fn run_active(mut self) {
        let ending = self.active_loop().await;
        self.finish(ending).await;
    }

    async fn active_loop(&mut self) -> Ending {
        loop {
            let transfer_deadline = match &self.transfer {
                Some(PendingTransfer::Refer { deadline, .. }) => Some(*deadline),
                _ => None,
            };
            let rtp_ended = async {
                match &mut self.rtp {
                    Some(rtp) => rtp.ended().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                state = self.states.recv() => {
                    let Some(state) = state else {
                        return Ending::remote("dialog closed");
                    };
                    if let Some(ending) = self.on_dialog_state(state).await {
                        return ending;
                    }
                }
                ctl = self.ctl_rx.recv() => {
                    // `ctl_tx` lives in `self`, so this never yields `None`.
                    if let Some(ending) = ctl.and_then(|ctl| self.on_ctl(ctl)) {
                        return ending;
                    }
                }
                command = async {
                    match &mut self.commands {
                        Some(commands) => commands.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    match command {
                        Some(command) => {
                            if let Some(ending) = self.on_command(command) {
                                return ending;
                            }
                        }
                        None => {
                            self.commands = None;
                            if self.partner.is_none() {
                                return Ending::local("media leg dropped");
                            }
                        }
                    }
                }
                () = async {
                    match transfer_deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.transfer_failed("the transfer target did not answer in time".into());
                }
                () = rtp_ended => {
                    warn!("the RTP task stopped; ending the call");
                    return Ending::local("media failure");
                }
                () = self.server.calls_cancel.cancelled() => {
                    return Ending::local("server shutdown");
                }
            }
        }
    }

    async fn on_dialog_state(&mut self, state: DialogState) -> Option<Ending> {
        match state {
            DialogState::Terminated(_, reason) => {
                return Some(Ending::remote(terminated_reason(&reason)));
            }
            DialogState::Confirmed(..) => {
                self.send_refer_when_confirmed();
                // We offered in a 2xx (the INVITE or re-INVITE had no
                // offer): the answer is in the ACK.
                let ack = self.dialog.last_remote_ack().filter(|a| !a.body.is_empty());
                if let (Some(ack), Some(offer)) = (ack, self.pending_offer.take()) {
                    match sdp_glue::parse(&ack.body)
                        .and_then(|a| offer.accept_answer(&a).map_err(|r| r.reason))
                    {
                        Ok(negotiated) => self.apply_remote(RemoteMedia::from(&negotiated)),
                        Err(reason) => info!(%reason, "the answer in the ACK is unusable"),
                    }
                }
            }
            DialogState::Updated(_, request, handle) => {
                let (status, body) = self.on_reoffer(&request);
                let headers = body.as_ref().map(|_| sdp_headers());
                if let Err(e) = handle
                    .respond(status, headers, body.map(String::into_bytes))
                    .await
                {
                    debug!(error = %e, "answering a re-INVITE failed");
                }
            }
            DialogState::Notify(_, request, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                if let Some(ending) = self.on_notify(&request) {
                    return Some(ending);
                }
            }
            DialogState::Refer(_, _, handle) => {
                // We never act on a peer's REFER: the flow decides transfers.
                let _ = handle.reply(StatusCode::Decline).await;
            }
            DialogState::Info(_, request, handle) => self.on_info(&request, handle).await,
            DialogState::Options(_, _, handle)
            | DialogState::Message(_, _, handle)
            | DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Calling(_)
            | DialogState::Trying(_)
            | DialogState::Early(..)
            | DialogState::WaitAck(..) => {}
        }
        None
    }

    /// A re-INVITE or UPDATE: hold, resume, or a new address.
    fn on_reoffer(&mut self, request: &Request) -> (StatusCode, Option<String>) {
        let Some(local) = &mut self.local else {
            return (StatusCode::ServerInternalError, None);
        };
        if request.body.is_empty() {
            // No offer: ours goes in the 200, the answer comes in the ACK.
            let offer = local.offer(Direction::SendRecv);
            let sdp = offer.sdp.clone();
            self.pending_offer = Some(offer);
            return (StatusCode::OK, Some(sdp));
        }
        let answer = sdp_glue::parse(&request.body)
            .and_then(|offer| local.answer(&offer).map_err(|r| r.reason));
        match answer {
            Ok(answer) => {
                self.apply_remote(RemoteMedia::from(&answer.negotiated));
                (StatusCode::OK, Some(answer.sdp))
            }
            Err(reason) => {
                info!(%reason, method = %request.method, "re-offer refused");
                (StatusCode::NotAcceptableHere, None)
            }
        }
    }

    fn apply_remote(&mut self, remote: RemoteMedia) {
        let hold = remote.on_hold;
        self.remote = remote;
        if let Some(rtp) = &self.rtp {
            rtp.set_remote(self.remote.clone());
            if hold != self.on_hold {
                rtp.emit(LegEvent::Hold(hold));
            }
        }
        self.on_hold = hold;
    }

    fn on_command(&mut self, command: LegCommand) -> Option<Ending> {
        match command {
            LegCommand::Play { id, audio } => {
                if let Some(rtp) = &self.rtp {
                    rtp.play(id, audio);
                }
            }
            LegCommand::Clear => {
                if let Some(rtp) = &self.rtp {
                    rtp.clear();
                }
            }
            LegCommand::Hangup => return Some(Ending::local("hung up by us")),
            LegCommand::Transfer { to, reply } => self.start_transfer(to, reply),
        }
        None
    }

    fn on_ctl(&mut self, ctl: CallCtl) -> Option<Ending> {
        match ctl {
            CallCtl::PartnerGone => {
                self.partner = None;
                return Some(Ending::local("the other party hung up"));
            }
            CallCtl::ReferSent(result) => {
                // 202 (or any 2xx): the outcome comes in NOTIFYs.
                let error = match result {
                    Ok(Some(status)) if (200..300).contains(&status) => None,
                    Ok(Some(status)) => Some(format!("REFER refused with {status}")),
                    Ok(None) => Some("no response to REFER".to_string()),
                    Err(e) => Some(format!("REFER failed: {e}")),
                };
                if let Some(error) = error {
                    self.transfer_failed(error);
                }
            }
            CallCtl::BridgeReady(Ok(other)) => return self.bridge_with(*other),
            CallCtl::BridgeReady(Err(e)) => {
                self.transfer_failed(format!("cannot reach the transfer target: {e}"));
            }
        }
        None
    }

    // ── Transfer ─────────────────────────────────────────────────────────

    fn start_transfer(&mut self, to: String, reply: oneshot::Sender<Result<(), String>>) {
        if self.transfer.is_some() || self.partner.is_some() {
            let _ = reply.send(Err("a transfer is already under way".into()));
            return;
        }
        let target = match normalize_target(&to, &self.server) {
            Ok(target) => target,
            Err(e) => {
                let _ = reply.send(Err(e.to_string()));
                return;
            }
        };
        if self.peer_allows_refer {
            info!(%target, "transferring by REFER");
            self.transfer = Some(PendingTransfer::Refer {
                reply,
                unsent: Some(target),
                deadline: tokio::time::Instant::now() + TRANSFER_TIMEOUT,
            });
            self.send_refer_when_confirmed();
        } else {
            info!(%target, "the peer does not take REFER; bridging to the target");
            let server = self.server.clone();
            let ctl = self.ctl_tx.clone();
            let caller = self.info.from.clone();
            tokio::spawn(async move {
                let options = DialOptions {
                    ring_timeout: TRANSFER_TIMEOUT,
                    credentials: None,
                };
                let result = dial_call(server, &target, &caller, options)
                    .await
                    .map(Box::new);
                if let Err(mpsc::error::SendError(CallCtl::BridgeReady(Ok(orphan)))) =
                    ctl.send(CallCtl::BridgeReady(result)).await
                {
                    // The call ended while the target was ringing.
                    orphan.finish(Ending::local("transfer abandoned")).await;
                }
            });
            self.transfer = Some(PendingTransfer::Bridge { reply });
        }
    }

    fn send_refer_when_confirmed(&mut self) {
        if !self.dialog.state().is_confirmed() {
            return;
        }
        let Some(PendingTransfer::Refer { unsent, .. }) = &mut self.transfer else {
            return;
        };
        let Some(target) = unsent.take() else { return };
        let dialog = self.dialog.clone();
        let ctl = self.ctl_tx.clone();
        tokio::spawn(async move {
            let refer_to = rsipstack::sip::headers::ReferTo::new(format!("<{target}>"));
            let result = dialog
                .refer(refer_to, None, None)
                .await
                .map(|resp| resp.map(|r| u16::from(r.status_code)))
                .map_err(|e| e.to_string());
            let _ = ctl.send(CallCtl::ReferSent(result)).await;
        });
    }

    /// An INFO: a key for peers that signal DTMF that way instead of
    /// RFC 4733. Other INFO packages are acknowledged and ignored, as
    /// before; a DTMF body that names no key gets a 400 saying why.
    async fn on_info(&mut self, request: &Request, handle: TransactionHandle) {
        let content_type = request.header_value("Content-Type");
        match dtmf_glue::info_key(content_type.as_deref(), &request.body) {
            InfoKey::Key(digit) => {
                let _ = handle.reply(StatusCode::OK).await;
                match &self.rtp {
                    Some(rtp) => rtp.key(digit),
                    None => debug!("a key in an INFO before media was set up; dropped"),
                }
            }
            InfoKey::Malformed(reason) => {
                debug!(%reason, "INFO with a DTMF body that names no key");
                let warning = Header::Warning(Warning::new(format!("399 switchyard \"{reason}\"")));
                let _ = handle
                    .respond(StatusCode::BadRequest, Some(vec![warning]), None)
                    .await;
            }
            InfoKey::NotDtmf => {
                let _ = handle.reply(StatusCode::OK).await;
            }
        }
    }

    fn on_notify(&mut self, request: &Request) -> Option<Ending> {
        let is_refer = request
            .header_value("Event")
            .is_some_and(|e| e.to_ascii_lowercase().starts_with("refer"));
        if !is_refer {
            return None;
        }
        let terminated = request
            .header_value("Subscription-State")
            .is_some_and(|s| s.to_ascii_lowercase().starts_with("terminated"));
        let status = sipfrag_status(&request.body);
        match status {
            Some(code) if (200..300).contains(&code) => return self.transfer_succeeded(),
            Some(code) if code >= 300 => {
                self.transfer_failed(format!("the transfer target answered {code}"));
            }
            _ if terminated => {
                self.transfer_failed("the transfer ended without an answer".into());
            }
            _ => {}
        }
        None
    }

    fn transfer_succeeded(&mut self) -> Option<Ending> {
        let Some(PendingTransfer::Refer { reply, .. }) = self.transfer.take() else {
            return None;
        };
        let _ = reply.send(Ok(()));
        // RFC 5589 §6.1: the transferor ends its dialog once the transfer
        // went through.
        Some(Ending::local("transferred"))
    }

    fn transfer_failed(&mut self, error: String) {
        info!(%error, "transfer failed");
        match self.transfer.take() {
            Some(PendingTransfer::Refer { reply, .. })
            | Some(PendingTransfer::Bridge { reply }) => {
                let _ = reply.send(Err(error));
            }
            None => {}
        }
    }

    /// Connects this call's media with `other`'s and hands both to a
    /// bridge; the driver's leg ends with `Hangup { reason: "transferred" }`.
    fn bridge_with(&mut self, mut other: Call) -> Option<Ending> {
        let Some(PendingTransfer::Bridge { reply }) = self.transfer.take() else {
            tokio::spawn(other.finish(Ending::local("transfer abandoned")));
            return None;
        };
        let (Some(ours), Some(theirs)) = (&self.rtp, &other.rtp) else {
            let _ = reply.send(Err("no media to bridge".into()));
            tokio::spawn(other.finish(Ending::local("transfer abandoned")));
            return None;
        };
        let (our_ends, their_ends) = crate::media::BridgeEnds::pair();
        ours.bridge(our_ends);
        theirs.bridge(their_ends);
        other.partner = Some(self.ctl_tx.clone());
        self.partner = Some(other.ctl_tx.clone());
        tokio::spawn(other.run_active());
        let _ = reply.send(Ok(()));
        self.detach_leg("transferred");
        None
    }

    /// Ends the driver's view of the call while the call itself goes on
    /// (bridged) or is about to end (after REFER).
    fn detach_leg(&mut self, reason: &str) {
        if let Some(rtp) = &self.rtp {
            rtp.detach_events();
        }
        if let Some(events) = self.leg_events.take() {
            let reason = reason.to_string();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    HANGUP_SEND_TIMEOUT,
                    events.send(LegEvent::Hangup { reason }),
                )
                .await;
            });
        }
        self.commands = None;
    }

    // ── Teardown ─────────────────────────────────────────────────────────

    async fn finish(mut self, ending: Ending) {
        info!(reason = %ending.reason, "call ended");
        if ending.send_bye {
            let dialog = self.dialog.clone();
            tokio::spawn(async move {
                if let Err(e) = dialog.hangup().await {
                    debug!(error = %e, "BYE failed");
                }
            });
        }
        if let Some(partner) = self.partner.take() {
            let _ = partner.try_send(CallCtl::PartnerGone);
        }
        if let Some(transfer) = self.transfer.take() {
            match transfer {
                PendingTransfer::Refer { reply, .. } | PendingTransfer::Bridge { reply } => {
                    let _ = reply.send(Err("the call ended".into()));
                }
            }
        }
        if let Some(rtp) = self.rtp.take() {
            rtp.stop().await;
        }
        drop(self.entry.take());
        drop(self.live.take());
        if let Some(events) = self.leg_events.take() {
            let hangup = LegEvent::Hangup {
                reason: ending.reason,
            };
            let _ = tokio::time::timeout(HANGUP_SEND_TIMEOUT, events.send(hangup)).await;
        }
    }
}

/// An `o=` session id: microseconds since the epoch, unique enough per host.
fn session_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

/// The status code in a `message/sipfrag` body (`SIP/2.0 200 OK`).
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("SIP/2.0"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A transfer or dial target as a SIP URI: `sip:` is added when missing,
/// and a bare number gets our host.
fn normalize_target(to: &str, server: &ServerInner) -> Result<String, DialError> {
    let to = to.trim();
    let uri = if to.starts_with("sip:") || to.starts_with("sips:") {
        to.to_string()
    } else if to.contains('@') {
        format!("sip:{to}")
    } else {
        format!("sip:{to}@{}", server.media_ip())
    };
    Uri::try_from(uri.as_str())
        .map(|_| uri.clone())
        .map_err(|_| DialError::InvalidUri(to.to_string()))
}

// ── Outbound ─────────────────────────────────────────────────────────────

pub(crate) async fn dial(
    server: Arc<ServerInner>,
    to: &str,
    from: &str,
    options: DialOptions,
) -> Result<MediaLeg, DialError> {
    let mut call = dial_call(server, to, from, options).await?;
    let (leg, ends) = MediaLeg::pair(call.info.clone(), call.server.config.leg_channel_depth);
    if let Some(rtp) = &call.rtp {
        rtp.attach_events(LegSink {
            events: ends.events.clone(),
            audio: ends.audio,
        });
    }
    call.leg_events = Some(ends.events);
    call.commands = Some(ends.commands);
    tokio::spawn(call.run_active());
    Ok(leg)
}

/// Places the INVITE and returns the answered call, not yet running.
async fn dial_call(
    server: Arc<ServerInner>,
    to: &str,
    from: &str,
    options: DialOptions,
) -> Result<Call, DialError> {
    if server.calls_cancel.is_cancelled() {
        return Err(DialError::ShuttingDown);
    }
    let target = normalize_target(to, &server)?;
    let callee = Uri::try_from(target.as_str()).map_err(|_| DialError::InvalidUri(to.into()))?;
    let transport = if target.to_ascii_lowercase().contains(";transport=tcp") {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let caller_text = if from.starts_with("sip:") {
        from.to_string()
    } else {
        let host = server.media_ip();
        let user = if from.is_empty() {
            server.config.local_user.as_str()
        } else {
            from
        };
        format!("sip:{user}@{host}")
    };
    let caller =
        Uri::try_from(caller_text.as_str()).map_err(|_| DialError::InvalidUri(from.into()))?;
    let contact = Uri::try_from(server.contact_uri(transport).as_str())
        .map_err(|e| DialError::Signalling(e.to_string()))?;

    let sockets = server.ports.allocate().ok_or(DialError::NoRtpPort)?;
    let offer = Offer::ours(server.media_ip(), sockets.port);

    let invite = InviteOption {
        caller: caller.clone(),
        callee: callee.clone(),
        contact,
        content_type: Some("application/sdp".into()),
        offer: Some(offer.sdp.clone().into_bytes()),
        headers: Some(vec![Header::Allow(ALLOW.into())]),
        credential: options.credentials.map(|c| Credential {
            username: c.user,
            password: c.password,
            realm: None,
            auth_username: None,
        }),
        ..Default::default()
    };
    let (state_tx, states) = server.dialogs.new_dialog_state_channel();
    let (dialog, mut invite_task) = server
        .dialogs
        .do_invite_async(invite, state_tx)
        .map_err(|e| DialError::Signalling(e.to_string()))?;
    let live = LiveCall::new(&server.stats);
    Stats::add(&server.stats.calls_outbound, 1);

    let outcome = tokio::select! {
        outcome = &mut invite_task => Some(outcome),
        () = tokio::time::sleep(options.ring_timeout) => None,
        () = server.calls_cancel.cancelled() => None,
    };
    let outcome = match outcome {
        Some(outcome) => outcome,
        None => {
            if let Err(e) = dialog.cancel().await {
                debug!(error = %e, "CANCEL failed");
            }
            // The INVITE ends with 487 (or a 2xx that crossed the CANCEL,
            // which the stack ends with BYE).
            let _ = tokio::time::timeout(Duration::from_secs(5), invite_task).await;
            server.dialogs.remove_dialog(&dialog.id());
            drop(live);
            return Err(if server.calls_cancel.is_cancelled() {
                DialError::ShuttingDown
            } else {
                DialError::NoAnswer
            });
        }
    };
    let entry = DialogEntry {
        dialogs: server.dialogs.clone(),
        dialog: dialog.clone(),
    };
    let response = match outcome {
        Ok(Ok((_, Some(response)))) => response,
        Ok(Ok((_, None))) => return Err(DialError::Signalling("no final response".into())),
        Ok(Err(e)) => return Err(DialError::Signalling(e.to_string())),
        Err(e) => return Err(DialError::Signalling(e.to_string())),
    };
    if response.status_code.kind() != StatusCodeKind::Successful {
        return Err(DialError::Rejected {
            status: response.status_code.code(),
            reason: response.status_code.text().to_string(),
        });
    }
    let answer = sdp_glue::parse(&response.body)
        .and_then(|answer| offer.accept_answer(&answer).map_err(|r| r.reason));
    let remote = match answer {
        Ok(negotiated) => RemoteMedia::from(&negotiated),
        Err(reason) => {
            let dialog = dialog.clone();
            tokio::spawn(async move { dialog.hangup().await });
            return Err(DialError::NoMedia(reason));
        }
    };
    let info = LegInfo {
        channel: ChannelKind::Sip,
        from: from.to_string(),
        to: user_or_uri(&callee),
        channel_id: dialog.id().call_id.clone(),
    };
    let (ctl_tx, ctl_rx) = mpsc::channel(8);
    let mut call = Call {
        server: server.clone(),
        peer_allows_refer: response_allows_refer(&response),
        on_hold: remote.on_hold,
        remote,
        local: Some(offer.into_session()),
        pending_offer: None,
        dialog,
        states,
        rtp: None,
        info,
        leg_events: None,
        commands: None,
        ctl_tx,
        ctl_rx,
        partner: None,
        transfer: None,
        entry: Some(entry),
        live: Some(live),
    };
    call.start_rtp(sockets, None);
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipfrag_status_reads_the_status_line() {
        assert_eq!(sipfrag_status(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(sipfrag_status(b"SIP/2.0 100 Trying"), Some(100));
        assert_eq!(sipfrag_status(b"SIP/2.0 486 Busy Here\r\n\r\n"), Some(486));
        assert_eq!(sipfrag_status(b"garbage"), None);
        assert_eq!(sipfrag_status(&[0xff, 0xfe]), None);
    }
}
