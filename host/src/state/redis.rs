//! The Redis backend: several gateways naming one server share every counter and limit. Each
//! rate-limit decision and each windowed increment is one Lua script (EVALSHA, loaded on first
//! use), so it is one atomic round trip, timed by the Redis server's clock. The connection is
//! made lazily and remade after a failure; every call is bounded by the `[state]` timeout.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError, Script};

use super::algo::ceil_ms;
use super::{Algorithm, RateDecision, SetupError, StateError};

/// `KEYS[1]`: the counter. `ARGV`: delta, window in ms (0: no expiry). A counter created with a
/// window gets its expiry once, when created: later increments keep it.
const INCREMENT: &str = r"
local window = tonumber(ARGV[2])
if window > 0 then
  redis.call('SET', KEYS[1], 0, 'PX', window, 'NX')
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
";

/// GCRA, the same arithmetic as `algo::gcra`. `KEYS[1]`: the theoretical arrival time, in
/// microseconds of the server's clock. `ARGV`: limit, period (us), cost. Returns allowed,
/// remaining, reset (us), retry after (us).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local interval = math.max(math.floor(period / limit), 1)
local burst = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - burst
if now < allow_at then
  local left = burst - (tat - now)
  if left < 0 then left = 0 end
  return {0, math.floor(left / interval), tat - now, allow_at - now}
end
if cost > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
end
local left = burst - (new_tat - now)
if left < 0 then left = 0 end
return {1, math.floor(left / interval), new_tat - now, 0}
";

/// The sliding window, the same arithmetic as `algo::sliding_window`. `KEYS[1]`: a hash of the
/// window's start (`s`), the previous (`p`) and current (`c`) counts, and when the last request
/// of each arrived (`pl`, `cl`; a hash written before they existed reads as the latest
/// possible times, which never admits more). Returns allowed, remaining, reset (us), retry
/// after (us).
const WINDOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local start = now - (now % period)
local stored = redis.call('HMGET', KEYS[1], 's', 'p', 'c', 'pl', 'cl')
local ws = tonumber(stored[1])
local prev, curr, pl, cl = 0, 0, 0, 0
if ws == start then
  prev = tonumber(stored[2]) or 0
  curr = tonumber(stored[3]) or 0
  pl = tonumber(stored[4]) or (start - 1)
  cl = tonumber(stored[5]) or now
elseif ws == start - period then
  prev = tonumber(stored[3]) or 0
  pl = tonumber(stored[5]) or (start - 1)
end
local function weighted_prev()
  if prev == 0 or now >= pl + period then return 0 end
  return prev * (start + period - now) / period
end
local function whole_at()
  if curr > 0 then return math.max(cl + period, now) end
  if weighted_prev() > 0 then return math.max(pl + period, now) end
  return now
end
local weighted = weighted_prev()
local estimate = weighted + curr
if estimate + cost <= limit then
  if cost > 0 then
    curr = curr + cost
    cl = now
    redis.call('HSET', KEYS[1], 's', string.format('%.0f', start), 'p', prev, 'c', curr,
      'pl', string.format('%.0f', pl), 'cl', string.format('%.0f', cl))
    redis.call('PEXPIRE', KEYS[1], math.ceil((start + 2 * period - now) / 1000))
  end
  local remaining = math.floor(limit - (weighted + curr))
  if remaining < 0 then remaining = 0 end
  return {1, remaining, whole_at() - now, 0}
end
local need = limit - cost
local wstart, count, last, room
if curr <= need then
  wstart, count, last, room = start, prev, pl, need - curr
else
  wstart, count, last, room = start + period, curr, cl, need
end
local overlap = period
if count > 0 then overlap = math.min(math.floor(room * period / count), period) end
local at = math.max(math.min(wstart + period - overlap, last + period), wstart, now)
local remaining = math.floor(limit - estimate)
if remaining < 0 then remaining = 0 end
return {0, remaining, whole_at() - now, at - now}
";

pub(super) struct Redis {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    increment: Script,
    gcra: Script,
    window: Script,
}

impl Redis {
    /// A lazily connected client; needs a tokio runtime.
    pub(super) fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, SetupError> {
        // The redis crate looks for the runtime itself and would panic outside one.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SetupError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(|source| SetupError::RedisUrl {
            url: url.to_owned(),
            source,
        })?;
        // Reconnect attempts are cheap and bounded: a call waits at most `timeout` for them.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|source| {
                SetupError::RedisClient {
                    url: url.to_owned(),
                    source,
                }
            })?;
        Ok(Self {
            connection,
            prefix: format!("{prefix}:"),
            timeout,
            increment: Script::new(INCREMENT),
            gcra: Script::new(GCRA),
            window: Script::new(WINDOW),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `call` on a connection within the timeout.
    async fn run<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> Result<T, StateError>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, call(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(StateError::Unavailable(format!(
                "Redis did not answer within {:?}",
                self.timeout
            ))),
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
fn describe(error: &RedisError) -> StateError {
    let text = error.to_string();
    if text.contains("overflow") {
        StateError::Invalid("the counter would overflow".into())
    } else {
        StateError::Unavailable(format!("Redis: {text}"))
    }
}
