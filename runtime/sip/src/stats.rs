//! Counters for benchmarks and health checks, shared by every call of a
//! server and read without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of the jitter histogram: 1 ms each, the last one open-ended.
pub const JITTER_BUCKETS: usize = 100;

#[derive(Debug)]
pub(crate) struct Stats {
    pub calls_live: AtomicU64,
    pub calls_total: AtomicU64,
    pub calls_inbound: AtomicU64,
    pub calls_outbound: AtomicU64,
    pub calls_rejected: AtomicU64,
    pub rtp_sessions_live: AtomicU64,
    pub rtp_packets_in: AtomicU64,
    pub rtp_packets_out: AtomicU64,
    pub rtp_malformed: AtomicU64,
    pub rtp_late_or_lost: AtomicU64,
    pub audio_events_dropped: AtomicU64,
    pub rtcp_reports_sent: AtomicU64,
    pub dtmf_received: AtomicU64,
    /// Samples of the RFC 3550 interarrival jitter estimate, one a second
    /// per receiving call, in 1 ms buckets.
    pub jitter_hist: [AtomicU64; JITTER_BUCKETS],
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            calls_live: AtomicU64::new(0),
            calls_total: AtomicU64::new(0),
            calls_inbound: AtomicU64::new(0),
            calls_outbound: AtomicU64::new(0),
            calls_rejected: AtomicU64::new(0),
            rtp_sessions_live: AtomicU64::new(0),
            rtp_packets_in: AtomicU64::new(0),
            rtp_packets_out: AtomicU64::new(0),
            rtp_malformed: AtomicU64::new(0),
            rtp_late_or_lost: AtomicU64::new(0),
            audio_events_dropped: AtomicU64::new(0),
            rtcp_reports_sent: AtomicU64::new(0),
            dtmf_received: AtomicU64::new(0),
            jitter_hist: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn record_jitter_ms(&self, jitter_ms: f64) {
        let bucket = (jitter_ms.max(0.0) as usize).min(JITTER_BUCKETS - 1);
        self.jitter_hist[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SipStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SipStats {
            calls_live: get(&self.calls_live),
            calls_total: get(&self.calls_total),
            calls_inbound: get(&self.calls_inbound),
            calls_outbound: get(&self.calls_outbound),
            calls_rejected: get(&self.calls_rejected),
            rtp_sessions_live: get(&self.rtp_sessions_live),
            rtp_packets_in: get(&self.rtp_packets_in),
            rtp_packets_out: get(&self.rtp_packets_out),
            rtp_malformed: get(&self.rtp_malformed),
            rtp_late_or_lost: get(&self.rtp_late_or_lost),
            audio_events_dropped: get(&self.audio_events_dropped),
            rtcp_reports_sent: get(&self.rtcp_reports_sent),
            dtmf_received: get(&self.dtmf_received),
            jitter_histogram_ms: self.jitter_hist.iter().map(get).collect(),
        }
    }
}

/// A snapshot of a server's counters ([`SipServer::stats`](crate::SipServer::stats)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipStats {
    /// Calls with a live task: ringing, answered or bridged.
    pub calls_live: u64,
    /// Calls ever started (inbound INVITEs that made a dialog, and dials).
    pub calls_total: u64,
    pub calls_inbound: u64,
    pub calls_outbound: u64,
    /// INVITEs answered with a final error (403, 401 excluded, 404, 488, ...).
    pub calls_rejected: u64,
    /// Calls holding an RTP socket pair right now.
    pub rtp_sessions_live: u64,
    pub rtp_packets_in: u64,
    pub rtp_packets_out: u64,
    /// Datagrams on an RTP port that were not RTP we could use.
    pub rtp_malformed: u64,
    /// Packets that arrived too late for the jitter buffer, or never came.
    pub rtp_late_or_lost: u64,
    /// Audio frames dropped because the leg's consumer was not keeping up.
    pub audio_events_dropped: u64,
    pub rtcp_reports_sent: u64,
    pub dtmf_received: u64,
    /// Per-second samples of each receiving call's interarrival jitter
    /// (RFC 3550 §6.4.1), counted in 1 ms buckets; the last bucket holds
    /// everything above.
    pub jitter_histogram_ms: Vec<u64>,
}

impl SipStats {
    /// The jitter (ms, bucket upper bound) below which fraction `q` of the
    /// samples fall; `None` before any sample.
    pub fn jitter_percentile_ms(&self, q: f64) -> Option<u32> {
        let total: u64 = self.jitter_histogram_ms.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, count) in self.jitter_histogram_ms.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Some(ms as u32 + 1);
            }
        }
        Some(self.jitter_histogram_ms.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_percentiles_come_from_the_histogram() {
        let stats = Stats::default();
        for _ in 0..98 {
            stats.record_jitter_ms(0.4);
        }
        stats.record_jitter_ms(7.2);
        stats.record_jitter_ms(250.0);
        let snap = stats.snapshot();
        assert_eq!(snap.jitter_percentile_ms(0.5), Some(1));
        assert_eq!(snap.jitter_percentile_ms(0.99), Some(8));
        assert_eq!(snap.jitter_percentile_ms(1.0), Some(JITTER_BUCKETS as u32));
        assert_eq!(SipStats::default().jitter_percentile_ms(0.99), None);
    }
}
