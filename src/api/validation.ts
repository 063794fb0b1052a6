import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import Value from 'typebox/value'

const DECIMAL_INTEGER = /^-?\d{1,20}$/
const DECIMAL_NUMBER = /^-?\d{1,20}(\.\d{1,20})?$/

interface ObjectSchema {
  type?: unknown
  properties?: Record<string, { type?: unknown }>
}

/**
 * Query strings and path params arrive as strings. Only plain decimal text
 * becomes a number: `1.5` stays a string for an integer (a 400, not a
 * silent 1), `Infinity`, `1e400`, `0x10`, ` 5` are refused. (Ajv's coercion
 * lets `Infinity` through and then skips minimum/maximum; TypeBox's
 * Value.Convert truncates `1.5` to 1.) Keys the schema does not name are
 * dropped, so hostile names like `__proto__` never reach a handler.
 */
function convertStrings (schema: ObjectSchema, input: unknown): unknown {
  if (schema.type !== 'object' || schema.properties === undefined || typeof input !== 'object' || input === null) return input
  const source = input as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [key, property] of Object.entries(schema.properties)) {
    if (!Object.hasOwn(source, key)) continue
    const value = source[key]
    if (typeof value === 'string' && property.type === 'integer' && DECIMAL_INTEGER.test(value)) out[key] = Number(value)
    else if (typeof value === 'string' && property.type === 'number' && DECIMAL_NUMBER.test(value)) out[key] = Number(value)
    else out[key] = value
  }
  return out
}

/**
 * The validator of every route: TypeBox's compiled check of the route's
 * schema, strict string-to-number conversion for query and params, then the
 * schema's defaults. Errors keep the Ajv shape Fastify formats.
 */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema)
  const fromStrings = httpPart === 'querystring' || httpPart === 'params'
  return (input: unknown) => {
    const value = fromStrings ? convertStrings(schema as ObjectSchema, input) : input
    if (check.Check(value)) return { value: Value.Default(schema, value) }
    return { error: check.Errors(value) as unknown as FastifySchemaValidationError[] }
  }
}

/**
 * Validation messages name the parameter: `querystring/limit must be <= 100`,
 * `params/room must not have more than 100 characters`; enums list their values.
 */
export function formatValidationError (errors: FastifySchemaValidationError[], dataVar: string): Error {
  const first = errors[0]
  if (first === undefined) return new Error(`${dataVar} is invalid`)
  const params = first.params as { missingProperty?: unknown, requiredProperties?: unknown, allowedValues?: unknown }
  const missing = typeof params.missingProperty === 'string'
    ? params.missingProperty
    : Array.isArray(params.requiredProperties) ? String(params.requiredProperties[0]) : undefined
  const path = first.instancePath !== '' ? first.instancePath : missing !== undefined ? `/${missing}` : ''
  const allowed = Array.isArray(params.allowedValues) ? `: ${params.allowedValues.map(String).join(', ')}` : ''
  return new Error(`${dataVar}${path} ${first.message ?? 'is invalid'}${allowed}`)
}
