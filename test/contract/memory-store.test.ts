import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { runStoreContract } from './store-contract.js'

// The embedded store without persistence: the suite checks semantics; snapshots have their own tests (test/unit/memory-*.test.ts).
runStoreContract('MemoryStore', async (bounds) => {
  const store = new MemoryStore({ ...bounds, snapshotPath: null })
  return { store, cleanup: () => store.close() }
})
