-- Deletes dead letters for good: each still in the dead set leaves it, its record is
-- deleted, and its target's dead-letter count goes down. Two concurrent discards
-- delete each one once.
--
-- KEYS[1]: the dead set; KEYS[2]: the dead-letter counts; then per delivery: its
-- record key.
-- ARGV[1]: number of deliveries n; ARGV[2 + 2i ..]: per delivery i (0-based): id,
-- target ('' when its record could not be read).
-- Returns how many were deleted.

local n = tonumber(ARGV[1])
if not n or n < 0 or #KEYS ~= 2 + n or #ARGV ~= 1 + 2 * n then
  return redis.error_reply('ERR hookgate discard: wrong number of keys or arguments')
end

local deleted = 0
for i = 0, n - 1 do
  local id, target = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('DEL', KEYS[3 + i])
    if target ~= '' and redis.call('HINCRBY', KEYS[2], target, -1) <= 0 then
      redis.call('HDEL', KEYS[2], target)
    end
    deleted = deleted + 1
  end
end
return deleted
