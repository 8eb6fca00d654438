/**
 * The WAL buffer manager's flush fiber (WalBufferManager.ts, invariants 2, 3, 5 and 6): freezing the
 * current WAL, writing the immutable WALs in id order, marking them durable, releasing them once applied,
 * and the loop that serves every queued request with one flush.
 */
import { Cause, Deferred, Effect, Exit, Option, Queue, Ref, type Schedule } from "effect"
import { ClosedError } from "../errors.ts"
import type { MonotonicClock } from "../MonotonicClock.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"
import type { Oracle } from "../Oracle.ts"
import { WalBuffer } from "./WalBuffer.ts"
import { type FlushRequest, NO_REQUESTS, type State, type WalCore } from "./WalBufferState.ts"
import type { WalIdAllocator } from "./WalIdAllocator.ts"
import { type ImmutableWal, makeWalWrite } from "./WalWrite.ts"
import type { WalSstWriter } from "./WalSstWriter.ts"

/** What the flush fiber works with besides the manager's state. */
export interface FlushDeps {
  readonly writer: WalSstWriter["Service"]
  readonly walIds: WalIdAllocator["Service"]
  readonly oracle: Oracle["Service"]
  readonly monoClock: MonotonicClock["Service"]
  readonly retrySchedule: Schedule.Schedule<unknown, ObjectStoreError>
  /** Test-only: acknowledge a WAL before its PUT (the simulator proves it catches this; TestSwitches). */
  readonly ackBeforePut: boolean
}

export interface FlushWork {
  /** Moves a non-empty current WAL to the back of the immutable queue under a new WAL id. */
  readonly freezeCurrentWal: Effect.Effect<void>
  /** SlateDB's `do_flush`. */
  readonly doFlush: Effect.Effect<void, ClosedError>
  /** Records the last seq applied to the memtable and releases what may go. */
  readonly trackLastAppliedSeq: (seq: number) => Effect.Effect<void>
}

/** Drops WALs from the front while written, durable by the oracle and applied to the memtable. */
const releaseFrom = (s: State, durableSeq: number, appliedSeq: number): State => {
  let n = 0
  let bytes = 0
  for (const imm of s.immutables) {
    const seq = imm.wal.lastSeq
    if (seq === 0 || seq > appliedSeq || seq > durableSeq || imm.id > s.recentFlushedWalId) break
    n++
    bytes += imm.estimatedSize
  }
  return n === 0 ? s : { ...s, immutables: s.immutables.slice(n), immutableBytes: s.immutableBytes - bytes }
}

export const makeFlushWork = (core: WalCore, deps: FlushDeps): FlushWork => {
  const { state, metrics, metricContext } = core

  const releaseNow: Effect.Effect<void> = Effect.flatMap(deps.oracle.lastDurableSeq, (durableSeq) =>
    Ref.update(state, (s) => {
      const applied = core.lastAppliedSeq
      return applied === undefined ? s : releaseFrom(s, durableSeq, applied)
    }))

  const trackLastAppliedSeq = (seq: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      core.lastAppliedSeq = seq
      return Ref.getUnsafe(state).immutables.length === 0 ? Effect.void : releaseNow
    })

  const freezeCurrentWal: Effect.Effect<void> = Effect.uninterruptible(Effect.suspend(() => {
    if (Ref.getUnsafe(state).current.isEmpty) return Effect.void
    return Effect.flatMap(deps.walIds.nextWalId, (id) =>
      Ref.update(state, (s) => {
        const wal = s.current
        const estimatedSize = core.estimate(wal)
        const next = new WalBuffer()
        return {
          ...s,
          current: next,
          currentResult: Effect.succeed(next.watcher),
          immutables: [...s.immutables, { id, wal, estimatedSize }],
          immutableBytes: s.immutableBytes + estimatedSize,
          flushEpoch: s.flushEpoch + 1
        }
      }))
  }))

  const writeOne = makeWalWrite(deps.writer, deps.retrySchedule, (failed) => {
    core.failedWal = failed
  })
  /** Encodes and writes one WAL (WalWrite.ts). */
  const writeWal = (imm: ImmutableWal): Effect.Effect<void, ClosedError> => {
    metrics.flushes.updateUnsafe(1, metricContext)
    return writeOne(imm)
  }

  /** After a successful put: raise the watermarks, then complete the watcher (one uninterruptible step). */
  const markDurable = (imm: ImmutableWal): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.gen(function*() {
      yield* deps.monoClock.advanceLastDurableTick(imm.wal.lastTick)
      yield* Ref.update(state, (s) => imm.id > s.recentFlushedWalId ? { ...s, recentFlushedWalId: imm.id } : s)
      if (imm.wal.lastSeq > 0) yield* deps.oracle.advanceDurableSeq(imm.wal.lastSeq)
      imm.wal.notifyDurableSuccess()
    }))

  /**
   * Freeze, write every unwritten immutable WAL in id order, release. A manager being stopped (`stop`)
   * starts no new WAL write: the one in flight finishes, the rest are failed.
   */
  const doFlush: Effect.Effect<void, ClosedError> = Effect.gen(function*() {
    if (core.isClosed()) return
    yield* freezeCurrentWal
    const { immutables } = Ref.getUnsafe(state)
    for (const imm of immutables) {
      if (core.isClosed()) return
      if (imm.id <= Ref.getUnsafe(state).recentFlushedWalId) continue
      if (deps.ackBeforePut) {
        yield* markDurable(imm)
        yield* writeWal(imm)
      } else {
        yield* writeWal(imm)
        yield* markDurable(imm)
      }
    }
    if (core.lastAppliedSeq !== undefined && Ref.getUnsafe(state).immutables.length > 0) yield* releaseNow
  })

  return { freezeCurrentWal, doFlush, trackLastAppliedSeq }
}

/**
 * The flush fiber's body: take every queued request, serve them with one `doFlush`, answer the explicit
 * `flush()` requests with its outcome; on a fatal error (or a defect outside `doFlush`, a bug: waiters
 * must not hang) leave through `failFatally`, which closes the manager.
 */
export const flushLoop = (
  core: WalCore,
  doFlush: Effect.Effect<void, ClosedError>,
  failFatally: (error: ClosedError) => Effect.Effect<void>
): Effect.Effect<void> => {
  /** One step: serve every queued request with one flush; false when the fiber should end. */
  const serve = (batch: ReadonlyArray<FlushRequest>): Effect.Effect<boolean> =>
    Effect.gen(function*() {
      core.inFlight = batch
      core.tickPending = false
      const exit = yield* Effect.exit(doFlush)
      if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return false
      const error = Exit.isSuccess(exit)
        ? undefined
        : Option.getOrElse(
          Cause.findErrorOption(exit.cause),
          () =>
            new ClosedError({ reason: "fatal", message: "WAL flush failed", cause: Cause.squash(exit.cause) })
        )
      // Being stopped: the requests are answered by `cleanup`, with the closing error.
      if (error === undefined && core.isClosed()) return false
      const outcome: Exit.Exit<void, ClosedError> = error === undefined ? Exit.void : Exit.fail(error)
      for (const r of batch) if (r._tag === "Flush") Deferred.doneUnsafe(r.reply, outcome)
      core.inFlight = NO_REQUESTS
      if (error === undefined) return true
      yield* failFatally(error)
      return false
    })

  return Effect.gen(function*() {
    while (true) {
      const batch = yield* Queue.takeAll(core.requests)
      core.queued -= batch.length
      if (core.isClosed()) {
        core.inFlight = batch // answered by `cleanup`
        return
      }
      if (!(yield* serve(batch))) return
    }
  }).pipe(
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.void
        : failFatally(
          new ClosedError({ reason: "fatal", message: "WAL flush fiber failed", cause: Cause.squash(cause) })
        )
    )
  )
}
