/**
 * Shale through its Promise API: `Shale.open(path, { store, settings })` with `Shale.stores.memory()` or
 * `Shale.stores.local(dir)`, called the way the peers are, with one `await` per call. Concurrent durable
 * puts are 256 async writers pulling the next key (the same helper the SlateDB adapter uses).
 */
import { type Settings, Shale } from "@shale/core"
import { type Engine, runConcurrently } from "../Engine.ts"
import { getIndex, valueOf } from "../Workload.ts"

export interface ShalePromiseOptions {
  /** `"memory"`, or the directory of a local store. */
  readonly store: "memory" | { readonly dir: string }
  readonly settings?: Settings.SettingsInput
}

const NO_DURABLE = { awaitDurable: false } as const

export const makeShalePromise = async (options: ShalePromiseOptions): Promise<Engine> => {
  const store = options.store === "memory" ? Shale.stores.memory() : Shale.stores.local(options.store.dir)
  const db = await Shale.open("bench", options.settings === undefined ? { store } : { store, settings: options.settings })
  return {
    putNoDurableSeq: async (keys, from, to) => {
      for (let i = from; i < to; i++) await db.put(keys[i]!, valueOf(i), NO_DURABLE)
    },
    putDurableConcurrent: (keys, from, to, inFlight) =>
      runConcurrently(from, to, inFlight, (i) => db.put(keys[i]!, valueOf(i))),
    putDurableSeq: async (keys, from, to) => {
      const latencies: Array<number> = []
      for (let i = from; i < to; i++) {
        const t0 = performance.now()
        await db.put(keys[i]!, valueOf(i))
        latencies.push(performance.now() - t0)
      }
      return latencies
    },
    flushMemtable: () => db.flush({ type: "memtable" }),
    getSeq: async (keys, count) => {
      let found = 0
      for (let i = 0; i < count; i++) {
        if ((await db.get(keys[getIndex(i, keys.length)]!)) !== undefined) found++
      }
      return found
    },
    durableSeq: async () => (await db.status()).durableSeq,
    scanAll: async () => {
      let rows = 0
      for await (const _ of db.scan({})) rows++
      return rows
    },
    close: () => db.close()
  }
}
