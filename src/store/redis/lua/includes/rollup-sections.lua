--[[
rollup-sections: the 'r' (roll-up) and 'm' (mark) sections shared by
apply-batch.lua and rollup.lua, read with field() (sections.lua).

  'r', nTargets, nChildren, targetTtl, firstChildTtl, childStep, expected
      keys from KEYS[k]: the bucket's room index, then nTargets x (target,
      nChildren children). Unless expected < 0, it and every later 'r'
      and 'm' are skipped when the index does not hold `expected` rooms.
      Each target := ZUNIONSTORE of its children, EXPIRE targetTtl;
      child j (from 0) gets EXPIRE firstChildTtl + j * childStep (a
      ttl <= 0 deletes); the index is deleted
  'm', level, bucket               HSET marks level bucket

rollupResult ends as Result.Applied, or Result.AppliedRollupSkipped once a
roll-up was skipped (the caller's knowledge of rooms was incomplete).
]]
local rollupStopped, rollupResult = false, Result.Applied

-- Runs an 'r' section (its kind already read) whose keys start at KEYS[k]; returns the next key index.
local function rollupSection (k)
  local targets = tonumber(field())
  local children = tonumber(field())
  local targetTtl = tonumber(field())
  local firstChildTtl = tonumber(field())
  local childStep = tonumber(field())
  local expected = tonumber(field())
  local index = KEYS[k]
  if not rollupStopped and expected >= 0 and redis.call('SCARD', index) ~= expected then
    rollupStopped = true
    rollupResult = Result.AppliedRollupSkipped
  end
  if not rollupStopped then
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
  return k + 1 + targets * (1 + children)
end

-- Runs an 'm' section (its kind already read) on the marks hash.
local function markSection (marksKey)
  local levelName = field()
  local bucket = field()
  if not rollupStopped then redis.call('HSET', marksKey, levelName, bucket) end
end
