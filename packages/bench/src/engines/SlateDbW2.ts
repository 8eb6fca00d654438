/**
 * SlateDB 0.12.1 on W2 (W2Engine.ts), through its Node binding on a `file://` store in the run's directory,
 * with W2's settings in SlateDB's names (`Settings.set(dotted key, JSON)`). Its garbage collector follows
 * `--gc` as Shale's does: `garbage_collector_options` with W2's schedule for each of `manifest_options`,
 * `wal_options`, `compacted_options`, `compactions_options`, or null. Its counters are read from a
 * `DefaultMetricsRecorder` (`slatedb.gc.deleted_count` by resource), attached in every opening whether the
 * collector runs or not; SlateDB counts no scheduled passes and times none.
 *
 * The binding has no `Admin`, so no `CompactionRequest::Full` (which in 0.12.1 skips L0 anyway). The full
 * compaction reopens the database with a scheduler that compacts everything, one compaction at a time: at
 * least 1 source, at most 1,000, any size ratio. Its first compaction takes every L0 SST into a new run,
 * the next merges every run into the lowest. Once the store shows one run and no L0 the harness stops it:
 * left running, it would rewrite its only run forever (1 source is enough), and with more than one
 * compaction at a time it never gets there (each run rewrites itself, none is free to be merged).
 */
import type { FullCompaction, W2Db, W2Engine } from "../W2Engine.ts"
import { importPeer } from "../Engine.ts"
import type { EngineGcStatus } from "../W2Protocol.ts"
import { OP_PUT, type StoreKind, W2_SETTINGS, type W2GcSchedule, w2Value } from "../W2Workload.ts"

type SlateDb = typeof import("@slatedb/uniffi")

const duration = (ms: number) => JSON.stringify(`${ms}ms`)

/** W2's settings for SlateDB; `scheduler` overrides the size-tiered scheduler's options; null: no compactor. */
const settingsOf = (
  slatedb: SlateDb,
  scheduler: Readonly<Record<string, number>> | null,
  maxConcurrentCompactions: number,
  gc: W2GcSchedule | null
) => {
  const settings = slatedb.Settings.default()
  const c = W2_SETTINGS.compactor
  settings.set("l0_sst_size_bytes", String(W2_SETTINGS.l0SstSizeBytes))
  settings.set("l0_max_ssts", String(W2_SETTINGS.l0MaxSsts))
  settings.set("garbage_collector_options", gcOptions(gc))
  if (scheduler === null) {
    settings.set("compactor_options", "null")
    return settings
  }
  settings.set("compactor_options.poll_interval", duration(c.pollIntervalMs))
  settings.set("compactor_options.max_sst_size", String(c.maxSstSizeBytes))
  settings.set("compactor_options.max_concurrent_compactions", String(maxConcurrentCompactions))
  const options = {
    min_compaction_sources: c.minCompactionSources,
    max_compaction_sources: c.maxCompactionSources,
    include_size_threshold: c.includeSizeThreshold,
    ...scheduler
  }
  settings.set(
    "compactor_options.scheduler_options",
    JSON.stringify(Object.fromEntries(Object.entries(options).map(([k, v]) => [k, String(v)])))
  )
  return settings
}

/** `garbage_collector_options`: W2's schedule for every resource, or null (no collector). */
const gcOptions = (gc: W2GcSchedule | null): string => {
  if (gc === null) return "null"
  const resource = { interval: `${gc.intervalMs}ms`, min_age: `${gc.minAgeMs}ms` }
  return JSON.stringify({ manifest_options: resource, wal_options: resource, compacted_options: resource, compactions_options: resource })
}

/** SlateDB's `resource` label of `slatedb.gc.deleted_count` for each kind. */
const GC_LABELS: Readonly<Record<StoreKind, string>> = { manifests: "manifest", wal: "wal", compacted: "compacted", compactions: "compactions" }

export const counter = (metric: { readonly value: { readonly tag: string } } | undefined): number => {
  const v = metric?.value as { readonly tag: string; readonly ""?: bigint | number } | undefined
  return v?.tag === "Counter" ? Number(v[""] ?? 0) : 0
}

const gcStatusOf = (metrics: InstanceType<SlateDb["DefaultMetricsRecorder"]>): EngineGcStatus => {
  const deleted = (kind: StoreKind) =>
    counter(metrics.metric_by_name_and_labels("slatedb.gc.deleted_count", [{ key: "resource", value: GC_LABELS[kind] }]))
  return {
    passes: undefined,
    deleted: { manifests: deleted("manifests"), wal: deleted("wal"), compacted: deleted("compacted"), compactions: deleted("compactions") },
    errors: undefined,
    requests: undefined,
    durationMs: undefined,
    maxRequests: undefined,
    maxDurationMs: undefined
  }
}

const build = async (
  slatedb: SlateDb,
  dir: string,
  scheduler: Readonly<Record<string, number>> | null,
  gc: W2GcSchedule | null,
  maxConcurrentCompactions: number = W2_SETTINGS.compactor.maxConcurrentCompactions
) => {
  const store = slatedb.ObjectStore.resolve(`file://${dir}`)
  try {
    const { db, metrics, shutdown } = await buildWithMetrics(slatedb, store, settingsOf(slatedb, scheduler, maxConcurrentCompactions, gc))
    return {
      db,
      gcStatus: async () => (gc === null ? undefined : gcStatusOf(metrics)),
      close: () => shutdown().finally(() => store.dispose())
    }
  } catch (e) {
    store.dispose()
    throw e
  }
}

/**
 * The database `bench` on `store` with `settings` (disposed here) and a fresh metrics recorder;
 * `shutdown` closes it, hands the recorder to `beforeDispose` (its last counts), and frees both.
 */
export const buildWithMetrics = async (
  slatedb: SlateDb,
  store: ReturnType<SlateDb["ObjectStore"]["resolve"]>,
  settings: ReturnType<SlateDb["Settings"]["default"]>,
  beforeDispose: (metrics: InstanceType<SlateDb["DefaultMetricsRecorder"]>) => void = () => undefined
) => {
  const builder = new slatedb.DbBuilder("bench", store)
  const metrics = new slatedb.DefaultMetricsRecorder()
  try {
    builder.with_settings(settings)
    builder.with_metrics_recorder(metrics)
    const db = await builder.build()
    const shutdown = async () => {
      try {
        await db.shutdown()
      } finally {
        beforeDispose(metrics)
        db.dispose()
        metrics.dispose()
      }
    }
    return { db, metrics, shutdown }
  } catch (e) {
    metrics.dispose()
    throw e
  } finally {
    builder.dispose()
    settings.dispose()
  }
}

const open = async (slatedb: SlateDb, dir: string, mode: "load" | "read", gc: W2GcSchedule | null): Promise<W2Db> => {
  const { db, close, gcStatus } = await build(slatedb, dir, mode === "load" ? {} : null, gc)
  const noDurable = { await_durable: false }
  return {
    load: async (plan, batch, keyOf) => {
      for (let from = 0; from < plan.keys.length; from += batch) {
        const b = new slatedb.WriteBatch()
        const to = Math.min(from + batch, plan.keys.length)
        for (let j = from; j < to; j++) {
          const i = plan.keys[j]!
          if (plan.kinds[j] === OP_PUT) b.put(keyOf(i), w2Value(i, plan.pass))
          else b.delete(keyOf(i))
        }
        try {
          await db.write_with_options(b, noDurable)
        } finally {
          b.dispose()
        }
      }
    },
    flushMemtable: () => db.flush_with_options({ flush_type: slatedb.FlushType.MemTable }),
    gets: async (keys, keyOf, check) => {
      for (let j = 0; j < keys.length; j++) check(j, await db.get(keyOf(keys[j]!)))
    },
    scans: async (starts, rows, keyOf, check) => {
      for (let s = 0; s < starts.length; s++) {
        const iterator = await db.scan({ start: keyOf(starts[s]!), start_inclusive: true, end: undefined, end_inclusive: false })
        try {
          for (let n = 0; n < rows; n++) {
            const kv = await iterator.next()
            if (kv === undefined) break
            check(s, kv.key, kv.value)
          }
        } finally {
          iterator.dispose()
        }
      }
    },
    gcStatus,
    close
  }
}

/** The scheduler options of the full compaction: everything, in as few compactions as the scheduler allows. */
export const COMPACT_EVERYTHING = { min_compaction_sources: 1, max_compaction_sources: 1000, include_size_threshold: 1e9 }

export const makeSlateDbW2 = async (dir: string, gc: W2GcSchedule | null): Promise<W2Engine> => {
  const slatedb = await importPeer("@slatedb/uniffi", () => import("@slatedb/uniffi"))
  return {
    open: (mode) => open(slatedb, dir, mode, gc),
    startFullCompaction: async (): Promise<FullCompaction> => {
      const { close } = await build(slatedb, dir, COMPACT_EVERYTHING, gc, 1)
      return {
        method:
          "SlateDB reopened with min_compaction_sources 1, max_compaction_sources 1000, include_size_threshold 1e9, max_concurrent_compactions 1 (L0 into a new run, then every run merged)",
        finish: close
      }
    }
  }
}
