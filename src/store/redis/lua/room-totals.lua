--[[
room-totals: a room's messages and events, all time or summed over a window.

KEYS[1]   the room's all-time hash ({ns}room:<room>); missing = room never seen
KEYS[2..] optional: the room's window bucket hashes to sum instead

Returns nil when the room was never seen; else field, value, field, value, ...
(`m` = messages, `e:<COMMAND>` = events): the all-time hash when no bucket
keys are given, else the sums over the buckets (values as integers).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #KEYS == 1 then return redis.call('HGETALL', KEYS[1]) end

local sums = {}
local order = {}
for i = 2, #KEYS do
  local flat = redis.call('HGETALL', KEYS[i])
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
