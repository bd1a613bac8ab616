-- Admits one inbound request's deliveries atomically: claims the dedupe key (if any),
-- then stores each delivery's record and queues it in its target's delayed set, scored
-- by when it is due (the claim script promotes due ones to the ready stream in due
-- order, so a delivery admitted with a past due time is not claimed after younger ones).
--
-- KEYS: [dedupe key], then per delivery: record key, delayed set of its target.
-- ARGV[1]: dedupe TTL in ms, or '' when there is no dedupe key.
-- ARGV[2]: number of deliveries n.
-- ARGV[3 + 3i ..]: per delivery i (0-based): id, record bytes, due (unix ms).
-- Returns 1 when stored, 0 when the dedupe key was already claimed (nothing stored).

local ttl = ARGV[1]
local n = tonumber(ARGV[2])
local first = 1
if ttl ~= '' then
  first = 2
end

-- Check every argument before writing anything: a script that fails half-way keeps
-- the writes it made.
if not n or n < 0 or #KEYS ~= (first - 1) + 2 * n or #ARGV ~= 2 + 3 * n then
  return redis.error_reply('ERR hookgate admit: wrong number of keys or arguments')
end
if ttl ~= '' and (not tonumber(ttl) or tonumber(ttl) < 1) then
  return redis.error_reply('ERR hookgate admit: bad dedupe ttl')
end
for i = 0, n - 1 do
  if ARGV[3 + 3 * i] == '' or not tonumber(ARGV[5 + 3 * i]) then
    return redis.error_reply('ERR hookgate admit: bad delivery id or due time')
  end
end

if ttl ~= '' and not redis.call('SET', KEYS[1], 'done', 'NX', 'PX', ttl) then
  return 0
end

for i = 0, n - 1 do
  local id, record, due = ARGV[3 + 3 * i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
  redis.call('SET', KEYS[first + 2 * i], record)
  redis.call('ZADD', KEYS[first + 2 * i + 1], due, id)
end
return 1
