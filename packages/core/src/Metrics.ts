/**
 * The engine's metrics, under SlateDB 0.12.1's names and labels (docs/design/observability.md has the
 * table): `slatedb.db.*`, `slatedb.db_cache.*`, `slatedb.object_store.*`, `slatedb.compactor.*`,
 * `slatedb.gc.*`, as Effect metrics (`Metric`).
 *
 * Two ways of recording, by cost:
 *
 * - **Counted in place, read on snapshot.** The hot paths (a put, a get, a block cache probe) bump a plain
 *   number on an object the component already holds (`DbStats`, `FilterStats`, the block cache's own hit
 *   and miss counts, the compactor's and collector's totals). When the component starts it registers one
 *   series per metric in the `Metric.MetricRegistry` of its context (`registerSeries`), whose `get` reads
 *   that number; the series are removed when its scope closes. A put or a get thus costs an increment, no
 *   allocation and no registry lookup, and every snapshot or exporter (OTLP, Prometheus) reads the current
 *   values. `Metric.update` on such a series does nothing: only the component writes it.
 * - **Updated as they happen.** The object store's request counts and latency histogram
 *   (objectstore/InstrumentedObjectStore.ts) and the WAL buffer's metrics (wal/WalMetrics.ts) are ordinary
 *   Effect metrics updated per request, in the context the store or buffer was built in.
 *
 * Either way the series land in the registry, and carry the `Metric.CurrentMetricAttributes`, of the
 * context that opened the database: an Effect program that opens two databases gives each its own
 * attributes (`Effect.provideService(Metric.CurrentMetricAttributes, { db: "orders" })` around its layer)
 * or its own registry. `Shale.open` gives each database a registry of its own (`db.metrics()`).
 */
import { Context, Effect, Metric, type Scope } from "effect"

// ------------------------------------------------------------------------------------------ names

/** SlateDB's `db_stats.rs`. */
export const DB = {
  requestCount: "slatedb.db.request_count",
  writeOps: "slatedb.db.write_ops",
  writeBatchCount: "slatedb.db.write_batch_count",
  backpressureCount: "slatedb.db.backpressure_count",
  immutableMemtableFlushes: "slatedb.db.immutable_memtable_flushes",
  walBufferFlushes: "slatedb.db.wal_buffer_flushes",
  walBufferFlushRequests: "slatedb.db.wal_buffer_flush_requests",
  walBufferEstimatedBytes: "slatedb.db.wal_buffer_estimated_bytes",
  totalMemSizeBytes: "slatedb.db.total_mem_size_bytes",
  l0SstCount: "slatedb.db.l0_sst_count",
  l0FlushBytes: "slatedb.db.l0_flush_bytes",
  sstFilterFalsePositiveCount: "slatedb.db.sst_filter_false_positive_count",
  sstFilterPositiveCount: "slatedb.db.sst_filter_positive_count",
  sstFilterNegativeCount: "slatedb.db.sst_filter_negative_count"
} as const

/** SlateDB's `db_cache/mod.rs`. */
export const DB_CACHE = {
  accessCount: "slatedb.db_cache.access_count",
  errorCount: "slatedb.db_cache.error_count"
} as const

/** SlateDB's `instrumented_object_store.rs`. */
export const OBJECT_STORE = {
  requestCount: "slatedb.object_store.request_count",
  errorCount: "slatedb.object_store.error_count",
  requestDurationSeconds: "slatedb.object_store.request_duration_seconds"
} as const

/** SlateDB's `merge_operator.rs` (labelled `path`: read, flush, compact). */
export const MERGE_OPERATOR_OPERANDS = "slatedb.merge_operator_operands"

/**
 * Shale's own (SlateDB does not warm its block cache after a compaction): blocks of a compaction's output
 * put in the block cache because the blocks they replace were cached (sst/CacheWarming.ts), by `source`:
 * `memory` (the embedded compactor's output, from the bytes it wrote) or `store` (ranged GETs at the switch).
 */
export const DB_CACHE_WARMING = {
  warmedBlocks: "shale.db_cache.warmed_blocks",
  warmedBytes: "shale.db_cache.warmed_bytes",
  switches: "shale.db_cache.warm_switches",
  timeouts: "shale.db_cache.warm_timeouts"
} as const

/** SlateDB's `cached_object_store/stats.rs`. */
export const OBJECT_STORE_CACHE = {
  partHitCount: "slatedb.object_store_cache.part_hit_count",
  partAccessCount: "slatedb.object_store_cache.part_access_count",
  cacheKeys: "slatedb.object_store_cache.cache_keys",
  cacheBytes: "slatedb.object_store_cache.cache_bytes",
  evictedKeys: "slatedb.object_store_cache.evicted_keys",
  evictedBytes: "slatedb.object_store_cache.evicted_bytes"
} as const

/** SlateDB's `compactor.rs` (`stats`). */
export const COMPACTOR = {
  bytesCompacted: "slatedb.compactor.bytes_compacted",
  lastCompactionTimestampSec: "slatedb.compactor.last_compaction_timestamp_sec",
  runningCompactions: "slatedb.compactor.running_compactions",
  totalBytesBeingCompacted: "slatedb.compactor.total_bytes_being_compacted",
  totalThroughputBytesPerSec: "slatedb.compactor.total_throughput_bytes_per_sec"
} as const

/** SlateDB's `garbage_collector/stats.rs`. */
export const GC = {
  deletedCount: "slatedb.gc.deleted_count",
  count: "slatedb.gc.count"
} as const

/** SlateDB's `LATENCY_BOUNDARIES` (seconds), the object store latency histogram's buckets. */
export const LATENCY_BOUNDARIES: ReadonlyArray<number> = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]

// ------------------------------------------------------------------------------------------ counted in place

/** The database's counts (`slatedb.db.*` but the WAL buffer's), bumped by the write and read paths. */
export class DbStats {
  getRequests = 0
  scanRequests = 0
  flushRequests = 0
  writeOps = 0
  writeBatches = 0
  backpressure = 0
  immutableMemtableFlushes = 0
  totalMemSizeBytes = 0
  l0FlushBytes = 0
  /** Operands merged by the merge operator, by path (`slatedb.merge_operator_operands`). */
  mergeOperandsRead = 0
  mergeOperandsFlush = 0
  mergeOperandsCompact = 0
}

/** Bloom filter answers of point reads (`slatedb.db.sst_filter_*`), bumped by the SST readers. */
export class FilterStats {
  positive = 0
  negative = 0
  /** The filter said "maybe" and the SST held no version of the key. */
  falsePositive = 0
}

/** The block cache warming's counts (`shale.db_cache.warm*`), bumped by sst/CacheWarming.ts. */
export class WarmStats {
  blocksFromStore = 0
  bytesFromStore = 0
  /** View switches that replaced SSTs with cached blocks, so warming ran. */
  switches = 0
  /** Switches that went ahead before their warming finished (it went on in the background). */
  timeouts = 0
  /** Warmings that failed (logged; the first reads then go to the store). */
  failures = 0
}

/** One series read on snapshot: a counter (monotonic) or a gauge, with its labels. */
export interface Series {
  readonly name: string
  readonly kind: "counter" | "gauge"
  readonly description: string
  readonly labels?: Readonly<Record<string, string>>
  readonly read: () => number
}

/**
 * Whether a component's series outlive it with their last values (true) or are removed when it stops
 * (false, the default). The Promise API sets it: each database has a registry of its own, which then
 * still says, after `close()`, what the database did, and a telemetry layer released after the database
 * exports the final values.
 */
export const KeepSeriesOnClose = Context.Reference<boolean>("shale/Metrics/KeepSeriesOnClose", {
  defaultValue: () => false
})

const register = (context: Context.Context<never>, s: Series, read: () => number): Metric.Registration => {
  const options = { description: s.description, ...(s.labels === undefined ? {} : { attributes: s.labels }) }
  if (s.kind === "counter") {
    return Metric.registerUnsafe(Metric.counter(s.name, { ...options, incremental: true }), context, {
      get: () => ({ count: read(), incremental: true }),
      update: () => {},
      modify: () => {}
    })
  }
  return Metric.registerUnsafe(Metric.gauge(s.name, options), context, {
    get: () => ({ value: read() }),
    update: () => {},
    modify: () => {}
  })
}

/**
 * Registers `series` in the registry of `context` (with its `Metric.CurrentMetricAttributes`); returns a
 * function that removes them again, or with `KeepSeriesOnClose` freezes them at their last values. A
 * series with the same name and labels is replaced.
 */
export const registerSeriesUnsafe = (context: Context.Context<never>, series: ReadonlyArray<Series>): () => void => {
  const registrations = series.map((s) => register(context, s, s.read))
  const keep = Context.get(context, KeepSeriesOnClose)
  return () => {
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!
      if (keep) {
        const last = s.read()
        register(context, s, () => last)
      } else registrations[i]!.remove()
    }
  }
}

/** `registerSeriesUnsafe` in the current context, removed when the current scope closes. */
export const registerSeries = (series: ReadonlyArray<Series>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.context<never>(), (context) => {
    const remove = registerSeriesUnsafe(context, series)
    return Effect.addFinalizer(() => Effect.sync(remove))
  })

/** The `slatedb.db.*` series read from `stats` and `filters` (the WAL buffer's are WalMetrics.ts's). */
export const dbSeries = (stats: DbStats, filters: FilterStats, l0Ssts: () => number): ReadonlyArray<Series> => [
  counter(DB.requestCount, "Requests by operation", () => stats.getRequests, { op: "get" }),
  counter(DB.requestCount, "Requests by operation", () => stats.scanRequests, { op: "scan" }),
  counter(DB.requestCount, "Requests by operation", () => stats.flushRequests, { op: "flush" }),
  counter(DB.writeOps, "Operations written (a batch counts its operations)", () => stats.writeOps),
  counter(DB.writeBatchCount, "Writes (a put, a delete or a batch each count one)", () => stats.writeBatches),
  counter(DB.backpressureCount, "Writes that waited for flushes (maxUnflushedBytes or maxImmutableMemtableBytes reached)", () => stats.backpressure),
  counter(DB.immutableMemtableFlushes, "Immutable memtables flushed to L0", () => stats.immutableMemtableFlushes),
  gauge(DB.totalMemSizeBytes, "Unflushed bytes: WAL buffers plus immutable memtables", () => stats.totalMemSizeBytes),
  gauge(DB.l0SstCount, "SSTs in L0", l0Ssts),
  counter(DB.l0FlushBytes, "Bytes of the L0 SSTs written by memtable flushes", () => stats.l0FlushBytes),
  counter(DB.sstFilterPositiveCount, "Bloom filter checks that said maybe", () => filters.positive),
  counter(DB.sstFilterNegativeCount, "Bloom filter checks that said no", () => filters.negative),
  counter(DB.sstFilterFalsePositiveCount, "Bloom filter maybes for a key the SST did not hold", () => filters.falsePositive)
]

/** The `slatedb.db_cache.*` series of a block cache's hit and miss counts (data blocks only; see the note). */
export const dbCacheSeries = (
  cache: { stats(): { readonly hits: number; readonly misses: number } }
): ReadonlyArray<Series> => [
  counter(DB_CACHE.accessCount, "Block cache lookups", () => cache.stats().hits, { entry_kind: "data_block", result: "hit" }),
  counter(DB_CACHE.accessCount, "Block cache lookups", () => cache.stats().misses, { entry_kind: "data_block", result: "miss" }),
  counter(DB_CACHE.errorCount, "Block cache lookups that failed", () => 0)
]

/** `shale.db_cache.warm*`: what warming the block cache after compactions did (sst/CacheWarming.ts). */
export const warmSeries = (w: WarmStats): ReadonlyArray<Series> => [
  counter(DB_CACHE_WARMING.warmedBlocks, "Output blocks put in the block cache after a compaction", () => w.blocksFromStore, { source: "store" }),
  counter(DB_CACHE_WARMING.warmedBytes, "Bytes of output blocks put in the block cache after a compaction", () => w.bytesFromStore, { source: "store" }),
  counter(DB_CACHE_WARMING.switches, "View switches that warmed the block cache", () => w.switches),
  counter(DB_CACHE_WARMING.timeouts, "View switches that did not wait for their warming to finish", () => w.timeouts)
]

/** `slatedb.merge_operator_operands` by path (registered when the database has a merge operator). */
export const mergeOperandSeries = (stats: DbStats): ReadonlyArray<Series> => {
  const d = "Merge operator operands resolved"
  return [
    counter(MERGE_OPERATOR_OPERANDS, d, () => stats.mergeOperandsRead, { path: "read" }),
    counter(MERGE_OPERATOR_OPERANDS, d, () => stats.mergeOperandsFlush, { path: "flush" }),
    counter(MERGE_OPERATOR_OPERANDS, d, () => stats.mergeOperandsCompact, { path: "compact" })
  ]
}

/** What the disk cache counts (objectstore/ObjectStoreCache.ts's `ObjectStoreCacheStats`, the part read here). */
export interface DiskCacheCounts {
  readonly partAccesses: number
  readonly partHits: number
  readonly files: number
  readonly bytes: number
  readonly evictions: number
  readonly evictedBytes: number
}

/** The `slatedb.object_store_cache.*` series of a disk cache (files are its keys: one per cached part or head). */
export const objectStoreCacheSeries = (read: () => DiskCacheCounts): ReadonlyArray<Series> => [
  counter(OBJECT_STORE_CACHE.partHitCount, "Parts served from the disk cache", () => read().partHits),
  counter(OBJECT_STORE_CACHE.partAccessCount, "Parts asked of the disk cache", () => read().partAccesses),
  gauge(OBJECT_STORE_CACHE.cacheKeys, "Files in the disk cache", () => read().files),
  gauge(OBJECT_STORE_CACHE.cacheBytes, "Bytes in the disk cache", () => read().bytes),
  counter(OBJECT_STORE_CACHE.evictedKeys, "Files evicted from the disk cache", () => read().evictions),
  counter(OBJECT_STORE_CACHE.evictedBytes, "Bytes evicted from the disk cache", () => read().evictedBytes)
]

export const counter = (
  name: string,
  description: string,
  read: () => number,
  labels?: Readonly<Record<string, string>>
): Series => (labels === undefined ? { name, kind: "counter", description, read } : { name, kind: "counter", description, read, labels })

export const gauge = (
  name: string,
  description: string,
  read: () => number,
  labels?: Readonly<Record<string, string>>
): Series => (labels === undefined ? { name, kind: "gauge", description, read } : { name, kind: "gauge", description, read, labels })

// ------------------------------------------------------------------------------------------ snapshots

/** One metric in a snapshot (`db.metrics()`): SlateDB's name, its labels, and its value. */
export interface MetricSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** Counters and gauges: the number. Histograms: count, sum, min, max and cumulative bucket counts. */
  readonly value: number | HistogramValue
}

export interface HistogramValue {
  readonly count: number
  readonly sum: number
  readonly min: number
  readonly max: number
  /** `[upper bound, observations ≤ bound]`, cumulative, one per boundary, ascending (`count` also counts those above the last). */
  readonly buckets: ReadonlyArray<readonly [number, number]>
}

/** The `slatedb.*` metrics (and Shale's own `shale.*`) in the registry of `context`, sorted by name then labels. */
export const snapshotUnsafe = (context: Context.Context<never>): Array<MetricSample> => {
  const out: Array<MetricSample> = []
  for (const m of Metric.snapshotUnsafe(context)) {
    if (!m.id.startsWith("slatedb.") && !m.id.startsWith("shale.")) continue
    const labels = { ...m.attributes }
    switch (m.type) {
      case "Counter":
        out.push({ name: m.id, labels, value: Number(m.state.count) })
        break
      case "Gauge":
        out.push({ name: m.id, labels, value: Number(m.state.value) })
        break
      case "Histogram":
        out.push({
          name: m.id,
          labels,
          value: {
            count: m.state.count,
            sum: m.state.sum,
            min: m.state.min,
            max: m.state.max,
            buckets: m.state.buckets.map(([b, n]) => [b, n] as const)
          }
        })
        break
      default:
        break
    }
  }
  const key = (s: MetricSample) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

/** `snapshotUnsafe` in the current context. */
export const snapshot: Effect.Effect<Array<MetricSample>> = Effect.map(Effect.context<never>(), snapshotUnsafe)

/**
 * A context whose metrics go to a fresh registry of their own (one per database in the Promise API), where
 * series outlive their component with their last values (`KeepSeriesOnClose`).
 */
export const withOwnRegistry = (context: Context.Context<never>): Context.Context<never> =>
  Context.add(Context.add(context, Metric.MetricRegistry, new Map()), KeepSeriesOnClose, true)
