/**
 * LMDB through `lmdb@3` (lmdb-js), in a local directory, binary keys and values, default options
 * (`overlappingSync`: a commit becomes visible first and is fsynced after).
 *
 * lmdb-js writes asynchronously in batched transactions: `put` queues the write and returns a promise of
 * its commit. So a non-durable put is `put` without awaiting the commit (the phase ends, and is timed,
 * when `committed` resolves for the last one); a durable put awaits the put and then `flushed` (the fsync).
 * Reads are synchronous (`get`, `getRange`), as lmdb-js intends them. LMDB has no memtable: the flush
 * before the gets waits for `flushed`. Concurrent durable puts are not measured (docs/design/benchmark.md §2, "-").
 */
import { type Engine, importPeer } from "../Engine.ts"
import { getIndex, valueOf } from "../Workload.ts"

export const makeLmdb = async (options: { readonly dir: string }): Promise<Engine> => {
  const lmdb = await importPeer("lmdb", () => import("lmdb"))
  const db = lmdb.open<Uint8Array, Uint8Array>({ path: options.dir, keyEncoding: "binary", encoding: "binary" })
  return {
    putNoDurableSeq: async (keys, from, to) => {
      let last: Promise<boolean> | undefined
      for (let i = from; i < to; i++) last = db.put(keys[i]!, valueOf(i))
      await last
      await db.committed
    },
    putDurableSeq: async (keys, from, to) => {
      const latencies: Array<number> = []
      for (let i = from; i < to; i++) {
        const t0 = performance.now()
        await db.put(keys[i]!, valueOf(i))
        await db.flushed
        latencies.push(performance.now() - t0)
      }
      return latencies
    },
    flushMemtable: async () => {
      await db.flushed
    },
    getSeq: (keys, count) => {
      let found = 0
      for (let i = 0; i < count; i++) {
        if (db.get(keys[getIndex(i, keys.length)]!) !== undefined) found++
      }
      return Promise.resolve(found)
    },
    scanAll: () => {
      let rows = 0
      for (const _ of db.getRange({})) rows++
      return Promise.resolve(rows)
    },
    close: () => db.close()
  }
}
