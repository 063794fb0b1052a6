--[[
increments: adds counts into a sorted set or a hash in bulk. `flat` holds
from index `first` member1, n1, member2, n2, ... (numbers). Few calls with many members beat
one call per member: a sorted set takes ZMSCORE then one ZADD per 2000
members, a hash HMGET then one HSET. Counts are integers below 2^53, exact
in Lua numbers. unpack takes about 8000 values at most, hence the chunks.
]]
local function addToSortedSet (key, flat, first)
  local base = first - 1
  local n = (#flat - base) / 2
  if n <= 3 then
    for i = first, #flat, 2 do redis.call('ZINCRBY', key, flat[i + 1], flat[i]) end
    return
  end
  for s = 1, n, 2000 do
    local e = math.min(n, s + 1999)
    local members = {}
    for i = s, e do members[i - s + 1] = flat[base + 2 * i - 1] end
    local scores = redis.call('ZMSCORE', key, unpack(members))
    local args = {}
    for i = s, e do
      local current = scores[i - s + 1]
      local by = flat[base + 2 * i]
      args[2 * (i - s) + 1] = current and (tonumber(current) + by) or by
      args[2 * (i - s) + 2] = members[i - s + 1]
    end
    redis.call('ZADD', key, unpack(args))
  end
end

local function addToHash (key, flat, first)
  local base = first - 1
  local n = (#flat - base) / 2
  if n <= 3 then
    for i = first, #flat, 2 do redis.call('HINCRBY', key, flat[i], flat[i + 1]) end
    return
  end
  for s = 1, n, 2000 do
    local e = math.min(n, s + 1999)
    local fields = {}
    for i = s, e do fields[i - s + 1] = flat[base + 2 * i - 1] end
    local values = redis.call('HMGET', key, unpack(fields))
    local args = {}
    for i = s, e do
      local current = values[i - s + 1]
      local by = flat[base + 2 * i]
      args[2 * (i - s) + 1] = fields[i - s + 1]
      args[2 * (i - s) + 2] = current and (tonumber(current) + by) or by
    end
    redis.call('HSET', key, unpack(args))
  end
end

-- Keeps the `keep` highest members of a sorted set (equal scores: the lowest values leave first).
local function trimSortedSet (key, keep)
  local count = redis.call('ZCARD', key)
  if count > keep then redis.call('ZREMRANGEBYRANK', key, 0, count - keep - 1) end
end
