--[[
top: reads the exact top of an all-time list (a sorted set).

KEYS[1]   the sorted set
ARGV[1]   mode, with its arguments:
  'top', limit
      The exact top `limit`: every member scoring above the score at the
      cut, then the members AT that score with the lowest values (byte
      order), so ties are cut correctly whatever their number.
      Returns member, score, member, score, ... (above the cut in ZREVRANGE
      order, then the ties in ascending value order).
  'desc', start, stop
      ZREVRANGE start stop WITHSCORES: member, score, ...
  'tie', score, offset, count
      Members with exactly `score`, ascending by value, LIMIT offset count.
]]
local key = KEYS[1]
local mode = ARGV[1]
if mode == 'desc' then
  return redis.call('ZREVRANGE', key, ARGV[2], ARGV[3], 'WITHSCORES')
elseif mode == 'tie' then
  return redis.call('ZRANGEBYSCORE', key, ARGV[2], ARGV[2], 'LIMIT', ARGV[3], ARGV[4])
elseif mode ~= 'top' then
  return redis.error_reply('top.lua: unknown mode ' .. tostring(mode))
end

local limit = tonumber(ARGV[2])
local page = redis.call('ZREVRANGE', key, 0, limit - 1, 'WITHSCORES')
if #page < 2 * limit then return page end
local cut = page[#page]
local cutScore = tonumber(cut)
local out = {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) <= cutScore then break end
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
end
local ties = redis.call('ZRANGEBYSCORE', key, cut, cut, 'LIMIT', 0, limit - #out / 2)
for i = 1, #ties do
  out[#out + 1] = ties[i]
  out[#out + 1] = cut
end
return out
