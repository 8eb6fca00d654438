/**
 * Snapshots and transactions (SlateDB's `db_snapshot.rs` and `db_transaction.rs`; design and semantics:
 * docs/design/transactions.md).
 *
 * - A `Snapshot` reads the database as of one seq (the last committed seq when it was taken), for as long
 *   as its scope is open. While it is open, flushes keep the versions it reads and the manifest's
 *   `recent_snapshot_min_seq` tells compaction to keep them too; once its scope closes, reads fail with
 *   `InvalidError` and the next L0 flush lets compaction drop what only it needed.
 * - A `Transaction` reads a snapshot (its `seq`) with its own writes laid over it (a write set of puts and
 *   deletes; a key it wrote reads as written, with `seq` = `Number.MAX_SAFE_INTEGER` as SlateDB's
 *   `u64::MAX`, create time 0, no expiry), and commits them as one atomic batch after a conflict check
 *   (TransactionManager.ts): `TransactionError` on a conflict, nothing written. A scan sees the write set
 *   as it was when `scan` was called (the write set and how reads see it: TransactionWrites.ts). Under
 *   `serializable` every `get` records its key and every scan its range (first to last key returned) for
 *   the read-write check; `markRead` records keys under both levels; `unmarkWrite` keeps written keys out
 *   of conflict checks (theirs and others').
 * - A transaction is over after `commit` (whatever its outcome) or `rollback`, or when its scope closes
 *   (a rollback); every later call fails with `InvalidError("transaction has already been completed")`,
 *   as SlateDB's binding does.
 * - `runTransaction` (`Db.transaction`) runs a function of a transaction, commits, and runs it again on a
 *   conflict under a `Schedule`.
 *
 * Everything here stands on a `TxnHost` (the engine's read path at a seq and its writer's transactional
 * commit), so the simulator's fake database shares this code.
 */
import { Effect, Random, Schedule, type Scope, Stream } from "effect"
import { type DbError, InvalidError, TransactionError } from "../errors.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import {
  type KeyRange,
  type KeyValue,
  type ReadOptions,
  type ScanOptions,
  type Ttl,
  WriteBatch,
  type WriteHandle,
  type WriteOptions
} from "./DbApi.ts"
import { prefixRange } from "./Reader.ts"
import { fromOwn, overlay, ownRow, WriteSet } from "./TransactionWrites.ts"
import { type IsolationLevel, keyId, type SnapshotRegistry, type TransactionManager, type TxnState } from "./TransactionManager.ts"
import { keyProblem, putOptionsProblem, rangeProblem, readOptionsProblem, scanOptionsProblem, valueProblem } from "./Validation.ts"

export type { IsolationLevel } from "./TransactionManager.ts"
export { OWN_WRITE_SEQ } from "./TransactionWrites.ts"

/** Reads of the database as of a fixed seq. */
export interface SnapshotReads {
  /** The seq it reads at: versions written later are not seen. */
  readonly seq: number
  readonly get: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<Uint8Array | undefined, DbError>
  readonly getKeyValue: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  readonly scan: (range: KeyRange, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly scanPrefix: (prefix: Uint8Array, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
}

/** `Db.snapshot()`: a consistent view of the database while its scope is open. */
export interface Snapshot extends SnapshotReads {}

/** `Db.begin(options)`. */
export interface TransactionOptions {
  /** `"snapshot"` (default, as SlateDB): write-write conflicts. `"serializable"`: read-write ones too. */
  readonly isolation?: IsolationLevel
}

/** `Db.transaction(body, options)`: how to begin, commit and retry. */
export interface RunTransactionOptions extends TransactionOptions, WriteOptions {
  /** When to run the body again after a conflict (default: up to 10 more times, at once). */
  readonly retry?: Schedule.Schedule<unknown, TransactionError>
}

/** An open transaction (`Db.begin`): reads over its snapshot and its own writes, then one atomic commit. */
export interface Transaction extends SnapshotReads {
  /** A UUID (SlateDB's `id`). */
  readonly id: string
  readonly isolation: IsolationLevel
  /** Whether it can still be used (not committed, rolled back or released). */
  readonly isActive: boolean
  readonly put: (key: Uint8Array, value: Uint8Array, options?: { readonly ttl?: Ttl }) => Effect.Effect<void, DbError>
  readonly delete: (key: Uint8Array) => Effect.Effect<void, DbError>
  /**
   * A merge operand for `key` (SlateDB's `Transaction::merge`): written with the commit; the transaction's
   * own reads fold its operands over its last put or delete of the key, else over the snapshot's value.
   */
  readonly merge: (key: Uint8Array, operand: Uint8Array, options?: { readonly ttl?: Ttl }) => Effect.Effect<void, DbError>
  /** Records keys as read (for the read-write check, under both isolation levels). */
  readonly markRead: (keys: Iterable<Uint8Array>) => Effect.Effect<void, DbError>
  /** Keeps written keys out of conflict checks (theirs and others'); they are still written. */
  readonly unmarkWrite: (keys: Iterable<Uint8Array>) => Effect.Effect<void, DbError>
  /** Writes the write set atomically: its handle, or undefined when the write set is empty. */
  readonly commit: (options?: WriteOptions) => Effect.Effect<WriteHandle | undefined, DbError | TransactionError>
  readonly rollback: Effect.Effect<void, DbError>
}

/** What snapshots and transactions need from a database. */
export interface TxnHost {
  readonly checkOpen: Effect.Effect<void, DbError>
  readonly committedSeq: () => number
  readonly getKeyValueAt: (key: Uint8Array, seq: number, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  readonly scanAt: (range: KeyRange, seq: number, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  /** Commits `batch` after checking `txn` for conflicts, in the writer's critical section. */
  readonly commit: (batch: WriteBatch, options: WriteOptions | undefined, txn: TxnState) => Effect.Effect<WriteHandle, DbError | TransactionError>
  readonly txns: TransactionManager
  readonly snapshots: SnapshotRegistry
  /** Folds the transaction's own operands on its reads; without one such a read fails (as the database's). */
  readonly mergeOperator?: MergeOperator | undefined
}

/** A version-4 UUID from the Effect `Random` service, drawn synchronously (one per transaction). */
const transactionId = (random: Random.Random): string => {
  let hex = ""
  for (let i = 0; i < 16; i++) {
    let byte = Math.floor(random.nextDoubleUnsafe() * 256)
    if (i === 6) byte = (byte & 0x0f) | 0x40
    if (i === 8) byte = (byte & 0x3f) | 0x80
    hex += byte.toString(16).padStart(2, "0")
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const invalid = (message: string) => Effect.fail(new InvalidError({ message }))

/** Snapshot-style reads at `seq`, each first passing `guard` (closed, released, completed). */
const readsAt = (host: TxnHost, seq: number, guard: () => InvalidError | undefined): SnapshotReads => {
  const getKeyValue = (key: Uint8Array, options?: ReadOptions) =>
    Effect.suspend(() => {
      const e = guard()
      return e !== undefined ? Effect.fail(e) : host.getKeyValueAt(key, seq, options)
    })
  const scan = (range: KeyRange, options?: ScanOptions) =>
    Stream.suspend(() => {
      const e = guard()
      return e !== undefined ? Stream.fail(e) : host.scanAt(range, seq, options)
    })
  return {
    seq,
    getKeyValue,
    get: (key, options) => Effect.map(getKeyValue(key, options), (kv) => kv?.value),
    scan,
    scanPrefix: (prefix, options) => scanPrefixWith(scan, prefix, options)
  }
}

const scanPrefixWith = (
  scan: (range: KeyRange, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>,
  prefix: Uint8Array,
  options: ScanOptions | undefined
): Stream.Stream<KeyValue, DbError> =>
  prefix instanceof Uint8Array ? scan(prefixRange(prefix), options) : Stream.fail(new InvalidError({ message: "prefix must be a Uint8Array" }))

/** `Db.snapshot()`: registers the last committed seq until the scope closes. */
export const makeSnapshot = (host: TxnHost): Effect.Effect<Snapshot, DbError, Scope.Scope> =>
  Effect.andThen(
    host.checkOpen,
    Effect.acquireRelease(
      Effect.sync(() => {
        const seq = host.committedSeq()
        return { seq, id: host.snapshots.register(seq), released: false }
      }),
      (s) => Effect.sync(() => {
        s.released = true
        host.snapshots.release(s.id)
      })
    ).pipe(Effect.map((s) =>
      readsAt(host, s.seq, () => (s.released ? new InvalidError({ message: "snapshot has been released" }) : undefined))
    ))
  )

const completed = () => new InvalidError({ message: "transaction has already been completed" })

const putProblem = (key: Uint8Array, value: Uint8Array, options: { readonly ttl?: Ttl } | undefined) =>
  keyProblem(key) ?? valueProblem(value) ?? (options === undefined ? undefined : putOptionsProblem(options))

/** `Db.begin(options)`: a transaction at the last committed seq, rolled back if its scope closes first. */
export const beginTransaction = (host: TxnHost, options?: TransactionOptions): Effect.Effect<Transaction, DbError, Scope.Scope> =>
  Effect.gen(function*() {
    const isolation = options?.isolation ?? "snapshot"
    if (isolation !== "snapshot" && isolation !== "serializable") {
      return yield* new InvalidError({ message: `invalid isolation level ${JSON.stringify(isolation)}` })
    }
    yield* host.checkOpen
    const id = transactionId(yield* Random.Random)
    const state = yield* Effect.acquireRelease(
      Effect.sync(() => host.txns.begin(id, host.committedSeq(), isolation)),
      (s) => Effect.sync(() => host.txns.drop(s))
    )
    return makeTransaction(host, state)
  })

const makeTransaction = (host: TxnHost, state: TxnState): Transaction => {
  let done = false
  const writes = new WriteSet()
  const serializable = state.isolation === "serializable"
  const guard = () => (done ? completed() : undefined)
  const snapshot = readsAt(host, state.startedSeq, guard)

  const getKeyValue = (key: Uint8Array, options?: ReadOptions): Effect.Effect<KeyValue | undefined, DbError> =>
    Effect.suspend(() => {
      if (done) return Effect.fail(completed())
      const problem = keyProblem(key) ?? (options === undefined ? undefined : readOptionsProblem(options))
      if (problem !== undefined) return invalid(problem)
      const id = keyId(key)
      if (serializable) state.readKeys.set(id, key.slice())
      const own = writes.ownOf(id)
      if (own === undefined) return snapshot.getKeyValue(key, options)
      if (own.base === undefined) return Effect.flatMap(snapshot.getKeyValue(key, options), (kv) => fromOwn(ownRow(own, kv, host.mergeOperator)))
      return fromOwn(ownRow(own, undefined, host.mergeOperator))
    })

  const scan = (range: KeyRange, options?: ScanOptions): Stream.Stream<KeyValue, DbError> => {
    if (done) return Stream.fail(completed())
    const problem = rangeProblem(range) ?? scanOptionsProblem(options)
    if (problem !== undefined) return Stream.fail(new InvalidError({ message: problem }))
    const descending = options?.order === "desc"
    const emit = serializable ? trackRange(state) : undefined
    return overlay(snapshot.scan(range, options), writes.inRange(range, descending), descending, emit, host.mergeOperator)
  }

  const withOpen = (f: () => string | undefined): Effect.Effect<void, DbError> =>
    Effect.suspend(() => {
      if (done) return Effect.fail(completed())
      const problem = f()
      return problem === undefined ? Effect.void : invalid(problem)
    })

  const commit = (options?: WriteOptions): Effect.Effect<WriteHandle | undefined, DbError | TransactionError> =>
    Effect.suspend(() => {
      if (done) return Effect.fail(completed())
      done = true
      return commitWriteSet(host, state, writes, options)
    })

  return {
    id: state.id,
    seq: state.startedSeq,
    isolation: state.isolation,
    get isActive() {
      return !done && host.txns.isActive(state)
    },
    getKeyValue,
    get: (key, options) => Effect.map(getKeyValue(key, options), (kv) => kv?.value),
    scan,
    scanPrefix: (prefix, options) => scanPrefixWith(scan, prefix, options),
    put: (key, value, options) =>
      withOpen(() => putProblem(key, value, options) ?? writes.record({ _tag: "put", key: key.slice(), value: value.slice(), ttl: options?.ttl ?? "default" })),
    delete: (key) => withOpen(() => keyProblem(key) ?? writes.record({ _tag: "delete", key: key.slice() })),
    merge: (key, operand, options) =>
      withOpen(() => putProblem(key, operand, options) ?? writes.record({ _tag: "merge", key: key.slice(), value: operand.slice(), ttl: options?.ttl ?? "default" })),
    markRead: (keys) => withOpen(() => eachKey(keys, (key) => state.readKeys.set(keyId(key), key.slice()))),
    unmarkWrite: (keys) => withOpen(() => eachKey(keys, (key) => writes.unmark(keyId(key)))),
    commit,
    rollback: Effect.suspend(() => {
      if (done) return Effect.fail(completed())
      done = true
      host.txns.drop(state)
      return Effect.void
    })
  }
}

/**
 * Calls `f` with each of `keys`: the first problem, or undefined. Only the type is checked: SlateDB's
 * `mark_read` and `unmark_write` take any bytes (an empty key matches no write).
 */
const eachKey = (keys: Iterable<Uint8Array>, f: (key: Uint8Array) => void): string | undefined => {
  for (const key of keys) {
    if (!(key instanceof Uint8Array)) return "keys must be Uint8Arrays"
    f(key)
  }
  return undefined
}

/**
 * A transaction's commit: its write set (TransactionWrites.ts) as one batch, checked for conflicts in the
 * writer's critical section with its tracked writes. An empty write set writes nothing but still fails if
 * what the transaction read changed (serializable, or `markRead`).
 */
const commitWriteSet = (
  host: TxnHost,
  state: TxnState,
  writes: WriteSet,
  options: WriteOptions | undefined
): Effect.Effect<WriteHandle | undefined, DbError | TransactionError> => {
  if (writes.isEmpty) {
    const conflict = host.txns.hasConflict(state)
    host.txns.drop(state)
    return conflict ? Effect.fail(new TransactionError({ message: "transaction conflict" })) : Effect.succeed(undefined)
  }
  state.writeKeys = writes.tracked()
  return host.commit(writes.batch(), options, state).pipe(Effect.ensuring(Effect.sync(() => host.txns.drop(state))))
}

/** A scan's range tracker: the first and last key it returned, registered with the transaction at the first. */
const trackRange = (state: TxnState) => {
  let range: { first: Uint8Array; last: Uint8Array } | undefined
  return (key: Uint8Array) => {
    if (range === undefined) {
      range = { first: key, last: key }
      state.readRanges.push(range)
    } else if (compareKeys(key, range.first) < 0) range.first = key
    else if (compareKeys(key, range.last) > 0) range.last = key
  }
}

/** Retries of `Db.transaction` when none are given: 10 more attempts, at once. */
export const DEFAULT_RETRY: Schedule.Schedule<unknown, TransactionError> = Schedule.recurs(10)

type Attempt<A, E> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: E }

/**
 * `Db.transaction(body, options)`: begins a transaction, runs `body` with it, commits; a conflict (at
 * commit) runs it all again under `options.retry`. A failure of `body` rolls the transaction back and is
 * not retried. Each attempt is a transaction of its own, rolled back unless it committed.
 */
export const runTransaction = <A, E, R>(
  host: TxnHost,
  body: (txn: Transaction) => Effect.Effect<A, E, R>,
  options?: RunTransactionOptions
): Effect.Effect<A, E | DbError | TransactionError, R> => {
  const writeOptions: WriteOptions = options?.awaitDurable === undefined ? {} : { awaitDurable: options.awaitDurable }
  const once = Effect.scoped(Effect.gen(function*() {
    const txn = yield* beginTransaction(host, options)
    const value = yield* body(txn)
    yield* txn.commit(writeOptions)
    return value
  }))
  // Only conflicts reach the schedule; any other failure ends the loop as it is.
  const attempt: Effect.Effect<Attempt<A, E | DbError>, TransactionError, R> = once.pipe(
    Effect.map((value): Attempt<A, E | DbError> => ({ ok: true, value })),
    Effect.catch((e) =>
      e instanceof TransactionError ? Effect.fail(e) : Effect.succeed<Attempt<A, E | DbError>>({ ok: false, error: e as E | DbError })
    )
  )
  return Effect.retry(attempt, options?.retry ?? DEFAULT_RETRY).pipe(
    Effect.flatMap((r) => (r.ok ? Effect.succeed(r.value) : Effect.fail(r.error)))
  )
}
