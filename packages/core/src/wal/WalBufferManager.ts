/**
 * The WAL buffer manager: buffers committed write batches in memory and writes them to the object store
 * as WAL SSTs (`wal/<id>.sst`) from one background flush fiber. It is SlateDB 0.12.1's `WalBufferManager`
 * (docs/format.md §5) as an Effect service; docs/design/wal-buffer.md explains the design.
 *
 * Durability offered. A write is durable once its WAL SST, and every WAL SST before it, is in the object
 * store; the `DurableWatcher` returned by `append` reports exactly that. WALs are written when:
 * - the current WAL's estimated encoded size reaches `maxWalBytes` and a writer calls `maybeTriggerFlush`
 *   (the limit is soft: it is checked after a whole batch, and a batch never spans two WALs);
 * - the interval ticker fires (`maxFlushInterval`, default 100 ms; `"Infinity"` disables it);
 * - someone calls `flush()`, which waits for the result;
 * - in `durableFlush: "eager"` mode, a writer calls `awaitDurable` on the current WAL's watcher (group
 *   commit: at most one WAL PUT in flight, writes arriving meanwhile ride the next one);
 * - a writer asks `flushOwed` and the current WAL's first row has waited `maxFlushInterval`: the interval
 *   flush is requested by the write itself, for callers that keep the event loop (and so the ticker's
 *   timer) from running; `flushOwed` also tells them to yield while a flush runs.
 *
 * Invariants (§5.3):
 * 1. All rows of one `append` are in one WAL SST.
 * 2. WAL ids come from `WalIdAllocator` when a non-empty WAL is frozen, so they increase with freeze order
 *    and an empty WAL is never written.
 * 3. WALs are written one at a time, in id order, by the single flush fiber. `recentFlushedWalId`, the
 *    oracle's durable seq and the clock's durable tick only move forward; watchers complete in id order.
 * 4. A watcher completes at most once (first outcome wins).
 * 5. An immutable WAL leaves memory only when it is written, durable by the oracle's watermark, and
 *    applied to the memtable (`trackLastAppliedSeq`); release is from the front only, in order.
 * 6. A failed write is never reported to watchers while a retry may still succeed: `StoreUnavailable` is
 *    retried with `retrySchedule` (on the Effect `Clock`); only when the failure is fatal do watchers, the
 *    flush requests and all later calls get it.
 * 7. After a clean close or a fatal failure the manager is closed: `append`, `maybeTriggerFlush` and
 *    `flush` fail with the stored `ClosedError`, and every WAL not yet durable has its watcher completed
 *    with it (saying the write was not made durable, or that its outcome is unknown: `withDurability`), so
 *    nothing waits forever. `stop(error)` (a newer writer, a fatal error elsewhere in the database) lets
 *    the WAL write in flight finish first, so that its writers learn its real outcome.
 *
 * Errors: everything fails with `ClosedError`, whose `reason` says why: `"clean"` (the layer was released
 * or `close()` was called), `"fenced"` (a WAL id was taken by a newer writer: `ObjectAlreadyExists` on the
 * create-only put) or `"fatal"` (a non-transient store error, retries exhausted, or an encoder bug; `cause`
 * holds the original error).
 *
 * State. The structural state (current WAL, immutable WALs, flush epoch, recent flushed WAL id, closed
 * error) is an immutable record in a `Ref`; only the flush fiber makes effectful transitions (freeze takes
 * a WAL id), so a `SynchronizedRef` would add a lock with nothing to serialise. Rows are appended to the
 * current `WalBuffer` in place, as SlateDB does under its lock. Three single-word cells live beside the
 * `Ref` and are updated in one synchronous step, like SlateDB's atomics: the last epoch a flush was
 * requested for, the last applied seq, and whether an interval tick is queued.
 */
import {
  Cause,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Queue,
  Ref,
  Schedule
} from "effect"
import { ClosedError } from "../errors.ts"
import { DEFAULT_BLOCK_SIZE } from "../format/Block.ts"
import { keysEqual } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { estimateWalSstSize } from "../format/SsTableBuilder.ts"
import { MIN_TICK, MonotonicClock } from "../MonotonicClock.ts"
import { isTransient, type ObjectAlreadyExists, type ObjectStoreError } from "../objectstore/ObjectStoreError.ts"
import { Oracle } from "../Oracle.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { type DurableWatcher, WalBuffer } from "./WalBuffer.ts"
import { WalIdAllocator } from "./WalIdAllocator.ts"
import { WalMetrics } from "./WalMetrics.ts"
import { WalSstWriter } from "./WalSstWriter.ts"

/**
 * When a writer that awaits durability gets it:
 * - `"interval"` (SlateDB): at the next interval tick, size trigger or explicit flush.
 * - `"eager"`: `awaitDurable` starts a flush at once if none is in flight; otherwise the write rides the
 *   next flush, which starts as soon as the one in flight finishes (group commit).
 */
export type DurableFlushMode = "interval" | "eager"

export interface WalBufferOptions {
  /** Size trigger: estimated encoded bytes of the current WAL (SlateDB: `l0_sst_size_bytes`, 64 MiB). */
  readonly maxWalBytes?: number
  /** Interval flush (SlateDB `flush_interval`, default 100 ms). `"Infinity"` disables the ticker. */
  readonly maxFlushInterval?: Duration.Input
  /** Default `"interval"` (SlateDB's behaviour). */
  readonly durableFlush?: DurableFlushMode
  /** SST block size used in the size estimate (default 4096). */
  readonly blockSize?: number
  /** Highest WAL id already written before this manager started (the manifest's `replay_after_wal_id`). */
  readonly recentFlushedWalId?: number
  /**
   * How `StoreUnavailable` on a WAL put is retried before it is fatal. Default: exponential from 100 ms,
   * capped at 1 s per wait, 20 retries (about 17.5 s). Other store errors are never retried.
   */
  readonly retrySchedule?: Schedule.Schedule<unknown, ObjectStoreError>
}

export const DEFAULT_MAX_WAL_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_FLUSH_INTERVAL: Duration.Input = "100 millis"

/** Exponential backoff from 100 ms, each wait capped at 1 s, at most 20 retries. */
export const defaultWalRetrySchedule: Schedule.Schedule<unknown, ObjectStoreError> = Schedule.min([
  Schedule.exponential("100 millis", 2),
  Schedule.spaced("1 second")
]).pipe(Schedule.upTo({ times: 20 }))

export class WalBufferManager extends Context.Service<WalBufferManager, {
  /**
   * Appends the rows of one write batch to the current WAL, in order, and returns that WAL's watcher.
   * Cheap and synchronous underneath: no flush is started here (call `maybeTriggerFlush` next).
   */
  readonly append: (rows: ReadonlyArray<RowEntry>) => Effect.Effect<DurableWatcher, ClosedError>
  /**
   * Sends one flush request if the current WAL's estimated size reached `maxWalBytes` and none was sent
   * for this WAL generation yet; sets the `wal_buffer_estimated_bytes` gauge. Returns the current WAL's
   * watcher. Does not wait for the flush.
   */
  readonly maybeTriggerFlush: () => Effect.Effect<DurableWatcher, ClosedError>
  /** Writes every WAL in memory (freezing the current one) and waits for the outcome. */
  readonly flush: () => Effect.Effect<void, ClosedError>
  /**
   * Waits until `watcher`'s WAL is durable. In `"eager"` mode this also starts a flush if the watcher's
   * WAL is still the current one and no flush was requested for it yet.
   */
  readonly awaitDurable: (watcher: DurableWatcher) => Effect.Effect<void, ClosedError>
  /** The watcher of the oldest WAL not yet written (immutable first, else a non-empty current WAL). */
  readonly watcherForOldestUnflushedWal: () => Effect.Effect<Option.Option<DurableWatcher>>
  /** Highest WAL id known to be written. */
  readonly recentFlushedWalId: Effect.Effect<number>
  /** Raises `recentFlushedWalId` (replay); never lowers it. */
  readonly advanceRecentFlushedWalId: (id: number) => Effect.Effect<void>
  /** Estimated encoded bytes of every WAL in memory (current + immutable), for backpressure. */
  readonly estimatedBytes: Effect.Effect<number>
  /** Records that every write up to `seq` is in the memtable, and releases WALs that may go. */
  readonly trackLastAppliedSeq: (seq: number) => Effect.Effect<void>
  /**
   * Synchronous: whether WAL flushing needs the event loop now. True while a flush runs or is queued, and
   * when the current WAL's first row has waited `maxFlushInterval` by `nowMs` (the engine clock's last
   * tick); then it also requests that flush, as the interval ticker would. A caller that may never return
   * to the event loop (a loop of writes that settle synchronously: the ticker's timer and the store's I/O
   * callbacks would never run) asks this before each write and yields when it says so.
   */
  readonly flushOwed: (nowMs: number) => boolean
  /** Synchronous `estimatedBytes`. */
  readonly estimatedBytesNow: () => number
  /** Immutable WALs still held in memory (written or not). */
  readonly immutableWalCount: Effect.Effect<number>
  /** The error the manager closed with, if it is closed. */
  readonly closed: Effect.Effect<Option.Option<ClosedError>>
  /**
   * Closes the manager with `ClosedError("clean")`: stops the flush fiber (a WAL put in flight is
   * interrupted), answers queued flush requests with the error, freezes the current WAL, and completes
   * every WAL not yet durable with the error. Idempotent. It does not flush: call `flush()` first for a
   * graceful shutdown (the `Db` does). The layer's finalizer calls it.
   */
  readonly close: () => Effect.Effect<void>
  /**
   * Closes the manager with `error` (a newer writer took over, or the database failed) without cutting
   * a WAL write short: appends fail from now on, the WAL being written finishes (its writers learn its
   * real outcome), no other WAL is written, and every WAL not written fails its writers with `error`
   * saying their write was not made durable. Idempotent; waits until the manager is closed.
   */
  readonly stop: (error: ClosedError) => Effect.Effect<void>
}>()("shale/WalBufferManager") {
  static readonly layer = (
    options: WalBufferOptions = {}
  ): Layer.Layer<WalBufferManager, never, WalSstWriter | WalIdAllocator | Oracle | MonotonicClock> =>
    Layer.effect(WalBufferManager, makeWalBufferManager(options))
}

interface ImmutableWal {
  readonly id: number
  readonly wal: WalBuffer
  /** `estimateWalSstSize` at freeze time (the WAL no longer changes). */
  readonly estimatedSize: number
}

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

const writeFailure = (id: number, error: ObjectStoreError): ClosedError =>
  error._tag === "ObjectAlreadyExists"
    ? new ClosedError({ reason: "fenced", message: "detected newer DB client", cause: error })
    : new ClosedError({ reason: "fatal", message: `failed to write WAL ${id}: ${error.message}`, cause: error })

/**
 * The error the writers of a WAL that was not written get: the manager's closing error, saying whether
 * their write is durable (`"no"`: its WAL never reached the store; `"unknown"`: an attempt to write it may
 * have). The closing error itself is its `cause`.
 */
export const withDurability = (error: ClosedError, durable: "no" | "unknown"): ClosedError =>
  new ClosedError({
    reason: error.reason,
    message: `${error.message}; ${
      durable === "no"
        ? "the write was not made durable"
        : "the write may or may not be durable (an attempt to write its WAL may have reached the store)"
    }`,
    cause: error,
    durable
  })

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
  let failedWal: { readonly id: number; readonly durable: "no" | "unknown" } | undefined = undefined

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

  /** If a retried put finds the object, it may be our own earlier attempt that landed: compare bytes. */
  const ownEarlierPut = (id: number, sst: Uint8Array, error: ObjectAlreadyExists) =>
    Effect.flatMap(
      writer.get(id),
      (stored) => keysEqual(stored, sst) ? Effect.void : Effect.fail(error)
    )

  /** Encodes and writes one WAL; transient store errors are retried, the rest become a `ClosedError`. */
  const writeWal = Effect.fnUntraced(function*(imm: ImmutableWal) {
    metrics.flushes.updateUnsafe(1, metricContext)
    const sst = yield* Effect.mapError(
      writer.encode(imm.wal.rows),
      (cause) => new ClosedError({ reason: "fatal", message: `failed to encode WAL ${imm.id}`, cause })
    )
    let ambiguous = false
    yield* writer.put(imm.id, sst).pipe(
      Effect.catchTag("ObjectAlreadyExists", (e) => ambiguous ? ownEarlierPut(imm.id, sst, e) : Effect.fail(e)),
      Effect.tapError((e) =>
        Effect.sync(() => {
          if (isTransient(e)) ambiguous = true
        })
      ),
      Effect.retry({ schedule: retrySchedule, while: isTransient }),
      Effect.mapError((e) => {
        // Another writer's object at our id (even after attempts of ours that may have landed, the bytes
        // were compared): ours never landed. Any other failure after an ambiguous attempt: unknown.
        failedWal = { id: imm.id, durable: ambiguous && e._tag !== "ObjectAlreadyExists" ? "unknown" : "no" }
        return writeFailure(imm.id, e)
      })
    )
    yield* Effect.logDebug(`WAL ${imm.id} written`).pipe(
      Effect.annotateLogs({ wal: imm.id, rows: imm.wal.rows.length, bytes: sst.length, lastSeq: imm.wal.lastSeq })
    )
  }, (effect, imm) => Effect.withSpan(effect, "Wal.write", { attributes: { "wal.id": imm.id, "wal.rows": imm.wal.rows.length } }))

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

  return WalBufferManager.of({
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
  })
})
