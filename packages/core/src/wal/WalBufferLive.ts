/**
 * The WAL buffer manager's implementation (WalBufferManager.ts describes what it does and its invariants):
 * the writer-side operations and the wiring of the parts, which are WalBufferState.ts (the state and its
 * cells), WalFlush.ts (the flush fiber) and WalClosing.ts (closing).
 */
import { Deferred, Duration, Effect, type Fiber, Option, Queue, Ref, Schedule } from "effect"
import { ClosedError } from "../errors.ts"
import { DEFAULT_BLOCK_SIZE } from "../format/Block.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { MIN_TICK, MonotonicClock } from "../MonotonicClock.ts"
import { Oracle } from "../Oracle.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import type { DurableWatcher } from "./WalBuffer.ts"
import {
  DEFAULT_MAX_FLUSH_INTERVAL,
  DEFAULT_MAX_WAL_BYTES,
  defaultWalRetrySchedule,
  type WalBufferManagerApi,
  type WalBufferOptions
} from "./WalBufferApi.ts"
import { type FlushRequest, initialState, NO_REQUESTS, WalCore } from "./WalBufferState.ts"
import { makeClosing } from "./WalClosing.ts"
import { flushLoop, makeFlushWork } from "./WalFlush.ts"
import { WalIdAllocator } from "./WalIdAllocator.ts"
import { WalMetrics } from "./WalMetrics.ts"
import { WalSstWriter } from "./WalSstWriter.ts"

const cleanClose = (): ClosedError => new ClosedError({ reason: "clean", message: "db is closed" })

type WriterOps = Pick<WalBufferManagerApi, "append" | "maybeTriggerFlush" | "awaitDurable" | "flush" | "flushOwed">

/** The writer-side operations (the hot path): synchronous checks of the state, no Effect per row. */
const makeWriterOps = (core: WalCore, maxWalBytes: number, eager: boolean, intervalMs: number): WriterOps => {
  const { state, metrics, metricContext } = core

  const append = (rows: ReadonlyArray<RowEntry>): Effect.Effect<DurableWatcher, ClosedError> =>
    Effect.suspend(() => {
      const s = Ref.getUnsafe(state)
      if (s.closed !== undefined) return Effect.fail(s.closed)
      s.current.appendAll(rows)
      return s.currentResult
    })

  const maybeTriggerFlush = (): Effect.Effect<DurableWatcher, ClosedError> =>
    Effect.suspend(() => {
      const s = Ref.getUnsafe(state)
      if (s.closed !== undefined) return Effect.fail(s.closed)
      const currentBytes = core.estimate(s.current)
      if (currentBytes >= maxWalBytes && core.lastFlushRequestedEpoch < s.flushEpoch) core.requestFlush(s.flushEpoch)
      metrics.estimatedBytes.updateUnsafe(currentBytes + s.immutableBytes, metricContext)
      return s.currentResult
    })

  const awaitDurable = (watcher: DurableWatcher): Effect.Effect<void, ClosedError> =>
    Effect.suspend(() => {
      if (eager && !watcher.isDone) {
        const s = Ref.getUnsafe(state)
        if (s.closed === undefined && s.current.watcher === watcher && core.lastFlushRequestedEpoch < s.flushEpoch) {
          core.requestFlush(s.flushEpoch)
        }
      }
      return watcher.await
    })

  const flush = Effect.fn("WalBufferManager.flush")(function*() {
    const s = Ref.getUnsafe(state)
    if (s.closed !== undefined) return yield* s.closed
    const reply = Deferred.makeUnsafe<void, ClosedError>()
    core.offer({ _tag: "Flush", reply })
    metrics.flushRequests.updateUnsafe(1, metricContext)
    return yield* Deferred.await(reply)
  })

  const flushOwed = (nowMs: number): boolean => {
    if (core.queued > 0 || core.inFlight !== NO_REQUESTS) return true
    const s = Ref.getUnsafe(state)
    if (s.closed !== undefined || s.current.isEmpty) return false
    const since = s.current.firstTick
    if (since === MIN_TICK || nowMs - since < intervalMs) return false
    core.offerTickNow()
    return true
  }

  return { append, maybeTriggerFlush, awaitDurable, flush, flushOwed }
}

/** Builds the manager in the current scope (the layer's); the flush fiber lives as long as that scope. */
export const makeWalBufferManager = Effect.fnUntraced(function*(options: WalBufferOptions = {}) {
  const interval = Duration.fromInputUnsafe(options.maxFlushInterval ?? DEFAULT_MAX_FLUSH_INTERVAL)
  const core = new WalCore({
    state: yield* Ref.make(initialState(options.recentFlushedWalId ?? 0)),
    requests: yield* Queue.unbounded<FlushRequest>(),
    terminated: yield* Deferred.make<void>(),
    metrics: yield* WalMetrics,
    // Metrics are recorded in the context the manager was built in (its registry).
    metricContext: yield* Effect.context<never>(),
    blockSize: options.blockSize ?? DEFAULT_BLOCK_SIZE
  })
  const flushing = makeFlushWork(core, {
    writer: yield* WalSstWriter,
    walIds: yield* WalIdAllocator,
    oracle: yield* Oracle,
    monoClock: yield* MonotonicClock,
    retrySchedule: options.retrySchedule ?? defaultWalRetrySchedule,
    ackBeforePut: (yield* TestSwitches).ackBeforePut
  })
  let flushFiber: Fiber.Fiber<void> | undefined = undefined
  const closing = makeClosing(core, flushing.freezeCurrentWal, () => flushFiber!)
  flushFiber = yield* Effect.forkScoped(flushLoop(core, flushing.doFlush, closing.failFatally))
  if (Duration.isFinite(interval)) {
    core.tickerFiber = yield* Effect.forkScoped(
      Effect.repeat(Effect.sync(core.offerTickNow), Schedule.spaced(interval))
    )
  }
  const close = Effect.fn("WalBufferManager.close")(function*() {
    return yield* closing.close(cleanClose())
  })
  yield* Effect.addFinalizer(() => close())

  const intervalMs = Duration.isFinite(interval) ? Duration.toMillis(interval) : Number.POSITIVE_INFINITY
  const { state } = core
  const service: WalBufferManagerApi = {
    ...makeWriterOps(core, options.maxWalBytes ?? DEFAULT_MAX_WAL_BYTES, options.durableFlush === "eager", intervalMs),
    watcherForOldestUnflushedWal: () =>
      Effect.sync(() => {
        const s = Ref.getUnsafe(state)
        for (const imm of s.immutables) {
          if (imm.id > s.recentFlushedWalId) return Option.some(imm.wal.watcher)
        }
        return s.current.isEmpty ? Option.none() : Option.some(s.current.watcher)
      }),
    recentFlushedWalId: Effect.map(Ref.get(state), (s) => s.recentFlushedWalId),
    advanceRecentFlushedWalId: Effect.fn("WalBufferManager.advanceRecentFlushedWalId")(function*(id: number) {
      yield* Ref.update(state, (s) => id > s.recentFlushedWalId ? { ...s, recentFlushedWalId: id } : s)
    }),
    estimatedBytes: Effect.map(Ref.get(state), (s) => core.estimate(s.current) + s.immutableBytes),
    estimatedBytesNow: () => {
      const s = Ref.getUnsafe(state)
      return core.estimate(s.current) + s.immutableBytes
    },
    trackLastAppliedSeq: flushing.trackLastAppliedSeq,
    immutableWalCount: Effect.map(Ref.get(state), (s) => s.immutables.length),
    closed: Effect.map(Ref.get(state), (s) => Option.fromNullishOr(s.closed)),
    close,
    stop: Effect.fn("WalBufferManager.stop")(function*(error: ClosedError) {
      return yield* closing.stop(error)
    })
  }
  return service
})
