import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import Value from 'typebox/value'

const DECIMAL_INTEGER = /^-?\d{1,20}$/
const DECIMAL_NUMBER = /^-?\d{1,20}(\.\d{1,20})?$/

interface ObjectSchema {
  type?: unknown
  properties?: Record<string, { type?: unknown, default?: unknown }>
}

type Properties = Array<[string, { type?: unknown, default?: unknown }]>

/** The properties of an object schema, listed once at compile time; null for any other schema. */
function objectProperties (schema: ObjectSchema): Properties | null {
  return schema.type === 'object' && schema.properties !== undefined ? Object.entries(schema.properties) : null
}

/**
 * Query strings and path params arrive as strings. Only plain decimal text
 * becomes a number: `1.5` stays a string for an integer (a 400, not a
 * silent 1), `Infinity`, `1e400`, `0x10`, ` 5` are refused. (Ajv's coercion
 * lets `Infinity` through and then skips minimum/maximum; TypeBox's
 * Value.Convert truncates `1.5` to 1.) Keys the schema does not name are
 * dropped, so hostile names like `__proto__` never reach a handler. The
 * result is a new object.
 */
function convertStrings (properties: Properties, input: unknown): unknown {
  if (typeof input !== 'object' || input === null) return input
  const source = input as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [key, property] of properties) {
    if (!Object.hasOwn(source, key)) continue
    const value = source[key]
    if (typeof value === 'string' && property.type === 'integer' && DECIMAL_INTEGER.test(value)) out[key] = Number(value)
    else if (typeof value === 'string' && property.type === 'number' && DECIMAL_NUMBER.test(value)) out[key] = Number(value)
    else out[key] = value
  }
  return out
}

/**
 * The defaults of a flat object schema whose defaults are all primitives (every
 * query and params schema of the API), as [key, default] pairs: filling them
 * in is what TypeBox's Value.Default does to such an object, without walking
 * the schema on every request. Null when the schema is anything else.
 */
function flatDefaults (properties: Properties | null): Array<[string, unknown]> | null {
  if (properties === null) return null
  const defaults: Array<[string, unknown]> = []
  for (const [key, property] of properties) {
    if (property.type === 'object' || property.type === 'array') return null
    if (property.default === undefined) continue
    if (typeof property.default === 'object' && property.default !== null) return null
    defaults.push([key, property.default])
  }
  return defaults
}

/**
 * The validator of every route: TypeBox's compiled check of the route's
 * schema, strict string-to-number conversion for query and params, then the
 * schema's defaults. Errors keep the Ajv shape Fastify formats.
 */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema)
  const properties = httpPart === 'querystring' || httpPart === 'params' ? objectProperties(schema as ObjectSchema) : null
  // Only on the converted copy: never written into an object Fastify handed over.
  const defaults = flatDefaults(properties)
  return (input: unknown) => {
    const value = properties !== null ? convertStrings(properties, input) : input
    if (!check.Check(value)) return { error: check.Errors(value) as unknown as FastifySchemaValidationError[] }
    if (defaults === null || typeof value !== 'object' || value === null) return { value: Value.Default(schema, value) }
    const out = value as Record<string, unknown>
    for (const [key, fallback] of defaults) if (out[key] === undefined) out[key] = fallback
    return { value: out }
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
