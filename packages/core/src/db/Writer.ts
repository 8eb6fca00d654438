/**
 * The write path (SlateDB's `batch_write.rs`, docs/format.md §3.2): `put`, `delete`, `merge` and `write(batch)`.
 *
 * One write, in order:
 * 1. Validate, before anything else (nothing of an invalid write is written; Validation.ts): keys are
 *    non-empty and at most 65,535 bytes, values at most 2^32-1 bytes, options and TTLs of the right types,
 *    batch ops of a known kind, batches non-empty. Violations fail with `InvalidError` carrying SlateDB's
 *    binding messages where it has them.
 * 2. If a WAL flush is owed, give the event loop a turn (see `commit`).
 * 3. Backpressure (docs/format.md §3.6, Backpressure.ts): while the WAL buffer's estimate plus the frozen memtables'
 *    memory reach `maxUnflushedBytes`, or the frozen memtables' memory `maxImmutableMemtableBytes`, queue
 *    (FIFO) until flushes bring it down. The exact total is computed once the bytes written since the last
 *    check could have crossed the limit.
 * 4. The critical section (`WriteLock`: one writer at a time, uninterruptible): take the clock tick and
 *    the next sequence number (ONE per write: every row of a batch gets the same seq, as SlateDB 0.12.1
 *    does, see docs/design/db.md), build the rows (batch ops sorted by key, a later put or delete on a
 *    key replacing the earlier ops, merges kept after them, per key newest first; `create_ts` = tick,
 *    `expire_ts` = tick + TTL for puts and merges; with a merge operator, a key's operands folded onto the
 *    put or delete before them, iter/MergeOperator.ts; a failing operator fails the write, which then
 *    takes no seq), append them to the current WAL
 *    buffer (all rows of one write land in one WAL SST), insert them into the active memtable and advance
 *    the committed seq: the write is now visible to reads. If the memtable is full (MemtableLimit.ts:
 *    `l0SstSizeBytes` of estimated size, or a quarter of `maxUnflushedBytes` of memory) or 4096 WALs passed
 *    since the last freeze, it is frozen and the flusher is woken.
 * 5. Outside the lock: let the WAL buffer start a size-triggered flush (checked every few KiB written).
 *    Which seq is applied (so the WAL buffer may release written WALs) is reported after each WAL flush
 *    by the database's WAL monitor rather than per write.
 * 6. With `awaitDurable` (default true, as SlateDB) wait until the WAL SST holding the write is in the
 *    object store. In `durableFlush: "eager"` mode that wait starts a flush at once (group commit).
 *
 * Failures after validation are the database's: a closed database fails with its `ClosedError`; a WAL
 * buffer that stopped (fenced by a newer writer, or a fatal store error) closes the database with that
 * reason, and this write and every later call fail with it.
 */
import { Effect } from "effect"
import type { ClosedError, DbError } from "../errors.ts"
import { InvalidError, TransactionError } from "../errors.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import { makeMerge, makeTombstone, makeValue, ROW_MEMORY_OVERHEAD, type RowEntry, RowKind } from "../format/RowEntry.ts"
import { foldKey, type MergeOperator } from "../iter/MergeOperator.ts"
import type { Settings } from "../Settings.ts"
import type { DurableWatcher } from "../wal/WalBuffer.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import type { Backpressure } from "./Backpressure.ts"
import {
  type BatchOp,
  type MergeOptions,
  type PutOptions,
  type Ttl,
  WriteBatch,
  type WriteHandle,
  type WriteOptions
} from "./DbApi.ts"
import type { DbState } from "./DbState.ts"
import { type ByteSlab, writeSlab } from "../format/ByteSlab.ts"
import { batchOpProblem, keyProblem, putOptionsProblem, valueProblem, writeOptionsProblem } from "./Validation.ts"
import { WriteLock } from "./WriteLock.ts"
import { DbStats } from "../Metrics.ts"
import { traced, tracing } from "../Tracing.ts"
import { keyId, type KeySet, type TransactionManager, type TxnState } from "./TransactionManager.ts"
import { immutableLimit, isFull, memtableLimit } from "./MemtableLimit.ts"

/** SlateDB replays at most this many WALs into one memtable before freezing it (docs/format.md §3.4). */
const MAX_WALS_PER_MEMTABLE = 4096

/** While a WAL flush is owed, a write yields to the event loop at least once per this many writes. */
const YIELD_EVERY_WRITES = 16

/** `expire_ts` for a put at `now` (SlateDB: overflow ⇒ no expiry). */
const expireAt = (ttl: Ttl | undefined, now: number, defaultTtlMs: number | undefined): number | undefined => {
  let ms: number | undefined
  if (ttl === undefined || ttl === "default") ms = defaultTtlMs
  else if (ttl === "none") return undefined
  else if ("atMs" in ttl) return ttl.atMs
  else ms = ttl.afterMs
  if (ms === undefined) return undefined
  const at = now + ms
  return Number.isSafeInteger(at) ? at : undefined
}

// ------------------------------------------------------------------------------------------ the writer

export interface WriterDeps {
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
  /** Folds a write's operands of one key onto the put or delete before them (docs/design/merge.md). */
  readonly mergeOperator?: MergeOperator | undefined
  /** Where writes are counted (`slatedb.db.write_*`, `backpressure_count`; Metrics.ts). */
  readonly stats?: DbStats
  /** Conflict detection: commits are recorded while a transaction is open (TransactionManager.ts). */
  readonly txns: TransactionManager
}

export interface Writer {
  readonly put: (key: Uint8Array, value: Uint8Array, options?: PutOptions) => Effect.Effect<WriteHandle, DbError>
  readonly delete: (key: Uint8Array, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  readonly write: (batch: WriteBatch, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  readonly merge: (key: Uint8Array, operand: Uint8Array, options?: MergeOptions) => Effect.Effect<WriteHandle, DbError>
  /**
   * A transaction's commit: `write`, except that in the critical section, before a seq is taken, the
   * transaction is checked for conflicts (failing with `TransactionError`, nothing written).
   */
  readonly commitTxn: (
    batch: WriteBatch,
    options: WriteOptions | undefined,
    txn: TxnState
  ) => Effect.Effect<WriteHandle, DbError | TransactionError>
  /** The critical-section lock (the close path takes it to let in-flight commits finish). */
  readonly lock: WriteLock
}

interface Committed {
  readonly watcher: DurableWatcher
  readonly handle: WriteHandle
}

type BuildRows = (seq: number, ts: number) => ReadonlyArray<RowEntry>

/** What a commit fails with: a transaction's commit may also conflict. */
type Failure = DbError | TransactionError

/** A plain write's commit, which has no transaction and so never conflicts. */
const plain = (e: Effect.Effect<WriteHandle, Failure>): Effect.Effect<WriteHandle, DbError> =>
  e as Effect.Effect<WriteHandle, DbError>

/** The keys of committed rows (for conflict checks). */
const keysOf = (rows: ReadonlyArray<RowEntry>): KeySet => {
  const keys: KeySet = new Map()
  for (let i = 0; i < rows.length; i++) keys.set(keyId(rows[i]!.key), rows[i]!.key)
  return keys
}

export const makeWriter = (deps: WriterDeps): Writer => {
  const { state, settings, wal, backpressure, txns } = deps
  const stats = deps.stats ?? new DbStats()
  const seqs = state.seqs
  const lock = new WriteLock()
  const slab = writeSlab()
  const l0SstSizeBytes = settings.l0SstSizeBytes
  const limit = memtableLimit(settings)
  const defaultTtlMs = settings.defaultTtlMs
  /** Bytes a write may add before the exact backpressure total is computed again (a 64th of the lower limit). */
  const backpressureSlack = Math.max(1, Math.floor(Math.min(settings.maxUnflushedBytes, immutableLimit(settings)) / 64))
  /** Bytes appended between two size-trigger checks of the WAL buffer. */
  const triggerSlack = Math.max(1, Math.min(64 * 1024, Math.floor(l0SstSizeBytes / 64)))
  let bytesSinceBackpressureCheck = Number.POSITIVE_INFINITY
  let bytesSinceTriggerCheck = 0
  /** Writes left before the next yield while a WAL flush is owed (0: yield at the next one). */
  let owedCountdown = 0
  /** The clock tick of the last such yield: a write in a later millisecond yields too. */
  let lastYieldTick = Number.NEGATIVE_INFINITY

  const walClosed = (e: ClosedError) => deps.onWalClosed(e)
  const yieldForFlush = deps.neverYieldForFlush !== true

  // ---------------------------------------------------------------- the critical section

  /**
   * Inserts committed rows into the active memtable and freezes it when full (synchronous). While a
   * transaction is open, the commit is recorded for conflict checks (`txn`: the committing transaction).
   */
  const apply = (rows: ReadonlyArray<RowEntry>, seq: number, ts: number, txn: TxnState | undefined): void => {
    const memtable = state.memtable
    for (let i = 0; i < rows.length; i++) memtable.put(rows[i]!)
    seqs.committed = seq
    if (txns.activeCount !== 0) txns.recordCommitted(seq, txn?.writeKeys ?? keysOf(rows), txn)
    state.trackSeq(seq, ts)
    if (
      isFull(memtable, limit) ||
      state.recentFlushedWalId - state.lastFreezeWalId >= MAX_WALS_PER_MEMTABLE
    ) {
      state.freezeMemtable()
      deps.onFreeze()
    }
  }

  const commitAt = (build: BuildRows, ts: number, txn: TxnState | undefined): Effect.Effect<Committed, DbError> => {
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
    return wal.append(rows).pipe(
      Effect.map((watcher): Committed => {
        apply(rows, seq, ts, txn)
        return { watcher, handle: { seq, createTs: ts } }
      }),
      Effect.catch(walClosed)
    )
  }

  const critical = (build: BuildRows, txn: TxnState | undefined): Effect.Effect<Committed, Failure> =>
    Effect.suspend((): Effect.Effect<Committed, Failure> => {
      if (state.closeError !== undefined) return Effect.fail(state.closeError)
      if (txn !== undefined && txns.hasConflict(txn)) {
        txns.drop(txn)
        return Effect.fail(new TransactionError({ message: "transaction conflict" }))
      }
      const ts = state.clock.tickSync()
      if (ts !== undefined) return commitAt(build, ts, txn)
      return Effect.flatMap(state.clock.now, (now) => commitAt(build, now, txn))
    })

  /**
   * The critical section behind backpressure. The exact unflushed total is computed only once the bytes
   * written since the last check could have crossed the limit; a writer that finds writers queued, or
   * the limit reached, queues (Backpressure.ts) and holds a reservation until its rows are appended.
   */
  const gated = (bytes: number, build: BuildRows, txn: TxnState | undefined): Effect.Effect<Committed, Failure> => {
    bytesSinceBackpressureCheck += bytes
    if (!backpressure.hasWaiters && bytesSinceBackpressureCheck < backpressureSlack) return lock.run(critical(build, txn))
    if (backpressure.isOpen) {
      bytesSinceBackpressureCheck = 0
      return lock.run(critical(build, txn))
    }
    // Only the queue entry exists while the writer waits; its commit is built once it is admitted.
    stats.backpressure++
    return Effect.flatMap(backpressure.admit(bytes), () => admittedCommit(bytes, build, txn))
  }

  /** The commit of a writer admitted by backpressure, which holds its reservation until the rows are in. */
  const admittedCommit = (bytes: number, build: BuildRows, txn: TxnState | undefined): Effect.Effect<Committed, Failure> =>
    Effect.onExit(lock.run(critical(build, txn)), () => Effect.sync(() => backpressure.release(bytes)))

  const handleOf = (c: Committed): WriteHandle => c.handle

  /**
   * Validated rows to commit (`bytes`: what they will cost in memory): backpressure, the critical section, then (outside the lock) a size-trigger
   * check every `triggerSlack` bytes and the durability wait. Written WALs are released by the WAL
   * monitor after each flush (`trackLastAppliedSeq`), not per write.
   *
   * Before all that, a write gives the event loop a turn while a WAL flush is owed (running, queued, or
   * due because the current WAL has waited a flush interval: `flushOwed` then requests it): the first such
   * write yields at once, then every `YIELD_EVERY_WRITES`-th, and the first of every later millisecond
   * (so a slow loop yields at least once a millisecond while a flush waits for it). A loop of writes that settle synchronously
   * (a Promise API loop that awaits non-durable puts never returns to the event loop) would otherwise
   * starve the flush: neither the interval timer nor the store's I/O callbacks would ever run. A write
   * that awaits durability does not yield first: it returns to the event loop while it waits, and a yield
   * before its append would make it miss the next WAL, splitting concurrent durable writers into two
   * groups with a PUT each (twice SlateDB's PUTs in eager mode; test/db/EagerGroupCommit.test.ts).
   */
  const commit = (
    bytes: number,
    awaitDurable: boolean,
    build: BuildRows,
    txn?: TxnState
  ): Effect.Effect<WriteHandle, Failure> => {
    let committed = gated(bytes, build, txn)
    const tick = state.clock.lastTick
    if (yieldForFlush && !awaitDurable && wal.flushOwed(tick)) {
      if (owedCountdown === 0 || tick > lastYieldTick) {
        owedCountdown = YIELD_EVERY_WRITES
        lastYieldTick = tick
        committed = Effect.andThen(Effect.yieldNow, committed)
      }
      owedCountdown--
    } else {
      owedCountdown = 0
    }
    bytesSinceTriggerCheck += bytes
    const trigger = bytesSinceTriggerCheck >= triggerSlack
    if (trigger) bytesSinceTriggerCheck = 0
    if (!trigger && !awaitDurable) return Effect.map(committed, handleOf)
    return Effect.flatMap(committed, (c) => {
      let after: Effect.Effect<unknown, ClosedError> = trigger ? wal.maybeTriggerFlush() : Effect.void
      if (awaitDurable) after = Effect.andThen(after, wal.awaitDurable(c.watcher))
      return after.pipe(Effect.as(c.handle), Effect.catch(walClosed))
    })
  }

  // ---------------------------------------------------------------- the operations

  const invalid = (message: string) => Effect.fail(new InvalidError({ message }))

  const put = (key: Uint8Array, value: Uint8Array, options?: PutOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const problem = keyProblem(key) ?? valueProblem(value) ?? (options === undefined ? undefined : putOptionsProblem(options))
      if (problem !== undefined) return invalid(problem)
      const ttl = options?.ttl
      // Copies: the caller may reuse its buffers once the call returns.
      const k = slab.copy(key)
      const v = slab.copy(value)
      const bytes = k.length + v.length + ROW_MEMORY_OVERHEAD
      stats.writeBatches++
      stats.writeOps++
      const op = plain(commit(bytes, options?.awaitDurable ?? true, (seq, ts) => [
        makeValue(k, v, seq, ts, expireAt(ttl, ts, defaultTtlMs))
      ]))
      return tracing() ? traced(op, "Db.put", { "db.key_size": key.length, "db.value_size": value.length }) : op
    })

  const del = (key: Uint8Array, options?: WriteOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const problem = keyProblem(key) ?? (options === undefined ? undefined : writeOptionsProblem(options))
      if (problem !== undefined) return invalid(problem)
      const k = slab.copy(key)
      stats.writeBatches++
      stats.writeOps++
      const op = plain(commit(k.length + ROW_MEMORY_OVERHEAD, options?.awaitDurable ?? true, (seq, ts) => [makeTombstone(k, seq, ts)]))
      return tracing() ? traced(op, "Db.delete", { "db.key_size": key.length }) : op
    })

  const writeBatch = (batch: WriteBatch, options: WriteOptions | undefined, txn: TxnState | undefined): Effect.Effect<WriteHandle, Failure> =>
    Effect.suspend(() => {
      const ops: unknown = (batch as { ops?: unknown } | null | undefined)?.ops
      if (!Array.isArray(ops)) return invalid("batch must be a WriteBatch")
      // A batch is written once (SlateDB's binding takes it): writing it again is an error.
      const consumed = batch instanceof WriteBatch ? batch.consume() : undefined
      if (consumed !== undefined) return Effect.fail(consumed)
      const optionsProblem = writeOptionsProblem(options)
      if (optionsProblem !== undefined) return invalid(optionsProblem)
      if (ops.length === 0) return invalid("write batch is empty")
      for (let i = 0; i < ops.length; i++) {
        const problem = batchOpProblem(ops[i], i)
        if (problem !== undefined) return invalid(problem)
      }
      const chosen = survivingOps(ops as ReadonlyArray<BatchOp>, slab)
      let bytes = 0
      for (const op of chosen) bytes += op.key.length + (op._tag === "delete" ? 0 : op.value.length) + ROW_MEMORY_OVERHEAD
      stats.writeBatches++
      stats.writeOps += ops.length
      const committed = commit(bytes, options?.awaitDurable ?? true, (seq, ts) => batchRows(chosen, seq, ts), txn)
      return txn === undefined && tracing()
        ? traced(committed, "Db.write", { "db.ops": ops.length, "db.rows": chosen.length, "db.bytes": bytes })
        : committed
    })

  const write = (batch: WriteBatch, options?: WriteOptions): Effect.Effect<WriteHandle, DbError> =>
    plain(writeBatch(batch, options, undefined))

  const commitTxn = (batch: WriteBatch, options: WriteOptions | undefined, txn: TxnState) => writeBatch(batch, options, txn)

  /** The rows of a batch's surviving ops (per key newest first), a key's operands folded with the operator. */
  const batchRows = (chosen: ReadonlyArray<BatchOp>, seq: number, ts: number): ReadonlyArray<RowEntry> => {
    const rows = chosen.map((op) => opRow(op, seq, ts))
    const operator = deps.mergeOperator
    if (operator === undefined) return rows
    const out: Array<RowEntry> = []
    let start = 0
    for (let i = 1; i <= rows.length; i++) {
      if (i < rows.length && compareKeys(rows[i]!.key, rows[start]!.key) === 0) continue
      if (i - start === 1 && rows[start]!.kind !== RowKind.Merge) out.push(rows[start]!)
      else foldKey(operator, rows.slice(start, i), undefined, out)
      start = i
    }
    return out
  }

  const opRow = (op: BatchOp, seq: number, ts: number): RowEntry => {
    switch (op._tag) {
      case "put":
        return makeValue(op.key, op.value, seq, ts, expireAt(op.ttl, ts, defaultTtlMs))
      case "merge":
        return makeMerge(op.key, op.value, seq, ts, expireAt(op.ttl, ts, defaultTtlMs))
      case "delete":
        return makeTombstone(op.key, seq, ts)
    }
  }

  const merge = (key: Uint8Array, operand: Uint8Array, options?: MergeOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const problem = keyProblem(key) ?? valueProblem(operand) ??
        (options === undefined ? undefined : putOptionsProblem(options))
      if (problem !== undefined) return invalid(problem)
      const op: BatchOp = { _tag: "merge", key: slab.copy(key), value: slab.copy(operand), ttl: options?.ttl ?? "default" }
      const bytes = op.key.length + op.value.length + ROW_MEMORY_OVERHEAD
      stats.writeBatches++
      stats.writeOps++
      return plain(commit(bytes, options?.awaitDurable ?? true, (seq, ts) => batchRows([op], seq, ts)))
    })

  return { put, delete: del, write, merge, commitTxn, lock }
}

/**
 * The ops that survive in a batch, in key order and per key newest first, with copied bytes (SlateDB's
 * `WriteBatch`): a put or delete drops every earlier op on its key; a merge is kept after them.
 */
const survivingOps = (ops: ReadonlyArray<BatchOp>, slab: ByteSlab): Array<BatchOp> => {
  const order = ops.map((_, i) => i)
  order.sort((a, b) => compareKeys(ops[a]!.key, ops[b]!.key) || b - a)
  const out: Array<BatchOp> = []
  let key: Uint8Array | undefined = undefined
  let replaced = false
  for (let i = 0; i < order.length; i++) {
    const op = ops[order[i]!]!
    if (key === undefined || compareKeys(op.key, key) !== 0) {
      key = op.key
      replaced = false
    }
    if (replaced) continue
    if (op._tag !== "merge") replaced = true
    out.push(
      op._tag === "delete"
        ? { _tag: "delete", key: slab.copy(op.key) }
        : { _tag: op._tag, key: slab.copy(op.key), value: slab.copy(op.value), ttl: op.ttl }
    )
  }
  return out
}
