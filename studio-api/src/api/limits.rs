//! Rate limits (governor): requests per key, and failed authentications per
//! source address. A source that fails too often is refused for a while,
//! even with a good key, so a leaked prefix cannot be brute-forced.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The server's rate limiters.
#[derive(Debug)]
pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<String>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    blocked_until: Mutex<HashMap<IpAddr, Instant>>,
}

impl RateLimits {
    pub fn new(key_requests_per_second: u32, auth_failures_per_minute: u32) -> Self {
        let per_second = NonZeroU32::new(key_requests_per_second.max(1)).expect("non-zero");
        let per_minute = NonZeroU32::new(auth_failures_per_minute.max(1)).expect("non-zero");
        Self {
            per_key: RateLimiter::keyed(
                Quota::per_second(per_second)
                    .allow_burst(per_second.saturating_mul(NonZeroU32::new(2).expect("2"))),
            ),
            failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked_until: Mutex::default(),
        }
    }

    /// Seconds to wait when `ip` is blocked after too many failures.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let mut blocked = self.blocked_until.lock().expect("limits lock");
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => Some(seconds_until(*until)),
            Some(_) => {
                blocked.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Counts a failed authentication; returns seconds to wait when this
    /// failure went over the limit.
    pub fn failed(&self, ip: IpAddr) -> Option<u64> {
        match self.failures.check_key(&ip) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until
                    .wait_time_from(DefaultClock::default().now())
                    .max(Duration::from_secs(1));
                let until = Instant::now() + wait;
                let mut blocked = self.blocked_until.lock().expect("limits lock");
                if blocked.len() > 100_000 {
                    let now = Instant::now();
                    blocked.retain(|_, t| *t > now);
                }
                blocked.insert(ip, until);
                Some(seconds_until(until))
            }
        }
    }

    /// Counts one request by `key_id`; seconds to wait when over the limit.
    pub fn request(&self, key_id: &str) -> Option<u64> {
        self.per_key
            .check_key(&key_id.to_owned())
            .err()
            .map(|not_until| {
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1)
            })
    }
}

fn seconds_until(until: Instant) -> u64 {
    until
        .saturating_duration_since(Instant::now())
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_the_failure_limit_is_blocked() {
        let limits = RateLimits::new(10, 3);
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert_eq!(limits.blocked(ip), None);
        for _ in 0..3 {
            assert_eq!(limits.failed(ip), None);
        }
        let wait = limits.failed(ip).expect("fourth failure is over the limit");
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limits.blocked(ip).is_some());
        assert_eq!(limits.blocked(IpAddr::from([10, 0, 0, 2])), None);
    }

    #[test]
    fn a_key_over_its_request_rate_waits() {
        let limits = RateLimits::new(1, 10);
        assert_eq!(limits.request("k"), None);
        assert_eq!(limits.request("k"), None);
        assert!(limits.request("k").is_some());
        assert_eq!(limits.request("other"), None);
    }
}
