/**
 * Comparing what a read returned with what the model expects, shared by the model's checks (Model.ts) and
 * the frozen states of checkpoints and read-only views (Frozen.ts): one row against one cell (value, and
 * with `checkSeqs` the seq and createTs too), and a list of rows against the expected list, exactly or
 * leaving alone the keys an uncertain write touched.
 */
import { bytesEqual, showBytes, showHexKey } from "./SimBytes.ts"

/** One row as the database returned it (key as hex). */
export interface ObservedRow {
  readonly key: string
  readonly value: Uint8Array
  readonly seq: number
  /** Checked against the write's `WriteHandle.createTs` when given. */
  readonly createTs?: number | undefined
}

/** What a key holds at some point (value undefined: deleted). */
export interface Held {
  readonly value: Uint8Array | undefined
  readonly seq: number
  readonly createTs?: number | undefined
}

/** The seq of "before every write of this incarnation": the base. */
export const BASE = Number.NEGATIVE_INFINITY

export const showCell = (c: Held | undefined): string =>
  c === undefined || c.value === undefined
    ? "absent"
    : `${showBytes(c.value)}@${c.seq}${c.createTs === undefined ? "" : ` ts ${c.createTs}`}`

export const showSeq = (s: number): string => (s === BASE ? "base" : String(s))

/** Whether an observed row (undefined: absent) is the cell `a` (undefined or a delete: absent). */
export const sameCell = (
  checkSeqs: boolean,
  a: Held | undefined,
  b: { readonly value: Uint8Array; readonly seq: number; readonly createTs?: number | undefined } | undefined
): boolean => {
  if (a === undefined || a.value === undefined) return b === undefined
  if (b === undefined) return false
  if (!bytesEqual(a.value, b.value)) return false
  if (!checkSeqs) return true
  return a.seq === b.seq && (a.createTs === undefined || b.createTs === undefined || a.createTs === b.createTs)
}

/** The first difference between the expected and the observed rows, or undefined. */
export const diffRows = (
  checkSeqs: boolean,
  expected: ReadonlyArray<ObservedRow>,
  observed: ReadonlyArray<ObservedRow>
): string | undefined => {
  const n = Math.max(expected.length, observed.length)
  for (let i = 0; i < n; i++) {
    const e = expected[i]
    const o = observed[i]
    if (e !== undefined && o !== undefined && e.key === o.key && sameCell(checkSeqs, e, o)) continue
    return `row ${i}: got ${o === undefined ? "end" : `${showHexKey(o.key)}=${showCell(o)}`}, expected ${
      e === undefined ? "end" : `${showHexKey(e.key)}=${showCell(e)}`
    } (${observed.length} rows vs ${expected.length} expected)`
  }
  return undefined
}

/** Like `diffRows`, but keys an uncertain write touched may hold its value, the model's, or nothing. */
export const diffRowsUncertain = (
  checkSeqs: boolean,
  expected: ReadonlyArray<ObservedRow>,
  observed: ReadonlyArray<ObservedRow>,
  uncertainKeys: ReadonlySet<string>,
  limit: number | undefined
): string | undefined => {
  if (limit !== undefined) return undefined // a limit shifts with every uncertain row: not checkable
  const certain = (rows: ReadonlyArray<ObservedRow>) => rows.filter((r) => !uncertainKeys.has(r.key))
  const diff = diffRows(checkSeqs, certain(expected), certain(observed))
  if (diff !== undefined) return diff
  for (let i = 1; i < observed.length; i++) {
    if (observed[i - 1]!.key === observed[i]!.key) return `key ${showHexKey(observed[i]!.key)} returned twice`
  }
  return undefined
}
