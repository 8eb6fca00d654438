/**
 * Merge operators (SlateDB's `merge_operator.rs`, docs/format.md §3.12; design: docs/design/merge.md):
 * the user's associative function, and the fold every path applies to a key's merge operands.
 *
 * The fold (`foldFrom`), over one key's versions newest first, starting at a merge operand:
 * 1. Operands are collected, newest first, until a base row (a value or a tombstone), the key's end, or
 *    (on the write, flush and compaction paths: `sameExpiry`) a version whose `expireTs` differs from the
 *    first operand's, which is left for the next fold.
 * 2. Every 100 operands (SlateDB's `MERGE_BATCH_SIZE`) are merged, oldest first, from nothing
 *    (`mergeBatch(key, undefined, batch)`); then the batch results, oldest first, onto the base's value
 *    (`mergeBatch(key, base, results)`; a tombstone base is nothing). The operator is thus called exactly
 *    as SlateDB calls it (which an operator that is associative cannot tell apart from a plain left fold).
 * 3. The result is a value if a base was reached (a tombstone base is consumed), else still an operand;
 *    its seq is the first operand's, `createTs` the largest and `expireTs` the smallest of the folded rows
 *    (base included).
 *
 * An operator that throws, or returns something other than a `Uint8Array`, fails the fold with an
 * `InvalidError` (SlateDB's `MergeOperatorError`, of kind Invalid): `foldFrom` throws it, the callers
 * (MergeFoldIterator.ts, the read path, the write path) turn it into their failure.
 */
import { Effect } from "effect"
import { InvalidError } from "../errors.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"

/**
 * An associative merge function (SlateDB's `MergeOperator` trait): `merge(merge(a, b), c)` must equal
 * `merge(a, merge(b, c))`. `existing` is undefined when there is no value to merge into.
 */
export interface MergeOperator {
  readonly merge: (key: Uint8Array, existing: Uint8Array | undefined, operand: Uint8Array) => Uint8Array
  /**
   * Merges `operands` (oldest first) into `existing` at once (SlateDB's `merge_batch`); when absent, the
   * operands are merged one by one with `merge`. Never called with no operands and no existing value.
   */
  readonly mergeBatch?: (
    key: Uint8Array,
    existing: Uint8Array | undefined,
    operands: ReadonlyArray<Uint8Array>
  ) => Uint8Array
}

/** The `mergeOperator` option of an open, checked: undefined or an object with a `merge` function. */
export const checkMergeOperator = (operator: unknown): Effect.Effect<MergeOperator | undefined, InvalidError> => {
  if (operator === undefined) return Effect.succeed(undefined)
  const o = operator as Partial<Record<keyof MergeOperator, unknown>> | null
  if (typeof o !== "object" || o === null || typeof o.merge !== "function") {
    return Effect.fail(new InvalidError({ message: "mergeOperator must be an object with a merge(key, existing, operand) function" }))
  }
  if (o.mergeBatch !== undefined && typeof o.mergeBatch !== "function") {
    return Effect.fail(new InvalidError({ message: "mergeOperator.mergeBatch must be a function when present" }))
  }
  return Effect.succeed(operator as MergeOperator)
}

/** Operands merged per `mergeBatch` call before the batch results are merged (SlateDB's `MERGE_BATCH_SIZE`). */
export const MERGE_BATCH_SIZE = 100

const failed = (message: string, cause?: unknown) =>
  new InvalidError({ message: `merge operator failed: ${message}`, ...(cause === undefined ? {} : { cause }) })

/** `operator.mergeBatch`, or the operands merged one by one; an `InvalidError` is thrown when the operator fails. */
export const mergeBatch = (
  operator: MergeOperator,
  key: Uint8Array,
  existing: Uint8Array | undefined,
  operands: ReadonlyArray<Uint8Array>
): Uint8Array => {
  let result: unknown
  try {
    if (operator.mergeBatch !== undefined) result = operator.mergeBatch(key, existing, operands)
    else {
      let acc = existing
      for (let i = 0; i < operands.length; i++) {
        acc = operator.merge(key, acc, operands[i]!)
        if (!(acc instanceof Uint8Array)) break
      }
      result = acc
      if (result === undefined) throw failed("merge_batch called with empty operands and no existing value")
    }
  } catch (e) {
    if (e instanceof InvalidError) throw e
    throw failed(e instanceof Error ? e.message : String(e), e)
  }
  if (!(result instanceof Uint8Array)) throw failed(`it returned ${typeof result}, not a Uint8Array`)
  return result
}

/**
 * `operator` counting the operands it merges (`slatedb.merge_operator_operands`, as SlateDB's instrumented
 * operator): each successful batch adds its operand count, intermediate results included. Every fold goes
 * through `mergeBatch`, so the wrapper always has one (the operands one by one when `operator` has none).
 */
export const countingOperands = (operator: MergeOperator, count: (operands: number) => void): MergeOperator => ({
  merge: operator.merge,
  mergeBatch: (key, existing, operands) => {
    const result = mergeBatch(operator, key, existing, operands)
    count(operands.length)
    return result
  }
})

/** What one fold produced: its row and the index of the first version it did not consume. */
export interface Folded {
  readonly row: RowEntry
  readonly next: number
}

const maxOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.max(a, b))
const minOf = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b))

/**
 * Folds the operands of one key from `versions[from]` (a merge operand; versions newest first, one per
 * seq) as the module comment says. `sameExpiry`: fold only operands (and a base) whose `expireTs` equals
 * the first operand's (the write, flush and compaction paths); reads fold regardless.
 */
export const foldFrom = (
  operator: MergeOperator,
  versions: ReadonlyArray<RowEntry>,
  from: number,
  sameExpiry: boolean,
  wrongOrder = false
): Folded => {
  const first = versions[from]!
  const key = first.key
  let createTs: number | undefined = undefined
  let expireTs: number | undefined = undefined
  const results: Array<Uint8Array> = []
  let batch: Array<Uint8Array> = []
  let base: RowEntry | undefined = undefined
  let i = from
  for (; i < versions.length; i++) {
    const row = versions[i]!
    if (sameExpiry && row.expireTs !== first.expireTs) break
    createTs = maxOf(createTs, row.createTs)
    expireTs = minOf(expireTs, row.expireTs)
    if (row.kind !== RowKind.Merge) {
      base = row
      i++
      break
    }
    batch.push(row.value)
    if (batch.length >= MERGE_BATCH_SIZE) {
      results.push(mergeBatch(operator, key, undefined, wrongOrder ? batch : batch.reverse()))
      batch = []
    }
  }
  if (batch.length > 0) results.push(mergeBatch(operator, key, undefined, wrongOrder ? batch : batch.reverse()))
  const value = mergeBatch(operator, key, base?.kind === RowKind.Value ? base.value : undefined, wrongOrder ? results : results.reverse())
  const row: RowEntry = {
    key,
    kind: base === undefined ? RowKind.Merge : RowKind.Value,
    value,
    seq: first.seq,
    createTs,
    expireTs
  }
  return { row, next: i }
}

/**
 * One key's versions (newest first) as the write, flush and compaction paths leave them, appended to
 * `out`: values, tombstones and operands above `barrier` unchanged, other operands folded (`foldFrom`
 * with `sameExpiry`). Throws the operator's `InvalidError`. `wrongOrder`: the `mergeFoldReversesOperands`
 * test switch (testing/TestSwitches.ts): operands folded newest first.
 */
export const foldKey = (
  operator: MergeOperator,
  versions: ReadonlyArray<RowEntry>,
  barrier: number | undefined,
  out: Array<RowEntry>,
  wrongOrder = false
): void => {
  let i = 0
  while (i < versions.length) {
    const row = versions[i]!
    if (row.kind !== RowKind.Merge || (barrier !== undefined && row.seq > barrier)) {
      out.push(row)
      i++
    } else {
      const folded = foldFrom(operator, versions, i, true, wrongOrder)
      out.push(folded.row)
      i = folded.next
    }
  }
}

const bySeqDesc = (a: RowEntry, b: RowEntry): number => b.seq - a.seq

/** Sorts one key's versions newest first and drops repeats of a seq (one row read from two sources). */
export const newestFirst = (versions: Array<RowEntry>): Array<RowEntry> => {
  if (versions.length < 2) return versions
  versions.sort(bySeqDesc)
  let n = 1
  for (let i = 1; i < versions.length; i++) {
    if (versions[i]!.seq !== versions[n - 1]!.seq) versions[n++] = versions[i]!
  }
  versions.length = n
  return versions
}
