/**
 * The compactor (SlateDB's `compactor.rs`, docs/format.md §3.7): keeps a database's L0 and sorted runs few
 * and bounded by merging them, in the writer's process (embedded, the default: `Settings.compactor`) or
 * in a process of its own (`Compactor.layer`, `shale compactor`). At most one compactor works on a
 * database: a new one claims the compactor epoch and fences the older one (compactor/CompactorStore.ts).
 *
 * One fiber handles every event in turn, so the compactor's state has a single owner:
 * - poll (every `pollIntervalMs`, and `tick`): re-read the compactions file (manual submissions) and the
 *   manifest (the writer's new L0 SSTs), then schedule and start compactions;
 * - schedule: the size-tiered scheduler (SizeTieredScheduler.ts) proposes compactions for the free
 *   capacity (`maxConcurrentCompactions` minus the running ones); each is registered as Submitted and the
 *   compactions file is written;
 * - start: each Submitted compaction is validated against the manifest (`startProblem`; an invalid one is
 *   marked Failed) and, capacity permitting, its job (CompactionJob.ts) is forked and it becomes Running;
 * - a job's progress (an output SST written) is persisted in the compactions file, so a compactor that
 *   stops resumes the compaction after its last output SST;
 * - a job's end: on success the manifest gets the new sorted run (after a checkpoint version) and the
 *   compaction is Completed, then scheduling runs again at once; on failure it is Failed, and the next
 *   poll may propose it again (not at once: a compaction that fails every time must not spin).
 *
 * Failures: a newer compactor (fenced) stops this one for good (`done` fails with the `ClosedError`). Any
 * other failure of the event loop (the store unavailable past its retries, a manifest update timing out)
 * interrupts the running jobs, is logged, and the compactor starts over from what the store says after a
 * poll interval, keeping its epoch; interrupted compactions resume from their recorded output.
 */
import { Clock, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Queue, Scope } from "effect"
import { ClosedError, type DbError, InvalidError } from "../errors.ts"
import { compressionFormatOf } from "../format/Compression.ts"
import type { SsTableBuilderOptions } from "../format/SsTableBuilder.ts"
import { type CompactorSettings, Settings, type SettingsInput } from "../Settings.ts"
import { CompactionStatus } from "../manifest/CompactionsCodec.ts"
import type { Manifest, SstHandle } from "../manifest/Manifest.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { TableStore } from "../sst/TableStore.ts"
import { makeUlid } from "../Ulid.ts"
import { type JobResult, runCompactionJob } from "./CompactionJob.ts"
import {
  type CompactionRecord,
  type CompactionSpec,
  describeSpec,
  finishCompaction,
  hasL0Sources,
  isActive,
  registrationProblem,
  sourcesOf
} from "./CompactorState.ts"
import { type CompactorStore, openCompactorStore, submitToCompactionsFile } from "./CompactorStore.ts"
import { fullCompaction, propose, type SchedulerOptions, startProblem } from "./SizeTieredScheduler.ts"

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

/** What to compact when asked: everything (SlateDB's `CompactionRequest::Full`), or a given spec. */
export type CompactionRequest = "full" | CompactionSpec

export interface CompactorHandle {
  readonly status: Effect.Effect<CompactorStatus>
  /** Registers a compaction (validated when it starts); its id. */
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
}

export interface CompactorDeps {
  readonly root: string
  /** The engine's store (with retries). */
  readonly store: ObjectStore["Service"]
  readonly tables: TableStore
  /** Called after each manifest version the compactor writes (the embedding writer refreshes). */
  readonly onManifestWritten?: Effect.Effect<void>
}

type Message =
  | { readonly _tag: "Poll"; readonly done?: Deferred.Deferred<void, DbError>; readonly nudge?: true }
  | { readonly _tag: "Progress"; readonly id: string; readonly outputSsts: ReadonlyArray<SstHandle>; readonly rowsRead: number; readonly bytesWritten: number }
  | { readonly _tag: "Finished"; readonly id: string; readonly exit: Exit.Exit<JobResult, DbError> }
  | { readonly _tag: "Submit"; readonly request: CompactionRequest; readonly done: Deferred.Deferred<string, DbError> }

interface Job {
  readonly fiber: Fiber.Fiber<void>
  progress: RunningCompaction
}

/** Starts a compactor in the current scope (see the module comment); closing the scope stops it. */
export const startCompactor = (
  deps: CompactorDeps,
  options: CompactorOptions
): Effect.Effect<CompactorHandle, DbError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const messages = yield* Queue.unbounded<Message>()
    const offer = (m: Message) => Queue.offer(messages, m)
    const stoppedWith = yield* Deferred.make<never, ClosedError>()
    const jobs = new Map<string, Job>()
    const idleWaiters: Array<Deferred.Deferred<void, DbError>> = []
    const totals = { completed: 0, failed: 0, bytesWritten: 0 }
    let stopped: ClosedError | undefined
    let state: CompactorStore = yield* openCompactorStore(deps.store, deps.root, { timeoutMs: options.manifestUpdateTimeoutMs })
    yield* Effect.logDebug(`compactor started on "${deps.root}" (compactor epoch ${state.epoch})`)
    const schedulerOptions: SchedulerOptions = { ...options.scheduler, maxConcurrentCompactions: options.maxConcurrentCompactions }

    const manifestWritten = deps.onManifestWritten ?? Effect.void
    const runningCount = () => jobs.size
    const activeCount = () => state.records.filter(isActive).length

    const notifyIdle = Effect.suspend(() => {
      if (activeCount() > 0 || jobs.size > 0) return Effect.void
      const waiters = idleWaiters.splice(0)
      return Effect.forEach(waiters, (d) => Deferred.succeed(d, undefined), { discard: true })
    })

    const update = (id: string, f: (r: CompactionRecord) => CompactionRecord) => {
      state.records = state.records.map((r) => (r.id === id ? f(r) : r))
    }

    // ------------------------------------------------------------ scheduling and starting

    const register = (spec: CompactionSpec) =>
      Effect.gen(function*() {
        const problem = registrationProblem(state.manifest, state.records, spec)
        if (problem !== undefined) return yield* new InvalidError({ message: `cannot register compaction (${describeSpec(spec)}): ${problem}` })
        const id = yield* makeUlid
        state.records = [...state.records, { id, spec, status: CompactionStatus.Submitted, outputSsts: [] }]
        return id
      })

    const schedule = Effect.gen(function*() {
      const capacity = options.maxConcurrentCompactions - runningCount()
      if (capacity <= 0) return
      const active = state.records.filter(isActive).map((r) => r.spec)
      const specs = propose(state.manifest, active, schedulerOptions).slice(0, capacity)
      let added = 0
      for (const spec of specs) {
        const registered = yield* Effect.exit(register(spec))
        if (Exit.isSuccess(registered)) added++
        else yield* Effect.logWarning("scheduler proposed a compaction that cannot be registered", registered.cause)
      }
      if (added > 0) yield* state.writeCompactions
    })

    const startJob = (record: CompactionRecord) =>
      Effect.gen(function*() {
        const manifest = state.manifest
        const { l0, runs } = sourcesOf(manifest, record.spec)
        const oldest = manifest.compacted[manifest.compacted.length - 1]
        const startedAtMs = yield* Clock.currentTimeMillis
        const job = runCompactionJob(
          { root: deps.root, store: deps.store, tables: deps.tables },
          {
            id: record.id,
            destination: record.spec.destination,
            l0,
            runs,
            outputSsts: record.outputSsts,
            retentionMinSeq: manifest.recentSnapshotMinSeq,
            expiryCutoff: manifest.lastL0ClockTick,
            isDestLastRun: oldest === undefined || oldest.id === record.spec.destination,
            locations: manifest
          },
          {
            maxSstSizeBytes: options.maxSstSizeBytes,
            builder: options.builder,
            readAheadBlocks: options.readAheadBlocks,
            prefetchPages: options.maxFetchTasks
          },
          (p) => offer({ _tag: "Progress", id: record.id, ...p })
        )
        const fiber = yield* Effect.forkIn(
          Effect.flatMap(Effect.exit(job), (exit) => Effect.asVoid(offer({ _tag: "Finished", id: record.id, exit }))),
          scope
        )
        jobs.set(record.id, {
          fiber,
          progress: {
            id: record.id,
            description: describeSpec(record.spec),
            rowsRead: 0,
            bytesWritten: 0,
            outputSsts: record.outputSsts.length,
            startedAtMs
          }
        })
        yield* Effect.logInfo(`compaction ${record.id} started: ${describeSpec(record.spec)}`)
      })

    const startSubmitted = Effect.gen(function*() {
      const submitted = state.records.filter((r) => r.status === CompactionStatus.Submitted)
      if (submitted.length === 0) return
      for (const record of submitted) {
        if (runningCount() >= options.maxConcurrentCompactions) break
        const runningHaveL0 = [...jobs.keys()].some((id) => {
          const r = state.records.find((x) => x.id === id)
          return r !== undefined && hasL0Sources(r.spec)
        })
        const problem = startProblem(state.manifest, record.spec, runningHaveL0)
        if (problem !== undefined) {
          yield* Effect.logWarning(`compaction ${record.id} (${describeSpec(record.spec)}) is invalid: ${problem}; marked failed`)
          update(record.id, (r) => ({ ...r, status: CompactionStatus.Failed }))
          totals.failed++
          continue
        }
        yield* startJob(record)
        update(record.id, (r) => ({ ...r, status: CompactionStatus.Running }))
      }
      yield* state.writeCompactions
    })

    const scheduleAndStart = Effect.andThen(schedule, startSubmitted)

    // ------------------------------------------------------------ events

    const onFinished = (id: string, exit: Exit.Exit<JobResult, DbError>) =>
      Effect.gen(function*() {
        const job = jobs.get(id)
        jobs.delete(id)
        const record = state.records.find((r) => r.id === id)
        if (record === undefined) return
        if (Exit.isSuccess(exit)) {
          const { run, rowsRead, bytesWritten } = exit.value
          const replaced = replacedSsts(state.manifest, record.spec)
          state.manifest = finishCompaction(state.manifest, record.spec, run)
          update(id, (r) => ({ ...r, status: CompactionStatus.Completed, outputSsts: run.ssts }))
          yield* state.writeManifest
          yield* state.writeCompactions
          totals.completed++
          totals.bytesWritten += bytesWritten
          deps.tables.forget(replaced)
          const seconds = ((yield* Clock.currentTimeMillis) - (job?.progress.startedAtMs ?? 0)) / 1000
          yield* Effect.logInfo(
            `compaction ${id} finished in ${seconds.toFixed(1)} s: ${describeSpec(record.spec)}, ${rowsRead} rows read, ` +
              `${run.ssts.length} SST(s) (${bytesWritten} bytes) written to run ${run.id}`
          )
          yield* manifestWritten
          yield* scheduleAndStart
        } else {
          if (Exit.hasInterrupts(exit)) return
          update(id, (r) => ({ ...r, status: CompactionStatus.Failed }))
          totals.failed++
          yield* Effect.logError(`compaction ${id} (${describeSpec(record.spec)}) failed`, exit.cause)
          yield* state.writeCompactions
        }
      })

    const onProgress = (m: Extract<Message, { _tag: "Progress" }>) =>
      Effect.gen(function*() {
        const job = jobs.get(m.id)
        if (job !== undefined) {
          job.progress = { ...job.progress, rowsRead: m.rowsRead, bytesWritten: m.bytesWritten, outputSsts: m.outputSsts.length }
        }
        const record = state.records.find((r) => r.id === m.id)
        if (record === undefined || record.outputSsts.length === m.outputSsts.length) return
        update(m.id, (r) => ({ ...r, outputSsts: [...m.outputSsts] }))
        yield* state.writeCompactions
      })

    const onSubmit = (request: CompactionRequest) =>
      Effect.gen(function*() {
        const spec = request === "full" ? fullCompaction(state.manifest) : request
        if (spec === undefined) return yield* new InvalidError({ message: "nothing to compact: the database has no sorted run" })
        const id = yield* register(spec)
        yield* state.writeCompactions
        yield* startSubmitted
        return id
      })

    let nudged = false
    const handle = (m: Message): Effect.Effect<void, DbError> => {
      switch (m._tag) {
        case "Poll":
          if (m.nudge === true) nudged = false
          return Effect.andThen(state.refresh, scheduleAndStart).pipe(
            Effect.onExit((exit) => (m.done === undefined ? Effect.void : Deferred.done(m.done, Exit.asVoid(exit))))
          )
        case "Progress":
          return onProgress(m)
        case "Finished":
          return onFinished(m.id, m.exit)
        case "Submit":
          return Effect.flatMap(Effect.exit(onSubmit(m.request)), (exit) =>
            Effect.andThen(Deferred.done(m.done, exit), isFenced(exit) ? Exit.asVoid(exit) : Effect.void))
      }
    }

    // ------------------------------------------------------------ the loop, and starting over

    const interruptJobs = Effect.suspend(() => {
      const fibers = [...jobs.values()].map((j) => j.fiber)
      jobs.clear()
      return Fiber.interruptAll(fibers)
    })

    const session: Effect.Effect<never, DbError> = Effect.forever(
      Effect.flatMap(Queue.take(messages), (m) => Effect.andThen(handle(m), notifyIdle))
    )

    const stopWith = (error: ClosedError) =>
      Effect.gen(function*() {
        stopped = error
        yield* interruptJobs
        for (const d of idleWaiters.splice(0)) yield* Deferred.fail(d, error)
        yield* Deferred.fail(stoppedWith, error)
      })

    const supervisor = Effect.gen(function*() {
      while (true) {
        const exit = yield* Effect.exit(session)
        const error = Option.getOrUndefined(Exit.findErrorOption(exit))
        if (error?._tag === "ClosedError") {
          yield* Effect.logWarning(`compactor stopped: ${error.message}`)
          return yield* stopWith(error)
        }
        yield* interruptJobs
        yield* Effect.logWarning("compactor failed; starting over after a poll interval", Exit.isFailure(exit) ? exit.cause : undefined)
        yield* Effect.sleep(Duration.millis(options.pollIntervalMs))
        const reset = yield* Effect.exit(state.reset)
        if (Exit.isFailure(reset)) {
          const e = Option.getOrUndefined(Exit.findErrorOption(reset))
          if (e?._tag === "ClosedError") return yield* stopWith(e)
        }
      }
    })

    yield* Effect.forkIn(supervisor, scope)
    // A poll is queued at most once: a poll slower than the interval must not pile up a backlog that
    // delays everything else the compactor has to handle.
    const nudge = () => {
      if (nudged || stopped !== undefined) return
      nudged = true
      Queue.offerUnsafe(messages, { _tag: "Poll", nudge: true })
    }
    const poller = yield* Effect.forkIn(
      Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(options.pollIntervalMs)), Effect.sync(nudge))),
      scope
    )
    nudge()

    const ask = <A>(make: (done: Deferred.Deferred<A, DbError>) => Message) =>
      Effect.gen(function*() {
        if (stopped !== undefined) return yield* stopped
        const done = yield* Deferred.make<A, DbError>()
        yield* offer(make(done))
        return yield* Deferred.await(done)
      })

    const stop = Effect.gen(function*() {
      if (stopped !== undefined) return
      stopped = new ClosedError({ reason: "clean", message: "compactor stopped" })
      yield* Fiber.interrupt(poller)
      yield* interruptJobs
      for (const d of idleWaiters.splice(0)) yield* Deferred.fail(d, stopped)
    })
    yield* Effect.addFinalizer(() => stop)

    const status: Effect.Effect<CompactorStatus> = Effect.sync(() => ({
      epoch: state.epoch,
      running: [...jobs.values()].map((j) => j.progress),
      submitted: state.records.filter((r) => r.status === CompactionStatus.Submitted).length,
      completed: totals.completed,
      failed: totals.failed,
      bytesWritten: totals.bytesWritten,
      l0Ssts: state.manifest.l0.length,
      sortedRuns: state.manifest.compacted.length,
      stopped
    }))

    return {
      status,
      submit: (request) => ask<string>((done) => ({ _tag: "Submit", request, done })),
      tick: ask<void>((done) => ({ _tag: "Poll", done })),
      nudge,
      awaitIdle: Effect.gen(function*() {
        if (stopped !== undefined) return yield* stopped
        const done = yield* Deferred.make<void, DbError>()
        idleWaiters.push(done)
        yield* offer({ _tag: "Poll" })
        return yield* Deferred.await(done)
      }),
      stop,
      done: Deferred.await(stoppedWith)
    } satisfies CompactorHandle
  })

const isFenced = (exit: Exit.Exit<unknown, DbError>): boolean =>
  Option.getOrUndefined(Exit.findErrorOption(exit))?._tag === "ClosedError"

/** The SSTs a compaction takes out of the manifest: its sources' and the destination run's. */
const replacedSsts = (manifest: Manifest, spec: CompactionSpec): ReadonlyArray<string> => {
  const { l0, runs } = sourcesOf(manifest, spec)
  const destination = manifest.compacted.find((run) => run.id === spec.destination)
  return [...l0, ...runs.flatMap((r) => r.ssts), ...(destination?.ssts ?? [])].map((sst) => sst.id)
}

/** SlateDB reads compaction sources 256 blocks per GET (`blocks_to_fetch`). */
export const COMPACTION_READ_AHEAD_BLOCKS = 256

/** The compactor's options from its settings and the database's (how SSTs are built). */
export const compactorOptionsFrom = (compactor: CompactorSettings, settings: Settings): CompactorOptions => ({
  pollIntervalMs: compactor.pollIntervalMs,
  manifestUpdateTimeoutMs: compactor.manifestUpdateTimeoutMs,
  maxSstSizeBytes: compactor.maxSstSizeBytes,
  maxConcurrentCompactions: compactor.maxConcurrentCompactions,
  maxFetchTasks: compactor.maxFetchTasks,
  readAheadBlocks: COMPACTION_READ_AHEAD_BLOCKS,
  scheduler: {
    minCompactionSources: compactor.minCompactionSources,
    maxCompactionSources: compactor.maxCompactionSources,
    includeSizeThreshold: compactor.includeSizeThreshold
  },
  builder: {
    blockSize: settings.blockSize,
    compression: compressionFormatOf(settings.compression),
    minFilterKeys: settings.minFilterKeys,
    filterBitsPerKey: settings.filterBitsPerKey
  }
})

export interface CompactorLayerOptions {
  /** The database root inside the object store. */
  readonly path: string
  /**
   * The database's settings: `compactor` (its options; here it may not be null) and how SSTs are built;
   * validated.
   */
  readonly settings?: SettingsInput
  /** Retry policy of the compactor's store wrapper (default: SlateDB's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
}

/**
 * A compactor as a service of its own (a process beside the writer, whose `compactor` setting is then
 * off): `Compactor.layer({ path })` claims the compactor epoch of the database at `path` in the
 * `ObjectStore` in context and compacts until its scope closes (or a newer compactor fences it).
 */
export class Compactor extends Context.Service<Compactor, CompactorHandle>()("shale/Compactor") {
  static readonly layer = (options: CompactorLayerOptions): Layer.Layer<Compactor, DbError, ObjectStore> =>
    Layer.effect(
      Compactor,
      Effect.gen(function*() {
        const settings = yield* Settings.validate({ ...options.settings, compactor: options.settings?.compactor || {} })
        const store = withRetries(yield* ObjectStore, options.storeRetry)
        const root = normalizeRoot(options.path)
        const tables = new TableStore(store, root, 0)
        return yield* startCompactor({ root, store, tables }, compactorOptionsFrom(settings.compactor!, settings))
      })
    )
}
