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
 *
 * Files: this one (step 1 and the rows of each operation), WriterCommit.ts (steps 2-6).
 */
import { Effect } from "effect"
import { type DbError, InvalidError, type TransactionError } from "../errors.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import { makeMerge, makeTombstone, makeValue, ROW_MEMORY_OVERHEAD, type RowEntry, RowKind } from "../format/RowEntry.ts"
import { foldKey, type MergeOperator } from "../iter/MergeOperator.ts"
import {
  type BatchOp,
  type MergeOptions,
  type PutOptions,
  type Ttl,
  WriteBatch,
  type WriteHandle,
  type WriteOptions
} from "./DbApi.ts"
import { type ByteSlab, writeSlab } from "../format/ByteSlab.ts"
import { batchOpProblem, keyProblem, putOptionsProblem, valueProblem, writeOptionsProblem } from "./Validation.ts"
import type { WriteLock } from "./WriteLock.ts"
import { DbStats } from "../Metrics.ts"
import { traced, tracing } from "../Tracing.ts"
import type { TxnState } from "./TransactionManager.ts"
import { type BuildRows, type CommitDeps, Committer, type Failure } from "./WriterCommit.ts"

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

export interface WriterDeps extends CommitDeps {
  /** Folds a write's operands of one key onto the put or delete before them (docs/design/merge.md). */
  readonly mergeOperator?: MergeOperator | undefined
  /** Where writes are counted (`slatedb.db.write_*`, `backpressure_count`; Metrics.ts). */
  readonly stats?: DbStats
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

/** A plain write's commit, which has no transaction and so never conflicts. */
const plain = (e: Effect.Effect<WriteHandle, Failure>): Effect.Effect<WriteHandle, DbError> =>
  e as Effect.Effect<WriteHandle, DbError>

const invalid = (message: string) => Effect.fail(new InvalidError({ message }))

/** The row of one surviving batch op. */
const opRow = (op: BatchOp, seq: number, ts: number, defaultTtlMs: number | undefined): RowEntry => {
  switch (op._tag) {
    case "put":
      return makeValue(op.key, op.value, seq, ts, expireAt(op.ttl, ts, defaultTtlMs))
    case "merge":
      return makeMerge(op.key, op.value, seq, ts, expireAt(op.ttl, ts, defaultTtlMs))
    case "delete":
      return makeTombstone(op.key, seq, ts)
  }
}

/** The rows of a batch's surviving ops (per key newest first), a key's operands folded with the operator. */
const batchRows = (
  chosen: ReadonlyArray<BatchOp>,
  seq: number,
  ts: number,
  defaultTtlMs: number | undefined,
  operator: MergeOperator | undefined
): ReadonlyArray<RowEntry> => {
  const rows = chosen.map((op) => opRow(op, seq, ts, defaultTtlMs))
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

/**
 * The ops of a batch to write, or why it cannot be written: not a batch, written before (SlateDB's binding
 * takes a batch: writing it again is an error), invalid options, empty, or an invalid op.
 */
const batchOps = (batch: WriteBatch, options: WriteOptions | undefined): ReadonlyArray<BatchOp> | InvalidError => {
  const ops: unknown = (batch as { ops?: unknown } | null | undefined)?.ops
  if (!Array.isArray(ops)) return new InvalidError({ message: "batch must be a WriteBatch" })
  const consumed = batch instanceof WriteBatch ? batch.consume() : undefined
  if (consumed !== undefined) return consumed
  const problem = writeOptionsProblem(options) ?? (ops.length === 0 ? "write batch is empty" : undefined)
  if (problem !== undefined) return new InvalidError({ message: problem })
  for (let i = 0; i < ops.length; i++) {
    const opProblem = batchOpProblem(ops[i], i)
    if (opProblem !== undefined) return new InvalidError({ message: opProblem })
  }
  return ops as ReadonlyArray<BatchOp>
}

export const makeWriter = (deps: WriterDeps): Writer => {
  const stats = deps.stats ?? new DbStats()
  const committer = new Committer(deps, stats)
  const slab = writeSlab()
  const defaultTtlMs = deps.settings.defaultTtlMs
  const operator = deps.mergeOperator
  const commit = (bytes: number, awaitDurable: boolean, build: BuildRows, txn?: TxnState) =>
    committer.commit(bytes, awaitDurable, build, txn)

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
      const ops = batchOps(batch, options)
      if (ops instanceof InvalidError) return Effect.fail(ops)
      const chosen = survivingOps(ops, slab)
      let bytes = 0
      for (const op of chosen) bytes += op.key.length + (op._tag === "delete" ? 0 : op.value.length) + ROW_MEMORY_OVERHEAD
      stats.writeBatches++
      stats.writeOps += ops.length
      const committed = commit(bytes, options?.awaitDurable ?? true, (seq, ts) => batchRows(chosen, seq, ts, defaultTtlMs, operator), txn)
      return txn === undefined && tracing()
        ? traced(committed, "Db.write", { "db.ops": ops.length, "db.rows": chosen.length, "db.bytes": bytes })
        : committed
    })

  const write = (batch: WriteBatch, options?: WriteOptions): Effect.Effect<WriteHandle, DbError> =>
    plain(writeBatch(batch, options, undefined))

  const commitTxn = (batch: WriteBatch, options: WriteOptions | undefined, txn: TxnState) => writeBatch(batch, options, txn)

  const merge = (key: Uint8Array, operand: Uint8Array, options?: MergeOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const problem = keyProblem(key) ?? valueProblem(operand) ??
        (options === undefined ? undefined : putOptionsProblem(options))
      if (problem !== undefined) return invalid(problem)
      const op: BatchOp = { _tag: "merge", key: slab.copy(key), value: slab.copy(operand), ttl: options?.ttl ?? "default" }
      const bytes = op.key.length + op.value.length + ROW_MEMORY_OVERHEAD
      stats.writeBatches++
      stats.writeOps++
      return plain(commit(bytes, options?.awaitDurable ?? true, (seq, ts) => batchRows([op], seq, ts, defaultTtlMs, operator)))
    })

  return { put, delete: del, write, merge, commitTxn, lock: committer.lock }
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
