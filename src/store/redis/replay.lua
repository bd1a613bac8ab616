-- Moves dead letters back to their targets' delayed sets (due now, so the next claim
-- promotes them), with their records reset by the caller. Only deliveries still in the
-- dead set move, so two concurrent replays move each one once.
--
-- A moved delivery is pending again (back in its target's pending-since set, under
-- its admission time) and leaves the dead-letter counts.
--
-- KEYS[1]: the dead set; KEYS[2]: the dead-letter counts (target → count); then per
-- delivery: record key, delayed set of its target, pending-since set of its target.
-- ARGV[1]: number of deliveries n.
-- ARGV[2 + 5i ..]: per delivery i (0-based): id, reset record bytes, due (unix ms),
-- admitted (unix ms), target.
-- Returns how many were moved.

local n = tonumber(ARGV[1])
if not n or n < 0 or #KEYS ~= 2 + 3 * n or #ARGV ~= 1 + 5 * n then
  return redis.error_reply('ERR hookgate replay: wrong number of keys or arguments')
end
for i = 0, n - 1 do
  if not tonumber(ARGV[4 + 5 * i]) or not tonumber(ARGV[5 + 5 * i]) then
    return redis.error_reply('ERR hookgate replay: bad due or admission time')
  end
end

local moved = 0
for i = 0, n - 1 do
  local id, target = ARGV[2 + 5 * i], ARGV[6 + 5 * i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('SET', KEYS[3 + 3 * i], ARGV[3 + 5 * i])
    redis.call('ZADD', KEYS[4 + 3 * i], ARGV[4 + 5 * i], id)
    redis.call('ZADD', KEYS[5 + 3 * i], ARGV[5 + 5 * i], id)
    if redis.call('HINCRBY', KEYS[2], target, -1) <= 0 then
      redis.call('HDEL', KEYS[2], target)
    end
    moved = moved + 1
  end
end
return moved
