//! The Lua scripts of the Redis backend: each decision is one script on **one key**, so it is
//! one atomic round trip on a single server, and on a Cluster it lands on the key's slot (no
//! multi-key command, no hash tag needed). The arithmetic is `algo`'s, on the server's clock.

/// `KEYS[1]`: the counter. `ARGV`: delta, window in ms (0: no expiry). A counter created with a
/// window gets its expiry once, when created: later increments keep it.
pub(super) const INCREMENT: &str = r"
local window = tonumber(ARGV[2])
if window > 0 then
  redis.call('SET', KEYS[1], 0, 'PX', window, 'NX')
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
";

/// GCRA, the same arithmetic as `algo::gcra`. `KEYS[1]`: the theoretical arrival time, in
/// microseconds of the server's clock. `ARGV`: limit, period (us), cost. Returns allowed,
/// remaining, reset (us), retry after (us).
pub(super) const GCRA: &str = r"
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
pub(super) const WINDOW: &str = r"
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
-- The weight at time `t` of the `count` requests of the window before the one starting at
-- `from`, the last of which arrived at `last`.
local function weight(count, last, from, t)
  if count == 0 or t >= last + period then return 0 end
  return count * (from + period - t) / period
end
local function weighted_prev()
  return weight(prev, pl, start, now)
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
-- Whether the request fits at `t` (in this window or the next), the test above; bisected for
-- the first time it does, as `algo::Window::admits_at` explains.
local function fits_at(t)
  if t < start + period then return weight(prev, pl, start, t) + curr + cost <= limit end
  return weight(curr, cl, start + period, t) + cost <= limit
end
local refused, admitted
if curr + cost <= limit then
  refused, admitted = now, pl + period
else
  refused, admitted = start + period - 1, cl + period
end
while admitted > refused + 1 do
  local mid = refused + math.floor((admitted - refused) / 2)
  if fits_at(mid) then admitted = mid else refused = mid end
end
local at = math.max(admitted, now)
local remaining = math.floor(limit - estimate)
if remaining < 0 then remaining = 0 end
return {0, remaining, whole_at() - now, at - now}
";
