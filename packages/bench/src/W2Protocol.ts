/**
 * W2's messages between the harness and a worker (`child_process.fork`'s IPC channel). Unlike W1 the
 * conversation goes both ways: the worker asks the harness to tell it when the store has settled
 * (`await`), because the harness, not the worker, reads the store's manifests and compactions files, the
 * same way for every engine (W2Store.ts).
 */
import type { StoreKind, W2GcSchedule, W2Sizes } from "./W2Workload.ts"

/** The worker's command line: `worker-w2.ts <implementation> <W2WorkerConfig as JSON>`. */
export interface W2WorkerConfig {
  readonly sizes: W2Sizes
  /** An empty directory the run owns; the database is `<dir>/bench`. */
  readonly dir: string
  /** The garbage collector's schedule for every kind of object; null: no garbage collector. */
  readonly gc: W2GcSchedule | null
  /** How often to read the engine's collector counters during the load. */
  readonly sampleMs: number
  /** How long to keep the database open after the store settled, for the collector (0: not at all). */
  readonly holdMs: number
}

/**
 * What an engine says of its own garbage collector. Shale: `Db.status.garbageCollector`. SlateDB: the
 * `slatedb.gc.deleted_count` counters of a `DefaultMetricsRecorder`; it counts no scheduled passes
 * (`slatedb.gc.count` counts `run_gc_once` only) and times none, so those are undefined.
 */
export interface EngineGcStatus {
  readonly passes: number | undefined
  readonly deleted: Readonly<Record<StoreKind, number>>
  readonly errors: number | undefined
  /** Store requests and time of all passes, summed, and the most of one pass. */
  readonly requests: number | undefined
  readonly durationMs: number | undefined
  readonly maxRequests: number | undefined
  readonly maxDurationMs: number | undefined
}

/** The engine's collector counters over the load (undefined: no collector, or the engine reports none). */
export interface GcLoadResult {
  /** Read every `sampleMs` while the database was open for the load (and the hold). */
  readonly samples: ReadonlyArray<{ readonly atEpochMs: number; readonly status: EngineGcStatus }>
  /** At the end of the hold (or when the store had settled, without one), before closing. */
  readonly final: EngineGcStatus
}

export interface ReadResult {
  /** Gets, or rows scanned. */
  readonly ops: number
  readonly ms: number
  /** Gets/s or rows/s. */
  readonly value: number
  /** Gets that found a value. */
  readonly found?: number
  /** Reads that disagreed with the model. */
  readonly problem?: string
}

export interface ReadResults {
  readonly gets: ReadResult
  readonly scans: ReadResult
  readonly openMs: number
}

export interface LoadResult {
  readonly puts: number
  readonly deletes: number
  /** The passes (the writes alone). */
  readonly writeMs: number
  readonly passMs: ReadonlyArray<number>
  /** The memtable flush after the last pass. */
  readonly flushMs: number
  /** From the end of the flush until the store settled (undefined: it did not within the timeout). */
  readonly waitMs: number | undefined
  /** `process.memoryUsage()` when the last pass returned (what the writes left in memory), bytes. */
  readonly memoryAfterWrites: { readonly rss: number; readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number }
  /**
   * CPU time of the whole process (every thread: the writer, compaction workers or threads, GC helpers,
   * I/O pools) from the start of the load until the store settled, ms; undefined when it did not settle.
   */
  readonly cpuMs: number | undefined
  /** Wall-clock times (ms since the epoch) of the start of the load and of the moment the store settled. */
  readonly startEpochMs: number
  readonly settledEpochMs: number | undefined
  /** The hold after the store settled (the collector at work, nothing written), and when it ended. */
  readonly holdMs: number
  readonly holdEndEpochMs: number | undefined
}

export interface FullCompactionResult {
  readonly method: string
  /** From the start of the compactor until the store showed one sorted run and no L0 SST. */
  readonly ms: number | undefined
  readonly startEpochMs: number
  readonly doneEpochMs: number | undefined
  /** Stopping the compactor afterwards (not in `ms`). */
  readonly finishMs: number
}

export interface W2RunResult {
  readonly openMs: number
  readonly load: LoadResult
  /** The engine's collector counters over the load; undefined when it has no collector or reports none. */
  readonly gc: GcLoadResult | undefined
  readonly steady: ReadResults
  readonly full: FullCompactionResult | undefined
  readonly compacted: ReadResults | undefined
  /** Problems the worker saw (reads that disagreed with the model, a store that did not settle). */
  readonly problems: ReadonlyArray<string>
  readonly peakRssBytes: number
  /** RSS before the database was opened (Node, the harness, W2's keys and plan). */
  readonly baselineRssBytes: number
}

/** What the worker waits for: `"steady"` (L0 below its trigger, no compaction active, for a while) or `"full"`. */
export type Until = "steady" | "full"

export type W2WorkerMessage =
  | { readonly type: "progress"; readonly line: string }
  | { readonly type: "await"; readonly id: number; readonly until: Until; readonly sinceEpochMs: number }
  | { readonly type: "done"; readonly result: W2RunResult }
  | { readonly type: "unavailable"; readonly message: string }
  | { readonly type: "failed"; readonly message: string }

export type W2HarnessMessage =
  | { readonly type: "settled"; readonly id: number; readonly atEpochMs: number; readonly l0: number; readonly sortedRuns: number }
  | { readonly type: "gave-up"; readonly id: number; readonly message: string }
