--[[
apply-batch: writes one flush (counts, failed log, stream position, window
roll-ups) in one atomic step. Built by encodeBatch in batch-encoding.ts.

KEYS[1]  lease (string)         KEYS[2]  position (string)
KEYS[3]  totals (hash)          KEYS[4]  failed log (list)
KEYS[5]  roll-up marks (hash: '1'..'N' last final bucket per level, 'last')
KEYS[6..] the keys of the sections below, section after section

ARGV[1]  lease token; '' = write without a lease check
ARGV[2]  batch sequence
ARGV[3]  '1' when the batch carries a last event id, else '0'
ARGV[4]  that last event id (ignored unless ARGV[3] is '1')
ARGV[5]  messages to add to totals.messages
ARGV[6]  failed messages to add to totals.failed
ARGV[7]  lastMessageAt of the batch (epoch ms), '' when none
ARGV[8]  now (epoch ms, the store's clock): startedAt when not yet set
ARGV[9]  failed log capacity
ARGV[10] N = coarser window levels
ARGV[11] the marks the writer assumes, 'm1,...,mN', or '' for none yet
ARGV[12] n = failed log entries in this batch, then ARGV[13..12+n] the
         entries (JSON), oldest first
ARGV[13+n] the sections: fields each ended by the byte 0xFF (which never
         occurs in UTF-8, so members cannot contain it), section after
         section, each starting with its kind:
  'z'|'h', nKeys, nKeys params, nPairs, nPairs x (member or field, increment)
      add every pair into each of the next nKeys keys (sorted sets: as
      ZINCRBY would, in bulk; hashes: HINCRBY); then per key its param: > 0 EXPIRE key param (seconds);
      < 0 trim the sorted set to -param members (ZREMRANGEBYRANK from the
      lowest score, equal scores lowest value first); 0 nothing
  's', n, ttl, n members           SADD them to the next key, EXPIRE ttl
  'r' and 'm'                      a roll-up, a mark: includes/rollup-sections.lua
  'l', second                      marks.last := max(marks.last, second)

Returns (result-codes.ts) Result.Applied; Result.AppliedRollupSkipped
(applied, but the writer's knowledge of rooms was incomplete: it must
reload it); Result.Duplicate (sequence not above the committed one),
Result.LeaseLost, Result.StaleMarks (the marks are not those assumed):
nothing written in these three.
]]
--- @include "sections"
--- @include "stored-marks"
--- @include "rollup-sections"

local token = ARGV[1]
if token ~= '' and redis.call('GET', KEYS[1]) ~= token then return Result.LeaseLost end

local committed, eventId = 0, false
local position = redis.call('GET', KEYS[2])
if position then
  local colon = string.find(position, ':', 1, true)
  if colon then
    committed = tonumber(string.sub(position, 1, colon - 1))
    eventId = string.sub(position, colon + 1)
  else
    committed = tonumber(position)
  end
end
if tonumber(ARGV[2]) <= committed then return Result.Duplicate end

if storedMarks(KEYS[5], tonumber(ARGV[10])) ~= ARGV[11] then return Result.StaleMarks end

if ARGV[3] == '1' then eventId = ARGV[4] end
if eventId then
  redis.call('SET', KEYS[2], ARGV[2] .. ':' .. eventId)
else
  redis.call('SET', KEYS[2], ARGV[2])
end

local totals = KEYS[3]
redis.call('HINCRBY', totals, 'messages', ARGV[5])
redis.call('HINCRBY', totals, 'failed', ARGV[6])
redis.call('HSETNX', totals, 'startedAt', ARGV[8])
if ARGV[7] ~= '' then
  local last = redis.call('HGET', totals, 'lastMessageAt')
  if not last or tonumber(last) < tonumber(ARGV[7]) then
    redis.call('HSET', totals, 'lastMessageAt', ARGV[7])
  end
end

local failedCount = tonumber(ARGV[12])
if failedCount > 0 then
  for i = 13, 12 + failedCount do redis.call('LPUSH', KEYS[4], ARGV[i]) end
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[9]) - 1)
end

openSections(ARGV[13 + failedCount])

local k = 6
while pos <= size do
  local op = field()
  if op == 'z' or op == 'h' then
    local keyCount = tonumber(field())
    local params = {}
    for j = 1, keyCount do params[j] = tonumber(field()) end
    local n = tonumber(field())
    local members, increments = {}, {}
    for i = 1, n do
      local e1 = find(blob, END, pos, true)
      local e2 = find(blob, END, e1 + 1, true)
      members[i] = sub(blob, pos, e1 - 1)
      increments[i] = sub(blob, e1 + 1, e2 - 1)
      pos = e2 + 1
    end
    local interleaved = nil
    for j = 1, keyCount do
      local key = KEYS[k]
      if op == 'z' then
        -- Few calls with many members beat one call per member: a new key (the first
        -- write of a 1 s bucket) takes one ZADD; an existing one ZMSCORE then ZADD.
        -- Scores are integers below 2^53, exact in Lua numbers. unpack takes
        -- at most about 8000 values, so members go 2000 at a time.
        if n < 8 then
          for i = 1, n do redis.call('ZINCRBY', key, increments[i], members[i]) end
        elseif redis.call('EXISTS', key) == 0 then
          if not interleaved then
            interleaved = {}
            for i = 1, n do
              interleaved[2 * i - 1] = increments[i]
              interleaved[2 * i] = members[i]
            end
          end
          for s = 1, 2 * n, 4000 do redis.call('ZADD', key, unpack(interleaved, s, math.min(2 * n, s + 3999))) end
        else
          for s = 1, n, 2000 do
            local e = math.min(n, s + 1999)
            local scores = redis.call('ZMSCORE', key, unpack(members, s, e))
            local args = {}
            for i = s, e do
              local current = scores[i - s + 1]
              args[2 * (i - s) + 1] = current and (tonumber(current) + tonumber(increments[i])) or increments[i]
              args[2 * (i - s) + 2] = members[i]
            end
            redis.call('ZADD', key, unpack(args))
          end
        end
      else
        for i = 1, n do redis.call('HINCRBY', key, members[i], increments[i]) end
      end
      local param = params[j]
      if param > 0 then
        redis.call('EXPIRE', key, param)
      elseif param < 0 then
        local count = redis.call('ZCARD', key)
        if count > -param then redis.call('ZREMRANGEBYRANK', key, 0, count + param - 1) end
      end
      k = k + 1
    end
  elseif op == 's' then
    local n = tonumber(field())
    local ttl = field()
    local members = {}
    for i = 1, n do members[i] = field() end
    for s = 1, n, 4000 do
      redis.call('SADD', KEYS[k], unpack(members, s, math.min(n, s + 3999)))
    end
    redis.call('EXPIRE', KEYS[k], ttl)
    k = k + 1
  elseif op == 'r' then
    k = rollupSection(k)
  elseif op == 'm' then
    markSection(KEYS[5])
  elseif op == 'l' then
    local second = field()
    local last = redis.call('HGET', KEYS[5], 'last')
    if not last or tonumber(last) < tonumber(second) then redis.call('HSET', KEYS[5], 'last', second) end
  else
    return redis.error_reply('apply-batch.lua: unknown section ' .. tostring(op))
  end
end
return rollupResult
