-- Leases up to max deliveries of one target, in one atomic step:
--   1. if asked to, reclaims entries leased longer than the lease timeout (their holder
--      is presumed dead) with XAUTOCLAIM (the caller asks about once a second: it
--      walks every pending entry, which is costly under load),
--   2. promotes due deliveries (retries, deferrals, replays) from the delayed set to
--      the ready stream, oldest due first, as many as this claim can take (new
--      deliveries are in the stream already: admission puts them there, after
--      promoting the retries due before them; see admit.lua),
--   3. reads new entries for this consumer with XREADGROUP (never BLOCK: a script
--      cannot block, and the client multiplexes one connection),
--   4. fetches each record; an entry whose record is gone is acknowledged and dropped,
--   5. along with a reclaim, removes the group's consumers idle longer than the given
--      time with nothing pending: instances that stopped. (Atomic with the check, as
--      deleting a consumer drops its pending entries; one that comes back is simply
--      created again by its next read.)
--
-- KEYS[1]: the target's ready stream; KEYS[2]: the target's delayed set.
-- ARGV[1]: consumer group; ARGV[2]: consumer; ARGV[3]: now (unix ms); ARGV[4]: max;
-- ARGV[5]: lease timeout (ms); ARGV[6]: record key prefix (`{p}:d:`);
-- ARGV[7]: '1' to look for abandoned leases (and idle consumers), '0' not to;
-- ARGV[8]: how long a consumer with nothing pending may stay idle (ms; 0: forever).
-- Returns a flat array: entry id, delivery id, record, for each leased delivery.

local ready, delayed = KEYS[1], KEYS[2]
local group, consumer, now, record_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local max, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local reclaim, idle_limit = ARGV[7] == '1', tonumber(ARGV[8])
if #KEYS ~= 2 or #ARGV ~= 8 or not tonumber(now) or not max or max < 1 or not lease or not idle_limit then
  return redis.error_reply('ERR hookgate claim: bad arguments')
end

local claimed = {}

local function drop(entry_id)
  redis.call('XACK', ready, group, entry_id)
  redis.call('XDEL', ready, entry_id)
end

local function take(entry)
  -- A deleted entry comes back as nil from XAUTOCLAIM on Redis 6.2 (7.0 drops it).
  if type(entry) ~= 'table' then
    return
  end
  local fields = entry[2]
  if type(fields) == 'table' then
    for i = 1, #fields, 2 do
      if fields[i] == 'id' then
        claimed[#claimed + 1] = { entry[1], fields[i + 1] }
        return
      end
    end
  end
  drop(entry[1])
end

local has_group = false
if redis.call('EXISTS', ready) == 1 then
  local cursor = '0-0'
  -- XAUTOCLAIM scans at most 10 * COUNT pending entries per call; a few rounds find
  -- abandoned leases behind a long list of live ones. Without a reclaim, one
  -- XAUTOCLAIM still tells whether the group exists, cheaply: COUNT 1 with a lease
  -- time no entry can reach.
  local rounds, idle, count = 4, lease, nil
  if not reclaim then
    rounds, idle, count = 1, 9007199254740991, 1
  end
  for _ = 1, rounds do
    local reply = redis.pcall('XAUTOCLAIM', ready, group, consumer, idle, cursor, 'COUNT', count or (max - #claimed))
    if type(reply) == 'table' and reply.err then
      if not string.find(reply.err, 'NOGROUP', 1, true) then
        return reply
      end
      redis.call('XGROUP', 'CREATE', ready, group, '0')
      has_group = true
      break
    end
    has_group = true
    for _, entry in ipairs(reply[2]) do
      take(entry)
    end
    cursor = reply[1]
    if cursor == '0-0' or #claimed >= max then
      break
    end
  end
end

if reclaim and has_group and idle_limit > 0 then
  for _, fields in ipairs(redis.call('XINFO', 'CONSUMERS', ready, group)) do
    local info = {}
    for i = 1, #fields, 2 do
      info[fields[i]] = fields[i + 1]
    end
    if info.name ~= consumer and tonumber(info.pending) == 0 and tonumber(info.idle) > idle_limit then
      redis.call('XGROUP', 'DELCONSUMER', ready, group, info.name)
    end
  end
end

local want = max - #claimed
if want > 0 then
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, want)
  if #due > 0 and not has_group then
    redis.call('XGROUP', 'CREATE', ready, group, '0', 'MKSTREAM')
    has_group = true
  end
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    redis.call('XADD', ready, '*', 'id', id)
  end
  if has_group then
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', ready, '>')
    if read then
      for _, entry in ipairs(read[1][2]) do
        take(entry)
      end
    end
  end
end

local out = {}
for _, lease_entry in ipairs(claimed) do
  local record = redis.call('GET', record_prefix .. lease_entry[2])
  if record then
    out[#out + 1] = lease_entry[1]
    out[#out + 1] = lease_entry[2]
    out[#out + 1] = record
  else
    drop(lease_entry[1])
  end
end
return out
