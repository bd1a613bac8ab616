-- Admits one inbound request's events atomically: for each event, claims its dedupe
-- key (if any) and, unless the key was already claimed, stores each of its
-- deliveries' records and queues it in its target's delayed set, scored by when it
-- is due (the claim script promotes due ones to the ready stream in due order, so a
-- delivery admitted with a past due time is not claimed after younger ones). Events
-- are taken in order, so a key repeated within the request admits its first event.
--
-- A script that fails half-way keeps the writes it made. So the arguments are all
-- checked before anything is written, and a write Redis refuses (a key of another
-- type where a delayed set or a dedupe key should be) undoes every write of this
-- call before the error is returned: a refused request leaves no dedupe key claimed,
-- and the provider's retry is admitted once the clash is cleared.
--
-- Each delivery is also put in its target's pending-since set, scored by its
-- admission time, so the oldest pending delivery is one lookup.
--
-- An event logged in the event log (an id given) is written with it: its record,
-- with the retention as its TTL, and its place in the log's time index.
--
-- KEYS: per event: [its dedupe key], [its log record key, the log's index when it is
-- logged], then per delivery: record key, delayed set, pending-since set.
-- ARGV[1]: number of events e.
-- Then per event: its dedupe TTL in ms ('' when it has no key), its number of
-- deliveries n, its log id ('' when not logged), log record bytes, admission time
-- (unix ms) and retention (ms); then per delivery: id, record bytes, due (unix ms),
-- admitted (unix ms).
-- Returns one integer per event: 1 when stored, 0 when a duplicate (nothing stored).

local events = tonumber(ARGV[1])
if not events or events < 0 then
  return redis.error_reply('ERR hookgate admit: bad event count')
end

-- Each event's arguments: ttl, n, then the 4 of its log entry, then 4 per delivery.
local HEAD = 6
local arg, key = 2, 1
for _ = 1, events do
  local ttl, n, logged = ARGV[arg], tonumber(ARGV[arg + 1]), ARGV[arg + 2]
  if ttl == nil or not n or n < 0 or logged == nil then
    return redis.error_reply('ERR hookgate admit: wrong number of keys or arguments')
  end
  if ttl ~= '' then
    if not tonumber(ttl) or tonumber(ttl) < 1 then
      return redis.error_reply('ERR hookgate admit: bad dedupe ttl')
    end
    key = key + 1
  end
  if logged ~= '' then
    if not tonumber(ARGV[arg + 4]) or not tonumber(ARGV[arg + 5]) or tonumber(ARGV[arg + 5]) < 1 then
      return redis.error_reply('ERR hookgate admit: bad log entry time or retention')
    end
    key = key + 2
  end
  for i = 0, n - 1 do
    if ARGV[arg + HEAD + 4 * i] == '' or not tonumber(ARGV[arg + HEAD + 2 + 4 * i])
      or not tonumber(ARGV[arg + HEAD + 3 + 4 * i]) then
      return redis.error_reply('ERR hookgate admit: bad delivery id, due or admission time')
    end
  end
  arg = arg + HEAD + 4 * n
  key = key + 3 * n
end
if #KEYS ~= key - 1 or #ARGV ~= arg - 1 then
  return redis.error_reply('ERR hookgate admit: wrong number of keys or arguments')
end

-- What this call wrote, to undo it if a later write is refused.
local claimed, records, queued, logged = {}, {}, {}, {}
local function refused(reply)
  for i = #logged, 1, -1 do
    redis.call('ZREM', logged[i][2], logged[i][3])
    redis.call('DEL', logged[i][1])
  end
  for i = #queued, 1, -1 do
    redis.call('ZREM', queued[i][1], queued[i][3])
    redis.call('ZREM', queued[i][2], queued[i][3])
  end
  for _, written in ipairs(records) do
    redis.call('DEL', written)
  end
  for _, dedupe in ipairs(claimed) do
    redis.call('DEL', dedupe)
  end
  return reply
end
local function failed(reply)
  return type(reply) == 'table' and reply.err ~= nil
end

local outcomes = {}
arg, key = 2, 1
for e = 1, events do
  local ttl, n = ARGV[arg], tonumber(ARGV[arg + 1])
  local stored = 1
  if ttl ~= '' then
    local reply = redis.pcall('SET', KEYS[key], 'done', 'NX', 'PX', ttl)
    if failed(reply) then
      return refused(reply)
    elseif reply then
      claimed[#claimed + 1] = KEYS[key]
    else
      stored = 0
    end
    key = key + 1
  end
  local log_id = ARGV[arg + 2]
  if log_id ~= '' then
    if stored == 1 then
      local log_key, log_index = KEYS[key], KEYS[key + 1]
      local reply = redis.pcall('SET', log_key, ARGV[arg + 3], 'PX', ARGV[arg + 5])
      if failed(reply) then
        return refused(reply)
      end
      logged[#logged + 1] = { log_key, log_index, log_id }
      reply = redis.pcall('ZADD', log_index, ARGV[arg + 4], log_id)
      if failed(reply) then
        return refused(reply)
      end
    end
    key = key + 2
  end
  if stored == 1 then
    for i = 0, n - 1 do
      local id, record = ARGV[arg + HEAD + 4 * i], ARGV[arg + HEAD + 1 + 4 * i]
      local due, admitted = ARGV[arg + HEAD + 2 + 4 * i], ARGV[arg + HEAD + 3 + 4 * i]
      local record_key, delayed, since = KEYS[key + 3 * i], KEYS[key + 3 * i + 1], KEYS[key + 3 * i + 2]
      redis.call('SET', record_key, record)
      records[#records + 1] = record_key
      local reply = redis.pcall('ZADD', delayed, due, id)
      if failed(reply) then
        return refused(reply)
      end
      queued[#queued + 1] = { delayed, since, id }
      reply = redis.pcall('ZADD', since, admitted, id)
      if failed(reply) then
        return refused(reply)
      end
    end
  end
  outcomes[e] = stored
  arg = arg + HEAD + 4 * n
  key = key + 3 * n
end
return outcomes
