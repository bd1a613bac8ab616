-- Forgets a sync-mode dedupe key, but only while it is still `pending`: a key that
-- expired and was claimed again by an admission (`done`) must keep blocking duplicates.
--
-- KEYS[1]: the dedupe key. Returns 1 when deleted, else 0.

if redis.call('GET', KEYS[1]) == 'pending' then
  return redis.call('DEL', KEYS[1])
end
return 0
