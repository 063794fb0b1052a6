import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FastifySchemaValidationError } from 'fastify'
import { formatValidationError } from '../../src/api/validation.js'
import { ApiError, errorBody, Errors } from '../../src/api/errors.js'
import { isLoopback } from '../../src/api/net.js'
import { corsOrigins } from '../../src/api/plugins/cors.js'

describe('isLoopback', () => {
  for (const address of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', '::FFFF:127.1.1.1']) {
    it(`${address} is loopback`, () => assert.equal(isLoopback(address), true))
  }
  for (const address of [undefined, '', '10.0.0.1', '128.0.0.1', '1127.0.0.1', '127.0.0.1.evil', '::2', '::ffff:10.0.0.1', 'fe80::1', 'localhost']) {
    it(`${String(address)} is not loopback`, () => assert.equal(isLoopback(address), false))
  }
})

describe('formatValidationError', () => {
  const error = (e: Partial<FastifySchemaValidationError>): FastifySchemaValidationError =>
    ({ keyword: 'x', instancePath: '', schemaPath: '#', params: {}, message: 'is bad', ...e })

  it('names the field by its location', () => {
    assert.equal(formatValidationError([error({ instancePath: '/limit', message: 'must be <= 100', params: { limit: 100 } })], 'querystring').message,
      'querystring/limit must be <= 100')
  })
  it('lists allowed values of an enum', () => {
    assert.equal(formatValidationError([error({ instancePath: '/window', message: 'must be equal to one of the allowed values', params: { allowedValues: ['all', '1m'] } })], 'querystring').message,
      'querystring/window must be equal to one of the allowed values: all, 1m')
  })
  it('names a missing property', () => {
    assert.equal(formatValidationError([error({ message: "must have required property 'room'", params: { missingProperty: 'room' } })], 'params').message,
      "params/room must have required property 'room'")
    assert.equal(formatValidationError([error({ message: 'must have required properties room', params: { requiredProperties: ['room'] } })], 'params').message,
      'params/room must have required properties room')
  })
})

describe('errors catalogue', () => {
  it('carries code, status and safe headers', () => {
    const err = Errors.adminTokenRequired('invalid')
    assert.ok(err instanceof ApiError)
    assert.equal(err.code, Errors.adminTokenRequired.code)
    assert.equal(err.statusCode, 401)
    assert.match(err.headers['www-authenticate'] ?? '', /error="invalid_token"/)
    const cause = new Error('ECONNREFUSED 10.0.0.1:6379')
    const down = Errors.storeUnavailable(cause)
    assert.equal(down.statusCode, 503)
    assert.equal(down.cause, cause)
    assert.ok(!down.message.includes('ECONNREFUSED'))
    assert.equal(Errors.storeTimeout(5).statusCode, 503)
    assert.equal(Errors.storeTimeout(5).code, 'CS_STORE_TIMEOUT')
  })

  it('errorBody is the one error body: status text from the status, code only when given', () => {
    assert.deepEqual(errorBody(503, 'the statistics store is unavailable', 'CS_STORE_UNAVAILABLE'),
      { statusCode: 503, error: 'Service Unavailable', message: 'the statistics store is unavailable', code: 'CS_STORE_UNAVAILABLE' })
    assert.deepEqual(errorBody(500, 'Internal Server Error'), { statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
    assert.equal(errorBody(599, 'x').error, 'Error')
  })
})

describe('corsOrigins', () => {
  it('parses CORS_ORIGIN', () => {
    assert.equal(corsOrigins(undefined), null)
    assert.equal(corsOrigins(' , '), null)
    assert.equal(corsOrigins('*'), '*')
    assert.equal(corsOrigins('https://a.example,*'), '*')
    assert.deepEqual(corsOrigins('https://a.example, https://b.example'), ['https://a.example', 'https://b.example'])
  })
})
