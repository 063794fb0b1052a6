--[[
lease-acquire: takes the worker lease when free (or expired), or extends it
when the caller already holds it.

KEYS[1] lease (string)
ARGV[1] token   ARGV[2] lifetime in ms

Returns 1 when the caller holds the lease now, 0 when another token holds it.
]]
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
