-- Admits a group of inbound requests' events, each request atomically and on its
-- own: concurrent requests share one call (a group commit), and a request whose
-- write Redis refuses fails alone.
--
-- For each event, claims its dedupe key (if any) and, unless the key was already
-- claimed, stores each of its deliveries' records and queues it. A delivery due now
-- (every new one) goes straight to its target's ready stream; one due later waits in
-- the delayed set, scored by when it is due. Events are taken in order, so a key
-- repeated within the request (or the group) admits its first event.
--
-- Oldest due first: the stream is read in order, so a delivery must not be queued
-- behind one that fell due later. Before the first delivery of a call goes to a
-- target's stream, the retries (and deferrals, replays) of that target that are
-- already due are promoted from its delayed set to the stream, oldest due first;
-- each claim promotes the rest. A retry therefore waits behind at most the
-- deliveries admitted between its due time and the next admission or claim on its
-- target.
--
-- A script that fails half-way keeps the writes it made. So the arguments are all
-- checked before anything is written, and a write Redis refuses (a key of another
-- type where a queue or a dedupe key should be) undoes every write made for that
-- request before its error is reported: a refused request leaves no dedupe key
-- claimed, and the provider's retry is admitted once the clash is cleared.
--
-- Each delivery is also put in its target's pending-since set, scored by its
-- admission time, so the oldest pending delivery is one lookup.
--
-- An event logged in the event log (an id given) is written with it: its record,
-- with the retention as its TTL, and its place in the log's time index.
--
-- KEYS: per request, per event: [its dedupe key], [its log record key, the log's
-- index when it is logged], then per delivery: record key, delayed set,
-- pending-since set, ready stream.
-- ARGV[1]: number of requests r; ARGV[2]: now (unix ms).
-- Then per request: its number of events e, then per event: its dedupe TTL in ms (''
-- when it has no key), its number of deliveries n, its log id ('' when not logged),
-- log record bytes, admission time (unix ms) and retention (ms); then per delivery:
-- id, record bytes, due (unix ms), admitted (unix ms).
-- Returns one array per request: {1, then one integer per event: 1 when stored, 0
-- when a duplicate (nothing stored)}, or {0, the error Redis answered} when a write
-- was refused (nothing of that request stored).

local requests, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if not requests or requests < 0 or not now then
  return redis.error_reply('ERR hookgate admit: bad request count or time')
end

-- Each event's arguments: ttl, n, then the 4 of its log entry, then 4 per delivery.
local HEAD = 6
local starts = {}
local arg, key = 3, 1
for r = 1, requests do
  local events = tonumber(ARGV[arg])
  if not events or events < 0 then
    return redis.error_reply('ERR hookgate admit: bad event count')
  end
  arg = arg + 1
  starts[r] = { arg, key, events }
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
    key = key + 4 * n
  end
end
if #KEYS ~= key - 1 or #ARGV ~= arg - 1 then
  return redis.error_reply('ERR hookgate admit: wrong number of keys or arguments')
end

local function failed(reply)
  return type(reply) == 'table' and reply.err ~= nil
end

-- Due retries of a target go to its stream before the call's first new delivery
-- does. A promotion that fails (a key of another type) is left to the request's
-- own writes to report.
local promoted = {}
local function promote(delayed, ready)
  if promoted[delayed] then
    return
  end
  promoted[delayed] = true
  local due = redis.pcall('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 256)
  if failed(due) then
    return
  end
  for _, id in ipairs(due) do
    if failed(redis.pcall('XADD', ready, '*', 'id', id)) then
      return
    end
    redis.call('ZREM', delayed, id)
  end
end

-- Admits one request; returns its outcomes, or the refused write's error after
-- undoing what it wrote.
local function admit(arg, key, events)
  -- What this request wrote, to undo it if a later write is refused.
  local claimed, records, queued, streamed, logged = {}, {}, {}, {}, {}
  local function refused(reply)
    for i = #logged, 1, -1 do
      redis.call('ZREM', logged[i][2], logged[i][3])
      redis.call('DEL', logged[i][1])
    end
    for i = #streamed, 1, -1 do
      redis.call('XDEL', streamed[i][1], streamed[i][2])
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
    return { 0, reply.err }
  end

  local outcomes = { 1 }
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
        local record_key, delayed, since, ready =
          KEYS[key + 4 * i], KEYS[key + 4 * i + 1], KEYS[key + 4 * i + 2], KEYS[key + 4 * i + 3]
        local reply = redis.pcall('SET', record_key, record)
        if failed(reply) then
          return refused(reply)
        end
        records[#records + 1] = record_key
        if tonumber(due) <= now then
          promote(delayed, ready)
          reply = redis.pcall('XADD', ready, '*', 'id', id)
          if failed(reply) then
            return refused(reply)
          end
          streamed[#streamed + 1] = { ready, reply }
        else
          reply = redis.pcall('ZADD', delayed, due, id)
          if failed(reply) then
            return refused(reply)
          end
        end
        queued[#queued + 1] = { delayed, since, id }
        reply = redis.pcall('ZADD', since, admitted, id)
        if failed(reply) then
          return refused(reply)
        end
      end
    end
    outcomes[e + 1] = stored
    arg = arg + HEAD + 4 * n
    key = key + 4 * n
  end
  return outcomes
end

local results = {}
for r = 1, requests do
  results[r] = admit(starts[r][1], starts[r][2], starts[r][3])
end
return results
