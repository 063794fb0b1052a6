--[[
top: reads a top list from a sorted set, building a window's cache first.

KEYS[1]   the sorted set to read: an all-time list, or a window's cache key
KEYS[2..] for a window only: the roll-up marks hash, then the bucket keys;
          when KEYS[1] does not exist, KEYS[1] := ZUNIONSTORE of the bucket
          keys, PEXPIRE ARGV[1], provided the marks are those the caller
          assumed when it chose the keys (else it returns Result.StaleMarks)
ARGV[1]   cache lifetime in ms
ARGV[2]   N = coarser window levels (0 for an all-time list)
ARGV[3]   the marks assumed, 'm1,...,mN', or '' for none
ARGV[4]   mode, with its arguments:
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
--- @include "stored-marks"
local key = KEYS[1]
if #KEYS > 2 and redis.call('EXISTS', key) == 0 then
  if storedMarks(KEYS[2], tonumber(ARGV[2])) ~= ARGV[3] then return Result.StaleMarks end
  redis.call('ZUNIONSTORE', key, #KEYS - 2, unpack(KEYS, 3))
  redis.call('PEXPIRE', key, ARGV[1])
end

local mode = ARGV[4]
if mode == 'desc' then
  return redis.call('ZREVRANGE', key, ARGV[5], ARGV[6], 'WITHSCORES')
elseif mode == 'tie' then
  return redis.call('ZRANGEBYSCORE', key, ARGV[5], ARGV[5], 'LIMIT', ARGV[6], ARGV[7])
elseif mode ~= 'top' then
  return redis.error_reply('top.lua: unknown mode ' .. tostring(mode))
end

local limit = tonumber(ARGV[5])
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
