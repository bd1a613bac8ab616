-- Forgets a target's definition, but only while it is the one the caller holds: a
-- definition another instance saved since (a different one) is kept.
--
-- KEYS[1]: the hash of target definitions. ARGV[1]: the target's name; ARGV[2]: the
-- definition the caller holds. Returns 1 when deleted, else 0.

if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
