/** Fastify's `trustProxy`: off, everything, a hop count, or the proxies' addresses/CIDRs. */
export type TrustProxy = boolean | number | string[]

/**
 * TRUST_PROXY as Fastify takes it (README, "Behind a reverse proxy"):
 * unset or `false` trusts nobody, `true` trusts every hop (X-Forwarded-For is
 * then the client's to forge), a number trusts that many hops in front of the
 * API, anything else is a comma-separated list of proxy addresses, CIDRs or
 * proxy-addr's names (loopback, linklocal, uniquelocal).
 */
export function trustProxySetting (value: string | undefined): TrustProxy {
  const text = value?.trim() ?? ''
  if (text === '' || text === 'false') return false
  if (text === 'true') return true
  if (/^\d+$/.test(text)) return Number(text)
  return text.split(',').map((part) => part.trim()).filter((part) => part !== '')
}

/** True when some proxy is trusted: the client address then comes from X-Forwarded-For. */
export function trustsAProxy (setting: TrustProxy): boolean {
  return Array.isArray(setting) ? setting.length > 0 : setting !== false && setting !== 0
}
