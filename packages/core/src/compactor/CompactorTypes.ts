/**
 * The compactor's vocabulary: its options (and how they follow from the settings), what it reports
 * (status, events) and its handle. The event loop that implements the handle is CompactorLoop.ts; the
 * service and its layer are Compactor.ts.
 */
import type { Effect, Stream } from "effect"
import type { ClosedError, DbError } from "../errors.ts"
import { compressionFormatOf } from "../format/Compression.ts"
import type { SsTableBuilderOptions } from "../format/SsTableBuilder.ts"
import type { CompactorSettings, Settings } from "../Settings.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { TableStore } from "../sst/TableStore.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import type { CompactionSpec } from "./CompactorState.ts"
import type { SchedulerOptions } from "./SizeTieredScheduler.ts"

export interface CompactorOptions {
  readonly pollIntervalMs: number
  readonly manifestUpdateTimeoutMs: number
  /** An output SST is finished once its data blocks exceed this. */
  readonly maxSstSizeBytes: number
  readonly maxConcurrentCompactions: number
  /** Pages (of `readAheadBlocks` blocks) each source reads ahead of the merge. */
  readonly maxFetchTasks: number
  /** Blocks per GET when reading sources (SlateDB: 256). */
  readonly readAheadBlocks: number
  readonly scheduler: Omit<SchedulerOptions, "maxConcurrentCompactions">
  /** How output SSTs are built (block size, codec, filters): the database's settings. */
  readonly builder: SsTableBuilderOptions
  /** Where jobs run: a worker thread where possible, or this thread (JobLauncher.ts). */
  readonly executor: "worker" | "inline"
}

/** A running compaction, as `status` reports it. */
export interface RunningCompaction {
  readonly id: string
  readonly description: string
  readonly rowsRead: number
  readonly bytesWritten: number
  readonly outputSsts: number
  readonly startedAtMs: number
}

export interface CompactorStatus {
  readonly epoch: number
  readonly running: ReadonlyArray<RunningCompaction>
  readonly submitted: number
  readonly completed: number
  readonly failed: number
  /** Bytes of output SSTs written since the compactor started. */
  readonly bytesWritten: number
  readonly l0Ssts: number
  readonly sortedRuns: number
  /** Why the compactor stopped, once it has. */
  readonly stopped: ClosedError | undefined
}

/** What the compactor reports as it works (`CompactorHandle.events`). */
export type CompactorEvent =
  | { readonly _tag: "Started"; readonly id: string; readonly description: string; readonly resumedSsts: number }
  | {
    readonly _tag: "Finished"
    readonly id: string
    readonly description: string
    readonly seconds: number
    readonly rowsRead: number
    readonly rowsWritten: number
    readonly bytesWritten: number
    readonly outputSsts: number
    readonly destination: number
    readonly l0Ssts: number
    readonly sortedRuns: number
  }
  | { readonly _tag: "Failed"; readonly id: string; readonly description: string; readonly message: string }

/**
 * What to compact when asked: `"full"`, everything (every L0 SST and sorted run into one run; SlateDB's
 * `CompactionRequest::Full` takes the runs only), or a given spec.
 */
export type CompactionRequest = "full" | CompactionSpec

export interface CompactorHandle {
  readonly status: Effect.Effect<CompactorStatus>
  /**
   * Registers a compaction (validated when it starts) and returns its id. `"full"` first waits until no
   * compaction runs, then takes every L0 SST and sorted run; it fails when the database has no SST.
   */
  readonly submit: (request: CompactionRequest) => Effect.Effect<string, DbError>
  /** Polls now (as the timer does) and waits until the poll is handled. */
  readonly tick: Effect.Effect<void, DbError>
  /** Asks for a poll soon, without waiting (synchronous; several nudges before it runs make one poll). */
  readonly nudge: () => void
  /** Waits until no compaction is submitted or running (tests, `shale compact`). */
  readonly awaitIdle: Effect.Effect<void, DbError>
  /** Stops: running jobs are interrupted (they resume from their recorded output next time). */
  readonly stop: Effect.Effect<void>
  /** Fails when the compactor stops for good (fenced); never succeeds while it runs. */
  readonly done: Effect.Effect<never, ClosedError>
  /** Compactions starting, finishing and failing from now on (a slow subscriber misses the oldest). */
  readonly events: Stream.Stream<CompactorEvent>
}

export interface CompactorDeps {
  readonly root: string
  /** The engine's store (with retries). */
  readonly store: ObjectStore["Service"]
  readonly tables: TableStore
  /** Folds merge operands in compactions (iter/MergeFoldIterator.ts); without one an operand fails a compaction. */
  readonly mergeOperator?: MergeOperator | undefined
  /** Called after each manifest version the compactor writes (the embedding writer refreshes). */
  readonly onManifestWritten?: Effect.Effect<void>
}

/** SlateDB reads compaction sources 256 blocks per GET (`blocks_to_fetch`). */
export const COMPACTION_READ_AHEAD_BLOCKS = 256

/**
 * The compactor's options from its settings and the database's (how SSTs are built). An `embedded`
 * compactor compacts L0 once it holds `l0MaxSsts` SSTs even when that is below `minCompactionSources`.
 */
export const compactorOptionsFrom = (
  compactor: CompactorSettings,
  settings: Settings,
  embedded: boolean
): CompactorOptions => ({
  pollIntervalMs: compactor.pollIntervalMs,
  manifestUpdateTimeoutMs: compactor.manifestUpdateTimeoutMs,
  maxSstSizeBytes: compactor.maxSstSizeBytes,
  maxConcurrentCompactions: compactor.maxConcurrentCompactions,
  maxFetchTasks: compactor.maxFetchTasks,
  readAheadBlocks: COMPACTION_READ_AHEAD_BLOCKS,
  executor: compactor.executor,
  scheduler: {
    minCompactionSources: compactor.minCompactionSources,
    maxCompactionSources: compactor.maxCompactionSources,
    includeSizeThreshold: compactor.includeSizeThreshold,
    ...(embedded ? { minL0Sources: Math.min(compactor.minCompactionSources, settings.l0MaxSsts) } : {})
  },
  builder: {
    blockSize: settings.blockSize,
    compression: compressionFormatOf(settings.compression),
    minFilterKeys: settings.minFilterKeys,
    filterBitsPerKey: settings.filterBitsPerKey
  }
})
