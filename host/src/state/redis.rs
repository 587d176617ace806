//! The Redis backend: several gateways naming one Redis share every counter and limit. Each
//! rate-limit decision and each windowed increment is one Lua script (EVALSHA, loaded on first
//! use) on one key, so it is one atomic round trip, timed by the Redis server's clock, on one
//! server, on the master Sentinel names, or on the Cluster node that owns the key's slot. The
//! connection is made lazily and remade after a failure; every call is bounded by the `[state]`
//! timeout.
//!
//! - `link`: how each kind (one server, Sentinel, Cluster) connects, and when it reconnects;
//! - `lazy`: the connect-on-first-use slot Sentinel and Cluster share;
//! - `tls`: the `tls` table's PEM files, read when the store is built;
//! - `scripts`: the Lua scripts.

mod lazy;
mod link;
mod scripts;
mod tls;

use std::time::Duration;

use redis::{AsyncCommands, RedisError, Script};

use self::link::{Con, Link};
use self::scripts::{GCRA, INCREMENT, WINDOW};
use super::algo::ceil_ms;
use super::{Algorithm, RateDecision, SetupError, StateError};
use crate::config::RedisConfig;

pub(super) struct Redis {
    link: Link,
    prefix: String,
    timeout: Duration,
    /// Whether it speaks TLS, to say so when a handshake fails.
    tls: bool,
    increment: Script,
    gcra: Script,
    window: Script,
}

impl Redis {
    /// A lazily connected client; needs a tokio runtime. `label` names it in errors.
    pub(super) fn new(
        config: &RedisConfig,
        timeout: Duration,
        label: &str,
    ) -> Result<Self, SetupError> {
        // The redis crate looks for the runtime itself and would panic outside one.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SetupError::NoRuntime);
        }
        Ok(Self {
            link: Link::new(config, timeout, label)?,
            prefix: format!("{}:", config.prefix),
            timeout,
            tls: config.tls.is_some(),
            increment: Script::new(INCREMENT),
            gcra: Script::new(GCRA),
            window: Script::new(WINDOW),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `call` on a connection within the timeout (connecting included); a failure tells
    /// the link, which may reconnect.
    async fn run<T, F>(&self, call: impl FnOnce(Con) -> F) -> Result<T, StateError>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        let late =
            || StateError::Unavailable(format!("Redis did not answer within {:?}", self.timeout));
        let deadline = tokio::time::Instant::now() + self.timeout;
        let lease = match tokio::time::timeout_at(deadline, self.link.lease()).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(why)) => return Err(unavailable(&why, self.tls)),
            Err(_) => return Err(late()),
        };
        match tokio::time::timeout_at(deadline, call(lease.con.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.link.failed(&lease, Some(&e));
                Err(describe(&e, self.tls))
            }
            Err(_) => {
                self.link.failed(&lease, None);
                Err(late())
            }
        }
    }

    pub(super) async fn increment(
        &self,
        key: &str,
        delta: i64,
        window_ms: u64,
    ) -> Result<i64, StateError> {
        let key = self.key(key);
        self.run(|mut con| async move {
            self.increment
                .key(key)
                .arg(delta)
                .arg(window_ms)
                .invoke_async(&mut con)
                .await
        })
        .await
    }

    pub(super) async fn rate_limit(
        &self,
        key: &str,
        algorithm: Algorithm,
        limit: u32,
        period_us: u64,
        cost: u32,
    ) -> Result<RateDecision, StateError> {
        let key = self.key(key);
        let script = match algorithm {
            Algorithm::TokenBucket => &self.gcra,
            Algorithm::SlidingWindow => &self.window,
        };
        let reply: Vec<i64> = self
            .run(|mut con| async move {
                script
                    .key(key)
                    .arg(limit)
                    .arg(period_us)
                    .arg(cost)
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        let [allowed, remaining, reset, retry] = reply[..] else {
            return Err(StateError::Unavailable(format!(
                "unexpected reply from the rate-limit script: {reply:?}"
            )));
        };
        let micros = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(RateDecision {
            allowed: allowed == 1,
            limit,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset_ms: ceil_ms(micros(reset)),
            retry_after_ms: ceil_ms(micros(retry)),
        })
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let key = self.key(key);
        self.run(|mut con| async move { con.get(key).await }).await
    }

    pub(super) async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), StateError> {
        let key = self.key(key);
        self.run(|mut con| async move {
            match ttl_ms {
                Some(ttl) => con.pset_ex(key, value, ttl).await,
                None => con.set(key, value).await,
            }
        })
        .await
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StateError> {
        let key = self.key(key);
        self.run(|mut con| async move { con.del(key).await }).await
    }
}

/// A counter overflow is the caller's problem; anything else means Redis could not serve.
fn describe(error: &RedisError, tls: bool) -> StateError {
    let text = error.to_string();
    if text.contains("overflow") {
        StateError::Invalid("the counter would overflow".into())
    } else {
        unavailable(&text, tls)
    }
}

/// `unavailable`, saying so when a TLS handshake is what failed.
fn unavailable(why: &str, tls: bool) -> StateError {
    let lower = why.to_ascii_lowercase();
    let handshake = [
        "certificate",
        "handshake",
        "tls",
        "unknownissuer",
        "badsignature",
    ];
    if tls && handshake.iter().any(|word| lower.contains(word)) {
        StateError::Unavailable(format!(
            "Redis: the TLS handshake failed: {why} (check `tls.ca` in `[state]`: it must hold the CA that issued the server's certificate)"
        ))
    } else {
        StateError::Unavailable(format!("Redis: {why}"))
    }
}
