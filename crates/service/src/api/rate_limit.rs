//! Per-key limits, applied after authentication: the request rate (governor: each key gets
//! a token bucket with its app's quota; a changed quota replaces the bucket) and the live
//! streams a key holds open at once.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::{ApiError, ErrorCode};
use crate::ids::KeyId;
use crate::store::tenants::RateLimit;

/// The buckets of every key seen so far.
pub struct RateLimiters {
    default: (NonZeroU32, NonZeroU32),
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

struct Bucket {
    quota: (NonZeroU32, NonZeroU32),
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl RateLimiters {
    /// `per_second` and `burst` are the server defaults for apps that set none.
    pub fn new(per_second: u32, burst: u32) -> RateLimiters {
        RateLimiters {
            default: (nonzero(per_second), nonzero(burst.max(per_second))),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when the key may make a request now, else the whole seconds to wait.
    pub fn check(&self, key: &KeyId, limit: RateLimit) -> Result<(), u64> {
        let per_second = limit.per_second.map(nonzero).unwrap_or(self.default.0);
        let burst = limit
            .burst
            .map(nonzero)
            .unwrap_or(self.default.1)
            .max(per_second);
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let bucket = buckets
                .entry(key.clone())
                .or_insert_with(|| Bucket::new(per_second, burst));
            if bucket.quota != (per_second, burst) {
                *bucket = Bucket::new(per_second, burst);
            }
            bucket.limiter.clone()
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

impl Bucket {
    fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Bucket {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Bucket {
            quota: (per_second, burst),
            limiter: Arc::new(RateLimiter::direct(quota)),
        }
    }
}

fn nonzero(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_allowed_then_refused_with_a_wait() {
        let limiters = RateLimiters::new(1, 3);
        let key = KeyId("k".into());
        for _ in 0..3 {
            assert!(limiters.check(&key, RateLimit::default()).is_ok());
        }
        let wait = limiters.check(&key, RateLimit::default()).unwrap_err();
        assert!(
            wait >= 1,
            "Retry-After must be at least one second, got {wait}"
        );
        assert!(
            limiters
                .check(&KeyId("other".into()), RateLimit::default())
                .is_ok(),
            "keys are independent"
        );
    }

    #[test]
    fn an_app_quota_overrides_the_default() {
        let limiters = RateLimiters::new(100, 100);
        let key = KeyId("k".into());
        let tight = RateLimit {
            per_second: Some(1),
            burst: Some(1),
        };
        assert!(limiters.check(&key, tight).is_ok());
        assert!(limiters.check(&key, tight).is_err());
    }
}

/// The most live streams (of calls and of the tenant's calls) one key holds open at once.
pub const LIVE_STREAMS_PER_KEY: usize = 20;

/// The live streams open per key: a permit is taken when a stream opens and given back
/// when it ends or the server notices its client has gone (a write to the connection
/// fails: within two 15 s heartbeats), so one key cannot hold all the connections.
#[derive(Default)]
pub struct StreamPermits(Mutex<HashMap<KeyId, usize>>);

/// One open stream of a key.
pub struct StreamPermit {
    permits: Arc<StreamPermits>,
    key: KeyId,
}

impl StreamPermits {
    /// A permit for one more stream of `key`; 429-01 when it already holds
    /// [`LIVE_STREAMS_PER_KEY`].
    pub fn take(self: &Arc<Self>, key: &KeyId) -> Result<StreamPermit, ApiError> {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key.clone()).or_default();
        if *count >= LIVE_STREAMS_PER_KEY {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "this key already holds {LIVE_STREAMS_PER_KEY} live streams open; close one first"
                ),
            )
            .with_retry_after(5));
        }
        *count += 1;
        Ok(StreamPermit {
            permits: self.clone(),
            key: key.clone(),
        })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self
            .permits
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}
