/**
 * Closing an open database (`Db.close`, or the end of the layer's scope), in this order:
 * 1. No new operations: they fail with `ClosedError("clean")`, and writers waiting on backpressure too.
 * 2. Commits already in their critical section finish (the write lock is taken once).
 * 3. The embedded compactor stops; running compactions resume from their recorded output next time.
 * 4. The WAL is flushed; the flusher finishes the memtable it is writing and stops; the background fibers
 *    (DbBackground.ts) are interrupted.
 * 5. When the WAL flush succeeded, the current manifest is written once more (persisting
 *    `next_wal_sst_id`).
 * 6. The WAL buffer stops; what waits on an immutable memtable fails with the close's error.
 * The memtable is NOT flushed to L0 (as SlateDB 0.12.1): its rows replay from the WAL on the next open.
 * A close whose WAL flush or final manifest write failed (fenced, fatal) fails with that error, and the
 * database stays closed with it; a second `close` fails with the `ClosedError` the database closed with.
 *
 * Closing because of an error (`makeFailureClose`): a fenced or fatally failed database closes itself
 * (`closeWith`): every pending and later call fails with that `ClosedError` (`checkOpen`), writers waiting
 * on backpressure or on an immutable memtable too, the flusher is woken to stop, and the WAL buffer stops.
 * A WAL write in flight finishes first, so its writers learn whether their write is durable
 * (`ClosedError.durable`, `onWalClosed`).
 */
import { Effect, Exit, Fiber, Option } from "effect"
import { ClosedError, type DbError } from "../errors.ts"
import type { CompactorHandle } from "../compactor/CompactorTypes.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import type { Backpressure } from "./Backpressure.ts"
import { type BackgroundFibers, primaryOf } from "./DbBackground.ts"
import type { DbState } from "./DbState.ts"
import { asCloseError, type MemtableFlusher } from "./MemtableFlusher.ts"
import type { WriteLock } from "./WriteLock.ts"

export const cleanClose = () => new ClosedError({ reason: "clean", message: "db is closed" })

export interface CloseDeps {
  readonly state: DbState
  readonly backpressure: Backpressure
  readonly writeLock: WriteLock
  readonly compactor: CompactorHandle | undefined
  readonly wal: WalBufferManager["Service"]
  readonly flusher: MemtableFlusher
  readonly fibers: BackgroundFibers
  readonly manifest: ManifestWriter
}

export interface Closer {
  /** `Db.close` (see the module comment). */
  readonly close: () => Effect.Effect<void, ClosedError>
  /** Whether `close` ran, or the database closed itself (fenced or fatal). */
  readonly isClosed: () => boolean
}

export const makeCloser = (deps: CloseDeps): Closer => {
  const { state, wal, flusher, fibers, manifest } = deps
  let closed = false
  const close = Effect.fn("Db.close")(function*() {
    if (closed || state.closeError !== undefined) return yield* state.closeError ?? cleanClose()
    closed = true
    const clean = cleanClose()
    state.closeError = clean
    deps.backpressure.failAll(clean)
    yield* deps.writeLock.run(Effect.void)
    if (deps.compactor !== undefined) yield* deps.compactor.stop
    let failure: ClosedError | undefined
    const flushed = yield* Effect.exit(wal.flush())
    if (Exit.isFailure(flushed)) failure = Option.getOrUndefined(Exit.findErrorOption(flushed))
    yield* flusher.stop
    yield* Fiber.interrupt(fibers.poller)
    yield* Fiber.interrupt(fibers.monitor)
    yield* Fiber.interrupt(fibers.backpressureWatchdog)
    if (failure === undefined) {
      yield* flusher.syncRecentFlushedWalId
      const written = yield* Effect.exit(manifest.update((m) => m))
      const error = Option.getOrUndefined(Exit.findErrorOption(written))
      if (error !== undefined) failure = asCloseError(error, "writing the final manifest")
    }
    yield* wal.close()
    state.failImms(failure ?? clean)
    if (failure !== undefined && failure.reason !== "clean") {
      state.closeError = failure
      return yield* failure
    }
  }, Effect.uninterruptible)
  return { close, isClosed: () => closed || state.closeError !== undefined }
}

export interface FailureDeps {
  readonly state: DbState
  readonly backpressure: Backpressure
  readonly wal: WalBufferManager["Service"]
  /** Wakes the memtable flusher (it sees the error and stops). */
  readonly signalFlusher: () => void
}

export interface FailureClose {
  /** Closes the database because of `error` (fenced or fatal); idempotent. */
  readonly closeWith: (error: ClosedError) => Effect.Effect<void>
  /** Fails with the error the database closed with, if it did. */
  readonly checkOpen: Effect.Effect<void, DbError>
  /**
   * What a write does when the WAL buffer stopped: closes the database with the buffer's reason, then fails
   * with what the buffer said of this write if it waited for durability (whether it may be durable), else
   * with the database's error.
   */
  readonly onWalClosed: (error: ClosedError) => Effect.Effect<never, DbError>
}

/** Closing because of an error (see the module comment). */
export const makeFailureClose = (deps: FailureDeps): FailureClose => {
  const { state, wal } = deps
  const closeWith = (error: ClosedError): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (state.closeError !== undefined) return Effect.void
      state.closeError = error
      state.failImms(error)
      deps.backpressure.failAll(error)
      deps.signalFlusher()
      // A WAL write in flight finishes, so its writers learn whether it is durable (WalBufferManager.stop).
      return Effect.andThen(
        error.reason === "clean" ? Effect.void : Effect.logWarning(`database closed: ${error.message}`),
        wal.stop(error)
      )
    })
  const checkOpen: Effect.Effect<void, DbError> = Effect.suspend(() =>
    state.closeError === undefined ? Effect.void : Effect.fail(state.closeError)
  )
  const onWalClosed = (error: ClosedError): Effect.Effect<never, DbError> =>
    Effect.andThen(
      closeWith(primaryOf(error)),
      Effect.suspend(() => Effect.fail(error.durable !== undefined ? error : state.closeError ?? error))
    )
  return { closeWith, checkOpen, onWalClosed }
}
