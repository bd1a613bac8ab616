-- Admits one inbound request's events atomically: for each event, claims its dedupe
-- key (if any) and, unless the key was already claimed, stores each of its
-- deliveries' records and queues it in its target's delayed set, scored by when it
-- is due (the claim script promotes due ones to the ready stream in due order, so a
-- delivery admitted with a past due time is not claimed after younger ones). Events
-- are taken in order, so a key repeated within the request admits its first event.
--
-- KEYS: per event: [its dedupe key], then per delivery: record key, delayed set.
-- ARGV[1]: number of events e.
-- Then per event: its dedupe TTL in ms ('' when it has no key), its number of
-- deliveries n, then per delivery: id, record bytes, due (unix ms).
-- Returns one integer per event: 1 when stored, 0 when a duplicate (nothing stored).

local events = tonumber(ARGV[1])
if not events or events < 0 then
  return redis.error_reply('ERR hookgate admit: bad event count')
end

-- Check every argument, and that every key written holds what it should, before
-- writing anything: a script that fails half-way keeps the writes it made (a
-- dedupe key claimed by a refused request would turn the provider's retry away).
local checked = {}
local function holds(key, kind)
  if checked[key] == nil then
    local found = redis.call('TYPE', key)['ok']
    checked[key] = found == 'none' or found == kind
  end
  return checked[key]
end

local arg, key = 2, 1
for _ = 1, events do
  local ttl, n = ARGV[arg], tonumber(ARGV[arg + 1])
  if ttl == nil or not n or n < 0 then
    return redis.error_reply('ERR hookgate admit: wrong number of keys or arguments')
  end
  if ttl ~= '' then
    if not tonumber(ttl) or tonumber(ttl) < 1 then
      return redis.error_reply('ERR hookgate admit: bad dedupe ttl')
    end
    if KEYS[key] == nil or not holds(KEYS[key], 'string') then
      return redis.error_reply('WRONGTYPE hookgate admit: a dedupe key holds another type')
    end
    key = key + 1
  end
  for i = 0, n - 1 do
    if ARGV[arg + 2 + 3 * i] == '' or not tonumber(ARGV[arg + 4 + 3 * i]) then
      return redis.error_reply('ERR hookgate admit: bad delivery id or due time')
    end
    local delayed = KEYS[key + 2 * i + 1]
    if delayed == nil or not holds(delayed, 'zset') then
      return redis.error_reply('WRONGTYPE hookgate admit: a delayed set holds another type')
    end
  end
  arg = arg + 2 + 3 * n
  key = key + 2 * n
end
if #KEYS ~= key - 1 or #ARGV ~= arg - 1 then
  return redis.error_reply('ERR hookgate admit: wrong number of keys or arguments')
end

local outcomes = {}
arg, key = 2, 1
for e = 1, events do
  local ttl, n = ARGV[arg], tonumber(ARGV[arg + 1])
  local stored = 1
  if ttl ~= '' then
    if not redis.call('SET', KEYS[key], 'done', 'NX', 'PX', ttl) then
      stored = 0
    end
    key = key + 1
  end
  if stored == 1 then
    for i = 0, n - 1 do
      local id, record, due = ARGV[arg + 2 + 3 * i], ARGV[arg + 3 + 3 * i], ARGV[arg + 4 + 3 * i]
      redis.call('SET', KEYS[key + 2 * i], record)
      redis.call('ZADD', KEYS[key + 2 * i + 1], due, id)
    end
  end
  outcomes[e] = stored
  arg = arg + 2 + 3 * n
  key = key + 2 * n
end
return outcomes
