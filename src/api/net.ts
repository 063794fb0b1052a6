/**
 * True for loopback client addresses: 127.0.0.0/8, ::1 and IPv4-mapped
 * 127.x (::ffff:127.0.0.1), as Node reports them in socket.remoteAddress.
 */
export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const ip = address.toLowerCase()
  if (ip === '::1') return true
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/**
 * The key a client is counted under by the rate limits and the stream caps:
 * an IPv4 address as it is (IPv4-mapped IPv6 unwrapped), an IPv6 address by
 * its /64 prefix, because one subscriber usually holds a whole /64 and could
 * otherwise be a new client at every address.
 */
export function clientKey (address: string): string {
  const ip = address.toLowerCase()
  if (!ip.includes(':')) return ip
  if (/^::ffff:\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip.slice(7)
  const [head = '', tail] = ip.split('::', 2)
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
