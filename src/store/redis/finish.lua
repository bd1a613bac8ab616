-- Finishes leases (complete and release), each atomically and only while this
-- consumer still holds it: a lease that outlived the lease timeout and was taken over
-- by another worker (held or finished by it) is left alone, so a late completion never
-- finishes, resurrects or duplicates a delivery another worker owns.
--
-- A delivery that leaves the queue (delivered or dead) leaves its target's
-- pending-since set; a dead one counts in the dead-letter counts. An attempt made is
-- appended to the delivery's attempt log, which expires with the retention.
--
-- KEYS[1]: the dead set; KEYS[2]: the dead-letter counts (target → count); then per
-- lease: ready stream, delayed set, record key, pending-since set, attempt log.
-- ARGV[1]: consumer group; ARGV[2]: number of leases n; ARGV[3]: the retention (ms);
-- ARGV[4]: this consumer. ARGV[5 + 7i ..]: per lease i (0-based): kind (`delivered`, `delay` or `dead`), entry
-- id (the lease token), delivery id, new record bytes ('' when delivered), score (due
-- time for `delay`, dead-letter time for `dead`, unix ms), target, the attempt to log
-- ('' when none was made).
-- Returns how many leases were finished.

local group, n, retention, consumer = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
if not n or n < 0 or #KEYS ~= 2 + 5 * n or #ARGV ~= 4 + 7 * n or not tonumber(retention) then
  return redis.error_reply('ERR hookgate finish: wrong number of keys or arguments')
end
for i = 0, n - 1 do
  local kind, score = ARGV[5 + 7 * i], ARGV[9 + 7 * i]
  if (kind ~= 'delivered' and kind ~= 'delay' and kind ~= 'dead') or not tonumber(score) then
    return redis.error_reply('ERR hookgate finish: bad kind or score')
  end
end

local finished = 0
for i = 0, n - 1 do
  local ready, delayed, record, since, log =
    KEYS[3 + 5 * i], KEYS[4 + 5 * i], KEYS[5 + 5 * i], KEYS[6 + 5 * i], KEYS[7 + 5 * i]
  local kind, entry, id, bytes, score, target, attempt =
    ARGV[5 + 7 * i], ARGV[6 + 7 * i], ARGV[7 + 7 * i], ARGV[8 + 7 * i], ARGV[9 + 7 * i], ARGV[10 + 7 * i],
    ARGV[11 + 7 * i]
  -- Still ours: pending, and to this consumer (a takeover moves the entry to
  -- another). pcall: a malformed token or a vanished group means the lease is gone,
  -- not that the batch failed.
  local held = redis.pcall('XPENDING', ready, group, entry, entry, 1, consumer)
  if type(held) == 'table' and #held == 1 and redis.call('XACK', ready, group, entry) == 1 then
    redis.call('XDEL', ready, entry)
    if kind == 'delivered' then
      redis.call('DEL', record)
      redis.call('ZREM', since, id)
    else
      redis.call('SET', record, bytes)
      if kind == 'delay' then
        redis.call('ZADD', delayed, score, id)
      else
        redis.call('ZADD', KEYS[1], score, id)
        redis.call('ZREM', since, id)
        redis.call('HINCRBY', KEYS[2], target, 1)
      end
    end
    if attempt ~= '' then
      redis.call('RPUSH', log, attempt)
      redis.call('PEXPIRE', log, retention)
    end
    finished = finished + 1
  end
end
return finished
