import { pino } from 'pino'
import { closeOnSignal } from '../../src/runtime.js'

/**
 * A process that installs `closeOnSignal` and waits, for the runtime test:
 * argv[2] picks how its shutdown or the process misbehaves (`ok`, `hang`,
 * `fail`, `throw`, `reject`). It logs JSON lines to stdout, `ready` first.
 */
const mode = process.argv[2] ?? 'ok'
// Synchronous writes: pino's default stdout stream writes asynchronously, and a line still in
// flight when the process exits can land after the ones flushed at exit, which is not under test.
const logger = pino({ level: 'info' }, pino.destination({ fd: 1, sync: true }))
closeOnSignal(logger, async () => {
  logger.info('closing resources')
  if (mode === 'hang') await new Promise(() => {})
  if (mode === 'fail') throw new Error('cannot close')
}, mode === 'hang' ? Number(process.argv[3] ?? 300) : undefined)
// The open handle of a real service: the process only ends through closeOnSignal.
setInterval(() => {}, 60_000)
logger.info('ready')
if (mode === 'throw') setTimeout(() => { throw new Error('boom') }, 10)
if (mode === 'reject') setTimeout(() => { void Promise.reject(new Error('boom')) }, 10)
