import http from 'node:http'
import { StringDecoder } from 'node:string_decoder'
import { type FromParent, onParentMessage, sendToParent } from './ipc.js'

/**
 * The reference loop of docs/PERFORMANCE.md#ingest: read the same HTTP stream, split it
 * into lines and JSON.parse every data line, nothing else. Its rate is what
 * the worker's is compared with.
 */
async function runBare (message: Extract<FromParent, { type: 'run-bare' }>): Promise<void> {
  const { streamUrl, expectedEvents } = message
  const result = await new Promise<{ seconds: number, cpuSeconds: number, parsed: number, failed: number }>((resolve, reject) => {
    const request = http.get(streamUrl, (response) => {
      const started = performance.now()
      const cpuAtStart = process.cpuUsage()
      const decoder = new StringDecoder('utf8')
      let partial = ''
      let events = 0
      let parsed = 0
      let failed = 0
      response.on('data', (chunk: Buffer) => {
        const lines = (partial + decoder.write(chunk)).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) {
          const value = line.startsWith('se-data:') ? line.slice(9) : line.startsWith('data:') ? line.slice(6) : null
          if (value === null) continue
          if (line.charCodeAt(0) === 0x73) events++
          try {
            JSON.parse(value)
            parsed++
          } catch {
            failed++
          }
        }
        if (events >= expectedEvents) {
          const cpu = process.cpuUsage(cpuAtStart)
          resolve({ seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, parsed, failed })
          request.destroy()
        }
      })
      response.on('error', reject)
    })
    request.on('error', (err) => { if (!request.destroyed) reject(err) })
  })
  sendToParent({ type: 'bare-result', ...result })
}

onParentMessage(async (message) => {
  if (message.type === 'run-bare') await runBare(message)
  else if (message.type === 'stop') process.exit(0)
})
