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
ARGV[4]  the sections (includes/sections.lua): 'r' and 'm' only
         (includes/rollup-sections.lua)

Returns (result-codes.ts) Result.Applied; Result.AppliedRollupSkipped (the
caller's knowledge of rooms was incomplete); Result.StaleMarks: the marks
or the last second are not those assumed (nothing written).
]]
--- @include "sections"
--- @include "stored-marks"
--- @include "rollup-sections"

local marks = storedMarks(KEYS[1], tonumber(ARGV[1]))
if marks == '' or marks ~= ARGV[2] then return Result.StaleMarks end
if (redis.call('HGET', KEYS[1], 'last') or '') ~= ARGV[3] then return Result.StaleMarks end

openSections(ARGV[4])
local k = 2
while pos <= size do
  local op = field()
  if op == 'r' then
    k = rollupSection(k)
  elseif op == 'm' then
    markSection(KEYS[1])
  else
    return redis.error_reply('rollup.lua: unknown section ' .. tostring(op))
  end
end
return rollupResult
