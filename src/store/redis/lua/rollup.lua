--[[
rollup: the window roll-ups that are due, without a batch: run by a reader
that finds buckets pending while no worker writes (see apply-batch.lua,
which does the same inside every flush). Built by encodeRollupOnly in
batch-encoding.ts.

KEYS[1]  roll-up marks (hash: '1'..'N' last final bucket per level, 'last')
KEYS[2..] the keys of the sections below

ARGV[1]  N = coarser window levels
ARGV[2]  the marks the caller assumes, 'm1,...,mN'
ARGV[3]  the last second written the caller assumes ('' for none)
ARGV[4]  the sections, 0xFF-ended fields as in apply-batch.lua:
  'r', nTargets, nChildren, targetTtl, firstChildTtl, childStep, expected
  'm', level, bucket

Returns 1 done, 2 a roll-up was skipped (the caller's knowledge of rooms
was incomplete), -2 the marks or the last second are not those assumed
(nothing written).
]]
local levels = tonumber(ARGV[1])
local fields = {}
for i = 1, levels do fields[i] = tostring(i) end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))
for i = 1, levels do
  if not stored[i] then return -2 end
end
if table.concat(stored, ',') ~= ARGV[2] then return -2 end
if (redis.call('HGET', KEYS[1], 'last') or '') ~= ARGV[3] then return -2 end

local find, sub = string.find, string.sub
local END = '\255'
local blob = ARGV[4]
local pos, size = 1, #blob
local function field ()
  local e = find(blob, END, pos, true)
  local value = sub(blob, pos, e - 1)
  pos = e + 1
  return value
end

local k = 2
local stopped = false
local result = 1
while pos <= size do
  local op = field()
  if op == 'r' then
    local targets = tonumber(field())
    local children = tonumber(field())
    local targetTtl = tonumber(field())
    local firstChildTtl = tonumber(field())
    local childStep = tonumber(field())
    local expected = tonumber(field())
    local index = KEYS[k]
    if not stopped and expected >= 0 and redis.call('SCARD', index) ~= expected then
      stopped = true
      result = 2
    end
    if not stopped then
      local t = k + 1
      for _ = 1, targets do
        local target = KEYS[t]
        if redis.call('ZUNIONSTORE', target, children, unpack(KEYS, t + 1, t + children)) > 0 then
          if targetTtl > 0 then redis.call('EXPIRE', target, targetTtl) else redis.call('DEL', target) end
          for j = 1, children do
            local ttl = firstChildTtl + (j - 1) * childStep
            if ttl > 0 then redis.call('EXPIRE', KEYS[t + j], ttl) else redis.call('DEL', KEYS[t + j]) end
          end
        end
        t = t + 1 + children
      end
      redis.call('DEL', index)
    end
    k = k + 1 + targets * (1 + children)
  elseif op == 'm' then
    local levelName = field()
    local bucket = field()
    if not stopped then redis.call('HSET', KEYS[1], levelName, bucket) end
  else
    return redis.error_reply('rollup.lua: unknown section ' .. tostring(op))
  end
end
return result
