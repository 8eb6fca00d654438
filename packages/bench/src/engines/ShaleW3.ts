/**
 * Shale on W3 (W3Engine.ts), through its Promise API (`Shale.open`, an `await` per call), on one of two
 * stores, each wrapped by `withRequestCounts` (LatencyStore.ts), which counts every request by operation:
 *
 * - S3 (`location` = `s3://bucket/prefix`): `Shale.stores.resolve(location)`, i.e. `@shale/s3`, with the
 *   endpoint and credentials from the environment (the harness points it at its counting proxy);
 * - latency (`location` undefined): one in-memory store for the whole run (`ObjectStore.memory()`, so a
 *   reopened database finds its data), with W3's injected S3 latency on every request of the measured
 *   phases (not on the load and the full compaction, which only prepare the data).
 *
 * Settings: Shale's defaults, `durableFlush` per phase, no compactor when reading, and whatever
 * `--shale-settings` gives on top (e.g. read-ahead settings, once Shale has them). The full compaction is
 * the standalone compactor (`Compactor.layer`): wait until idle, `submit("full")`, wait until idle.
 */
import { Layer, ManagedRuntime } from "effect"
import { Compactor, ObjectStore as Store, type Settings, Shale } from "@shale/core"
import type { W3Db, W3Engine } from "../W3Engine.ts"
import { type FlushMode, W3_LATENCY } from "../W3Workload.ts"
import { w2Value } from "../W2Workload.ts"
import { emptyCounts, type LatencyProfile, withRequestCounts } from "./LatencyStore.ts"


/** At most `rows` rows of an ascending scan from `start`, each handed to `check`. */
const scanRows = async (
  db: Shale.ShaleDb,
  start: Uint8Array,
  rows: number,
  check: (key: Uint8Array, value: Uint8Array) => void,
  options: { readonly readAheadBytes?: number; readonly maxFetchTasks?: number }
): Promise<void> => {
  let n = 0
  if (rows <= 0) return
  // Every scan reads cold blocks, as SlateDB's do: with `--quick`'s small run (under a quarter of the block
  // cache) Shale's default would cache its blocks, and the scans with read-ahead would find some of those
  // the scans without it (run first) read.
  for await (const kv of db.scan({ start }, { ...options, cacheBlocks: false })) {
    check(kv.key, kv.value)
    if (++n === rows) break
  }
}

const PATH = "bench"
const NO_DURABLE = { awaitDurable: false } as const

export const makeShaleW3 = async (options: {
  readonly location: string | undefined
  readonly settings: Readonly<Record<string, unknown>>
}): Promise<W3Engine> => {
  const counts = emptyCounts()
  let latency: LatencyProfile | undefined
  const inner = options.location === undefined ? Store.memory() : Shale.stores.resolve(options.location)
  const store = withRequestCounts(inner, counts, () => latency)
  const injected = options.location === undefined
  const settingsFor = (mode: "load" | "read", flush: FlushMode) =>
    ({
      durableFlush: flush,
      ...(mode === "read" ? { compactor: null } : {}),
      ...options.settings
    }) as Settings.SettingsInput

  const open = async (mode: "load" | "read", flush: FlushMode): Promise<W3Db> => {
    const db = await Shale.open(PATH, { store, settings: settingsFor(mode, flush) })
    latency = injected && mode === "read" ? W3_LATENCY : undefined
    return {
      load: async (n, batch, keyOf) => {
        for (let from = 0; from < n; from += batch) {
          const b = new Shale.WriteBatch()
          for (let i = from; i < Math.min(n, from + batch); i++) b.put(keyOf(i), w2Value(i, 1))
          await db.write(b, NO_DURABLE)
        }
        await db.flush({ type: "memtable" })
      },
      get: (key) => db.get(key),
      scan: (start, rows, check) => scanRows(db, start, rows, check, {}),
      scanWithoutReadAhead: (start, rows, check) => scanRows(db, start, rows, check, { readAheadBytes: 1, maxFetchTasks: 1 }),
      put: async (key, value) => {
        await db.put(key, value)
      },
      close: async () => {
        try {
          await db.close()
        } finally {
          latency = undefined
        }
      }
    }
  }

  return {
    open,
    compactFully: async () => {
      const layer = Compactor.Compactor.layer({ path: PATH, settings: settingsFor("load", "interval") }).pipe(
        Layer.provide(store)
      )
      const runtime = ManagedRuntime.make(layer)
      try {
        await runtime.runPromise(Compactor.Compactor.use((c) => c.awaitIdle))
        await runtime.runPromise(Compactor.Compactor.use((c) => c.submit("full")))
        await runtime.runPromise(Compactor.Compactor.use((c) => c.awaitIdle))
        const status = await runtime.runPromise(Compactor.Compactor.use((c) => c.status))
        return `standalone compactor (Compactor.layer), submit("full"): ${status.l0Ssts} L0 SSTs, ${status.sortedRuns} sorted run(s) after`
      } finally {
        await runtime.dispose()
      }
    },
    ownCounts: () => ({ ...counts }),
    dispose: async () => undefined
  }
}
