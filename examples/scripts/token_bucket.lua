-- Token-bucket rate limiter, as services run it with EVALSHA.
-- KEYS[1]: the bucket. ARGV: refill rate (tokens per second), capacity, the time now
-- (Unix ms, passed by the caller), tokens requested. Returns 1 if granted, 0 if not.
-- The state is JSON {tokens, ts}, kept 10 minutes after the last call.
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local requested = tonumber(ARGV[4])
local state = redis.call('get', KEYS[1])
local tokens, last = capacity, now
if state then
  local decoded = cjson.decode(state)
  tokens, last = decoded.tokens, decoded.ts
end
tokens = math.min(capacity, tokens + (now - last) * rate / 1000)
local allowed = 0
if tokens >= requested then
  tokens = tokens - requested
  allowed = 1
end
redis.call('set', KEYS[1], cjson.encode({tokens = tokens, ts = now}), 'PX', 600000)
return allowed
