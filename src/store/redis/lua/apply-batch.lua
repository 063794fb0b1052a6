--[[
apply-batch: writes one flush in one atomic step: the counts, the window
values, the tracked rooms, the failed log and the stream position. Built
by flush-encoding.ts from a Batch and the writer's plans.

KEYS[1] lease (string)           KEYS[2] position (string)
KEYS[3] totals (hash)            KEYS[4] failed log (list)
KEYS[5] windows: the writer's bucket life (hash: floor, newest)
KEYS[6] tracked rooms (sorted set: room -> all-time messages)
KEYS[7..] every other key the writes below touch, declared (the writes
name them again in ARGV[10]) so that on a cluster a slot being migrated
answers TRYAGAIN or ASK for the flush as a whole; all share the
namespace's hash tag, so they live in the slot of KEYS[1].

ARGV[1]  lease token; '' = write without a lease check
ARGV[2]  batch sequence
ARGV[3]  '1' when the batch carries a last event id, else '0'
ARGV[4]  that last event id (ignored unless ARGV[3] is '1')
ARGV[5]  messages to add to totals.messages
ARGV[6]  failed messages to add to totals.failed
ARGV[7]  lastMessageAt of the batch (epoch ms), '' when none
ARGV[8]  now (epoch ms, the store's clock): startedAt when not yet set
ARGV[9]  failed log capacity
ARGV[10] the writes, MessagePack (msgpack.ts), an array of:
  [1] deleted keys (the detail of rooms that leave the tracked set)
  [2] hash fields to delete: { key, field, field, ... }
  [3] sorted-set increments: { key, keep, ttl, member, n, member, n, ... }:
      add, then keep the `keep` highest (0: no trim); ttl > 0: EXPIRE
  [4] hash increments: { key, ttl, field, n, ... }: add; ttl > 0: EXPIRE
  [5] values: { key, ttl, text }: SET key text EX ttl
  [6] hash values: { key, ttl, field, text, ... }: HSET, EXPIRE key ttl
  [7] expiries: { key, ttl }: EXPIRE (ttl <= 0: DEL)
  [8] tracked rooms: { score, room, score, room, ... } ZADD
  [9] rooms leaving the tracked set: ZREM
  [10] failed log entries (JSON), oldest first
  [11] { floor, newest }: the bucket life after this flush
  [12] rooms entering the tracked set: { key, second, key, second, ... }:
       HSET key f second (first seen: the earliest second of its detail),
       unless the hash holds an earlier f (a hash left over, never a later time)
  [13] rooms tracked before: { key, second, ... }: lower `f` to second when
       the hash has an `f` above it (none: first seen unknown, kept so)
ARGV[11] the sequence the writer last saw committed ('' = no check)
ARGV[12] store rollbacks to add to totals.storeRollbacks ('' = none)
ARGV[13] messages lost to add to totals.messagesLost ('' = none)

Returns (result-codes.ts) Result.Applied, Result.Duplicate (sequence not
above the committed one), Result.Behind (the committed sequence is below
ARGV[11]: the store lost writes, e.g. restarted from an older snapshot) or
Result.LeaseLost; nothing is written unless Result.Applied.
]]
--- @include "increments"

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
-- The store must be at least where the writer left it: adding to older counts would hide the loss.
if ARGV[11] and ARGV[11] ~= '' and committed < tonumber(ARGV[11]) then return Result.Behind end
if tonumber(ARGV[2]) <= committed then return Result.Duplicate end

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
if ARGV[12] and ARGV[12] ~= '' then redis.call('HINCRBY', totals, 'storeRollbacks', ARGV[12]) end
if ARGV[13] and ARGV[13] ~= '' then redis.call('HINCRBY', totals, 'messagesLost', ARGV[13]) end
if ARGV[7] ~= '' then
  local last = redis.call('HGET', totals, 'lastMessageAt')
  if not last or tonumber(last) < tonumber(ARGV[7]) then
    redis.call('HSET', totals, 'lastMessageAt', ARGV[7])
  end
end

local writes = cmsgpack.unpack(ARGV[10])

for _, key in ipairs(writes[1]) do redis.call('DEL', key) end
for _, entry in ipairs(writes[2]) do
  for s = 2, #entry, 4000 do redis.call('HDEL', entry[1], unpack(entry, s, math.min(#entry, s + 3999))) end
end

for _, entry in ipairs(writes[3]) do
  local key, keep, ttl = entry[1], entry[2], entry[3]
  addToSortedSet(key, entry, 4, keep)
  if keep > 0 then trimSortedSet(key, keep) end
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
end
for _, entry in ipairs(writes[4]) do
  local key, ttl = entry[1], entry[2]
  addToHash(key, entry, 3)
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
end
for _, entry in ipairs(writes[5]) do redis.call('SET', entry[1], entry[3], 'EX', entry[2]) end
for _, entry in ipairs(writes[6]) do
  for s = 3, #entry, 4000 do redis.call('HSET', entry[1], unpack(entry, s, math.min(#entry, s + 3999))) end
  redis.call('EXPIRE', entry[1], entry[2])
end
for _, entry in ipairs(writes[7]) do
  if entry[2] > 0 then redis.call('EXPIRE', entry[1], entry[2]) else redis.call('DEL', entry[1]) end
end

local tracked = writes[8]
for s = 1, #tracked, 4000 do redis.call('ZADD', KEYS[6], unpack(tracked, s, math.min(#tracked, s + 3999))) end
local leaving = writes[9]
for s = 1, #leaving, 4000 do redis.call('ZREM', KEYS[6], unpack(leaving, s, math.min(#leaving, s + 3999))) end

local failed = writes[10]
if #failed > 0 then
  for _, entry in ipairs(failed) do redis.call('LPUSH', KEYS[4], entry) end
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[9]) - 1)
end

-- First seen: [12] sets `f` where the hash has none, [13] only lowers one; both lower a later `f`.
for section = 12, 13 do
  local rooms, setMissing = writes[section], section == 12
  for i = 1, #rooms, 2 do
    local current = redis.call('HGET', rooms[i], 'f')
    if (not current and setMissing) or (current and tonumber(current) > rooms[i + 1]) then redis.call('HSET', rooms[i], 'f', rooms[i + 1]) end
  end
end

redis.call('HSET', KEYS[5], 'floor', writes[11][1], 'newest', writes[11][2])
return Result.Applied
