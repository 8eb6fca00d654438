/**
 * What an open database runs beside its callers (DbEngine.ts's step 5): the embedded compactor and garbage
 * collector, and three fibers.
 *
 * - The embedded compactor (compactor/Compactor.ts), unless `Settings.compactor` is null. A compactor
 *   elsewhere that claims the epoch at the same moment fences this one before it starts: the database
 *   opens without one, with a warning, as when it is fenced later (its end is logged, not fatal).
 * - The embedded garbage collector (gc/GarbageCollector.ts), unless `Settings.garbageCollector` is null.
 * - The WAL monitor: after every WAL flush it syncs the flusher's view of the last flushed WAL, reports
 *   the applied seq (so written WALs are released) and lets backpressure admit waiting writers; when the
 *   WAL buffer stops (fenced or fatal) it closes the database at once, so that reads fail too.
 * - The backpressure watchdog: while writers wait, it re-reports the applied seq and re-checks the total
 *   every 100 ms (a WAL written after the monitor last reported may not be released yet).
 * - The manifest poller: every `manifestPollIntervalMs`, `refreshManifest` (`makeRefreshManifest`: a newer
 *   writer's epoch closes the database as fenced; the compactor's changes are merged; other failures are
 *   logged and retried at the next poll).
 * All of them live in the database's scope, whose end stops them; `close` stops the compactor and interrupts
 * the three fibers before its final manifest write (DbClose.ts).
 */
import { Duration, Effect, Exit, type Fiber, Option, type Scope } from "effect"
import { ClosedError, type DbError } from "../errors.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { Settings } from "../Settings.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import type { TableStore } from "../sst/TableStore.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import { compactorOptionsFrom, startCompactor } from "../compactor/Compactor.ts"
import type { CompactorHandle } from "../compactor/CompactorTypes.ts"
import { type GcHandle, startGarbageCollector } from "../gc/GarbageCollector.ts"
import type { Backpressure } from "./Backpressure.ts"
import type { DbState } from "./DbState.ts"
import type { MemtableFlusher } from "./MemtableFlusher.ts"

export interface EmbeddedDeps {
  readonly root: string
  readonly settings: Settings
  readonly tables: TableStore
  /** A background component's store (its own request metrics, unless a disk cache stands in between). */
  readonly storeOf: (component: "compactor" | "gc") => Effect.Effect<ObjectStore["Service"]>
  /** The compactor's merge operator (counting its operands). */
  readonly mergeOperator: MergeOperator | undefined
  /** After each manifest version the compactor writes: its new runs reach the read path at once. */
  readonly onManifestWritten: Effect.Effect<void>
}

/** Starts the embedded compactor, unless the settings turn it off (see the module comment). */
export const startEmbeddedCompactor = (deps: EmbeddedDeps): Effect.Effect<CompactorHandle | undefined, DbError, Scope.Scope> =>
  Effect.gen(function*() {
    const { root, settings } = deps
    if (settings.compactor === null) return undefined
    const compactor = yield* startCompactor(
      {
        root,
        store: yield* deps.storeOf("compactor"),
        tables: deps.tables,
        mergeOperator: deps.mergeOperator,
        onManifestWritten: deps.onManifestWritten
      },
      compactorOptionsFrom(settings.compactor, settings, true)
    ).pipe(Effect.catchTag("ClosedError", (e) =>
      e.reason === "fenced"
        ? Effect.as(
          Effect.logWarning(`embedded compactor not started: ${e.message} (the database goes on without it)`),
          undefined
        )
        : Effect.fail(e)))
    if (compactor !== undefined) {
      yield* Effect.forkScoped(Effect.catch(compactor.done, (e) =>
        e.reason === "clean" ? Effect.void : Effect.logWarning(`embedded compactor stopped: ${e.message} (the database goes on without it)`)))
    }
    return compactor
  })

/** Starts the embedded garbage collector, unless the settings turn it off. */
export const startEmbeddedGc = (deps: EmbeddedDeps): Effect.Effect<GcHandle | undefined, never, Scope.Scope> => {
  const options = deps.settings.garbageCollector
  if (options === null) return Effect.succeed(undefined)
  return Effect.flatMap(deps.storeOf("gc"), (store) =>
    startGarbageCollector({ root: deps.root, store, options, manifestUpdateTimeoutMs: deps.settings.manifestUpdateTimeoutMs }))
}

/** How often waiting writers re-check the unflushed total when no progress woke them. */
const BACKPRESSURE_RECHECK_MS = 100

/** The WAL buffer's closing error behind the error a writer of an unwritten WAL got (`withDurability`). */
export const primaryOf = (error: ClosedError): ClosedError =>
  error.durable !== undefined && error.cause instanceof ClosedError ? error.cause : error

/** Re-reads the manifest (see the module comment); nothing once the database is closed. */
export const makeRefreshManifest = (
  state: DbState,
  manifest: ManifestWriter,
  closeWith: (error: ClosedError) => Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (state.closeError !== undefined) return
    const exit = yield* Effect.exit(manifest.refresh)
    if (Exit.isFailure(exit)) {
      const error = Option.getOrUndefined(Exit.findErrorOption(exit))
      if (error?._tag === "ClosedError") return yield* closeWith(error)
      yield* Effect.logWarning("manifest refresh failed (will retry)", exit.cause)
    }
  })

export interface FiberDeps {
  readonly state: DbState
  readonly settings: Settings
  readonly wal: WalBufferManager["Service"]
  readonly flusher: MemtableFlusher
  readonly backpressure: Backpressure
  /** Closes the database because of an error (fenced or fatal); idempotent. */
  readonly closeWith: (error: ClosedError) => Effect.Effect<void>
  readonly refreshManifest: Effect.Effect<void>
}

export interface BackgroundFibers {
  readonly monitor: Fiber.Fiber<void>
  readonly backpressureWatchdog: Fiber.Fiber<void>
  readonly poller: Fiber.Fiber<void>
}

/** Forks the WAL monitor, the backpressure watchdog and the manifest poller (see the module comment). */
export const forkBackground = (deps: FiberDeps): Effect.Effect<BackgroundFibers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { state, wal, flusher, backpressure } = deps
    const monitor = yield* Effect.forkScoped(
      Effect.gen(function*() {
        while (true) {
          const watcher = yield* wal.maybeTriggerFlush()
          yield* watcher.await
          yield* flusher.syncRecentFlushedWalId
          yield* wal.trackLastAppliedSeq(state.seqs.committed)
          backpressure.wake()
        }
      }).pipe(Effect.catch((e: ClosedError) => (e.reason === "clean" ? Effect.void : deps.closeWith(primaryOf(e)))))
    )
    const backpressureWatchdog = yield* Effect.forkScoped(
      Effect.gen(function*() {
        while (state.closeError === undefined) {
          yield* Effect.sleep(BACKPRESSURE_RECHECK_MS)
          if (!backpressure.hasWaiters) continue
          yield* wal.trackLastAppliedSeq(state.seqs.committed)
          backpressure.wake()
        }
      })
    )
    const poller = yield* Effect.forkScoped(
      Effect.gen(function*() {
        while (state.closeError === undefined) {
          yield* Effect.sleep(Duration.millis(deps.settings.manifestPollIntervalMs))
          yield* deps.refreshManifest
        }
      })
    )
    return { monitor, backpressureWatchdog, poller }
  })
