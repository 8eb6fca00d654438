/**
 * SlateDB 0.12.1 on W3 (W3Engine.ts), through its Node binding on `ObjectStore.resolve("s3://bucket/prefix")`
 * (object_store's S3 client, configured from `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`: the harness points it at its counting proxy). Default settings
 * but for: no compactor when reading; `flush_interval` 1 ms in the "eager" flush mode (SlateDB has no
 * eager flush: with no `flush_interval` a durable put waits for the WAL's size trigger, so a 1 ms timer is
 * the nearest thing); the full compaction as W2's (engines/SlateDbW2.ts `COMPACT_EVERYTHING`).
 *
 * Its own request counts come from a `DefaultMetricsRecorder` in every opening
 * (`slatedb.object_store.request_count` by `api`; it counts no listings).
 */
import { importPeer } from "../Engine.ts"
import type { W3Db, W3Engine } from "../W3Engine.ts"
import type { FlushMode } from "../W3Workload.ts"
import { w2Value } from "../W2Workload.ts"
import { emptyCounts, type RequestCounts } from "./LatencyStore.ts"
import { buildWithMetrics, COMPACT_EVERYTHING, counter } from "./SlateDbW2.ts"

type SlateDb = typeof import("@slatedb/uniffi")
type Recorder = InstanceType<SlateDb["DefaultMetricsRecorder"]>

/** SlateDB's `api` label of `slatedb.object_store.request_count` → Shale's operation. */
const APIS: ReadonlyArray<readonly [string, keyof RequestCounts]> = [
  ["get", "get"],
  ["get_range", "getRange"],
  ["get_ranges", "getRange"],
  ["head", "head"],
  ["put", "put"],
  ["multipart_init", "put"],
  ["multipart_part", "put"],
  ["multipart_complete", "put"],
  ["delete", "delete"]
]

const addCounts = (into: RequestCounts, metrics: Recorder) => {
  for (const m of metrics.metrics_by_name("slatedb.object_store.request_count")) {
    const api = m.labels.find((l) => l.key === "api")?.value
    const kind = APIS.find(([a]) => a === api)?.[1]
    if (kind !== undefined) into[kind] += counter(m)
  }
}

type Compactor = "none" | "default" | "everything"

const settingsOf = (slatedb: SlateDb, compactor: Compactor, flush: FlushMode) => {
  const settings = slatedb.Settings.default()
  if (flush === "eager") settings.set("flush_interval", JSON.stringify("1ms"))
  if (compactor === "none") settings.set("compactor_options", "null")
  if (compactor === "everything") {
    settings.set("compactor_options.poll_interval", JSON.stringify("200ms"))
    settings.set("compactor_options.max_concurrent_compactions", "1")
    const options = Object.fromEntries(Object.entries(COMPACT_EVERYTHING).map(([k, v]) => [k, String(v)]))
    settings.set("compactor_options.scheduler_options", JSON.stringify(options))
  }
  return settings
}

export const makeSlateDbW3 = async (location: string): Promise<W3Engine> => {
  const slatedb = await importPeer("@slatedb/uniffi", () => import("@slatedb/uniffi"))
  const store = slatedb.ObjectStore.resolve(location)
  const closed = emptyCounts()
  let current: Recorder | undefined

  const build = async (compactor: Compactor, flush: FlushMode) => {
    const built = await buildWithMetrics(slatedb, store, settingsOf(slatedb, compactor, flush), (metrics) => {
      addCounts(closed, metrics)
      current = undefined
    })
    current = built.metrics
    return { db: built.db, close: built.shutdown }
  }

  const open = async (mode: "load" | "read", flush: FlushMode): Promise<W3Db> => {
    const { db, close } = await build(mode === "load" ? "default" : "none", flush)
    return {
      load: async (n, batch, keyOf) => {
        for (let from = 0; from < n; from += batch) {
          const b = new slatedb.WriteBatch()
          for (let i = from; i < Math.min(n, from + batch); i++) b.put(keyOf(i), w2Value(i, 1))
          try {
            await db.write_with_options(b, { await_durable: false })
          } finally {
            b.dispose()
          }
        }
        await db.flush_with_options({ flush_type: slatedb.FlushType.MemTable })
      },
      get: (key) => db.get(key),
      scan: async (start, rows, check) => {
        const iterator = await db.scan({ start, start_inclusive: true, end: undefined, end_inclusive: false })
        try {
          for (let n = 0; n < rows; n++) {
            const kv = await iterator.next()
            if (kv === undefined) break
            check(kv.key, kv.value)
          }
        } finally {
          iterator.dispose()
        }
      },
      put: async (key, value) => {
        await db.put(key, value)
      },
      close
    }
  }

  return {
    open,
    compactFully: async (awaitOneRun) => {
      const { close } = await build("everything", "interval")
      try {
        await awaitOneRun()
      } finally {
        await close()
      }
      return "SlateDB reopened with min_compaction_sources 1, max_compaction_sources 1000, include_size_threshold 1e9, max_concurrent_compactions 1, stopped once the store showed one sorted run and no L0 SST"
    },
    ownCounts: () => {
      const counts = { ...closed }
      if (current !== undefined) addCounts(counts, current)
      return counts
    },
    dispose: async () => {
      store.dispose()
    }
  }
}
