/**
 * Committing a write's rows (Writer.ts's steps 2-6): the yield while a WAL flush is owed, backpressure,
 * the critical section (seq, WAL append, memtable, freeze), the size trigger and the durability wait.
 * Writer.ts validates the operations and builds their rows; this module takes them from there.
 */
import { Effect } from "effect"
import type { ClosedError, DbError } from "../errors.ts"
import { InvalidError, TransactionError } from "../errors.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { DbStats } from "../Metrics.ts"
import type { Settings } from "../Settings.ts"
import type { DurableWatcher } from "../wal/WalBuffer.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import type { Backpressure } from "./Backpressure.ts"
import type { WriteHandle } from "./DbApi.ts"
import type { DbState } from "./DbState.ts"
import { immutableLimit, isFull, memtableLimit } from "./MemtableLimit.ts"
import { keyId, type KeySet, type TransactionManager, type TxnState } from "./TransactionManager.ts"
import { WriteLock } from "./WriteLock.ts"

/** SlateDB replays at most this many WALs into one memtable before freezing it (docs/format.md §3.4). */
const MAX_WALS_PER_MEMTABLE = 4096

/** While a WAL flush is owed, a write yields to the event loop at least once per this many writes. */
const YIELD_EVERY_WRITES = 16

/** The rows of a write, built in the critical section once its seq and clock tick are known. */
export type BuildRows = (seq: number, ts: number) => ReadonlyArray<RowEntry>

/** What a commit fails with: a transaction's commit may also conflict. */
export type Failure = DbError | TransactionError

/** What committing needs of the database (`WriterDeps` extends it). */
export interface CommitDeps {
  readonly state: DbState
  readonly settings: Settings
  readonly wal: WalBufferManager["Service"]
  readonly backpressure: Backpressure
  /** Wakes the memtable flusher after a freeze. */
  readonly onFreeze: () => void
  /** The WAL buffer stopped with `error`: close the database with it; yields the error to fail with. */
  readonly onWalClosed: (error: ClosedError) => Effect.Effect<never, DbError>
  /** Test-only (`TestSwitches.neverYieldForFlush`): never yield for an owed WAL flush. */
  readonly neverYieldForFlush?: boolean
  /** Conflict detection: commits are recorded while a transaction is open (TransactionManager.ts). */
  readonly txns: TransactionManager
}

interface Committed {
  readonly watcher: DurableWatcher
  readonly handle: WriteHandle
}

const handleOf = (c: Committed): WriteHandle => c.handle

/** The keys of committed rows (for conflict checks). */
const keysOf = (rows: ReadonlyArray<RowEntry>): KeySet => {
  const keys: KeySet = new Map()
  for (let i = 0; i < rows.length; i++) keys.set(keyId(rows[i]!.key), rows[i]!.key)
  return keys
}

/** The commit pipeline of one database's writer, with the counters that pace its checks. */
export class Committer {
  /** The critical-section lock (the close path takes it to let in-flight commits finish). */
  readonly lock = new WriteLock()
  private readonly deps: CommitDeps
  private readonly stats: DbStats
  private readonly limit: ReturnType<typeof memtableLimit>
  /** Bytes a write may add before the exact backpressure total is computed again (a 64th of the lower limit). */
  private readonly backpressureSlack: number
  /** Bytes appended between two size-trigger checks of the WAL buffer. */
  private readonly triggerSlack: number
  private readonly yieldForFlush: boolean
  private bytesSinceBackpressureCheck = Number.POSITIVE_INFINITY
  private bytesSinceTriggerCheck = 0
  /** Writes left before the next yield while a WAL flush is owed (0: yield at the next one). */
  private owedCountdown = 0
  /** The clock tick of the last such yield: a write in a later millisecond yields too. */
  private lastYieldTick = Number.NEGATIVE_INFINITY
  private readonly walClosed: (error: ClosedError) => Effect.Effect<never, DbError>

  constructor(deps: CommitDeps, stats: DbStats) {
    const settings = deps.settings
    this.deps = deps
    this.stats = stats
    this.limit = memtableLimit(settings)
    this.backpressureSlack = Math.max(
      1,
      Math.floor(Math.min(settings.maxUnflushedBytes, immutableLimit(settings)) / 64)
    )
    this.triggerSlack = Math.max(1, Math.min(64 * 1024, Math.floor(settings.l0SstSizeBytes / 64)))
    this.yieldForFlush = deps.neverYieldForFlush !== true
    this.walClosed = (e) => deps.onWalClosed(e)
  }

  /**
   * Validated rows to commit (`bytes`: what they will cost in memory): backpressure, the critical section,
   * then (outside the lock) a size-trigger check every `triggerSlack` bytes and the durability wait.
   * Written WALs are released by the WAL monitor after each flush (`trackLastAppliedSeq`), not per write.
   *
   * Before all that, a write gives the event loop a turn while a WAL flush is owed (running, queued, or
   * due because the current WAL has waited a flush interval: `flushOwed` then requests it): the first such
   * write yields at once, then every `YIELD_EVERY_WRITES`-th, and the first of every later millisecond (so
   * a slow loop yields at least once a millisecond while a flush waits for it). A loop of writes that
   * settle synchronously (a Promise API loop that awaits non-durable puts never returns to the event loop)
   * would otherwise starve the flush: neither the interval timer nor the store's I/O callbacks would ever
   * run. A write that awaits durability does not yield first: it returns to the event loop while it waits,
   * and a yield before its append would make it miss the next WAL, splitting concurrent durable writers
   * into two groups with a PUT each (twice SlateDB's PUTs in eager mode; test/db/EagerGroupCommit.test.ts).
   */
  commit(bytes: number, awaitDurable: boolean, build: BuildRows, txn?: TxnState): Effect.Effect<WriteHandle, Failure> {
    const wal = this.deps.wal
    let committed = this.gated(bytes, build, txn)
    const tick = this.deps.state.clock.lastTick
    if (this.yieldForFlush && !awaitDurable && wal.flushOwed(tick)) {
      if (this.owedCountdown === 0 || tick > this.lastYieldTick) {
        this.owedCountdown = YIELD_EVERY_WRITES
        this.lastYieldTick = tick
        committed = Effect.andThen(Effect.yieldNow, committed)
      }
      this.owedCountdown--
    } else {
      this.owedCountdown = 0
    }
    this.bytesSinceTriggerCheck += bytes
    const trigger = this.bytesSinceTriggerCheck >= this.triggerSlack
    if (trigger) this.bytesSinceTriggerCheck = 0
    if (!trigger && !awaitDurable) return Effect.map(committed, handleOf)
    return Effect.flatMap(committed, (c) => {
      let after: Effect.Effect<unknown, ClosedError> = trigger ? wal.maybeTriggerFlush() : Effect.void
      if (awaitDurable) after = Effect.andThen(after, wal.awaitDurable(c.watcher))
      return after.pipe(Effect.as(c.handle), Effect.catch(this.walClosed))
    })
  }

  /**
   * The critical section behind backpressure. The exact unflushed total is computed only once the bytes
   * written since the last check could have crossed the limit; a writer that finds writers queued, or
   * the limit reached, queues (Backpressure.ts) and holds a reservation until its rows are appended.
   */
  private gated(bytes: number, build: BuildRows, txn: TxnState | undefined): Effect.Effect<Committed, Failure> {
    const backpressure = this.deps.backpressure
    this.bytesSinceBackpressureCheck += bytes
    if (!backpressure.hasWaiters && this.bytesSinceBackpressureCheck < this.backpressureSlack) {
      return this.lock.run(this.critical(build, txn))
    }
    if (backpressure.isOpen) {
      this.bytesSinceBackpressureCheck = 0
      return this.lock.run(this.critical(build, txn))
    }
    // Only the queue entry exists while the writer waits; its commit is built once it is admitted. The
    // admitted writer holds its reservation until its rows are in.
    this.stats.backpressure++
    return Effect.flatMap(backpressure.admit(bytes), () =>
      Effect.onExit(this.lock.run(this.critical(build, txn)), () => Effect.sync(() => backpressure.release(bytes))))
  }

  private critical(build: BuildRows, txn: TxnState | undefined): Effect.Effect<Committed, Failure> {
    return Effect.suspend((): Effect.Effect<Committed, Failure> => {
      const { state, txns } = this.deps
      if (state.closeError !== undefined) return Effect.fail(state.closeError)
      if (txn !== undefined && txns.hasConflict(txn)) {
        txns.drop(txn)
        return Effect.fail(new TransactionError({ message: "transaction conflict" }))
      }
      const ts = state.clock.tickSync()
      if (ts !== undefined) return this.commitAt(build, ts, txn)
      return Effect.flatMap(state.clock.now, (now) => this.commitAt(build, now, txn))
    })
  }

  private commitAt(build: BuildRows, ts: number, txn: TxnState | undefined): Effect.Effect<Committed, DbError> {
    const seqs = this.deps.state.seqs
    const seq = seqs.lastSeq + 1
    let rows: ReadonlyArray<RowEntry>
    try {
      rows = build(seq, ts)
    } catch (e) {
      // Only a merge operator's failure (nothing is written, no seq is taken); anything else is a bug.
      if (e instanceof InvalidError) return Effect.fail(e)
      throw e
    }
    seqs.lastSeq = seq
    return this.deps.wal.append(rows).pipe(
      Effect.map((watcher): Committed => {
        this.apply(rows, seq, ts, txn)
        return { watcher, handle: { seq, createTs: ts } }
      }),
      Effect.catch(this.walClosed)
    )
  }

  /**
   * Inserts committed rows into the active memtable and freezes it when full (synchronous). While a
   * transaction is open, the commit is recorded for conflict checks (`txn`: the committing transaction).
   */
  private apply(rows: ReadonlyArray<RowEntry>, seq: number, ts: number, txn: TxnState | undefined): void {
    const { state, txns } = this.deps
    const memtable = state.memtable
    for (let i = 0; i < rows.length; i++) memtable.put(rows[i]!)
    state.seqs.committed = seq
    if (txns.activeCount !== 0) txns.recordCommitted(seq, txn?.writeKeys ?? keysOf(rows), txn)
    state.trackSeq(seq, ts)
    if (isFull(memtable, this.limit) || state.recentFlushedWalId - state.lastFreezeWalId >= MAX_WALS_PER_MEMTABLE) {
      state.freezeMemtable()
      this.deps.onFreeze()
    }
  }
}
