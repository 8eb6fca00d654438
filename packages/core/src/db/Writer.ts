/**
 * The write path (SlateDB's `batch_write.rs`, docs §3.2): `put`, `delete` and `write(batch)`.
 *
 * One write, in order:
 * 1. Validate, before anything else (nothing of an invalid write is written): keys are non-empty and at
 *    most 65,535 bytes, values at most 2^32-1 bytes, TTLs are non-negative integers, batches non-empty.
 *    Violations fail with `InvalidError` carrying SlateDB's binding messages.
 * 2. Backpressure (docs §3.6): while the unflushed WAL bytes plus the immutable memtables' estimated L0
 *    sizes reach `maxUnflushedBytes`, wait for the oldest unflushed WAL to become durable or the oldest
 *    immutable memtable to reach L0 (re-checking at least every 30 s). The exact total needs the WAL
 *    buffer's estimate, which is fetched once the bytes written since the last check could have crossed
 *    the limit (every write when the limit is small).
 * 3. The critical section (`WriteLock`: one writer at a time, uninterruptible): take the clock tick and
 *    the next sequence number (ONE per write: every row of a batch gets the same seq, as SlateDB 0.12.1
 *    does, see docs/design/db.md), build the rows (batch ops sorted by key, a later op on a key replacing
 *    an earlier one; `create_ts` = tick, `expire_ts` = tick + TTL for puts), append them to the current WAL
 *    buffer (all rows of one write land in one WAL SST), insert them into the active memtable and advance
 *    the committed seq: the write is now visible to reads. If the memtable's estimated L0 SST reaches
 *    `l0SstSizeBytes` (or 4096 WALs passed since the last freeze), it is frozen and the flusher is woken.
 * 4. Outside the lock: let the WAL buffer start a size-triggered flush (checked every few KiB written).
 *    Which seq is applied (so the WAL buffer may release written WALs) is reported after each WAL flush
 *    by the database's WAL monitor rather than per write.
 * 5. With `awaitDurable` (default true, as SlateDB) wait until the WAL SST holding the write is in the
 *    object store. In `durableFlush: "eager"` mode that wait starts a flush at once (group commit).
 *
 * Failures after validation are the database's: a closed database fails with its `ClosedError`; a WAL
 * buffer that stopped (fenced by a newer writer, or a fatal store error) closes the database with that
 * reason, and this write and every later call fail with it.
 */
import { Deferred, Effect, Option } from "effect"
import type { ClosedError, DbError } from "../errors.ts"
import { InvalidError } from "../errors.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import { makeTombstone, makeValue, type RowEntry } from "../format/RowEntry.ts"
import type { SstSizeOptions } from "../format/SsTableBuilder.ts"
import type { Settings } from "../Settings.ts"
import type { DurableWatcher } from "../wal/WalBuffer.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import type { BatchOp, PutOptions, Ttl, WriteBatch, WriteHandle, WriteOptions } from "./DbApi.ts"
import type { DbState } from "./DbState.ts"
import { type ByteSlab, writeSlab } from "./ByteSlab.ts"
import { WriteLock } from "./WriteLock.ts"

export const MAX_KEY_BYTES = 65_535
export const MAX_VALUE_BYTES = 0xffff_ffff

/** SlateDB replays at most this many WALs into one memtable before freezing it (docs §3.4). */
const MAX_WALS_PER_MEMTABLE = 4096

/** Backpressure re-checks at least this often while it waits (SlateDB: 30 s). */
const BACKPRESSURE_RECHECK_MS = 30_000

// ------------------------------------------------------------------------------------------ validation

/** Why `key` is unacceptable, or undefined. */
export const keyProblem = (key: unknown): string | undefined => {
  if (!(key instanceof Uint8Array)) return "key must be a Uint8Array"
  if (key.length === 0) return "key cannot be empty"
  if (key.length > MAX_KEY_BYTES) return "key size must be <= u16::MAX"
  return undefined
}

const valueProblem = (value: unknown): string | undefined => {
  if (!(value instanceof Uint8Array)) return "value must be a Uint8Array"
  if (value.length > MAX_VALUE_BYTES) return "value size must be <= u32::MAX"
  return undefined
}

const ttlProblem = (ttl: Ttl | undefined): string | undefined => {
  if (ttl === undefined || ttl === "default" || ttl === "none") return undefined
  if (typeof ttl === "object" && ttl !== null) {
    if ("afterMs" in ttl) {
      return Number.isSafeInteger(ttl.afterMs) && ttl.afterMs >= 0
        ? undefined
        : `ttl.afterMs must be a non-negative integer, got ${String(ttl.afterMs)}`
    }
    if ("atMs" in ttl) {
      return Number.isSafeInteger(ttl.atMs) ? undefined : `ttl.atMs must be an integer, got ${String(ttl.atMs)}`
    }
  }
  return `invalid ttl ${JSON.stringify(ttl)}`
}

const putProblem = (key: unknown, value: unknown, ttl: Ttl | undefined): string | undefined =>
  keyProblem(key) ?? valueProblem(value) ?? ttlProblem(ttl)

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
  readonly sizeOptions: SstSizeOptions
  readonly wal: WalBufferManager["Service"]
  /** Wakes the memtable flusher after a freeze. */
  readonly onFreeze: () => void
  /** The WAL buffer stopped with `error`: close the database with it; yields the error to fail with. */
  readonly onWalClosed: (error: ClosedError) => Effect.Effect<never, DbError>
}

export interface Writer {
  readonly put: (key: Uint8Array, value: Uint8Array, options?: PutOptions) => Effect.Effect<WriteHandle, DbError>
  readonly delete: (key: Uint8Array, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  readonly write: (batch: WriteBatch, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  /** The critical-section lock (the close path takes it to let in-flight commits finish). */
  readonly lock: WriteLock
}

interface Committed {
  readonly watcher: DurableWatcher
  readonly handle: WriteHandle
}

export const makeWriter = (deps: WriterDeps): Writer => {
  const { state, settings, sizeOptions, wal } = deps
  const seqs = state.seqs
  const lock = new WriteLock()
  const slab = writeSlab()
  const l0SstSizeBytes = settings.l0SstSizeBytes
  const defaultTtlMs = settings.defaultTtlMs
  const maxUnflushed = settings.maxUnflushedBytes
  /** Bytes a write may add before the exact backpressure total is fetched again. */
  const backpressureSlack = Math.max(1, Math.floor(maxUnflushed / 64))
  /** Bytes appended between two size-trigger checks of the WAL buffer. */
  const triggerSlack = Math.max(1, Math.min(64 * 1024, Math.floor(l0SstSizeBytes / 64)))
  let bytesSinceBackpressureCheck = Number.POSITIVE_INFINITY
  let bytesSinceTriggerCheck = 0

  const walClosed = (e: ClosedError) => deps.onWalClosed(e)

  // ---------------------------------------------------------------- backpressure

  const waitForProgress: Effect.Effect<void> = Effect.gen(function*() {
    const oldestImm = state.imms[state.imms.length - 1]
    const oldestWal = yield* wal.watcherForOldestUnflushedWal()
    const waits: Array<Effect.Effect<void>> = []
    if (oldestImm !== undefined) waits.push(Effect.ignore(Deferred.await(oldestImm.flushed)))
    if (Option.isSome(oldestWal)) waits.push(Effect.ignore(oldestWal.value.await))
    if (waits.length === 0) {
      // Nothing in flight: written WALs may only be waiting for their release.
      yield* wal.trackLastAppliedSeq(seqs.committed)
      return yield* Effect.sleep(10)
    }
    waits.push(Effect.sleep(BACKPRESSURE_RECHECK_MS))
    yield* Effect.raceAll(waits)
  })

  const backpressure: Effect.Effect<void, DbError> = Effect.gen(function*() {
    while (true) {
      if (state.closeError !== undefined) return yield* state.closeError
      const total = (yield* wal.estimatedBytes) + state.immBytes
      if (total < maxUnflushed) {
        bytesSinceBackpressureCheck = 0
        return
      }
      yield* waitForProgress
    }
  })

  /** `commit` behind the backpressure check, which costs nothing while the exact total is not needed. */
  const gate = <A>(bytes: number, commit: Effect.Effect<A, DbError>): Effect.Effect<A, DbError> => {
    bytesSinceBackpressureCheck += bytes
    if (state.immBytes < maxUnflushed && bytesSinceBackpressureCheck < backpressureSlack) return commit
    return Effect.andThen(backpressure, commit)
  }

  // ---------------------------------------------------------------- the critical section

  /** Inserts committed rows into the active memtable and freezes it when full (synchronous). */
  const apply = (rows: ReadonlyArray<RowEntry>, seq: number, ts: number): void => {
    const memtable = state.memtable
    for (let i = 0; i < rows.length; i++) memtable.put(rows[i]!)
    seqs.committed = seq
    state.trackSeq(seq, ts)
    const size = memtable.estimateEncodedSizeCompacted(sizeOptions)
    if (size >= l0SstSizeBytes || state.recentFlushedWalId - state.lastFreezeWalId >= MAX_WALS_PER_MEMTABLE) {
      state.freezeMemtable(size)
      deps.onFreeze()
    }
  }

  const commitAt = (
    build: (seq: number, ts: number) => ReadonlyArray<RowEntry>,
    ts: number
  ): Effect.Effect<Committed, DbError> => {
    const seq = ++seqs.lastSeq
    const rows = build(seq, ts)
    return wal.append(rows).pipe(
      Effect.map((watcher): Committed => {
        apply(rows, seq, ts)
        return { watcher, handle: { seq, createTs: ts } }
      }),
      Effect.catch(walClosed)
    )
  }

  const critical = (build: (seq: number, ts: number) => ReadonlyArray<RowEntry>): Effect.Effect<Committed, DbError> =>
    Effect.suspend(() => {
      if (state.closeError !== undefined) return Effect.fail(state.closeError)
      const ts = state.clock.tickSync()
      if (ts !== undefined) return commitAt(build, ts)
      return Effect.flatMap(state.clock.now, (now) => commitAt(build, now))
    })

  const handleOf = (c: Committed): WriteHandle => c.handle

  /**
   * Validated rows to commit: backpressure, the critical section, then (outside the lock) a size-trigger
   * check every `triggerSlack` bytes and the durability wait. Written WALs are released by the WAL
   * monitor after each flush (`trackLastAppliedSeq`), not per write.
   */
  const commit = (
    bytes: number,
    awaitDurable: boolean,
    build: (seq: number, ts: number) => ReadonlyArray<RowEntry>
  ): Effect.Effect<WriteHandle, DbError> => {
    const locked = lock.run(critical(build))
    const gated = gate(bytes, locked)
    bytesSinceTriggerCheck += bytes
    const trigger = bytesSinceTriggerCheck >= triggerSlack
    if (trigger) bytesSinceTriggerCheck = 0
    if (!trigger && !awaitDurable) return Effect.map(gated, handleOf)
    return Effect.flatMap(gated, (committed) => {
      let after: Effect.Effect<unknown, ClosedError> = trigger ? wal.maybeTriggerFlush() : Effect.void
      if (awaitDurable) after = Effect.andThen(after, wal.awaitDurable(committed.watcher))
      return after.pipe(Effect.as(committed.handle), Effect.catch(walClosed))
    })
  }

  // ---------------------------------------------------------------- the operations

  const invalid = (message: string) => Effect.fail(new InvalidError({ message }))

  const put = (key: Uint8Array, value: Uint8Array, options?: PutOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const ttl = options?.ttl
      const problem = putProblem(key, value, ttl)
      if (problem !== undefined) return invalid(problem)
      // Copies: the caller may reuse its buffers once the call returns.
      const k = slab.copy(key)
      const v = slab.copy(value)
      const bytes = k.length + v.length + 24
      return commit(bytes, options?.awaitDurable ?? true, (seq, ts) => [
        makeValue(k, v, seq, ts, expireAt(ttl, ts, defaultTtlMs))
      ])
    })

  const del = (key: Uint8Array, options?: WriteOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const problem = keyProblem(key)
      if (problem !== undefined) return invalid(problem)
      const k = slab.copy(key)
      return commit(k.length + 16, options?.awaitDurable ?? true, (seq, ts) => [makeTombstone(k, seq, ts)])
    })

  const write = (batch: WriteBatch, options?: WriteOptions): Effect.Effect<WriteHandle, DbError> =>
    Effect.suspend(() => {
      const ops = batch?.ops
      if (!Array.isArray(ops)) return invalid("batch must be a WriteBatch")
      if (ops.length === 0) return invalid("write batch is empty")
      for (const op of ops) {
        const problem = op._tag === "put" ? putProblem(op.key, op.value, op.ttl) : keyProblem(op.key)
        if (problem !== undefined) return invalid(problem)
      }
      const chosen = latestOpPerKey(ops, slab)
      let bytes = 0
      for (const op of chosen) bytes += op.key.length + (op._tag === "put" ? op.value.length : 0) + 24
      return commit(bytes, options?.awaitDurable ?? true, (seq, ts) =>
        chosen.map((op) =>
          op._tag === "put"
            ? makeValue(op.key, op.value, seq, ts, expireAt(op.ttl, ts, defaultTtlMs))
            : makeTombstone(op.key, seq, ts)
        ))
    })

  return { put, delete: del, write, lock }
}

/**
 * The ops that survive in a batch, in key order, with copied bytes: for each key the LAST op wins (a put
 * or delete replaces earlier ops on the same key, as SlateDB's `WriteBatch`).
 */
const latestOpPerKey = (ops: ReadonlyArray<BatchOp>, slab: ByteSlab): Array<BatchOp> => {
  const order = ops.map((_, i) => i)
  order.sort((a, b) => compareKeys(ops[a]!.key, ops[b]!.key) || a - b)
  const out: Array<BatchOp> = []
  for (let i = 0; i < order.length; i++) {
    const op = ops[order[i]!]!
    const next = order[i + 1]
    if (next !== undefined && compareKeys(ops[next]!.key, op.key) === 0) continue
    out.push(
      op._tag === "put"
        ? { _tag: "put", key: slab.copy(op.key), value: slab.copy(op.value), ttl: op.ttl }
        : { _tag: "delete", key: slab.copy(op.key) }
    )
  }
  return out
}
