/**
 * LevelDB through `classic-level@3`, in a local directory, keys and values as `Uint8Array` ("view"
 * encoding). A durable put is `put(k, v, { sync: true })` (an fsync of LevelDB's log per put); a
 * non-durable put is the default `put` (written to the OS, not synced). LevelDB has no public memtable
 * flush, so the flush before the gets does nothing. Concurrent durable puts are not measured: each one is
 * its own fsync (docs/design/benchmark.md §2 shows "-").
 */
import { type Engine, importPeer } from "../Engine.ts"
import { getIndex, valueOf } from "../Workload.ts"

export const makeClassicLevel = async (options: { readonly dir: string }): Promise<Engine> => {
  const { ClassicLevel } = await importPeer("classic-level", () => import("classic-level"))
  const db = new ClassicLevel<Uint8Array, Uint8Array>(options.dir, { keyEncoding: "view", valueEncoding: "view" })
  await db.open()
  const sync = { sync: true }
  return {
    putNoDurableSeq: async (keys, from, to) => {
      for (let i = from; i < to; i++) await db.put(keys[i]!, valueOf(i))
    },
    putDurableSeq: async (keys, from, to) => {
      const latencies: Array<number> = []
      for (let i = from; i < to; i++) {
        const t0 = performance.now()
        await db.put(keys[i]!, valueOf(i), sync)
        latencies.push(performance.now() - t0)
      }
      return latencies
    },
    flushMemtable: () => Promise.resolve(),
    getSeq: async (keys, count) => {
      let found = 0
      for (let i = 0; i < count; i++) {
        if ((await db.get(keys[getIndex(i, keys.length)]!)) !== undefined) found++
      }
      return found
    },
    scanAll: async () => {
      let rows = 0
      for await (const _ of db.iterator()) rows++
      return rows
    },
    close: () => db.close()
  }
}
