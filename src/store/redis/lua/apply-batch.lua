--[[
apply-batch: writes one flush (counts, failed log, stream position) in one
atomic step. Built by encodeBatch in batch-encoding.ts.

KEYS[1]  lease (string)         KEYS[2]  position (string)
KEYS[3]  totals (hash)          KEYS[4]  failed log (list)
KEYS[5..] the target keys of the increment groups below, group after group

ARGV[1]  lease token; '' = write without a lease check
ARGV[2]  batch sequence
ARGV[3]  '1' when the batch carries a last event id, else '0'
ARGV[4]  that last event id (ignored unless ARGV[3] is '1')
ARGV[5]  messages to add to totals.messages
ARGV[6]  failed messages to add to totals.failed
ARGV[7]  lastMessageAt of the batch (epoch ms), '' when none
ARGV[8]  now (epoch ms, the store's clock): startedAt when not yet set
ARGV[9]  failed log capacity
ARGV[10] n = failed log entries in this batch, then ARGV[11..10+n] the
         entries (JSON), oldest first
then increment groups until the end of ARGV, each:
  op        'z' (ZINCRBY member by increment) or 'h' (HINCRBY field by increment)
  nKeys     keys this group applies to (the next nKeys of KEYS)
  nPairs
  nKeys params, one per key, applied after the key's increments:
            > 0  EXPIRE key param (seconds)
            < 0  trim the sorted set to -param members (ZREMRANGEBYRANK from
                 the lowest score, equal scores lowest value first)
              0  nothing
  nPairs x (member or field, increment)

Returns 1 applied, 0 duplicate (sequence not above the committed one,
nothing written), -1 lease lost (nothing written).
]]
local token = ARGV[1]
if token ~= '' and redis.call('GET', KEYS[1]) ~= token then return -1 end

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
if tonumber(ARGV[2]) <= committed then return 0 end

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

local failedCount = tonumber(ARGV[10])
if failedCount > 0 then
  for i = 11, 10 + failedCount do redis.call('LPUSH', KEYS[4], ARGV[i]) end
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[9]) - 1)
end

local a = 11 + failedCount
local k = 5
local argc = #ARGV
while a <= argc do
  local op = ARGV[a]
  local keyCount = tonumber(ARGV[a + 1])
  local pairCount = tonumber(ARGV[a + 2])
  local params = a + 3
  local first = params + keyCount
  local last = first + 2 * pairCount - 1
  for j = 0, keyCount - 1 do
    local key = KEYS[k + j]
    if op == 'z' then
      for p = first, last, 2 do redis.call('ZINCRBY', key, ARGV[p + 1], ARGV[p]) end
    else
      for p = first, last, 2 do redis.call('HINCRBY', key, ARGV[p], ARGV[p + 1]) end
    end
    local param = tonumber(ARGV[params + j])
    if param > 0 then
      redis.call('EXPIRE', key, param)
    elseif param < 0 then
      local size = redis.call('ZCARD', key)
      if size > -param then redis.call('ZREMRANGEBYRANK', key, 0, size + param - 1) end
    end
  end
  k = k + keyCount
  a = last + 1
end
return 1
