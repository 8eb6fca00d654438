/**
 * The in-memory state of an open database, shared by the write path (Writer.ts), the read path
 * (Reader.ts), the memtable flusher (MemtableFlusher.ts) and recovery (Recovery.ts).
 *
 * - The active memtable takes every new write; frozen memtables wait in `imms` (newest first) until the
 *   flusher has written them as L0 SSTs and recorded them in the manifest.
 * - `SeqWatermarks` holds SlateDB's three sequence watermarks (last assigned, last committed = visible,
 *   last durable) as plain fields the hot paths read synchronously; `oracle` exposes the same fields as
 *   the `Oracle` service the WAL buffer expects.
 * - `EngineClock` is the engine's monotonic millisecond clock over the Effect `Clock` (docs/format.md §3.11), with a
 *   synchronous fast path; `service` exposes it as the `MonotonicClock` the WAL buffer expects.
 * - `closeError` is set once, when the database closes (cleanly, fenced or after a fatal error); from then
 *   on every operation fails with it.
 *
 * Invariants (kept by the writer, which changes the memtable only inside its critical section):
 * - rows enter the active memtable in commit order; `committed` is the seq of the last row inserted;
 * - every row of a frozen memtable has a smaller seq than every row of a newer memtable;
 * - an imm's `recentFlushedWalId` is a WAL id whose rows, and those of every earlier WAL, are all in this
 *   memtable or older ones, so the manifest may move `replay_after_wal_id` to it once the imm is in L0.
 */
import { type Clock, Deferred, Effect, Exit } from "effect"
import { type ClosedError, InvalidError } from "../errors.ts"
import { MIN_TICK, MonotonicClock } from "../MonotonicClock.ts"
import { type ImmutableMemTable, MemTable } from "../memtable/MemTable.ts"
import { Oracle } from "../Oracle.ts"
import { SequenceTracker } from "../manifest/SequenceTracker.ts"
import type { DbError } from "../errors.ts"

/** The three sequence watermarks (docs/format.md §3.3). Each only moves forward. */
export class SeqWatermarks {
  /** Last sequence number handed out. */
  lastSeq: number
  /** Last sequence number visible to reads. */
  committed: number
  /** Last sequence number known to be in the object store. */
  durable: number

  constructor(seq: number) {
    this.lastSeq = seq
    this.committed = seq
    this.durable = seq
  }

  /** The `Oracle` service over these fields (used by the WAL buffer). */
  readonly oracle: Oracle["Service"] = Oracle.of({
    lastSeq: Effect.sync(() => this.lastSeq),
    lastCommittedSeq: Effect.sync(() => this.committed),
    lastDurableSeq: Effect.sync(() => this.durable),
    nextSeq: Effect.sync(() => ++this.lastSeq),
    advanceLastSeq: (seq) => Effect.sync(() => void (seq > this.lastSeq && (this.lastSeq = seq))),
    advanceCommittedSeq: (seq) => Effect.sync(() => void (seq > this.committed && (this.committed = seq))),
    advanceDurableSeq: (seq) => Effect.sync(() => void (seq > this.durable && (this.durable = seq)))
  })
}

/** After this many ms behind, `now` gives up waiting for the clock (SlateDB: 10 s). */
const MAX_CLOCK_SYNC_MS = 10_000

/**
 * Milliseconds from the Effect `Clock`, never below an earlier tick (SlateDB's `MonotonicClock`):
 * if the clock reads behind the last tick, `now` sleeps `min(10 s, 2 × lag)` and reads once more, then
 * fails with `InvalidError` (SlateDB's `InvalidClockTick`).
 */
export class EngineClock {
  lastTick: number
  lastDurableTick: number
  readonly #clock: Clock.Clock

  constructor(clock: Clock.Clock, initialTick: number = MIN_TICK) {
    this.#clock = clock
    this.lastTick = initialTick
    this.lastDurableTick = initialTick
  }

  /** The current tick, or undefined if the clock reads behind the last tick (then use `now`). */
  tickSync(): number | undefined {
    const t = this.#clock.currentTimeMillisUnsafe()
    if (t >= this.lastTick) {
      this.lastTick = t
      return t
    }
    return undefined
  }

  /** The current tick, waiting for a clock that reads behind (see the class comment). */
  readonly now: Effect.Effect<number, InvalidError> = Effect.suspend(() => {
    const t = this.tickSync()
    if (t !== undefined) return Effect.succeed(t)
    const lag = this.lastTick - this.#clock.currentTimeMillisUnsafe()
    return Effect.sleep(Math.min(MAX_CLOCK_SYNC_MS, 2 * Math.max(1, lag))).pipe(
      Effect.flatMap(() => {
        const again = this.tickSync()
        return again !== undefined
          ? Effect.succeed(again)
          : Effect.fail(new InvalidError({ message: `invalid clock tick: the clock is behind the last tick ${this.lastTick}` }))
      })
    )
  })

  /** Raises the last tick (replay); fails instead of moving it backwards. */
  setLastTick(tick: number): InvalidError | undefined {
    if (tick < this.lastTick) {
      return new InvalidError({ message: `invalid clock tick: ${tick} is behind the last tick ${this.lastTick}` })
    }
    this.lastTick = tick
    return undefined
  }

  /** The `MonotonicClock` service over this clock (used by the WAL buffer). */
  readonly service: MonotonicClock["Service"] = MonotonicClock.of({
    now: this.now,
    lastTick: Effect.sync(() => this.lastTick),
    lastDurableTick: Effect.sync(() => this.lastDurableTick),
    setLastTick: (tick) =>
      Effect.suspend(() => {
        const e = this.setLastTick(tick)
        return e === undefined ? Effect.succeed(tick) : Effect.fail(e)
      }),
    advanceLastDurableTick: (tick) =>
      Effect.sync(() => {
        if (tick > this.lastDurableTick) this.lastDurableTick = tick
      })
  })
}

/** A frozen memtable waiting for its L0 flush. */
export interface ImmutableMemtable {
  readonly table: ImmutableMemTable
  /** See the module comment; becomes the manifest's `replay_after_wal_id` once this table is in L0. */
  readonly recentFlushedWalId: number
  /** The table's `memoryBytes` (backpressure accounting). */
  readonly memoryBytes: number
  /** (seq, unix seconds) samples of the table's writes, merged into the manifest at flush. */
  readonly tracker: SequenceTracker
  /** Completed when the table is in L0 and the manifest says so (or with the error that stopped it). */
  readonly flushed: Deferred.Deferred<void, DbError>
}

/** The mutable heart of an open database (see the module comment). */
export class DbState {
  memtable = new MemTable()
  /** Sequence tracker of the active memtable. */
  tracker: SequenceTracker = SequenceTracker.empty
  /** Unix seconds of the newest tracker sample (sampling happens at most once per 60 s). */
  trackerLastSecond = Number.NEGATIVE_INFINITY
  /** Frozen memtables, newest first. */
  imms: Array<ImmutableMemtable> = []
  /** Σ memoryBytes over `imms`. */
  immBytes = 0
  /**
   * A lower bound of the WAL buffer's `recentFlushedWalId` (refreshed after every WAL flush), used to tag
   * frozen memtables without an Effect on the write path. A lower tag only makes recovery replay more.
   */
  recentFlushedWalId: number
  /**
   * The tag of the newest frozen memtable (or the manifest's `replay_after_wal_id` before any freeze):
   * SlateDB also freezes a memtable once 4096 WALs were written since this point.
   */
  lastFreezeWalId: number
  closeError: ClosedError | undefined = undefined
  /** True while memtable uploads wait because L0 is full (MemtableFlusher.ts). */
  l0Stalled = false
  readonly seqs: SeqWatermarks
  readonly clock: EngineClock

  constructor(seqs: SeqWatermarks, clock: EngineClock, recentFlushedWalId: number) {
    this.seqs = seqs
    this.clock = clock
    this.recentFlushedWalId = recentFlushedWalId
    this.lastFreezeWalId = recentFlushedWalId
  }

  /** Records a (seq, time) sample for the active memtable, at most once per 60 s (RFC 0012). */
  trackSeq(seq: number, tickMs: number): void {
    const second = Math.floor(tickMs / 1000)
    if (second - this.trackerLastSecond < SequenceTracker.intervalSeconds) return
    this.trackerLastSecond = second
    this.tracker = SequenceTracker.insert(this.tracker, seq, second)
  }

  /**
   * Freezes the active memtable (if non-empty) into the front of `imms` and starts a new one. Synchronous:
   * callers run it between two writes' critical sections.
   */
  freezeMemtable(): ImmutableMemtable | undefined {
    const table = this.memtable
    if (table.isEmpty) return undefined
    const memoryBytes = table.memoryBytes
    const imm: ImmutableMemtable = {
      table: table.freeze(),
      recentFlushedWalId: this.recentFlushedWalId,
      memoryBytes,
      tracker: this.tracker,
      flushed: Deferred.makeUnsafe<void, DbError>()
    }
    this.imms.unshift(imm)
    this.immBytes += memoryBytes
    this.lastFreezeWalId = this.recentFlushedWalId
    this.memtable = new MemTable()
    this.tracker = SequenceTracker.empty
    this.trackerLastSecond = Number.NEGATIVE_INFINITY
    return imm
  }

  /** Drops the oldest imm once it is in L0 and wakes its waiters. */
  releaseOldestImm(imm: ImmutableMemtable): void {
    const i = this.imms.lastIndexOf(imm)
    if (i >= 0) {
      this.imms.splice(i, 1)
      this.immBytes -= imm.memoryBytes
    }
    Deferred.doneUnsafe(imm.flushed, Exit.void)
  }

  /** Fails every imm's waiters with `error` (the database is closing). */
  failImms(error: DbError): void {
    const failed = Exit.fail(error)
    for (const imm of this.imms) Deferred.doneUnsafe(imm.flushed, failed)
  }
}
