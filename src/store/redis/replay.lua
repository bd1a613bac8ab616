-- Moves dead letters back to their targets' delayed sets (due now, so the next claim
-- promotes them), with their records reset by the caller. Only deliveries still in the
-- dead set move, so two concurrent replays move each one once.
--
-- KEYS[1]: the dead set; then per delivery: record key, delayed set of its target.
-- ARGV[1]: number of deliveries n.
-- ARGV[2 + 3i ..]: per delivery i (0-based): id, reset record bytes, due (unix ms).
-- Returns how many were moved.

local n = tonumber(ARGV[1])
if not n or n < 0 or #KEYS ~= 1 + 2 * n or #ARGV ~= 1 + 3 * n then
  return redis.error_reply('ERR hookgate replay: wrong number of keys or arguments')
end
for i = 0, n - 1 do
  if not tonumber(ARGV[4 + 3 * i]) then
    return redis.error_reply('ERR hookgate replay: bad due time')
  end
end

local moved = 0
for i = 0, n - 1 do
  local id = ARGV[2 + 3 * i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('SET', KEYS[2 + 2 * i], ARGV[3 + 3 * i])
    redis.call('ZADD', KEYS[3 + 2 * i], ARGV[4 + 3 * i], id)
    moved = moved + 1
  end
end
return moved
