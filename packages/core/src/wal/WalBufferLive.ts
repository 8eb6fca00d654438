/**
 * The WAL buffer manager's implementation (WalBufferManager.ts describes what it does and its invariants):
 * the state, the writer-side operations, the flush fiber and closing.
 */
import {
  Cause,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Option,
  Queue,
  Ref,
  Schedule
} from "effect"
import { ClosedError } from "../errors.ts"
import { DEFAULT_BLOCK_SIZE } from "../format/Block.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { estimateWalSstSize } from "../format/SsTableBuilder.ts"
import { MIN_TICK, MonotonicClock } from "../MonotonicClock.ts"
import { Oracle } from "../Oracle.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { type DurableWatcher, WalBuffer } from "./WalBuffer.ts"
import {
  DEFAULT_MAX_FLUSH_INTERVAL,
  DEFAULT_MAX_WAL_BYTES,
  defaultWalRetrySchedule,
  type WalBufferManagerApi,
  type WalBufferOptions
} from "./WalBufferApi.ts"
import { WalIdAllocator } from "./WalIdAllocator.ts"
import { WalMetrics } from "./WalMetrics.ts"
import { type FailedWal, type ImmutableWal, makeWalWrite, withDurability } from "./WalWrite.ts"
import { WalSstWriter } from "./WalSstWriter.ts"

interface State {
  readonly current: WalBuffer
  /** `Effect.succeed(current.watcher)`, made once per WAL so that `append` allocates no result. */
  readonly currentResult: Effect.Effect<DurableWatcher>
  /** Frozen WALs, oldest first; written ones stay until released. */
  readonly immutables: ReadonlyArray<ImmutableWal>
  /** Σ estimatedSize over `immutables`. */
  readonly immutableBytes: number
  /** Starts at 1, +1 per freeze: the generation of the current WAL. */
  readonly flushEpoch: number
  readonly recentFlushedWalId: number
  readonly closed: ClosedError | undefined
}

type FlushRequest =
  | { readonly _tag: "Tick" }
  | { readonly _tag: "Trigger" }
  | { readonly _tag: "Flush"; readonly reply: Deferred.Deferred<void, ClosedError> }

const TICK: FlushRequest = { _tag: "Tick" }
const TRIGGER: FlushRequest = { _tag: "Trigger" }
const NO_REQUESTS: ReadonlyArray<FlushRequest> = []

const cleanClose = (): ClosedError => new ClosedError({ reason: "clean", message: "db is closed" })

/** Builds the manager in the current scope (the layer's); the flush fiber lives as long as that scope. */
export const makeWalBufferManager = Effect.fnUntraced(function*(options: WalBufferOptions = {}) {
  const writer = yield* WalSstWriter
  const walIds = yield* WalIdAllocator
  const oracle = yield* Oracle
  const monoClock = yield* MonotonicClock
  const metrics = yield* WalMetrics
  // Metrics are recorded in the context the manager was built in (its registry), synchronously, so the
  // hot path does not build an Effect per update.
  const metricContext = yield* Effect.context<never>()
  // Test-only: the simulator proves it catches a WAL acknowledged before its PUT (see TestSwitches).
  const { ackBeforePut } = yield* TestSwitches

  const maxWalBytes = options.maxWalBytes ?? DEFAULT_MAX_WAL_BYTES
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE
  const eager = options.durableFlush === "eager"
  const retrySchedule = options.retrySchedule ?? defaultWalRetrySchedule
  const interval = Duration.fromInputUnsafe(options.maxFlushInterval ?? DEFAULT_MAX_FLUSH_INTERVAL)

  const firstWal = new WalBuffer()
  const state = yield* Ref.make<State>({
    current: firstWal,
    currentResult: Effect.succeed(firstWal.watcher),
    immutables: [],
    immutableBytes: 0,
    flushEpoch: 1,
    recentFlushedWalId: options.recentFlushedWalId ?? 0,
    closed: undefined
  })
  // Single-word cells beside the Ref (see the module comment).
  let lastFlushRequestedEpoch = 0
  let lastAppliedSeq: number | undefined = undefined
  let tickPending = false
  /** Requests offered and not yet taken by the flush fiber. */
  let queued = 0
  /** The batch of requests the flush fiber is serving, so that a close can answer it. */
  let inFlight: ReadonlyArray<FlushRequest> = NO_REQUESTS
  /** The WAL whose write failed, and whether an attempt of it may have reached the store. */
  let failedWal: FailedWal | undefined = undefined

  const requests = yield* Queue.unbounded<FlushRequest>()
  /** Completed once the closing cleanup has run (whoever ran it). */
  const terminated = yield* Deferred.make<void>()

  const estimateOptions = { blockSize }
  const estimate = (wal: WalBuffer): number => estimateWalSstSize(wal.length, wal.entriesSize, estimateOptions)

  const offer = (request: FlushRequest): void => {
    queued++
    Queue.offerUnsafe(requests, request)
  }

  /** Queues an interval tick unless one is queued already (synchronous). */
  const offerTickNow = (): void => {
    if (tickPending || Ref.getUnsafe(state).closed !== undefined) return
    tickPending = true
    offer(TICK)
  }

  /** Sends one fire-and-forget flush request for WAL generation `epoch` (synchronous). */
  const requestFlush = (epoch: number): void => {
    lastFlushRequestedEpoch = epoch
    offer(TRIGGER)
    metrics.flushRequests.updateUnsafe(1, metricContext)
  }

  // ---------------------------------------------------------------- writer-side operations (hot path)

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
      const currentBytes = estimate(s.current)
      if (currentBytes >= maxWalBytes && lastFlushRequestedEpoch < s.flushEpoch) requestFlush(s.flushEpoch)
      metrics.estimatedBytes.updateUnsafe(currentBytes + s.immutableBytes, metricContext)
      return s.currentResult
    })

  const awaitDurable = (watcher: DurableWatcher): Effect.Effect<void, ClosedError> =>
    Effect.suspend(() => {
      if (eager && !watcher.isDone) {
        const s = Ref.getUnsafe(state)
        if (s.closed === undefined && s.current.watcher === watcher && lastFlushRequestedEpoch < s.flushEpoch) {
          requestFlush(s.flushEpoch)
        }
      }
      return watcher.await
    })

  const flush = Effect.fn("WalBufferManager.flush")(function*() {
    const s = Ref.getUnsafe(state)
    if (s.closed !== undefined) return yield* s.closed
    const reply = Deferred.makeUnsafe<void, ClosedError>()
    offer({ _tag: "Flush", reply })
    metrics.flushRequests.updateUnsafe(1, metricContext)
    return yield* Deferred.await(reply)
  })

  // ---------------------------------------------------------------- release of immutable WALs

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

  const releaseNow: Effect.Effect<void> = Effect.flatMap(oracle.lastDurableSeq, (durableSeq) =>
    Ref.update(state, (s) => lastAppliedSeq === undefined ? s : releaseFrom(s, durableSeq, lastAppliedSeq)))

  const maybeReleaseImmutableWals: Effect.Effect<void> = Effect.suspend(() =>
    lastAppliedSeq === undefined || Ref.getUnsafe(state).immutables.length === 0 ? Effect.void : releaseNow
  )

  const trackLastAppliedSeq = (seq: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      lastAppliedSeq = seq
      return Ref.getUnsafe(state).immutables.length === 0 ? Effect.void : releaseNow
    })

  // ---------------------------------------------------------------- the flush fiber's work

  /** Moves a non-empty current WAL to the back of the immutable queue under a new WAL id. */
  const freezeCurrentWal: Effect.Effect<void> = Effect.uninterruptible(Effect.suspend(() => {
    if (Ref.getUnsafe(state).current.isEmpty) return Effect.void
    return Effect.flatMap(walIds.nextWalId, (id) =>
      Ref.update(state, (s) => {
        const wal = s.current
        const estimatedSize = estimate(wal)
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

  const writeOne = makeWalWrite(writer, retrySchedule, (failed) => {
    failedWal = failed
  })
  /** Encodes and writes one WAL (WalWrite.ts). */
  const writeWal = (imm: ImmutableWal): Effect.Effect<void, ClosedError> => {
    metrics.flushes.updateUnsafe(1, metricContext)
    return writeOne(imm)
  }

  /** After a successful put: raise the watermarks, then complete the watcher (one uninterruptible step). */
  const markDurable = (imm: ImmutableWal): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.gen(function*() {
      yield* monoClock.advanceLastDurableTick(imm.wal.lastTick)
      yield* Ref.update(state, (s) =>
        imm.id > s.recentFlushedWalId ? { ...s, recentFlushedWalId: imm.id } : s)
      if (imm.wal.lastSeq > 0) yield* oracle.advanceDurableSeq(imm.wal.lastSeq)
      imm.wal.notifyDurableSuccess()
    }))

  const isClosed = (): boolean => Ref.getUnsafe(state).closed !== undefined

  /**
   * SlateDB's `do_flush`: freeze, write every unwritten immutable WAL in id order, release. A manager
   * being stopped (`stop`) starts no new WAL write: the one in flight finishes, the rest are failed.
   */
  const doFlush: Effect.Effect<void, ClosedError> = Effect.gen(function*() {
    if (isClosed()) return
    yield* freezeCurrentWal
    const { immutables } = Ref.getUnsafe(state)
    for (const imm of immutables) {
      if (isClosed()) return
      if (imm.id <= Ref.getUnsafe(state).recentFlushedWalId) continue
      if (ackBeforePut) {
        yield* markDurable(imm)
        yield* writeWal(imm)
      } else {
        yield* writeWal(imm)
        yield* markDurable(imm)
      }
    }
    yield* maybeReleaseImmutableWals
  })

  // ---------------------------------------------------------------- closing

  /** Records the closing error; false if the manager was already closed. */
  const markClosed = (error: ClosedError): Effect.Effect<boolean> =>
    Ref.modify(state, (s) => s.closed !== undefined ? [false, s] : [true, { ...s, closed: error }])

  /**
   * SlateDB's `cleanup`: answer every request, freeze, fail every WAL not yet durable (its writers learn
   * whether their write may be durable: see `withDurability`).
   */
  const cleanup = (error: ClosedError): Effect.Effect<void> =>
    Effect.gen(function*() {
      const failed = Exit.fail(error)
      const answer = (r: FlushRequest) => {
        if (r._tag === "Flush") Deferred.doneUnsafe(r.reply, failed)
      }
      inFlight.forEach(answer)
      inFlight = NO_REQUESTS
      ;(yield* Queue.clear(requests)).forEach(answer)
      queued = 0
      yield* Queue.shutdown(requests)
      yield* freezeCurrentWal
      const s = Ref.getUnsafe(state)
      const notDurable = withDurability(error, "no")
      const lastFailure = failedWal
      for (const imm of s.immutables) {
        if (imm.id <= s.recentFlushedWalId) continue
        const unknown = lastFailure !== undefined && lastFailure.id === imm.id && lastFailure.durable === "unknown"
        imm.wal.notifyDurableFailure(unknown ? withDurability(error, "unknown") : notDurable)
      }
      // The current WAL is empty now (frozen above, and appends fail once closed); a watcher someone took
      // from it (`maybeTriggerFlush`, an empty `append`) would otherwise wait forever.
      s.current.notifyDurableFailure(notDurable)
      yield* Deferred.succeed(terminated, undefined)
    })

  let tickerFiber: Fiber.Fiber<unknown> | undefined = undefined

  /** The flush fiber's exit on a fatal error (it cannot interrupt itself, so it cleans up itself). */
  const failFatally = (error: ClosedError): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.gen(function*() {
      if (!(yield* markClosed(error))) return
      yield* Effect.logError("WAL buffer closed after a fatal flush failure", error)
      if (tickerFiber !== undefined) yield* Fiber.interrupt(tickerFiber)
      yield* cleanup(error)
    }))

  /** One flush-fiber step: serve every queued request with one flush. */
  const serve = (batch: ReadonlyArray<FlushRequest>): Effect.Effect<boolean> =>
    Effect.gen(function*() {
      inFlight = batch
      tickPending = false
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
      if (error === undefined && isClosed()) return false
      const outcome: Exit.Exit<void, ClosedError> = error === undefined ? Exit.void : Exit.fail(error)
      for (const r of batch) if (r._tag === "Flush") Deferred.doneUnsafe(r.reply, outcome)
      inFlight = NO_REQUESTS
      if (error === undefined) return true
      yield* failFatally(error)
      return false
    })

  const flushLoop: Effect.Effect<void> = Effect.gen(function*() {
    while (true) {
      const batch = yield* Queue.takeAll(requests)
      queued -= batch.length
      if (isClosed()) {
        inFlight = batch // answered by `cleanup`
        return
      }
      if (!(yield* serve(batch))) return
    }
  }).pipe(
    // A defect outside `doFlush` (a bug) must not leave waiters hanging: it is fatal too.
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.void
        : failFatally(
          new ClosedError({ reason: "fatal", message: "WAL flush fiber failed", cause: Cause.squash(cause) })
        )
    )
  )

  const flushFiber = yield* Effect.forkScoped(flushLoop)
  const intervalMs = Duration.isFinite(interval) ? Duration.toMillis(interval) : Number.POSITIVE_INFINITY
  if (Duration.isFinite(interval)) {
    tickerFiber = yield* Effect.forkScoped(Effect.repeat(Effect.sync(offerTickNow), Schedule.spaced(interval)))
  }

  const flushOwed = (nowMs: number): boolean => {
    if (queued > 0 || inFlight !== NO_REQUESTS) return true
    const s = Ref.getUnsafe(state)
    if (s.closed !== undefined || s.current.isEmpty) return false
    const since = s.current.firstTick
    if (since === MIN_TICK || nowMs - since < intervalMs) return false
    offerTickNow()
    return true
  }

  const close = Effect.fn("WalBufferManager.close")(function*() {
    const error = cleanClose()
    if (!(yield* markClosed(error))) return yield* Deferred.await(terminated)
    if (tickerFiber !== undefined) yield* Fiber.interrupt(tickerFiber)
    yield* Fiber.interrupt(flushFiber)
    yield* cleanup(error)
  }, Effect.uninterruptible)

  const stop = Effect.fn("WalBufferManager.stop")(function*(error: ClosedError) {
    if (!(yield* markClosed(error))) return yield* Deferred.await(terminated)
    if (tickerFiber !== undefined) yield* Fiber.interrupt(tickerFiber)
    Queue.offerUnsafe(requests, TICK) // wakes an idle flush fiber, which sees the manager closed and stops
    yield* Fiber.await(flushFiber)
    yield* cleanup(error)
  }, Effect.uninterruptible)

  yield* Effect.addFinalizer(() => close())

  const service: WalBufferManagerApi = {
    append,
    maybeTriggerFlush,
    flush,
    awaitDurable,
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
    estimatedBytes: Effect.map(Ref.get(state), (s) => estimate(s.current) + s.immutableBytes),
    flushOwed,
    estimatedBytesNow: () => {
      const s = Ref.getUnsafe(state)
      return estimate(s.current) + s.immutableBytes
    },
    trackLastAppliedSeq,
    immutableWalCount: Effect.map(Ref.get(state), (s) => s.immutables.length),
    closed: Effect.map(Ref.get(state), (s) => Option.fromNullishOr(s.closed)),
    close,
    stop
  }
  return service
})
