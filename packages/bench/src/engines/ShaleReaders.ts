/**
 * Shale for the reader workload (ReadersEngine.ts): the writer is `Shale.open("bench", { store:
 * Shale.stores.local(dir) })` with the default settings (WAL flush every 100 ms, compactor and collector on),
 * a reader is `Shale.openReader("bench", ...)` on a store layer of its own, in the same process.
 */
import { Shale } from "@shale/core"
import { checkpointLifetimeMs, type ReaderHandle, type ReadersEngine } from "../ReadersEngine.ts"

const NO_DURABLE = { awaitDurable: false } as const

const drain = async (rows: AsyncIterable<unknown>): Promise<number> => {
  let n = 0
  for await (const _ of rows) n++
  return n
}

export const makeShaleReaders = async (dir: string): Promise<ReadersEngine> => {
  const db = await Shale.open("bench", { store: Shale.stores.local(dir) })
  const openReader = async (pollMs: number): Promise<ReaderHandle> => {
    const reader = await Shale.openReader("bench", {
      store: Shale.stores.local(dir),
      options: { manifestPollIntervalMs: pollMs, checkpointLifetimeMs: checkpointLifetimeMs(pollMs) }
    })
    return { get: (key) => reader.get(key), scanAll: () => drain(reader.scan({})), close: () => reader.close() }
  }
  return {
    putDurable: async (key, value) => void (await db.put(key, value)),
    putNoDurable: async (key, value) => void (await db.put(key, value, NO_DURABLE)),
    flushMemtable: () => db.flush({ type: "memtable" }),
    get: (key) => db.get(key),
    scanAll: () => drain(db.scan({})),
    openReader,
    close: () => db.close()
  }
}
