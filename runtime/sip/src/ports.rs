//! RTP port allocation: one even port per call for RTP and the odd port
//! above it for RTCP (RFC 3550 §11), from a configured range.
//!
//! The pool remembers which ports this server holds; ports someone else
//! holds are found by trying to bind and skipped. A lease gives its port
//! back when dropped, so a call's sockets and its port go together.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

#[derive(Debug)]
pub(crate) struct RtpPortPool {
    ip: IpAddr,
    first: u16,
    pairs: u16,
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    next: u16,
    in_use: HashSet<u16>,
}

/// The two sockets of one call, and the right to their ports.
#[derive(Debug)]
pub(crate) struct RtpSockets {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub port: u16,
    pub lease: PortLease,
}

/// Holds a port pair for this server until dropped. Drop it after the
/// sockets, so the pool never hands out a port that is still bound.
#[derive(Debug)]
pub(crate) struct PortLease {
    pool: Arc<RtpPortPool>,
    port: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Ok(mut state) = self.pool.state.lock() {
            state.in_use.remove(&self.port);
        }
    }
}

impl RtpPortPool {
    pub(crate) fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Arc<Self> {
        // Start on an even port and keep room for the RTCP port above.
        let first = range.start().saturating_add(range.start() % 2);
        let last = *range.end();
        let pairs = if last > first {
            (last - first).div_ceil(2).max(1)
        } else {
            0
        };
        Arc::new(Self {
            ip,
            first,
            pairs,
            state: Mutex::new(PoolState::default()),
        })
    }

    /// Binds an RTP/RTCP pair, or `None` when every pair is taken.
    pub(crate) fn allocate(self: &Arc<Self>) -> Option<RtpSockets> {
        for _ in 0..self.pairs {
            let port = {
                let mut state = self.state.lock().ok()?;
                let port = self.first + 2 * (state.next % self.pairs);
                state.next = (state.next + 1) % self.pairs;
                if !state.in_use.insert(port) {
                    continue;
                }
                port
            };
            let lease = PortLease {
                pool: self.clone(),
                port,
            };
            match bind_pair(self.ip, port) {
                Some((rtp, rtcp)) => {
                    return Some(RtpSockets {
                        rtp,
                        rtcp,
                        port,
                        lease,
                    });
                }
                None => drop(lease),
            }
        }
        None
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> Option<(UdpSocket, UdpSocket)> {
    let rtp = bind(SocketAddr::new(ip, port))?;
    let rtcp = bind(SocketAddr::new(ip, port.checked_add(1)?))?;
    Some((rtp, rtcp))
}

fn bind(addr: SocketAddr) -> Option<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr).ok()?;
    socket.set_nonblocking(true).ok()?;
    UdpSocket::from_std(socket).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four consecutive ports free right now, the first even, and never
    /// the same block twice in this process: the tests run in parallel,
    /// and two that found the same free block would take each other's
    /// ports. Below the kernel's ephemeral range (32768 up), so no socket
    /// bound to port 0 meanwhile lands in the block.
    fn free_block() -> u16 {
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(20_000);
        loop {
            let p = NEXT.fetch_add(8, std::sync::atomic::Ordering::Relaxed);
            assert!(p < 32_000, "no free block of ports");
            if (p..p + 4).all(|q| std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok()) {
                return p;
            }
        }
    }

    #[tokio::test]
    async fn hands_out_even_pairs_until_exhausted_and_takes_them_back() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let base = free_block();
        let pool = RtpPortPool::new(ip, base..=base + 3);
        let a = pool.allocate().expect("first pair");
        let b = pool.allocate().expect("second pair");
        let mut ports = [a.port, b.port];
        ports.sort();
        assert_eq!(ports, [base, base + 2]);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), a.port + 1);
        assert!(pool.allocate().is_none(), "the range is exhausted");
        let freed = a.port;
        drop(a);
        assert_eq!(pool.allocate().map(|s| s.port), Some(freed));
    }

    #[tokio::test]
    async fn skips_ports_another_socket_holds() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let base = free_block();
        let _squatter = std::net::UdpSocket::bind((ip, base + 1)).unwrap();
        let pool = RtpPortPool::new(ip, base..=base + 3);
        let held = pool.allocate().expect("the free pair");
        assert_eq!(held.port, base + 2);
        assert!(pool.allocate().is_none());
    }
}
