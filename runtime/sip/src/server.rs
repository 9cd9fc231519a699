//! The SIP endpoint: transports, the dispatcher of incoming requests, and
//! the server handle applications hold.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::platform::CancellationToken;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode, Transport};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipConnection, TcpListenerConnection, TransportLayer};
use switchyard_media::leg::MediaLeg;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::auth::{AuthOutcome, DigestAuth};
use crate::call::{self, DialOptions, IncomingCall};
use crate::config::SipConfig;
use crate::error::{DialError, StartError};
use crate::ports::RtpPortPool;
use crate::sdp_glue;
use crate::stats::{SipStats, Stats};

/// Methods we answer inside a dialog, advertised in `Allow`.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";

/// A running SIP endpoint. Cheap to clone; every clone drives the same
/// server, which stops with [`SipServer::shutdown`] (or when the last clone
/// and every call are gone).
#[derive(Clone)]
pub struct SipServer {
    pub(crate) inner: Arc<ServerInner>,
}

impl std::fmt::Debug for SipServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipServer")
            .field("udp", &self.inner.udp_addr)
            .field("tcp", &self.inner.tcp_addr)
            .finish_non_exhaustive()
    }
}

pub(crate) struct ServerInner {
    pub config: SipConfig,
    pub dialogs: Arc<DialogLayer>,
    pub udp_addr: Option<SocketAddr>,
    pub tcp_addr: Option<SocketAddr>,
    pub ports: Arc<RtpPortPool>,
    pub stats: Arc<Stats>,
    pub auth: Option<DigestAuth>,
    /// Stops the endpoint: transports, transactions, the dispatcher.
    pub cancel: CancellationToken,
    /// Ends every call (they hang up first, then the endpoint stops).
    pub calls_cancel: CancellationToken,
    incoming: mpsc::Sender<IncomingCall>,
}

impl SipServer {
    /// Binds the configured transports, starts the endpoint, and returns
    /// the server with the stream of incoming calls.
    ///
    /// # Errors
    /// [`StartError::Bind`] when a listening address cannot be bound,
    /// [`StartError::Config`] for a configuration that cannot work (no
    /// transport at all, an empty RTP port range).
    pub async fn start(
        config: SipConfig,
    ) -> Result<(SipServer, mpsc::Receiver<IncomingCall>), StartError> {
        if config.udp_bind.is_none() && config.tcp_bind.is_none() {
            return Err(StartError::Config(
                "no UDP or TCP address to listen on".into(),
            ));
        }
        if config.rtp_ports.end() <= config.rtp_ports.start() {
            return Err(StartError::Config(
                "the RTP port range holds no even/odd pair".into(),
            ));
        }
        let cancel = CancellationToken::new();
        let transport_layer = TransportLayer::new(cancel.child_token());

        let mut udp_addr = None;
        if let Some(bind) = config.udp_bind {
            let connection =
                UdpConnection::create_connection(bind, None, Some(cancel.child_token()))
                    .await
                    .map_err(|e| StartError::Bind {
                        addr: bind,
                        reason: e.to_string(),
                    })?;
            let local = connection
                .get_addr()
                .get_socketaddr()
                .map_err(|e| StartError::Bind {
                    addr: bind,
                    reason: e.to_string(),
                })?;
            udp_addr = Some(local);
            transport_layer.add_transport(connection.into());
        }

        let mut tcp_addr = None;
        if let Some(bind) = config.tcp_bind {
            let addr = choose_tcp_address(bind, udp_addr)?;
            let listener =
                TcpListenerConnection::new(addr, None)
                    .await
                    .map_err(|e| StartError::Bind {
                        addr,
                        reason: e.to_string(),
                    })?;
            transport_layer.add_transport(listener.into());
            tcp_addr = Some(addr);
        }

        let endpoint = EndpointBuilder::new()
            .with_user_agent(&config.user_agent)
            .with_transport_layer(transport_layer)
            .with_cancel_token(cancel.clone())
            .build();
        let mut transactions = endpoint
            .incoming_transactions()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let endpoint = endpoint.inner.clone();
        {
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                if let Err(e) = endpoint.serve().await {
                    warn!(error = %e, "SIP endpoint stopped");
                }
            });
        }
        if let Some(addr) = tcp_addr {
            wait_until_listening(addr).await;
        }

        let media_ip = config.advertised_ip();
        let rtp_bind_ip = match config.udp_bind.or(config.tcp_bind).map(|a| a.ip()) {
            Some(ip) if ip.is_unspecified() => ip,
            _ => media_ip,
        };
        let ports = RtpPortPool::new(rtp_bind_ip, config.rtp_ports.clone());
        let (incoming, calls) = mpsc::channel(config.incoming_queue_depth.max(1));
        let inner = Arc::new(ServerInner {
            auth: config.digest.clone().map(DigestAuth::new),
            dialogs: Arc::new(DialogLayer::new(endpoint)),
            udp_addr,
            tcp_addr,
            ports,
            stats: Arc::new(Stats::default()),
            calls_cancel: cancel.child_token(),
            cancel: cancel.clone(),
            incoming,
            config,
        });
        info!(udp = ?udp_addr, tcp = ?tcp_addr, "SIP server listening");

        let dispatcher = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                let tx = tokio::select! {
                    tx = transactions.recv() => tx,
                    () = cancel.cancelled() => None,
                };
                let Some(tx) = tx else { break };
                let Some(inner) = dispatcher.upgrade() else {
                    break;
                };
                tokio::spawn(async move { inner.on_transaction(tx).await });
            }
            debug!("SIP dispatcher stopped");
        });
        Ok((SipServer { inner }, calls))
    }

    /// The UDP address we listen on, if any.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.inner.udp_addr
    }

    /// The TCP address we listen on, if any.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner.tcp_addr
    }

    /// Calls with a live task (ringing, answered or bridged).
    pub fn live_calls(&self) -> usize {
        self.inner.stats.calls_live.load(Ordering::Relaxed) as usize
    }

    /// Dialogs the SIP stack still holds. Every ended call removes its
    /// dialog, so this returns to 0 when [`SipServer::live_calls`] does.
    pub fn live_dialogs(&self) -> usize {
        self.inner.dialogs.len()
    }

    /// A snapshot of the server's counters.
    pub fn stats(&self) -> SipStats {
        self.inner.stats.snapshot()
    }

    /// Places an outbound call to `to` (a SIP URI; `;transport=tcp` picks
    /// TCP) as `from` (a user name, number or SIP URI) and returns its leg
    /// once the callee answers.
    ///
    /// # Errors
    /// [`DialError`] says why there is no call: a bad URI, a final error
    /// response, no answer within `options.ring_timeout` (the INVITE is
    /// cancelled), no usable codec in the answer, or no free RTP port.
    pub async fn dial(
        &self,
        to: &str,
        from: &str,
        options: DialOptions,
    ) -> Result<MediaLeg, DialError> {
        call::dial(self.inner.clone(), to, from, options).await
    }

    /// Ends every call with BYE (or `503` when unanswered), waits up to
    /// `grace` for them to go, and stops listening. New INVITEs meanwhile
    /// get `503`.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.calls_cancel.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while self.live_calls() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Let the last BYEs leave before the transports close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.inner.cancel.cancel();
    }
}

impl Drop for ServerInner {
    // The last handle and the last call are gone: stop the endpoint.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl ServerInner {
    /// Our Contact URI for a dialog on `transport`.
    pub(crate) fn contact_uri(&self, transport: Transport) -> String {
        let user = &self.config.local_user;
        match (transport, self.udp_addr, self.tcp_addr) {
            (Transport::Tcp, _, Some(tcp)) | (_, None, Some(tcp)) => {
                format!("sip:{user}@{};transport=tcp", sip_host(tcp, self))
            }
            (_, Some(udp), _) => format!("sip:{user}@{}", sip_host(udp, self)),
            (_, None, None) => format!("sip:{user}@{}", self.config.advertised_ip()),
        }
    }

    pub(crate) fn media_ip(&self) -> IpAddr {
        self.config.advertised_ip()
    }

    async fn on_transaction(self: Arc<Self>, mut tx: Transaction) {
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|to| to.tag().ok().flatten())
            .is_some();
        if in_dialog {
            match self.dialogs.match_dialog(&tx) {
                Some(mut dialog) => {
                    if let Err(e) = dialog.handle(&mut tx).await {
                        debug!(error = %e, method = %tx.original.method, "in-dialog request failed");
                    }
                }
                None => reply(&mut tx, StatusCode::CallTransactionDoesNotExist, vec![]).await,
            }
            return;
        }
        match tx.original.method {
            Method::Invite => self.on_invite(tx).await,
            Method::Options => {
                let headers = vec![
                    Header::Allow(ALLOW.into()),
                    Header::Accept("application/sdp".into()),
                ];
                reply(&mut tx, StatusCode::OK, headers).await;
            }
            Method::Bye | Method::Cancel | Method::Update | Method::Info | Method::Notify => {
                reply(&mut tx, StatusCode::CallTransactionDoesNotExist, vec![]).await;
            }
            Method::Ack => {}
            _ => {
                reply(
                    &mut tx,
                    StatusCode::MethodNotAllowed,
                    vec![Header::Allow(ALLOW.into())],
                )
                .await;
            }
        }
    }

    async fn on_invite(self: Arc<Self>, mut tx: Transaction) {
        if self.calls_cancel.is_cancelled() {
            reply(&mut tx, StatusCode::ServiceUnavailable, vec![]).await;
            return;
        }
        let source = source_of(&tx);
        let transport = tx
            .connection
            .as_ref()
            .map(SipConnection::transport)
            .unwrap_or(Transport::Udp);

        if let Some(source) = source
            && !self.config.allows_source(source.ip())
        {
            info!(%source, "INVITE from a source outside the trunk allow-list");
            Stats::add(&self.stats.calls_rejected, 1);
            reply(&mut tx, StatusCode::Forbidden, vec![]).await;
            return;
        }

        if let Some(auth) = &self.auth {
            let authorization = tx
                .original
                .authorization_header()
                .map(|h| h.value().to_string());
            match auth.check("INVITE", authorization.as_deref()) {
                AuthOutcome::Accepted => {}
                AuthOutcome::Challenge { stale } => {
                    if authorization.is_some() {
                        info!(?source, stale, "INVITE with credentials that do not verify");
                    }
                    let challenge = Header::WwwAuthenticate(auth.challenge(stale).into());
                    reply(&mut tx, StatusCode::Unauthorized, vec![challenge]).await;
                    return;
                }
            }
        }

        let offer = if tx.original.body.is_empty() {
            None
        } else {
            match sdp_glue::parse(&tx.original.body)
                .and_then(|offer| sdp_glue::check_offer(&offer).map(|()| offer))
            {
                Ok(offer) => Some(offer),
                Err(reason) => {
                    info!(%reason, "INVITE offer has nothing we can use");
                    Stats::add(&self.stats.calls_rejected, 1);
                    let reason = reason.replace('"', "'");
                    let warning = Header::Warning(format!("304 switchyard \"{reason}\"").into());
                    reply(&mut tx, StatusCode::NotAcceptableHere, vec![warning]).await;
                    return;
                }
            }
        };

        call::start_inbound(self.clone(), tx, source, transport, offer).await;
    }

    pub(crate) fn incoming_sender(&self) -> &mpsc::Sender<IncomingCall> {
        &self.incoming
    }
}

fn sip_host(addr: SocketAddr, server: &ServerInner) -> String {
    let ip = if addr.ip().is_unspecified() {
        server.config.advertised_ip()
    } else {
        addr.ip()
    };
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("[{v6}]:{}", addr.port()),
    }
}

/// Answers a transaction with a final response and keeps it alive until it
/// ends, so retransmitted requests get the response again and the ACK of
/// an error response is absorbed.
pub(crate) async fn reply(tx: &mut Transaction, status: StatusCode, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(status, headers, None).await {
        debug!(error = %e, "sending a response failed");
        return;
    }
    let drain = async { while tx.receive().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(40), drain).await;
}

/// The network address a request came from.
fn source_of(tx: &Transaction) -> Option<SocketAddr> {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|addr| addr.get_socketaddr().ok())
}

/// The TCP address to listen on: the configured one, or for port 0 the UDP
/// port when it is free for TCP too (one port for both is what peers
/// expect), else any free port.
fn choose_tcp_address(bind: SocketAddr, udp: Option<SocketAddr>) -> Result<SocketAddr, StartError> {
    let probe = |addr: SocketAddr| std::net::TcpListener::bind(addr).and_then(|l| l.local_addr());
    if bind.port() != 0 {
        return probe(bind).map_err(|e| StartError::Bind {
            addr: bind,
            reason: e.to_string(),
        });
    }
    if let Some(udp) = udp
        && let Ok(addr) = probe(SocketAddr::new(bind.ip(), udp.port()))
    {
        return Ok(addr);
    }
    probe(bind).map_err(|e| StartError::Bind {
        addr: bind,
        reason: e.to_string(),
    })
}

/// The endpoint binds its TCP listener when it starts serving; wait for it
/// so a caller can connect as soon as `start` returns.
async fn wait_until_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if std::net::TcpListener::bind(addr).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    warn!(%addr, "the TCP listener did not come up");
}
