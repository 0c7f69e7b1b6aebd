//! The Lua scripts. Each runs atomically in Redis, which is what makes
//! "append to the stream + publish" one step (the broker contract) and keeps a
//! presence read consistent with its own expiry pass.
//!
//! Times are milliseconds (`PEXPIRE`, presence scores from the server's `TIME`,
//! so nodes with skewed clocks agree on expiry).

use redis::Script;
use std::sync::LazyLock;

/// Publish, optionally appending to the stream, with the idempotency cache.
///
/// KEYS: stream, meta, result. ARGV: protobuf publication, history size (0: no
/// history), history TTL ms, PUB/SUB channel, meta TTL ms, epoch for a new
/// stream, use the result cache ("1"/"0"), result TTL s.
/// Returns `{offset, epoch, suppressed}`.
pub(crate) static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local stream_key, meta_key, result_key = KEYS[1], KEYS[2], KEYS[3]
local payload, size, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local channel, meta_ttl, new_epoch = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local use_result, result_ttl = ARGV[7] == '1', tonumber(ARGV[8])
if use_result then
  local r = redis.call('hmget', result_key, 'e', 's')
  if r[1] then
    return {tonumber(r[2]) or 0, r[1], 1}
  end
end
local offset, epoch = 0, ''
if size > 0 then
  epoch = redis.call('hget', meta_key, 'e')
  if not epoch then
    epoch = new_epoch
    redis.call('hset', meta_key, 'e', epoch)
  end
  offset = redis.call('hincrby', meta_key, 's', 1)
  if meta_ttl > 0 then
    redis.call('pexpire', meta_key, meta_ttl)
  end
  redis.call('xadd', stream_key, 'MAXLEN', size, offset, 'd', payload)
  redis.call('pexpire', stream_key, ttl)
  redis.call('publish', channel, '__p1:' .. offset .. ':' .. epoch .. '__' .. payload)
else
  redis.call('publish', channel, payload)
end
if use_result then
  redis.call('hset', result_key, 'e', epoch, 's', offset)
  redis.call('expire', result_key, result_ttl)
end
return {offset, epoch, 0}
",
    )
});

/// `PUBLISH`es one message (a join or a leave) where the channel's publications
/// run.
///
/// KEYS: stream (never touched: it routes the script, in a Redis Cluster, to the
/// master of the channel's slot, whose subscribers see the message in order with
/// the publications and with their own `SUBSCRIBE`; see `topology.rs`).
/// ARGV: PUB/SUB channel, payload.
pub(crate) static PUBLISH_MESSAGE: LazyLock<Script> =
    LazyLock::new(|| Script::new("return redis.call('publish', ARGV[1], ARGV[2])"));

/// Reads a stream and its meta, creating the meta (epoch) of a stream never
/// published to, so the epoch an empty stream reports is the one its first
/// publish continues.
///
/// KEYS: stream, meta. ARGV: include publications ("1"/"0"), low bound, high
/// bound (XRANGE syntax), count (-1: all), reverse ("1"/"0"), meta TTL ms (0:
/// leave it), epoch for a new stream. Returns `{top, epoch, entries}`.
pub(crate) static HISTORY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local stream_key, meta_key = KEYS[1], KEYS[2]
local epoch = redis.call('hget', meta_key, 'e')
if not epoch then
  epoch = ARGV[7]
  redis.call('hset', meta_key, 'e', epoch)
end
local top = redis.call('hget', meta_key, 's') or '0'
local meta_ttl = tonumber(ARGV[6])
if meta_ttl > 0 then
  redis.call('pexpire', meta_key, meta_ttl)
end
local entries = {}
if ARGV[1] == '1' then
  local count = tonumber(ARGV[4])
  if ARGV[5] == '1' then
    if count >= 0 then
      entries = redis.call('xrevrange', stream_key, ARGV[3], ARGV[2], 'COUNT', count)
    else
      entries = redis.call('xrevrange', stream_key, ARGV[3], ARGV[2])
    end
  else
    if count >= 0 then
      entries = redis.call('xrange', stream_key, ARGV[2], ARGV[3], 'COUNT', count)
    else
      entries = redis.call('xrange', stream_key, ARGV[2], ARGV[3])
    end
  end
end
return {top, epoch, entries}
",
    )
});

/// Adds or refreshes a presence entry.
///
/// KEYS: expire zset, data hash. ARGV: TTL ms, client id, protobuf ClientInfo.
pub(crate) static PRESENCE_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('zadd', KEYS[1], now + ttl, ARGV[2])
redis.call('hset', KEYS[2], ARGV[2], ARGV[3])
redis.call('pexpire', KEYS[1], ttl)
redis.call('pexpire', KEYS[2], ttl)
return 1
",
    )
});

/// Removes expired presence entries, then returns the rest (`HGETALL`).
///
/// KEYS: expire zset, data hash.
pub(crate) static PRESENCE_GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{DROP_EXPIRED_CLIENTS}
return redis.call('hgetall', KEYS[2])
"
    ))
});

/// Lua shared by the presence reads: sets `now` (ms, Redis' clock) and drops
/// the clients whose expiry passed (KEYS[1] expire zset, KEYS[2] data hash).
const DROP_EXPIRED_CLIENTS: &str = r"
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('zrangebyscore', KEYS[1], '0', now)
if #expired > 0 then
  for _, id in ipairs(expired) do
    redis.call('hdel', KEYS[2], id)
  end
  redis.call('zremrangebyscore', KEYS[1], '0', now)
end";

/// Adds or refreshes a presence entry with user mapping: besides the client
/// entry, the user's expiry (the latest of its clients') and its count of
/// clients, so `presence_stats` needs no full read.
///
/// KEYS: expire zset, data hash, user expire zset, user clients hash.
/// ARGV: TTL ms, client id, protobuf ClientInfo, user id.
pub(crate) static PRESENCE_ADD_MAPPED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local added = redis.call('zadd', KEYS[1], now + ttl, ARGV[2])
redis.call('hset', KEYS[2], ARGV[2], ARGV[3])
-- GT: a new user is added; a known one's expiry only moves forward.
redis.call('zadd', KEYS[3], 'GT', now + ttl, ARGV[4])
if added == 1 then
  redis.call('hincrby', KEYS[4], ARGV[4], 1)
end
for i = 1, 4 do
  redis.call('pexpire', KEYS[i], ttl)
end
return 1
",
    )
});

/// Removes a presence entry with user mapping; the user goes when its last
/// client does.
///
/// KEYS: as [`PRESENCE_ADD_MAPPED`]. ARGV: client id, user id.
pub(crate) static PRESENCE_REMOVE_MAPPED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = redis.call('zrem', KEYS[1], ARGV[1])
redis.call('hdel', KEYS[2], ARGV[1])
if removed == 1 then
  local left = redis.call('hincrby', KEYS[4], ARGV[2], -1)
  if left <= 0 then
    redis.call('hdel', KEYS[4], ARGV[2])
    redis.call('zrem', KEYS[3], ARGV[2])
  end
end
return 1
",
    )
});

/// Presence counts with user mapping: drops expired clients and users, then
/// returns `{clients, users}` from the sets' cardinalities.
///
/// KEYS: as [`PRESENCE_ADD_MAPPED`].
pub(crate) static PRESENCE_STATS_MAPPED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{DROP_EXPIRED_CLIENTS}
local gone = redis.call('zrangebyscore', KEYS[3], '0', now)
if #gone > 0 then
  for _, user in ipairs(gone) do
    redis.call('hdel', KEYS[4], user)
  end
  redis.call('zremrangebyscore', KEYS[3], '0', now)
end
return {{redis.call('zcard', KEYS[1]), redis.call('zcard', KEYS[3])}}
"
    ))
});
