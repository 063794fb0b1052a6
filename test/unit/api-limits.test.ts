import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clientKey } from '../../src/api/net.js'
import { SeriesBudget } from '../../src/api/series-budget.js'
import { StreamSlots } from '../../src/api/services/stream-slots.js'
import { trustProxySetting, trustsAProxy } from '../../src/api/trust-proxy.js'

/** The bookkeeping behind "no single client can deny the service to others" (README.md#limits-per-client). */

describe('StreamSlots', () => {
  it('refuses past the client\'s share, the total, or a new parameter set past the distinct bound; release gives the slot back', () => {
    const slots = new StreamSlots({ total: 5, perClient: 2, distinctSnapshots: 2 })
    const a1 = slots.take('a', 'x')
    const a2 = slots.take('a', 'x')
    assert.ok(typeof a1 === 'object' && typeof a2 === 'object')
    assert.equal(slots.take('a', 'x'), 'client')
    assert.equal(slots.heldBy('a'), 2)
    // A second parameter set is allowed, a third is not; a stream sharing one already served is.
    const b1 = slots.take('b', 'y')
    assert.ok(typeof b1 === 'object')
    assert.equal(slots.take('c', 'z'), 'snapshots')
    assert.ok(typeof slots.take('c', 'x') === 'object')
    assert.ok(typeof slots.take('d', 'y') === 'object')
    assert.equal(slots.open, 5)
    assert.equal(slots.take('e', 'x'), 'total')
    // Releasing is idempotent and frees the client's share and, with the last sharer, the parameter set.
    b1.release()
    b1.release()
    assert.equal(slots.open, 4)
    a1.release()
    assert.equal(slots.heldBy('a'), 1)
    assert.ok(typeof slots.take('a', 'x') === 'object')
    assert.equal(slots.distinctSnapshots, 2)
  })
})

describe('clientKey', () => {
  it('IPv4 as is, IPv4-mapped unwrapped, IPv6 by its /64', () => {
    assert.equal(clientKey('203.0.113.9'), '203.0.113.9')
    assert.equal(clientKey('::ffff:203.0.113.9'), '203.0.113.9')
    assert.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64')
    assert.equal(clientKey('2001:0DB8:0001:0002::9'), '2001:db8:1:2::/64')
    assert.notEqual(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'))
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64')
  })
})

describe('trustProxySetting (TRUST_PROXY)', () => {
  it('takes what Fastify takes: unset/false, true, a hop count, an address list', () => {
    assert.equal(trustProxySetting(undefined), false)
    assert.equal(trustProxySetting('false'), false)
    assert.equal(trustProxySetting('true'), true)
    assert.equal(trustProxySetting('2'), 2)
    assert.deepEqual(trustProxySetting('127.0.0.1, 10.0.0.0/8,loopback'), ['127.0.0.1', '10.0.0.0/8', 'loopback'])
    assert.equal(trustsAProxy(false), false)
    assert.equal(trustsAProxy(0), false)
    assert.equal(trustsAProxy(1), true)
    assert.equal(trustsAProxy(['10.0.0.1']), true)
  })
})

describe('SeriesBudget', () => {
  it('charges points per client per minute and says how long until the next period', () => {
    let now = 0
    const budget = new SeriesBudget(100_000, () => now)
    assert.equal(budget.charge('a', 86_400), null)
    now = 15_000
    assert.equal(budget.charge('a', 86_400), 45)
    assert.equal(budget.charge('a', 13_600), null)
    assert.equal(budget.charge('b', 86_400), null, 'another client has its own budget')
    now = 60_000
    assert.equal(budget.charge('a', 86_400), null, 'a new minute, a new budget')
    now = 200_000
    budget.charge('c', 1)
    assert.equal(budget.clients, 1, 'periods that ended are swept')
  })
})
