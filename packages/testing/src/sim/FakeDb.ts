/**
 * A deliberately small implementation of the `Db` contract, used to test the simulator itself (and as a
 * target when the real engine is unavailable).
 *
 * It keeps every version of every key in memory and persists writes as WAL objects (`<path>/wal/<id>`,
 * JSON, create-only), exactly the durability story of SlateDB without the LSM tree:
 * - a write gets the next seq and is visible at once ("memory" reads see it);
 * - a flush (on the `flushIntervalMs` timer, at once for durable writes in `"eager"` mode, or on `flush()`)
 *   writes everything pending as the next WAL object; when the PUT returns, those writes are durable
 *   ("remote" reads see them, `awaitDurable` writers are answered);
 * - opening lists and replays every WAL in id order, then fences older writers by writing an empty WAL at
 *   the next id (create-only): an older writer's next WAL write then hits `ObjectAlreadyExists` and it
 *   closes as fenced; any other store failure while flushing closes it as fatal.
 *
 * Merge operands fold at once with the simulation's operator (Merges.ts): a merge is written as the value
 * it makes (TTLs are ignored: nothing ever expires, which the model allows).
 *
 * It honours `TestSwitches` (the same switches the real engine reads), and has bugs of its own (`FakeDbBugs`)
 * for the model's unit tests: each must be caught by the simulator. FakeDbWal.ts holds its state and its
 * WAL (replay, fence, flush, close); this file its writes, reads and the `Db` service.
 */
import { Clock, Deferred, Effect, Scope, Semaphore, Stream } from "effect"
import {
  ClosedError,
  type Db,
  type DbError,
  type DbScanOptions,
  type DbStatus,
  InvalidError,
  type KeyRange,
  type KeyValue,
  ObjectStore,
  type ObjectStoreError,
  type ReadOptions,
  type Settings,
  type WriteBatch,
  type WriteHandle,
  withRetries
} from "@shale/core/internal"
import {
  beginTransaction,
  keyId,
  type KeySet,
  makeSnapshot,
  runTransaction,
  SnapshotRegistry,
  TestSwitches,
  type TestSwitchesShape,
  TransactionError,
  TransactionManager,
  type TxnHost,
  type TxnState
} from "@shale/core/internal"
import { closeWith, type FakeDbBugs, FakeState, makeFlush, replayAndFence, type Version } from "./FakeDbWal.ts"
import { foldBytes, simMergeOperator } from "./Merges.ts"
import { fromHex, toHex } from "./SimBytes.ts"

export type { FakeDbBugs } from "./FakeDbWal.ts"

/** One entry of a write: key, value (undefined: delete), whether the value is a merge operand. */
type Entry = readonly [Uint8Array, Uint8Array | undefined, boolean?]

const batchEntries = (batch: WriteBatch): Array<Entry> =>
  batch.ops.map((op) => [op.key, op._tag === "delete" ? undefined : op.value, op._tag === "merge"] as const)

const compareHex = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const inRange = (range: KeyRange, hex: string): boolean => {
  if (range.start !== undefined) {
    const s = toHex(range.start)
    const c = compareHex(hex, s)
    if (c < 0 || (c === 0 && range.startInclusive === false)) return false
  }
  if (range.end !== undefined) {
    const e = toHex(range.end)
    const c = compareHex(hex, e)
    if (c > 0 || (c === 0 && range.endInclusive !== true)) return false
  }
  return true
}

/** The end of a prefix range: the prefix plus one, with carry; undefined = unbounded. */
export const prefixEnd = (prefix: Uint8Array): Uint8Array | undefined => {
  const out = prefix.slice()
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++
      return out.subarray(0, i + 1)
    }
  }
  return undefined
}

export const prefixRange = (prefix: Uint8Array): KeyRange => {
  const end = prefixEnd(prefix)
  return end === undefined ? { start: prefix } : { start: prefix, end }
}

/** The fake's writes, `txn` a transaction's commit (conflicts checked as the engine does). */
const makeWrite = (
  state: FakeState,
  settings: Settings,
  switches: TestSwitchesShape,
  txns: TransactionManager,
  flushOnce: Effect.Effect<void, ClosedError>,
  scope: Scope.Scope
) =>
(
  entries: ReadonlyArray<Entry>,
  awaitDurable: boolean,
  txn: TxnState | undefined
): Effect.Effect<WriteHandle, DbError | TransactionError> =>
  Effect.gen(function*() {
    yield* checkOpen(state)
    if (entries.length === 0) return yield* new InvalidError({ message: "empty write batch" })
    for (const [k] of entries) if (k.length === 0) return yield* new InvalidError({ message: "empty key" })
    const dedup = new Map<string, Uint8Array | undefined>()
    const merged = new Set<string>()
    for (const [k, v, merge] of entries) {
      const hk = toHex(k)
      if (merge === true && dedup.has(hk)) {
        dedup.set(hk, foldBytes(dedup.get(hk), v!))
        continue
      }
      dedup.delete(hk)
      dedup.set(hk, v)
      if (merge === true) merged.add(hk)
      else merged.delete(hk)
    }
    const ts = yield* Clock.currentTimeMillis
    if (txn !== undefined && txns.hasConflict(txn)) {
      txns.drop(txn)
      return yield* new TransactionError({ message: "transaction conflict" })
    }
    const seq = ++state.lastSeq
    const ops: Array<readonly [string, string | null]> = []
    const keys: KeySet = new Map()
    for (const [k, operand] of [...dedup].sort(([a], [b]) => compareHex(a, b))) {
      const v = merged.has(k) ? foldBytes(state.versions.get(k)?.at(-1)?.value, operand!) : operand
      state.apply(seq, ts, k, v)
      ops.push([k, v === undefined ? null : toHex(v)])
      if (txns.activeCount !== 0 && txn === undefined) keys.set(keyId(fromHex(k)), fromHex(k))
    }
    if (txns.activeCount !== 0) txns.recordCommitted(seq, txn?.writeKeys ?? keys, txn)
    state.pending.push({ seq, ts, ops })
    // As the engine does: a write that finds a flush owed (the oldest pending write has waited an
    // interval) starts it and yields, so that a loop of writes that never yields cannot starve it.
    const interval = settings.flushIntervalMs
    if (!awaitDurable && interval !== null && !switches.neverYieldForFlush && state.pending[0]!.ts + interval <= ts) {
      yield* Effect.forkIn(Effect.ignore(flushOnce), scope)
      yield* Effect.yieldNow
    }
    if (awaitDurable) {
      const done = yield* Deferred.make<void, ClosedError>()
      state.waiters.push({ seq, done })
      if (settings.durableFlush === "eager" || settings.flushIntervalMs === null) {
        yield* Effect.forkIn(Effect.ignore(flushOnce), scope)
      }
      yield* Deferred.await(done)
    }
    return { seq, createTs: ts }
  })

const checkOpen = (state: FakeState): Effect.Effect<void, ClosedError> =>
  Effect.suspend(() => (state.closed === undefined ? Effect.void : Effect.fail(state.closed)))

const toKeyValue = (key: string, v: Version): KeyValue => ({
  key: fromHex(key),
  value: v.value!,
  seq: v.seq,
  createTs: v.createTs,
  expireTs: undefined
})

/** The fake's reads: the newest version at or below the read's seq ("remote": the durable one). */
const makeReads = (state: FakeState, bugs: FakeDbBugs) => {
  const versionAt = (key: string, maxSeq: number): Version | undefined => {
    const vs = state.versions.get(key)
    if (vs === undefined) return undefined
    for (let i = vs.length - 1; i >= 0; i--) {
      const v = vs[i]!
      if (v.seq > maxSeq) continue
      if (bugs.hideUndurable && v.seq > state.durable && maxSeq === state.lastSeq) continue
      return v
    }
    return undefined
  }

  const capped = (options: ReadOptions | undefined, cap: number | undefined) =>
    Math.min(options?.durability === "remote" ? state.durable : state.lastSeq, cap ?? state.lastSeq)

  const getKeyValue = (key: Uint8Array, options?: ReadOptions, cap?: number): Effect.Effect<KeyValue | undefined, DbError> =>
    Effect.gen(function*() {
      yield* checkOpen(state)
      if (key.length === 0) return yield* new InvalidError({ message: "empty key" })
      const hk = toHex(key)
      const v = versionAt(hk, capped(options, cap))
      return v === undefined || v.value === undefined ? undefined : toKeyValue(hk, v)
    })

  const scan = (range: KeyRange, options?: DbScanOptions, cap?: number): Stream.Stream<KeyValue, DbError> =>
    Stream.unwrap(Effect.gen(function*() {
      yield* checkOpen(state)
      const maxSeq = capped(options, cap)
      const keys = [...state.versions.keys()].filter((k) => inRange(range, k)).sort(compareHex)
      if (options?.order === "desc") keys.reverse()
      const rows: Array<KeyValue> = []
      for (const k of keys) {
        const v = versionAt(k, maxSeq)
        if (v !== undefined && v.value !== undefined) rows.push(toKeyValue(k, v))
      }
      return Stream.fromIterable(rows)
    }))

  return { getKeyValue, scan }
}

const statusOf = (state: FakeState): DbStatus => ({
  durableSeq: state.durable,
  lastCommittedSeq: state.lastSeq,
  manifestId: 0,
  writerEpoch: 0,
  nextWalId: state.nextWalId,
  l0Ssts: 0,
  sortedRuns: 0,
  l0Stalled: false,
  compactor: undefined,
  garbageCollector: undefined,
  immutableMemtables: 0,
  closeReason: state.closed?.reason
})

/** Opens the fake over the `ObjectStore` in context; it lives until the scope closes. */
export const openFakeDb: (
  options: { readonly path: string; readonly settings: Settings; readonly bugs?: FakeDbBugs }
) => Effect.Effect<Db["Service"], ObjectStoreError, ObjectStore | Scope.Scope> = Effect.fnUntraced(function*(
  options: { readonly path: string; readonly settings: Settings; readonly bugs?: FakeDbBugs }
) {
  const { path, settings } = options
  const bugs = options.bugs ?? {}
  const switches = yield* TestSwitches
  const store = withRetries(yield* ObjectStore)
  const scope = yield* Scope.Scope
  const state = new FakeState()
  yield* replayAndFence(store, path, state, switches, bugs)
  const flushOnce = makeFlush(store, path, state, switches, yield* Semaphore.make(1))

  if (settings.flushIntervalMs !== null) {
    const interval = settings.flushIntervalMs
    yield* Effect.forkIn(
      Effect.gen(function*() {
        while (state.closed === undefined) {
          yield* Effect.sleep(interval)
          yield* Effect.ignore(flushOnce)
        }
      }),
      scope
    )
  }

  // Snapshots and transactions: the engine's own code (Transaction.ts) over this fake's reads and writes.
  const txns = new TransactionManager({ ignoreConflicts: switches.txnIgnoresConflicts })
  const write = makeWrite(state, settings, switches, txns, flushOnce, scope)
  const writeEntries = (entries: ReadonlyArray<Entry>, awaitDurable: boolean) =>
    write(entries, awaitDurable, undefined) as Effect.Effect<WriteHandle, DbError>
  const { getKeyValue, scan } = makeReads(state, bugs)

  const close: Effect.Effect<void, DbError> = Effect.gen(function*() {
    yield* checkOpen(state)
    yield* flushOnce
    yield* closeWith(state, new ClosedError({ reason: "clean", message: "closed" }))
  })
  yield* Effect.addFinalizer(() => Effect.ignore(state.closed === undefined ? close : Effect.void))

  const host: TxnHost = {
    checkOpen: checkOpen(state),
    committedSeq: () => state.lastSeq,
    getKeyValueAt: (key, seq, opts) => getKeyValue(key, opts, seq),
    scanAt: (range, seq, opts) => scan(range, opts, seq),
    commit: (batch, opts, txn) => write(batchEntries(batch), opts?.awaitDurable ?? true, txn),
    txns,
    snapshots: new SnapshotRegistry(),
    mergeOperator: simMergeOperator()
  }

  const db: Db["Service"] = {
    put: (key, value, opts) => writeEntries([[key, value]], opts?.awaitDurable ?? true),
    delete: (key, opts) => writeEntries([[key, undefined]], opts?.awaitDurable ?? true),
    write: (batch: WriteBatch, opts) => writeEntries(batchEntries(batch), opts?.awaitDurable ?? true),
    merge: (key, operand, opts) => writeEntries([[key, operand, true]], opts?.awaitDurable ?? true),
    get: (key, opts) => Effect.map(getKeyValue(key, opts), (kv) => kv?.value),
    getKeyValue,
    // The fake keeps no manifest: there is nothing a checkpoint could pin.
    createCheckpoint: () => Effect.fail(new InvalidError({ message: "the simulator's FakeDb has no checkpoints" })),
    // Nor WAL SSTs a change stream could read.
    changes: () => Stream.fail(new InvalidError({ message: "the simulator's FakeDb has no change stream" })),
    scan,
    scanPrefix: (prefix, opts) => scan(prefixRange(prefix), opts),
    flush: () => flushOnce,
    snapshot: () => makeSnapshot(host),
    begin: (opts) => beginTransaction(host, opts),
    transaction: (body, opts) => runTransaction(host, body, opts),
    status: Effect.sync(() => statusOf(state)),
    close
  }
  return db
})
