--[[
room-totals: a room's messages and events, all time or summed over a window.

KEYS[1]   the room's all-time hash ({ns}room:<room>); missing = room never seen
KEYS[2..] for a window only: the roll-up marks hash, then the room's window
          bucket sorted sets (members `m` and `e:<COMMAND>`) to sum, provided
          the marks are those the caller assumed (else it returns Result.StaleMarks)
ARGV[1]   N = coarser window levels (0 for all time)
ARGV[2]   the marks assumed, 'm1,...,mN', or '' for none

Returns nil when the room was never seen; else field, value, field, value, ...
(`m` = messages, `e:<COMMAND>` = events): the all-time hash when no bucket
keys are given, else the sums over the buckets (values as integers).
]]
--- @include "stored-marks"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #KEYS == 1 then return redis.call('HGETALL', KEYS[1]) end

if storedMarks(KEYS[2], tonumber(ARGV[1])) ~= ARGV[2] then return Result.StaleMarks end

local sums = {}
local order = {}
for i = 3, #KEYS do
  local flat = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  for j = 1, #flat, 2 do
    local field = flat[j]
    local previous = sums[field]
    if previous == nil then
      order[#order + 1] = field
      sums[field] = tonumber(flat[j + 1])
    else
      sums[field] = previous + tonumber(flat[j + 1])
    end
  end
end
local out = {}
for _, field in ipairs(order) do
  out[#out + 1] = field
  out[#out + 1] = sums[field]
end
return out
