--[[
increments: adds counts into a sorted set or a hash in bulk. `flat` holds
from index `first` member1, n1, member2, n2, ... (numbers). Few calls with many members beat
one call per member: a sorted set takes ZMSCORE then one ZADD per 2000
members, a hash HMGET then one HSET. Counts are integers below 2^53, exact
in Lua numbers. unpack takes about 8000 values at most, hence the chunks.
]]

-- Redis orders equal scores by the members' bytes (memcmp, then the shorter first); Lua's `<` on
-- strings follows the server's locale, so the bytes are compared here.
local function bytesBelow (a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end

--[[
addToSortedSet with `keep` > 0 (a list trimmed to its `keep` highest right
after): when the list is full, a new member that would rank below its
current lowest is not added. The trim would remove it anyway: scores only
grow, so it ranks below every member already there, and the trim removes
at least as many members as the add brings. The long tail of a full list
(a word said once, in a room whose list is full) then costs Redis a lookup,
not a skip-list insert and a removal.
]]
local function floorOf (key, keep)
  if keep <= 0 or redis.call('ZCARD', key) < keep then return nil, nil end
  local lowest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(lowest[2]), lowest[1]
end

local function addToSortedSet (key, flat, first, keep)
  local base = first - 1
  local n = (#flat - base) / 2
  if n <= 3 then
    for i = first, #flat, 2 do redis.call('ZINCRBY', key, flat[i + 1], flat[i]) end
    return
  end
  local floorScore, floorMember = floorOf(key, keep)
  for s = 1, n, 2000 do
    local e = math.min(n, s + 1999)
    local members = {}
    for i = s, e do members[i - s + 1] = flat[base + 2 * i - 1] end
    local scores = redis.call('ZMSCORE', key, unpack(members))
    local args, a = {}, 0
    for i = s, e do
      local current = scores[i - s + 1]
      local by = flat[base + 2 * i]
      local member = members[i - s + 1]
      if current then
        args[a + 1] = tonumber(current) + by
        args[a + 2] = member
        a = a + 2
      elseif not floorScore or by > floorScore or (by == floorScore and not bytesBelow(member, floorMember)) then
        args[a + 1] = by
        args[a + 2] = member
        a = a + 2
      end
    end
    if a > 0 then redis.call('ZADD', key, unpack(args)) end
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
