--[[
lease-renew: extends the worker lease if the caller still holds it.

KEYS[1] lease (string)
ARGV[1] token   ARGV[2] lifetime in ms

Returns 1 when extended, 0 when the lease is free or held by another token.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
