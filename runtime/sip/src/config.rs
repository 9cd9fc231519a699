//! How a [`SipServer`](crate::SipServer) listens, authenticates trunks and
//! allocates media ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use ipnet::IpNet;

/// Everything a [`SipServer`](crate::SipServer) needs to start.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// UDP listening address (`None`: no UDP). Port 0 picks a free port.
    pub udp_bind: Option<SocketAddr>,
    /// TCP listening address (`None`: no TCP). Port 0 takes the UDP port
    /// when it is free for TCP too, else any free port.
    pub tcp_bind: Option<SocketAddr>,
    /// The address written into SDP and Contact headers. `None`: the bind
    /// address, or 127.0.0.1 when that is unspecified (0.0.0.0).
    pub advertised_ip: Option<IpAddr>,
    /// RTP ports to use, one even port per call (RTCP on the odd port
    /// above it). Ports another process holds are skipped.
    pub rtp_ports: RangeInclusive<u16>,
    /// Source addresses allowed to start calls (INVITE outside a dialog).
    /// Empty allows everyone, which suits a loopback development set-up;
    /// anything else gets `403 Forbidden`.
    pub trunk_allow_list: Vec<IpNet>,
    /// When set, inbound INVITEs must pass digest authentication
    /// (`401` with a challenge, then the credentials are checked).
    pub digest: Option<DigestCredentials>,
    /// `User-Agent`/`Server` header value.
    pub user_agent: String,
    /// The user part of our Contact URI and the default caller of outbound
    /// calls.
    pub local_user: String,
    /// How long an [`IncomingCall`](crate::IncomingCall) may wait for
    /// `accept` or `reject` before it is refused with `480`.
    pub answer_timeout: Duration,
    /// Depth of each leg's event and command channels.
    pub leg_channel_depth: usize,
    /// Depth of the queue of incoming calls waiting for the application;
    /// beyond it calls are refused with `503`.
    pub incoming_queue_depth: usize,
    /// The jitter buffer's target depth in 20 ms frames.
    pub jitter_frames: usize,
    /// Interval between RTCP sender reports.
    pub rtcp_interval: Duration,
}

impl Default for SipConfig {
    fn default() -> Self {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060);
        Self {
            udp_bind: Some(loopback),
            tcp_bind: Some(loopback),
            advertised_ip: None,
            rtp_ports: 20_000..=29_999,
            trunk_allow_list: Vec::new(),
            digest: None,
            user_agent: concat!("switchyard/", env!("CARGO_PKG_VERSION")).to_string(),
            local_user: "switchyard".to_string(),
            answer_timeout: Duration::from_secs(30),
            leg_channel_depth: 256,
            incoming_queue_depth: 1024,
            jitter_frames: 3,
            rtcp_interval: Duration::from_secs(5),
        }
    }
}

impl SipConfig {
    /// A configuration for tests and local tools: UDP and TCP on
    /// 127.0.0.1 with free ports.
    pub fn loopback_ephemeral() -> Self {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            udp_bind: Some(any),
            tcp_bind: Some(any),
            ..Self::default()
        }
    }

    /// Whether `source` may start a call.
    pub fn allows_source(&self, source: IpAddr) -> bool {
        self.trunk_allow_list.is_empty()
            || self
                .trunk_allow_list
                .iter()
                .any(|net| net.contains(&source))
    }

    pub(crate) fn advertised_ip(&self) -> IpAddr {
        if let Some(ip) = self.advertised_ip {
            return ip;
        }
        let bound = self.udp_bind.or(self.tcp_bind).map(|addr| addr.ip());
        match bound {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// Credentials an inbound trunk must present (RFC 8760 digest; MD5 and
/// SHA-256 responses are accepted, the challenge names MD5, which every
/// trunk and SIPp speak).
#[derive(Clone)]
pub struct DigestCredentials {
    pub realm: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for DigestCredentials {
    // The password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("realm", &self.realm)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_allow_list_allows_everyone() {
        let config = SipConfig::default();
        assert!(config.allows_source("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn allow_list_matches_addresses_and_networks() {
        let config = SipConfig {
            trunk_allow_list: vec![
                "10.1.0.0/16".parse().unwrap(),
                "192.0.2.7/32".parse().unwrap(),
            ],
            ..SipConfig::default()
        };
        assert!(config.allows_source("10.1.200.3".parse().unwrap()));
        assert!(config.allows_source("192.0.2.7".parse().unwrap()));
        assert!(!config.allows_source("192.0.2.8".parse().unwrap()));
        assert!(!config.allows_source("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn digest_debug_hides_the_password() {
        let creds = DigestCredentials {
            realm: "r".into(),
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
