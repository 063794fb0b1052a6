--[[
stored-marks: the window roll-up marks as the marks hash holds them,
'm1,...,mN' (levels 1..N), or '' when the namespace has none yet.
]]
local function storedMarks (marksKey, levels)
  local names = {}
  for i = 1, levels do names[i] = tostring(i) end
  local stored = redis.call('HMGET', marksKey, unpack(names))
  for i = 1, levels do
    if not stored[i] then return '' end
  end
  return table.concat(stored, ',')
end
