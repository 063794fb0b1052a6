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
