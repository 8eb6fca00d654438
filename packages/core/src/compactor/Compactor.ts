/**
 * The compactor (SlateDB's `compactor.rs`, docs/format.md §3.7): keeps a database's L0 and sorted runs few
 * and bounded by merging them, in the writer's process (embedded, the default: `Settings.compactor`) or
 * in a process of its own (`Compactor.layer`, `shale compactor`). At most one compactor works on a
 * database: a new one claims the compactor epoch and fences the older one (CompactorStore.ts).
 *
 * How it works: `startCompactor` (below) starts CompactorLoop.ts (the event loop), SizeTieredScheduler.ts (what to compact),
 * CompactionJob.ts (one compaction), CompactorState.ts (the rules of its state), CompactorStore.ts (its
 * objects on the store). Its vocabulary: CompactorTypes.ts.
 */
import { Clock, Context, Deferred, Duration, Effect, Fiber, Layer, PubSub, Queue, Scope, Stream } from "effect"
import { ClosedError, type DbError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { registerSeries } from "../Metrics.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { TableStore } from "../sst/TableStore.ts"
import { checkMergeOperator, type MergeOperator } from "../iter/MergeOperator.ts"
import { CompactorLoop, type Message } from "./CompactorLoop.ts"
import { compactorSeries } from "./CompactorMetrics.ts"
import { openCompactorStore } from "./CompactorStore.ts"
import {
  type CompactorDeps,
  type CompactorEvent,
  type CompactorHandle,
  type CompactorOptions,
  compactorOptionsFrom
} from "./CompactorTypes.ts"

export * from "./CompactorTypes.ts"

/** Starts a compactor in the current scope (CompactorLoop.ts); closing the scope stops it. */
export const startCompactor = (
  deps: CompactorDeps,
  options: CompactorOptions
): Effect.Effect<CompactorHandle, DbError, Scope.Scope> =>
  Effect.gen(function*() {
    const state = yield* openCompactorStore(deps.store, deps.root, { timeoutMs: options.manifestUpdateTimeoutMs })
    yield* Effect.logDebug(`compactor started on "${deps.root}" (compactor epoch ${state.epoch})`)
    const events = yield* PubSub.sliding<CompactorEvent>(1024)
    const loop = new CompactorLoop({
      deps,
      options,
      state,
      scope: yield* Scope.Scope,
      messages: yield* Queue.unbounded<Message>(),
      events,
      stoppedWith: yield* Deferred.make<never, ClosedError>()
    })
    const clock = yield* Clock.Clock
    yield* registerSeries(compactorSeries(loop.metricsSource, () => clock.currentTimeMillisUnsafe()))
    const runner = yield* Effect.forkScoped(loop.run)
    const poller = yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(options.pollIntervalMs)), Effect.sync(loop.nudge)))
    )
    loop.nudge()

    const stop = Effect.gen(function*() {
      if (loop.stopped !== undefined) return
      loop.stopped = new ClosedError({ reason: "clean", message: "compactor stopped" })
      yield* Fiber.interrupt(poller)
      yield* Fiber.interrupt(runner)
      yield* loop.stopWith(loop.stopped)
    })
    yield* Effect.addFinalizer(() => stop)

    return {
      status: loop.status,
      submit: (request) => loop.ask<string>((done) => ({ _tag: "Submit", request, done })),
      tick: loop.ask<void>((done) => ({ _tag: "Poll", done })),
      nudge: loop.nudge,
      awaitIdle: loop.awaitIdle,
      stop,
      done: loop.done,
      events: Stream.fromPubSub(events)
    } satisfies CompactorHandle
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
  /** The database's merge operator (docs/design/merge.md); without one, a compaction meeting an operand fails. */
  readonly mergeOperator?: MergeOperator
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
        const store = withRetries(yield* instrumented(yield* ObjectStore, "compactor"), options.storeRetry)
        const root = normalizeRoot(options.path)
        const tables = new TableStore(store, root, 0)
        const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
        return yield* startCompactor({ root, store, tables, mergeOperator }, compactorOptionsFrom(settings.compactor!, settings, false))
      })
    )
}
