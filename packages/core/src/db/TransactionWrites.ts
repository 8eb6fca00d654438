/**
 * A transaction's own writes (db/Transaction.ts; docs/design/transactions.md): the write set it commits as
 * one batch, and how its reads see it: a key it wrote reads as written (its put, nothing after a delete,
 * its merge operands folded over its put or the snapshot's value), with `seq` = `OWN_WRITE_SEQ`, create
 * time 0 and no expiry; a scan lays the write set's keys in its range over the snapshot's rows.
 */
import { Effect, Stream } from "effect"
import { type DbError, InvalidError, mergeOperatorMissing } from "../errors.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import { type MergeOperator, mergeBatch } from "../iter/MergeOperator.ts"
import { type BatchOp, type KeyRange, type KeyValue, WriteBatch } from "./DbApi.ts"
import { ReadKeyValue } from "./DbIterator.ts"
import { keyId, type KeySet } from "./TransactionManager.ts"

/** The seq of a key read from the transaction's own write set (SlateDB: `u64::MAX`). */
export const OWN_WRITE_SEQ = Number.MAX_SAFE_INTEGER

const inKeyRange = (key: Uint8Array, r: KeyRange): boolean => {
  if (r.start !== undefined) {
    const c = compareKeys(key, r.start)
    if (c < 0 || (c === 0 && r.startInclusive === false)) return false
  }
  if (r.end !== undefined) {
    const c = compareKeys(key, r.end)
    if (c > 0 || (c === 0 && r.endInclusive !== true)) return false
  }
  return true
}

/** What the transaction wrote to one key: its last put or delete, and the merge operands after it. */
export interface OwnWrites {
  readonly key: Uint8Array
  readonly base: BatchOp | undefined
  readonly operands: Array<Uint8Array>
}

/**
 * The transaction's own version of a key, as a read returns it: its put (or nothing after a delete), with
 * its operands folded over it, or over `snapshotRow` (the snapshot's version) when it only merged.
 */
export const ownRow = (own: OwnWrites, snapshotRow: KeyValue | undefined, operator: MergeOperator | undefined): KeyValue | undefined | InvalidError => {
  const base = own.base
  if (own.operands.length === 0) {
    return base?._tag === "put"
      ? new ReadKeyValue(base.key.slice(), base.value.slice(), OWN_WRITE_SEQ, 0, undefined)
      : undefined
  }
  if (operator === undefined) return mergeOperatorMissing()
  const existing = base === undefined ? snapshotRow?.value : base._tag === "put" ? base.value : undefined
  try {
    const value = mergeBatch(operator, own.key, existing, own.operands)
    return new ReadKeyValue(own.key.slice(), value, OWN_WRITE_SEQ, 0, undefined)
  } catch (e) {
    if (e instanceof InvalidError) return e
    throw e
  }
}

export const fromOwn = (row: KeyValue | undefined | InvalidError): Effect.Effect<KeyValue | undefined, DbError> =>
  row instanceof InvalidError ? Effect.fail(row) : Effect.succeed(row)

/**
 * The rows of `base` (a scan of the snapshot, in `descending` order or not) with `writes` (the write set's
 * ops in the range, in the same order) laid over them: a put replaces or adds its key, a delete hides it.
 * `emit` sees every row returned (the range tracker).
 */
export const overlay = (
  base: Stream.Stream<KeyValue, DbError>,
  writes: ReadonlyArray<OwnWrites>,
  descending: boolean,
  emit: ((key: Uint8Array) => void) | undefined,
  operator: MergeOperator | undefined
): Stream.Stream<KeyValue, DbError> =>
  Stream.suspend(() => {
    let i = 0
    let failure: InvalidError | undefined
    const before = (a: Uint8Array, b: Uint8Array) => (descending ? compareKeys(b, a) : compareKeys(a, b))
    const push = (out: Array<KeyValue>, row: KeyValue | undefined | InvalidError) => {
      if (row instanceof InvalidError) failure ??= row
      else if (row !== undefined) {
        emit?.(row.key)
        out.push(row)
      }
    }
    const settle = (out: Array<KeyValue>) => (failure === undefined ? Effect.succeed(out) : Effect.fail(failure))
    const merged = base.pipe(
      Stream.chunks,
      Stream.mapEffect((chunk) => {
        const out: Array<KeyValue> = []
        for (const kv of chunk) {
          while (i < writes.length && before(writes[i]!.key, kv.key) < 0) push(out, ownRow(writes[i++]!, undefined, operator))
          if (i < writes.length && before(writes[i]!.key, kv.key) === 0) push(out, ownRow(writes[i++]!, kv, operator))
          else push(out, kv)
        }
        return settle(out)
      }),
      Stream.flattenIterable
    )
    const rest = Stream.unwrap(Effect.suspend(() => {
      const out: Array<KeyValue> = []
      while (i < writes.length) push(out, ownRow(writes[i++]!, undefined, operator))
      return Effect.map(settle(out), Stream.fromIterable)
    }))
    return Stream.concat(merged, rest)
  })

/**
 * What a transaction wrote: every op in order (the commit's batch), the last put or delete of each key with
 * the operands after it (what its reads see), and the keys `unmarkWrite` keeps out of conflict checks.
 */
export class WriteSet {
  readonly #ops: Array<BatchOp> = []
  readonly #latest = new Map<string, OwnWrites>()
  readonly #unmarked = new Set<string>()

  get isEmpty(): boolean {
    return this.#ops.length === 0
  }

  /** Adds `op` (a validated op with copied bytes); undefined, for `problem ?? record(op)`. */
  record(op: BatchOp): undefined {
    this.#ops.push(op)
    const id = keyId(op.key)
    const own = this.#latest.get(id)
    if (op._tag !== "merge") this.#latest.set(id, { key: op.key, base: op, operands: [] })
    else if (own !== undefined) own.operands.push(op.value)
    else this.#latest.set(id, { key: op.key, base: undefined, operands: [op.value] })
    return undefined
  }

  /** What was written to the key with id `id` (`keyId`), if anything. */
  ownOf(id: string): OwnWrites | undefined {
    return this.#latest.get(id)
  }

  unmark(id: string): void {
    this.#unmarked.add(id)
  }

  /** The keys written in `range`, in the scan's order. */
  inRange(range: KeyRange, descending: boolean): Array<OwnWrites> {
    const writes = [...this.#latest.values()].filter((own) => inKeyRange(own.key, range))
    writes.sort((a, b) => (descending ? compareKeys(b.key, a.key) : compareKeys(a.key, b.key)))
    return writes
  }

  /** The written keys the conflict check tracks (all but the unmarked). */
  tracked(): KeySet {
    const tracked: KeySet = new Map()
    for (const [id, own] of this.#latest) if (!this.#unmarked.has(id)) tracked.set(id, own.key)
    return tracked
  }

  /** Every op, in order, as one batch. */
  batch(): WriteBatch {
    const batch = new WriteBatch()
    for (const op of this.#ops) {
      if (op._tag === "put") batch.put(op.key, op.value, { ttl: op.ttl })
      else if (op._tag === "merge") batch.merge(op.key, op.value, { ttl: op.ttl })
      else batch.delete(op.key)
    }
    return batch
  }
}
