/**
 * The compactor's event loop (SlateDB's `CompactorEventHandler`, docs/format.md §3.7). One fiber handles
 * every message in turn, so the compactor's state has a single owner:
 * - Poll (every `pollIntervalMs`, `tick`, `nudge`): re-read the compactions file (manual submissions) and
 *   the manifest (the writer's new L0 SSTs; a new one gets a worker ready for the job to come:
 *   `warmExecutor` in JobLauncher.ts), then schedule and start compactions. A poll is queued at most
 *   once, so a poll slower than the interval never piles up a backlog in front of the other messages;
 * - schedule: the size-tiered scheduler (SizeTieredScheduler.ts) proposes compactions for the free
 *   capacity (`maxConcurrentCompactions` minus the running ones); each is registered as Submitted;
 * - start: each Submitted compaction is validated against the manifest (`startProblem`) and the running
 *   compactions (no sorted run read or replaced by two at once: `runConflict`; an invalid one is marked
 *   Failed) and, capacity permitting, its job (CompactionJob.ts, in a worker thread or this one:
 *   JobLauncher.ts) is forked and it becomes Running;
 * - Progress (a job wrote an output SST): recorded in the compactions file, so a compactor that stops
 *   resumes the compaction after its last recorded output SST;
 * - Finished: on success the manifest gets the new sorted run (with a checkpoint of the version it
 *   replaces, CompactorStore.ts) and the compaction is Completed, then scheduling runs again at once; on
 *   failure it is Failed, and the next poll may propose it again (not at once: a compaction that fails
 *   every time must not spin);
 * - Submit (a manual compaction from this process): a spec is registered, then started like the others; a
 *   full compaction waits until no compaction runs (the scheduler proposes none meanwhile), then takes
 *   every L0 SST and sorted run of that moment (requests that waited together share one compaction).
 *
 * The compactions file is written once per message, at its end, when the message changed a record
 * (`#writeRecords`): a compaction the scheduler proposes is written once, already Running (not Submitted,
 * then Running), and a finished one is written Completed in the same version as the compactions its finish
 * started, after the manifest that records its output (docs/design/compaction.md §5). A submission is
 * written before its id is returned.
 *
 * Failures: a newer compactor (fenced) stops this one for good (`done` fails with the `ClosedError`). Any
 * other failure of the loop (the store unavailable past its retries, an update timing out) interrupts the
 * running jobs, is logged, and the loop starts over from what the store says after a poll interval,
 * keeping its epoch; interrupted compactions resume from their recorded output.
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, PubSub, Queue, Scope } from "effect"
import { ClosedError, type DbError, InvalidError } from "../errors.ts"
import { CompactionStatus } from "../manifest/CompactionsCodec.ts"
import { Manifest, type SstHandle } from "../manifest/Manifest.ts"
import { makeUlid } from "../Ulid.ts"
import { compactionSpan, type CompactorMetricsSource } from "./CompactorMetrics.ts"
import type { JobProgress, JobResult } from "./CompactionJob.ts"
import { jobArgsOf, launchJob, warmExecutor } from "./JobLauncher.ts"
import {
  type CompactionRecord,
  type CompactionSpec,
  describeSpec,
  finishCompaction,
  hasL0Sources,
  isActive,
  nextRecordId,
  registrationProblem,
  replacedSsts,
  resolveDestination,
  runConflict
} from "./CompactorState.ts"
import type { CompactorStore } from "./CompactorStore.ts"
import type {
  CompactionRequest,
  CompactorDeps,
  CompactorEvent,
  CompactorOptions,
  CompactorStatus,
  RunningCompaction
} from "./CompactorTypes.ts"
import { fullCompaction, propose, type SchedulerOptions, startProblem } from "./SizeTieredScheduler.ts"

export type Message =
  | { readonly _tag: "Poll"; readonly done?: Deferred.Deferred<void, DbError>; readonly queued?: true }
  | { readonly _tag: "Progress"; readonly id: string; readonly progress: JobProgress }
  | { readonly _tag: "Finished"; readonly id: string; readonly exit: Exit.Exit<JobResult, DbError> }
  | { readonly _tag: "Submit"; readonly request: CompactionRequest; readonly done: Deferred.Deferred<string, DbError> }

interface Job {
  readonly fiber: Fiber.Fiber<void>
  progress: RunningCompaction
  /** Estimated bytes of its sources (as the scheduler sizes them). */
  readonly sourceBytes: number
}

const isFenced = (exit: Exit.Exit<unknown, DbError>): boolean =>
  Option.getOrUndefined(Exit.findErrorOption(exit))?._tag === "ClosedError"

export class CompactorLoop {
  readonly #deps: CompactorDeps
  readonly #options: CompactorOptions
  readonly #scheduler: SchedulerOptions
  readonly #state: CompactorStore
  readonly #scope: Scope.Scope
  readonly #messages: Queue.Queue<Message>
  readonly #events: PubSub.PubSub<CompactorEvent>
  readonly #stoppedWith: Deferred.Deferred<never, ClosedError>
  readonly #jobs = new Map<string, Job>()
  readonly #idleWaiters: Array<Deferred.Deferred<void, DbError>> = []
  /** Full compactions asked for, waiting for the running compactions to end; each gets the id. */
  readonly #pendingFull: Array<Deferred.Deferred<string, DbError>> = []
  readonly #totals = { completed: 0, failed: 0, bytesWritten: 0 }
  /** Metrics (Metrics.ts): output bytes written by every attempt so far, the last success (epoch seconds). */
  readonly #counted = { bytesCompacted: 0, lastCompactionSec: 0 }
  #pollQueued = false
  /** Whether the records changed since the compactions file was last written (`#writeRecords`). */
  #recordsChanged = false
  /** The newest L0 SST a poll saw (a new one gets the job executor ready: `warmExecutor`). */
  #newestL0: string | undefined = undefined
  stopped: ClosedError | undefined = undefined

  constructor(fields: {
    deps: CompactorDeps
    options: CompactorOptions
    state: CompactorStore
    scope: Scope.Scope
    messages: Queue.Queue<Message>
    events: PubSub.PubSub<CompactorEvent>
    stoppedWith: Deferred.Deferred<never, ClosedError>
  }) {
    this.#deps = fields.deps
    this.#options = fields.options
    this.#scheduler = { ...fields.options.scheduler, maxConcurrentCompactions: fields.options.maxConcurrentCompactions }
    this.#state = fields.state
    this.#scope = fields.scope
    this.#messages = fields.messages
    this.#events = fields.events
    this.#stoppedWith = fields.stoppedWith
  }

  // ------------------------------------------------------------ small helpers

  #offer(m: Message): Effect.Effect<void> {
    return Effect.asVoid(Queue.offer(this.#messages, m))
  }

  #publish(e: CompactorEvent): Effect.Effect<void> {
    return Effect.asVoid(PubSub.publish(this.#events, e))
  }

  #update(id: string, f: (r: CompactionRecord) => CompactionRecord): void {
    this.#state.records = this.#state.records.map((r) => (r.id === id ? f(r) : r))
    this.#recordsChanged = true
  }

  /**
   * Writes the compactions file if a record changed (see the module comment). A failed write ends the
   * session, which starts over from the store, so the changes it carried are dropped with it.
   */
  get #writeRecords(): Effect.Effect<void, DbError> {
    return Effect.suspend(() => {
      if (!this.#recordsChanged) return Effect.void
      this.#recordsChanged = false
      return this.#state.writeCompactions
    })
  }

  /** Queues a poll unless one is queued already (synchronous). */
  readonly nudge = (): void => {
    if (this.#pollQueued || this.stopped !== undefined) return
    this.#pollQueued = true
    Queue.offerUnsafe(this.#messages, { _tag: "Poll", queued: true })
  }

  // ------------------------------------------------------------ scheduling and starting

  /** A new L0 SST since the last poll: writes are coming in and a job will follow (`warmExecutor`). */
  get #warmOnNewL0(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const newest = this.#state.manifest.l0[0]?.id
      if (newest === undefined || newest === this.#newestL0) return Effect.void
      this.#newestL0 = newest
      return warmExecutor(this.#deps, this.#options)
    })
  }

  #register(spec: CompactionSpec): Effect.Effect<string, InvalidError> {
    return Effect.gen({ self: this }, function*() {
      const problem = registrationProblem(this.#state.manifest, this.#state.records, spec)
      if (problem !== undefined) {
        return yield* new InvalidError({ message: `cannot register compaction (${describeSpec(spec)}): ${problem}` })
      }
      const id = nextRecordId(yield* makeUlid, this.#state.records)
      this.#state.records = [...this.#state.records, { id, spec, status: CompactionStatus.Submitted, outputSsts: [] }]
      this.#recordsChanged = true
      return id
    })
  }

  get #schedule(): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const capacity = this.#options.maxConcurrentCompactions - this.#jobs.size
      if (capacity <= 0 || this.#pendingFull.length > 0) return
      const active = this.#state.records.filter(isActive).map((r) => r.spec)
      for (const spec of propose(this.#state.manifest, active, this.#scheduler).slice(0, capacity)) {
        const registered = yield* Effect.exit(this.#register(spec))
        if (Exit.isFailure(registered)) yield* Effect.logWarning("the scheduler proposed a compaction that cannot be registered", registered.cause)
      }
    })
  }

  #startJob(record: CompactionRecord): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      const args = jobArgsOf(this.#state.manifest, record)
      const { l0, runs } = args
      const job = launchJob(this.#deps, this.#options, args, (progress) => this.#offer({ _tag: "Progress", id: record.id, progress }))
        .pipe(compactionSpan(record))
      const fiber = yield* Effect.forkIn(
        Effect.flatMap(Effect.exit(job), (exit) => this.#offer({ _tag: "Finished", id: record.id, exit })),
        this.#scope
      )
      const description = describeSpec(record.spec)
      this.#jobs.set(record.id, {
        fiber,
        sourceBytes: l0.reduce((n, sst) => n + Manifest.sstBytes(sst), 0) + runs.reduce((n, run) => n + Manifest.runBytes(run), 0),
        progress: {
          id: record.id,
          description,
          rowsRead: 0,
          bytesWritten: 0,
          outputSsts: record.outputSsts.length,
          startedAtMs: yield* Clock.currentTimeMillis
        }
      })
      yield* Effect.logInfo(`compaction ${record.id} started: ${description}`)
      yield* this.#publish({ _tag: "Started", id: record.id, description, resumedSsts: record.outputSsts.length })
    })
  }

  get #startSubmitted(): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const submitted = this.#state.records.filter((r) => r.status === CompactionStatus.Submitted)
      if (submitted.length === 0) return
      for (const submittedRecord of submitted) {
        if (this.#jobs.size >= this.#options.maxConcurrentCompactions) break
        const record = { ...submittedRecord, spec: resolveDestination(this.#state.manifest, submittedRecord.spec) }
        const running = this.#state.records.filter((r) => this.#jobs.has(r.id)).map((r) => r.spec)
        const problem = startProblem(this.#state.manifest, record.spec, running.some(hasL0Sources)) ??
          runConflict(record.spec, running)
        if (problem !== undefined) {
          yield* Effect.logWarning(`compaction ${record.id} (${describeSpec(record.spec)}) is invalid: ${problem}; marked failed`)
          this.#update(record.id, (r) => ({ ...r, status: CompactionStatus.Failed }))
          this.#totals.failed++
          continue
        }
        yield* this.#startJob(record)
        this.#update(record.id, (r) => ({ ...r, spec: record.spec, status: CompactionStatus.Running }))
      }
    })
  }

  /** Registers and starts the waiting full compaction once nothing runs. */
  get #startPendingFull(): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      if (this.#pendingFull.length === 0 || this.#jobs.size > 0) return
      const waiting = this.#pendingFull.splice(0)
      const spec = fullCompaction(this.#state.manifest)
      const registered = spec === undefined
        ? Exit.fail(new InvalidError({ message: "nothing to compact: the database has no SST" }))
        : yield* Effect.exit(this.#register(spec))
      if (Exit.isSuccess(registered)) yield* this.#writeRecords
      for (const d of waiting) yield* Deferred.done(d, registered)
    })
  }

  get #scheduleAndStart(): Effect.Effect<void, DbError> {
    // Submissions first (a manual one must not lose its sources to the scheduler's proposals), then the
    // scheduler's proposals, which are registered as Submitted and started the same way.
    return Effect.andThen(this.#startPendingFull, this.#startSubmitted).pipe(
      Effect.andThen(this.#schedule),
      Effect.andThen(this.#startSubmitted)
    )
  }

  // ------------------------------------------------------------ messages

  #onSucceeded(record: CompactionRecord, result: JobResult, job: Job): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const { run, rowsRead, rowsWritten, bytesWritten } = result
      const state = this.#state
      const replaced = replacedSsts(state.manifest, record.spec)
      state.manifest = finishCompaction(state.manifest, record.spec, run)
      this.#update(record.id, (r) => ({ ...r, status: CompactionStatus.Completed, outputSsts: run.ssts }))
      yield* state.writeManifest
      this.#totals.completed++
      this.#totals.bytesWritten += bytesWritten
      this.#counted.bytesCompacted += Math.max(0, bytesWritten - job.progress.bytesWritten)
      this.#counted.lastCompactionSec = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      this.#deps.tables.forget(replaced)
      const description = describeSpec(record.spec)
      const seconds = ((yield* Clock.currentTimeMillis) - job.progress.startedAtMs) / 1000
      yield* Effect.logInfo(
        `compaction ${record.id} finished in ${seconds.toFixed(1)} s: ${description}, ${rowsRead} rows read, ` +
          `${run.ssts.length} SST(s) (${bytesWritten} bytes) written to run ${run.id}`
      )
      yield* this.#publish({
        _tag: "Finished",
        id: record.id,
        description,
        seconds,
        rowsRead,
        rowsWritten,
        bytesWritten,
        outputSsts: run.ssts.length,
        destination: run.id,
        l0Ssts: state.manifest.l0.length,
        sortedRuns: state.manifest.compacted.length
      })
      yield* this.#deps.onManifestWritten ?? Effect.void
      yield* this.#scheduleAndStart
    })
  }

  #onFinished(id: string, exit: Exit.Exit<JobResult, DbError>): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const job = this.#jobs.get(id)
      // A job of an earlier session: it finished just before the loop started over, which forgot it and
      // read its record back from the store as Submitted, to run again from its recorded outputs. Its result
      // is not applied: the record is the store's now (an L0-only compaction's destination is not stored,
      // `resolveDestination`), and finishing with it dropped a live sorted run (simulation seed 4033).
      if (job === undefined) return
      this.#jobs.delete(id)
      const record = this.#state.records.find((r) => r.id === id)
      if (record === undefined) return
      if (Exit.isSuccess(exit)) return yield* this.#onSucceeded(record, exit.value, job)
      if (Exit.hasInterrupts(exit)) return
      this.#update(id, (r) => ({ ...r, status: CompactionStatus.Failed }))
      this.#totals.failed++
      const description = describeSpec(record.spec)
      yield* Effect.logError(`compaction ${id} (${description}) failed`, exit.cause)
      yield* this.#publish({ _tag: "Failed", id, description, message: Cause.pretty(exit.cause) })
      yield* this.#startPendingFull
      yield* this.#startSubmitted
    })
  }

  #onProgress(id: string, p: JobProgress): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const job = this.#jobs.get(id)
      // Progress of a job of an earlier session (see `#onFinished`) records nothing: its record runs again.
      if (job === undefined) return
      this.#counted.bytesCompacted += Math.max(0, p.bytesWritten - job.progress.bytesWritten)
      job.progress = { ...job.progress, rowsRead: p.rowsRead, bytesWritten: p.bytesWritten, outputSsts: p.outputSsts.length }
      const record = this.#state.records.find((r) => r.id === id)
      if (record === undefined || record.outputSsts.length === p.outputSsts.length) return
      this.#update(id, (r) => ({ ...r, outputSsts: p.outputSsts as Array<SstHandle> }))
    })
  }

  #onSubmit(request: CompactionSpec): Effect.Effect<string, DbError> {
    return Effect.gen({ self: this }, function*() {
      const id = yield* this.#register(request)
      yield* this.#startSubmitted
      yield* this.#writeRecords
      return id
    })
  }

  /** Handles a message, then writes the records it changed (`#writeRecords`). */
  #handle(m: Message): Effect.Effect<void, DbError> {
    return Effect.andThen(this.#handleOnly(m), this.#writeRecords)
  }

  #handleOnly(m: Message): Effect.Effect<void, DbError> {
    switch (m._tag) {
      case "Poll":
        if (m.queued === true) this.#pollQueued = false
        return Effect.andThen(this.#state.refresh, Effect.andThen(this.#warmOnNewL0, this.#scheduleAndStart)).pipe(
          Effect.andThen(this.#writeRecords),
          Effect.onExit((exit) => (m.done === undefined ? Effect.void : Deferred.done(m.done, Exit.asVoid(exit))))
        )
      case "Progress":
        return this.#onProgress(m.id, m.progress)
      case "Finished":
        return this.#onFinished(m.id, m.exit)
      case "Submit":
        if (m.request === "full") {
          this.#pendingFull.push(m.done)
          return this.#scheduleAndStart
        }
        return Effect.flatMap(Effect.exit(this.#onSubmit(m.request)), (exit) =>
          Effect.andThen(Deferred.done(m.done, exit), isFenced(exit) ? Exit.asVoid(exit) : Effect.void))
    }
  }

  // ------------------------------------------------------------ the loop, and starting over

  get #notifyIdle(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.#state.records.some(isActive) || this.#jobs.size > 0 || this.#pendingFull.length > 0) return Effect.void
      const waiters = this.#idleWaiters.splice(0)
      return Effect.forEach(waiters, (d) => Deferred.succeed(d, undefined), { discard: true })
    })
  }

  get interruptJobs(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const fibers = [...this.#jobs.values()].map((j) => j.fiber)
      this.#jobs.clear()
      return Fiber.interruptAll(fibers)
    })
  }

  /** Stops for good with `error`: jobs interrupted, waiters failed, `done` fails. */
  stopWith(error: ClosedError): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (this.stopped === undefined || this.stopped.reason === "clean") this.stopped = error
      yield* this.interruptJobs
      for (const d of this.#idleWaiters.splice(0)) yield* Deferred.fail(d, error)
      for (const d of this.#pendingFull.splice(0)) yield* Deferred.fail(d, error)
      yield* Deferred.fail(this.#stoppedWith, error)
    })
  }

  /** Handles messages until the loop fails; a failure other than fencing starts it over (module comment). */
  get run(): Effect.Effect<void> {
    const session: Effect.Effect<never, DbError> = Effect.forever(
      Effect.flatMap(Queue.take(this.#messages), (m) => Effect.andThen(this.#handle(m), this.#notifyIdle))
    )
    return Effect.gen({ self: this }, function*() {
      while (true) {
        const exit = yield* Effect.exit(session)
        const error = Option.getOrUndefined(Exit.findErrorOption(exit))
        if (error?._tag === "ClosedError") {
          yield* Effect.logWarning(`compactor stopped: ${error.message}`)
          return yield* this.stopWith(error)
        }
        yield* this.interruptJobs
        yield* Effect.logWarning("compactor failed; starting over after a poll interval", Exit.isFailure(exit) ? exit.cause : undefined)
        // Only from what the store says: a state not reset still holds the jobs just interrupted as
        // Running, and a session resumed on it would never schedule again (found by the simulation).
        while (true) {
          yield* Effect.sleep(Duration.millis(this.#options.pollIntervalMs))
          const reset = yield* Effect.exit(this.#state.reset)
          const resetError = Option.getOrUndefined(Exit.findErrorOption(reset))
          if (resetError?._tag === "ClosedError") return yield* this.stopWith(resetError)
          if (Exit.isSuccess(reset)) {
            // The records are the store's again: a change the failed session had not written is gone.
            this.#recordsChanged = false
            break
          }
        }
      }
    })
  }

  // ------------------------------------------------------------ the handle's parts

  /**
   * Sends a message and waits for its answer, or for the compactor to stop: a message still queued when
   * the loop stops (fenced while a poll was in flight, or `stop`) is never handled.
   */
  ask<A>(make: (done: Deferred.Deferred<A, DbError>) => Message): Effect.Effect<A, DbError> {
    return Effect.gen({ self: this }, function*() {
      if (this.stopped !== undefined) return yield* this.stopped
      const done = yield* Deferred.make<A, DbError>()
      yield* this.#offer(make(done))
      return yield* Effect.raceFirst(Deferred.await(done), Deferred.await(this.#stoppedWith))
    })
  }

  get awaitIdle(): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      if (this.stopped !== undefined) return yield* this.stopped
      const done = yield* Deferred.make<void, DbError>()
      this.#idleWaiters.push(done)
      yield* this.#offer({ _tag: "Poll" })
      return yield* Deferred.await(done)
    })
  }

  /** Fails when the compactor stops (fenced, or `stop`). */
  get done(): Effect.Effect<never, ClosedError> {
    return Deferred.await(this.#stoppedWith)
  }

  /** What the `slatedb.compactor.*` series read (CompactorMetrics.ts). */
  get metricsSource(): CompactorMetricsSource {
    return { counted: this.#counted, jobs: this.#jobs }
  }

  get status(): Effect.Effect<CompactorStatus> {
    return Effect.sync(() => ({
      epoch: this.#state.epoch,
      running: [...this.#jobs.values()].map((j) => j.progress),
      submitted: this.#state.records.filter((r) => r.status === CompactionStatus.Submitted).length,
      completed: this.#totals.completed,
      failed: this.#totals.failed,
      bytesWritten: this.#totals.bytesWritten,
      l0Ssts: this.#state.manifest.l0.length,
      sortedRuns: this.#state.manifest.compacted.length,
      stopped: this.stopped
    }))
  }
}
