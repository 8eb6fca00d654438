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
 * for the model's unit tests: each must be caught by the simulator.
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
  TransactionError,
  TransactionManager,
  type TxnHost,
  type TxnState
} from "@shale/core/internal"
import { foldBytes, simMergeOperator } from "./Merges.ts"
import { fromHex, toHex } from "./SimBytes.ts"

/** One entry of a write: key, value (undefined: delete), whether the value is a merge operand. */
type Entry = readonly [Uint8Array, Uint8Array | undefined, boolean?]

const batchEntries = (batch: WriteBatch): Array<Entry> =>
  batch.ops.map((op) => [op.key, op._tag === "delete" ? undefined : op.value, op._tag === "merge"] as const)

/** Bugs of the fake, for proving the model catches them. */
export interface FakeDbBugs {
  /** Replay skips the row with this seq (an acknowledged durable write vanishes after a reopen). */
  readonly forgetSeqOnReplay?: number
  /** Replay applies only the first entry of each batch (a partial batch after a reopen). */
  readonly partialBatchReplay?: boolean
  /** Memory-level reads miss the newest version of a key whose write is not durable yet. */
  readonly hideUndurable?: boolean
}

interface Version {
  readonly seq: number
  readonly value: Uint8Array | undefined
  readonly createTs: number
}

interface WalRecord {
  readonly seq: number
  readonly ts: number
  /** [hex key, hex value | null] */
  readonly ops: ReadonlyArray<readonly [string, string | null]>
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

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

const walPath = (root: string, id: number) => `${root}/wal/${String(id).padStart(20, "0")}`

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

  const versions = new Map<string, Array<Version>>()
  let lastSeq = 0
  let durable = 0
  let closed: ClosedError | undefined
  let pending: Array<WalRecord> = []
  const waiters: Array<{ readonly seq: number; readonly done: Deferred.Deferred<void, ClosedError> }> = []
  const flushLock = yield* Semaphore.make(1)

  const apply = (seq: number, ts: number, key: string, value: Uint8Array | undefined) => {
    let vs = versions.get(key)
    if (vs === undefined) versions.set(key, (vs = []))
    vs.push({ seq, value, createTs: ts })
  }

  // ---- open: replay, then fence. If the fence id is taken (an older writer's WAL landed meanwhile),
  // list again, replay what appeared, and fence after it: every WAL below the fence is replayed.
  const readWal = (id: number) =>
    Effect.map(store.get(walPath(path, id)), (bytes) => {
      const text = decoder.decode(bytes)
      return text.length === 0 ? [] : text.split("\n").map((l) => JSON.parse(l) as WalRecord)
    })
  const replay = (records: ReadonlyArray<WalRecord>) => {
    for (const r of records) {
      if (r.seq === bugs.forgetSeqOnReplay) continue
      const ops = bugs.partialBatchReplay ? r.ops.slice(0, 1) : r.ops
      for (const [k, v] of ops) apply(r.seq, r.ts, k, v === null ? undefined : fromHex(v))
      if (r.seq > lastSeq) lastSeq = r.seq
    }
  }
  let replayedUpTo = 0
  let first = true
  let nextWalId = 1
  for (;;) {
    const listed = yield* store.list(`${path}/wal`).pipe(Stream.runCollect)
    const ids = listed
      .map((o) => Number(o.path.slice(o.path.lastIndexOf("/") + 1)))
      .filter((id) => id > replayedUpTo)
      .sort((a, b) => a - b)
    const records: Array<ReadonlyArray<WalRecord>> = []
    for (const id of ids) records.push(yield* readWal(id))
    let skip = -1
    if (first && switches.skipLastWalReplay) {
      for (let i = records.length - 1; i >= 0; i--) {
        if (records[i]!.length > 0) {
          skip = i
          break
        }
      }
    }
    first = false
    records.forEach((recs, i) => i === skip || replay(recs))
    replayedUpTo = ids.at(-1) ?? replayedUpTo
    const fenceId = replayedUpTo + 1
    const taken = yield* store.put(walPath(path, fenceId), new Uint8Array(0), { mode: "create" }).pipe(
      Effect.as(false),
      Effect.catchTag("ObjectAlreadyExists", () => Effect.succeed(true))
    )
    if (!taken) {
      nextWalId = fenceId + 1
      break
    }
  }
  durable = lastSeq

  // ---- closing
  const closeWith = (error: ClosedError) =>
    Effect.suspend(() => {
      if (closed !== undefined) return Effect.void
      closed = error
      const all = waiters.splice(0)
      return Effect.forEach(all, (w) => Deferred.fail(w.done, error), { discard: true })
    })

  const markDurable = (seq: number) =>
    Effect.suspend(() => {
      if (seq > durable) durable = seq
      const ready = waiters.filter((w) => w.seq <= durable)
      for (const w of ready) waiters.splice(waiters.indexOf(w), 1)
      return Effect.forEach(ready, (w) => Deferred.succeed(w.done, undefined), { discard: true })
    })

  // ---- flushing: one WAL object per flush, one flush at a time
  const flushOnce: Effect.Effect<void, ClosedError> = flushLock.withPermits(1)(Effect.gen(function*() {
    if (closed !== undefined) return yield* closed
    if (pending.length === 0) return
    const batch = pending
    pending = []
    const last = batch.at(-1)!.seq
    const id = nextWalId++
    const body = encoder.encode(batch.map((r) => JSON.stringify(r)).join("\n"))
    if (switches.ackBeforePut) yield* markDurable(last)
    const result = yield* Effect.result(store.put(walPath(path, id), body, { mode: "create" }))
    if (result._tag === "Failure") {
      const e = result.failure
      const error = e._tag === "ObjectAlreadyExists"
        ? new ClosedError({ reason: "fenced", message: "detected newer DB client", cause: e })
        : new ClosedError({ reason: "fatal", message: `WAL write failed: ${e.message}`, cause: e })
      yield* closeWith(error)
      return yield* error
    }
    yield* markDurable(last)
  }))

  if (settings.flushIntervalMs !== null) {
    const interval = settings.flushIntervalMs
    yield* Effect.forkIn(
      Effect.gen(function*() {
        while (closed === undefined) {
          yield* Effect.sleep(interval)
          yield* Effect.ignore(flushOnce)
        }
      }),
      scope
    )
  }

  // ---- writes
  const checkOpen = Effect.suspend(() => (closed === undefined ? Effect.void : Effect.fail(closed)))

  // Snapshots and transactions: the engine's own code (Transaction.ts) over this fake's reads and writes.
  const txns = new TransactionManager({ ignoreConflicts: switches.txnIgnoresConflicts })
  const snapshots = new SnapshotRegistry()

  const writeEntries = (
    entries: ReadonlyArray<Entry>,
    awaitDurable: boolean
  ): Effect.Effect<WriteHandle, DbError> => writeTxn(entries, awaitDurable, undefined) as Effect.Effect<WriteHandle, DbError>

  const writeTxn = (
    entries: ReadonlyArray<Entry>,
    awaitDurable: boolean,
    txn: TxnState | undefined
  ): Effect.Effect<WriteHandle, DbError | TransactionError> =>
    Effect.gen(function*() {
      yield* checkOpen
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
      const seq = ++lastSeq
      const ops: Array<readonly [string, string | null]> = []
      const keys: KeySet = new Map()
      for (const [k, operand] of [...dedup].sort(([a], [b]) => compareHex(a, b))) {
        const v = merged.has(k) ? foldBytes(versions.get(k)?.at(-1)?.value, operand!) : operand
        apply(seq, ts, k, v)
        ops.push([k, v === undefined ? null : toHex(v)])
        if (txns.activeCount !== 0 && txn === undefined) keys.set(keyId(fromHex(k)), fromHex(k))
      }
      if (txns.activeCount !== 0) txns.recordCommitted(seq, txn?.writeKeys ?? keys, txn)
      pending.push({ seq, ts, ops })
      // As the engine does: a write that finds a flush owed (the oldest pending write has waited an
      // interval) starts it and yields, so that a loop of writes that never yields cannot starve it.
      const interval = settings.flushIntervalMs
      if (!awaitDurable && interval !== null && !switches.neverYieldForFlush && pending[0]!.ts + interval <= ts) {
        yield* Effect.forkIn(Effect.ignore(flushOnce), scope)
        yield* Effect.yieldNow
      }
      if (awaitDurable) {
        const done = yield* Deferred.make<void, ClosedError>()
        waiters.push({ seq, done })
        if (settings.durableFlush === "eager" || settings.flushIntervalMs === null) {
          yield* Effect.forkIn(Effect.ignore(flushOnce), scope)
        }
        yield* Deferred.await(done)
      }
      return { seq, createTs: ts }
    })

  // ---- reads
  const visibleSeq = (options?: ReadOptions) => (options?.durability === "remote" ? durable : lastSeq)

  const versionAt = (key: string, maxSeq: number): Version | undefined => {
    const vs = versions.get(key)
    if (vs === undefined) return undefined
    for (let i = vs.length - 1; i >= 0; i--) {
      const v = vs[i]!
      if (v.seq > maxSeq) continue
      if (bugs.hideUndurable && v.seq > durable && maxSeq === lastSeq) continue
      return v
    }
    return undefined
  }

  const toKeyValue = (key: string, v: Version): KeyValue => ({
    key: fromHex(key),
    value: v.value!,
    seq: v.seq,
    createTs: v.createTs,
    expireTs: undefined
  })

  const capped = (options: ReadOptions | undefined, cap: number | undefined) => Math.min(visibleSeq(options), cap ?? lastSeq)

  const getKeyValue = (key: Uint8Array, options?: ReadOptions, cap?: number): Effect.Effect<KeyValue | undefined, DbError> =>
    Effect.gen(function*() {
      yield* checkOpen
      if (key.length === 0) return yield* new InvalidError({ message: "empty key" })
      const hk = toHex(key)
      const v = versionAt(hk, capped(options, cap))
      return v === undefined || v.value === undefined ? undefined : toKeyValue(hk, v)
    })

  const scan = (range: KeyRange, options?: DbScanOptions, cap?: number): Stream.Stream<KeyValue, DbError> =>
    Stream.unwrap(Effect.gen(function*() {
      yield* checkOpen
      const maxSeq = capped(options, cap)
      const keys = [...versions.keys()].filter((k) => inRange(range, k)).sort(compareHex)
      if (options?.order === "desc") keys.reverse()
      const rows: Array<KeyValue> = []
      for (const k of keys) {
        const v = versionAt(k, maxSeq)
        if (v !== undefined && v.value !== undefined) rows.push(toKeyValue(k, v))
      }
      return Stream.fromIterable(rows)
    }))

  const status: Effect.Effect<DbStatus> = Effect.sync(() => ({
    durableSeq: durable,
    lastCommittedSeq: lastSeq,
    manifestId: 0,
    writerEpoch: 0,
    nextWalId,
    l0Ssts: 0,
    sortedRuns: 0,
    l0Stalled: false,
    compactor: undefined,
    garbageCollector: undefined,
    immutableMemtables: 0,
    closeReason: closed?.reason
  }))

  const close: Effect.Effect<void, DbError> = Effect.gen(function*() {
    yield* checkOpen
    yield* flushOnce
    yield* closeWith(new ClosedError({ reason: "clean", message: "closed" }))
  })

  yield* Effect.addFinalizer(() => Effect.ignore(closed === undefined ? close : Effect.void))

  const host: TxnHost = {
    checkOpen,
    committedSeq: () => lastSeq,
    getKeyValueAt: (key, seq, opts) => getKeyValue(key, opts, seq),
    scanAt: (range, seq, opts) => scan(range, opts, seq),
    commit: (batch, opts, txn) =>
      writeTxn(batchEntries(batch), opts?.awaitDurable ?? true, txn),
    txns,
    snapshots,
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
    status,
    close
  }
  return db
})
