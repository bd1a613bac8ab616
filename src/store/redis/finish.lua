-- Finishes leases (complete and release), each atomically and only while it is still
-- leased: a lease that was reclaimed and finished by another worker is left alone, so
-- a late completion never resurrects or duplicates a delivery.
--
-- KEYS[1]: the dead set; then per lease: ready stream, delayed set, record key.
-- ARGV[1]: consumer group; ARGV[2]: number of leases n.
-- ARGV[3 + 5i ..]: per lease i (0-based): kind (`delivered`, `delay` or `dead`), entry
-- id (the lease token), delivery id, new record bytes ('' when delivered), score (due
-- time for `delay`, dead-letter time for `dead`, unix ms).
-- Returns how many leases were finished.

local group, n = ARGV[1], tonumber(ARGV[2])
if not n or n < 0 or #KEYS ~= 1 + 3 * n or #ARGV ~= 2 + 5 * n then
  return redis.error_reply('ERR hookgate finish: wrong number of keys or arguments')
end
for i = 0, n - 1 do
  local kind, score = ARGV[3 + 5 * i], ARGV[7 + 5 * i]
  if (kind ~= 'delivered' and kind ~= 'delay' and kind ~= 'dead') or not tonumber(score) then
    return redis.error_reply('ERR hookgate finish: bad kind or score')
  end
end

local finished = 0
for i = 0, n - 1 do
  local ready, delayed, record = KEYS[2 + 3 * i], KEYS[3 + 3 * i], KEYS[4 + 3 * i]
  local kind, entry, id, bytes, score =
    ARGV[3 + 5 * i], ARGV[4 + 5 * i], ARGV[5 + 5 * i], ARGV[6 + 5 * i], ARGV[7 + 5 * i]
  -- XACK answers 1 only while the entry is pending; pcall: a malformed token or a
  -- vanished group means the lease is gone, not that the batch failed.
  if redis.pcall('XACK', ready, group, entry) == 1 then
    redis.call('XDEL', ready, entry)
    if kind == 'delivered' then
      redis.call('DEL', record)
    else
      redis.call('SET', record, bytes)
      if kind == 'delay' then
        redis.call('ZADD', delayed, score, id)
      else
        redis.call('ZADD', KEYS[1], score, id)
      end
    end
    finished = finished + 1
  end
end
return finished
