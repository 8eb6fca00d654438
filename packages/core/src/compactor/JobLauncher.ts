/**
 * How a compaction's job is built from the compactor's state, and where it runs (docs/design/compaction.md
 * §8): in a worker thread (WorkerJob.ts) when the `executor` option asks for one and the job can cross
 * threads (the store has a recipe, no merge operator is configured, the worker entry exists), else in
 * this thread (CompactionJob.ts). Either way outputs reach the table store through `announceOutput` and
 * recorded outputs go to `onOutput`.
 */
import { Effect } from "effect"
import type { DbError } from "../errors.ts"
import type { Manifest } from "../manifest/Manifest.ts"
import type { StoreRecipe } from "../objectstore/StoreRecipe.ts"
import {
  type CompactionJobArgs,
  type CompactionJobOptions,
  type JobProgress,
  type JobResult,
  runCompactionJob
} from "./CompactionJob.ts"
import { type CompactionRecord, sourcesOf } from "./CompactorState.ts"
import type { CompactorDeps, CompactorOptions } from "./CompactorTypes.ts"

/** The worker executor's module, loaded on first use (Node-only). */
const loadWorkerJob = Effect.promise(() => import("./WorkerJob.ts"))

/** The job's inputs from the manifest of the moment and the compaction's record. */
export const jobArgsOf = (manifest: Manifest, record: CompactionRecord): CompactionJobArgs => {
  const { l0, runs } = sourcesOf(manifest, record.spec)
  const oldest = manifest.compacted[manifest.compacted.length - 1]
  return {
    id: record.id,
    destination: record.spec.destination,
    l0,
    runs,
    outputSsts: record.outputSsts,
    retentionMinSeq: manifest.recentSnapshotMinSeq,
    expiryCutoff: manifest.lastL0ClockTick,
    isDestLastRun: oldest === undefined || oldest.id === record.spec.destination,
    // Plain data: it may be posted to a worker.
    locations: { externalDbs: manifest.externalDbs }
  }
}

export const jobOptionsOf = (options: CompactorOptions): CompactionJobOptions => ({
  maxSstSizeBytes: options.maxSstSizeBytes,
  builder: options.builder,
  readAheadBlocks: options.readAheadBlocks,
  prefetchPages: options.maxFetchTasks
})

/**
 * The store's recipe when jobs may run in a worker, as far as the options and the store say (the worker's
 * entry must exist too); undefined when they run inline.
 */
const workerRecipe = (deps: CompactorDeps, options: CompactorOptions): StoreRecipe | undefined =>
  options.executor === "worker" && deps.mergeOperator === undefined ? deps.store.recipe : undefined

/** Runs the job where it should run (see the module comment). */
export const launchJob = (
  deps: CompactorDeps,
  options: CompactorOptions,
  args: CompactionJobArgs,
  onOutput: (progress: JobProgress) => Effect.Effect<void, DbError>
): Effect.Effect<JobResult, DbError> => {
  const inline = runCompactionJob(
    { root: deps.root, store: deps.store, tables: deps.tables, mergeOperator: deps.mergeOperator },
    args,
    jobOptionsOf(options),
    onOutput
  )
  const recipe = workerRecipe(deps, options)
  if (recipe === undefined) return inline
  return Effect.flatMap(loadWorkerJob, (w) =>
    w.workersAvailable
      ? w.runCompactionJobInWorker({ root: deps.root, recipe, tables: deps.tables }, args, jobOptionsOf(options), onOutput)
      : inline)
}

/**
 * Gets a worker ready before a job needs one, when jobs would run in workers and none is alive: loading the
 * engine in a new worker takes about a second (and rebuilding an S3 store loads the AWS SDK), which the
 * first compaction after a start (or after the pool emptied) otherwise waited. The loop calls it when a
 * poll finds a new L0 SST, since writes are coming in and a compaction will follow
 * (docs/design/compaction.md §8, "Warm start").
 */
export const warmExecutor = (deps: CompactorDeps, options: CompactorOptions): Effect.Effect<void> => {
  const recipe = workerRecipe(deps, options)
  return recipe !== undefined
    ? Effect.flatMap(loadWorkerJob, (w) => Effect.sync(() => w.workersAvailable && w.prestartWorker(recipe)))
    : Effect.void
}
