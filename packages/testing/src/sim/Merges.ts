/**
 * Merges in the simulation: the merge operator every opening gets, and how the model reads a merged value
 * back into the writes it came from.
 *
 * The operator concatenates: `merge(existing, operand) = existing ++ operand` (nothing for no existing
 * value), which is associative, so whichever way the engine batches the fold (write path, L0 flush,
 * compaction, reads; iter/MergeOperator.ts) the result is the same bytes. Operands are `|m<op>.<entry>`
 * (the workload's; the transaction actor's are `|t…`), put values never contain `|`: a value splits back
 * into *elements* — the base (a put's value, if any: what precedes the first `|`) then one element per
 * operand, oldest first — and every element names the write it came from. Order, loss and duplication of
 * operands are thus visible in every read.
 *
 * The same operator is given to every opening (the writer, `DbReader`s, read-only views, standalone
 * compactors): a process that meets an operand without one fails its read, flush or compaction, which the
 * unit tests cover; here the point is that every path folds correctly. Seeds without merges come from the
 * workload's swarm weights (a seed's merge weight is 0 one time in five).
 *
 * It also counts the operands it folds, by path: the call stack names the engine file that asked (the L0
 * flush, a compaction job, a read, the write path); a diagnostic for the run's summary only.
 */
import type { MergeOperator } from "@shale/core/internal"

/** `|`: starts every operand; never inside a put value. */
export const OPERAND_MARK = 0x7c

export interface MergeCounts {
  /** Operands folded (intermediate results included), by the path that folded them. */
  flush: number
  compaction: number
  read: number
  write: number
  other: number
}

export const emptyMergeCounts = (): MergeCounts => ({ flush: 0, compaction: 0, read: 0, write: 0, other: 0 })

const concat = (existing: Uint8Array | undefined, operands: ReadonlyArray<Uint8Array>): Uint8Array => {
  let n = existing?.length ?? 0
  for (const o of operands) n += o.length
  const out = new Uint8Array(n)
  let at = 0
  if (existing !== undefined) {
    out.set(existing)
    at = existing.length
  }
  for (const o of operands) {
    out.set(o, at)
    at += o.length
  }
  return out
}

/** The fold of `operands` (oldest first) over `existing`: the operator's result. */
export const foldBytes = (existing: Uint8Array | undefined, operand: Uint8Array): Uint8Array => concat(existing, [operand])

const pathOf = (): keyof MergeCounts => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 24
  const stack = new Error().stack ?? ""
  Error.stackTraceLimit = limit
  if (stack.includes("CompactionJob")) return "compaction"
  if (stack.includes("MemtableFlusher")) return "flush"
  if (stack.includes("Reader.ts") || stack.includes("DbIterator")) return "read"
  if (stack.includes("Writer.ts") || stack.includes("WriteBatch")) return "write"
  return "other"
}

/**
 * The simulation's operator (see the module comment), counting into `counts` when given. `reverse`: a
 * deliberately wrong operator for the model's own tests (folds operands newest first).
 */
export const simMergeOperator = (counts?: MergeCounts): MergeOperator => ({
  merge: (_key, existing, operand) => concat(existing, [operand]),
  mergeBatch: (_key, existing, operands) => {
    if (counts !== undefined) counts[pathOf()] += operands.length
    return concat(existing, operands)
  }
})

const latin1 = (bytes: Uint8Array, from: number, to: number): string => {
  let s = ""
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]!)
  return s
}

/**
 * A value's elements, oldest first: the base (when the value does not start with an operand) and each
 * operand (with its `|`), as latin-1 strings.
 */
export const elementsOf = (value: Uint8Array): Array<string> => {
  const out: Array<string> = []
  let start = 0
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || (value[i] === OPERAND_MARK && i > 0)) {
      if (i > start || (i === 0 && value.length === 0)) out.push(latin1(value, start, i))
      start = i
    }
  }
  return out
}

/** Whether an element is an operand (not a base value). */
export const isOperand = (element: string): boolean => element.charCodeAt(0) === OPERAND_MARK
