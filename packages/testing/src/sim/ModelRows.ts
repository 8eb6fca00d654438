/**
 * Comparing what a read returned with what the model expects, shared by the model's checks (Model.ts) and
 * the frozen states of checkpoints and read-only views (Frozen.ts): one row against one cell (value, and
 * with `checkSeqs` the seq and createTs too), and a list of rows against the expected list, exactly or
 * leaving alone the keys an uncertain write touched.
 */
import { elementsOf } from "./Merges.ts"
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

/**
 * What may differ between a model's value and a read's (Merges.ts splits both into elements): an element
 * that may have expired (a TTL'd row past its expiry: an L0 flush or a compaction may have dropped it or,
 * a put, turned it into a tombstone), and the elements of uncertain writes (there or not); `resets`: an
 * uncertain put or delete of the key, which would hide everything before it.
 */
export interface Looseness {
  readonly mayExpire: (element: string) => boolean
  readonly uncertain?: { readonly elements: ReadonlySet<string>; readonly resets: boolean } | undefined
}

/** Whether `observed` is `expected[start..]` with only elements that may expire left out. */
const subsequence = (
  expected: ReadonlyArray<string>,
  start: number,
  observed: ReadonlyArray<string>,
  mayExpire: (element: string) => boolean
): boolean => {
  let j = start
  for (const o of observed) {
    while (j < expected.length && expected[j] !== o) {
      if (!mayExpire(expected[j]!)) return false
      j++
    }
    if (j === expected.length) return false
    j++
  }
  for (; j < expected.length; j++) if (!mayExpire(expected[j]!)) return false
  return true
}

/**
 * Whether `observed` can be the model's `expected` (folded) value under `loose`: its elements are the
 * expected ones in order, but for elements that may have expired (missing) and uncertain ones (anywhere;
 * after an uncertain reset, only a suffix of the expected ones). With `checkSeqs`, when the newest element
 * is the expected newest one, seq and createTs are the expected ones.
 */
export const foldMatches = (
  checkSeqs: boolean,
  expected: Held | undefined,
  observed: { readonly value: Uint8Array; readonly seq: number; readonly createTs?: number | undefined } | undefined,
  loose: Looseness
): boolean => {
  if (sameCell(checkSeqs, expected, observed)) return true
  const e = expected === undefined || expected.value === undefined ? [] : elementsOf(expected.value)
  const all = observed === undefined ? [] : elementsOf(observed.value)
  const u = loose.uncertain
  // An element past its expiry that the model no longer holds (a base recovered after an L0 flush dropped it)
  // may still show where no flush ran yet (a view, a reader): it is left out too.
  let held: Set<string> | undefined
  const o = all.filter((x) => {
    if (u?.elements.has(x) === true) return false
    if (!loose.mayExpire(x)) return true
    held ??= new Set(e)
    return held.has(x)
  })
  let ok = false
  for (let start = 0; start <= (u?.resets === true ? e.length : 0) && !ok; start++) ok = subsequence(e, start, o, loose.mayExpire)
  if (!ok) return false
  if (!checkSeqs || observed === undefined || all.length === 0 || all.at(-1) !== e.at(-1)) return true
  return observed.seq === expected!.seq &&
    (expected!.createTs === undefined || observed.createTs === undefined || expected!.createTs === observed.createTs)
}

/** Whether every element of a row may have expired (so a state that lost it may not hold the row). */
export const expiredOnly = (row: ObservedRow, loose: Looseness | undefined): boolean =>
  loose !== undefined && elementsOf(row.value).every(loose.mayExpire)

/**
 * Like `diffRows` (expected: every row of the range, no limit applied), with `foldMatches` for each key
 * `looseFor` gives a looseness: such a row may also be missing when all its elements may be gone, and a row
 * the model does not hold at all may show when all its elements are past their expiry (`expiredOnly`).
 */
export const diffRowsLoose = (
  checkSeqs: boolean,
  expected: ReadonlyArray<ObservedRow>,
  observed: ReadonlyArray<ObservedRow>,
  limit: number | undefined,
  looseFor: (key: string) => Looseness | undefined
): string | undefined => {
  const vanishes = (e: ObservedRow) => {
    const l = looseFor(e.key)
    return l !== undefined && foldMatches(checkSeqs, e, undefined, l)
  }
  const keys = new Set(expected.map((e) => e.key))
  let i = 0
  for (let k = 0; k < observed.length; k++) {
    const o = observed[k]!
    if (!keys.has(o.key) && expiredOnly(o, looseFor(o.key))) continue
    while (i < expected.length && expected[i]!.key !== o.key && vanishes(expected[i]!)) i++
    const e = expected[i]
    const l = e === undefined ? undefined : looseFor(e.key)
    if (e === undefined || e.key !== o.key || !(l === undefined ? sameCell(checkSeqs, e, o) : foldMatches(checkSeqs, e, o, l))) {
      return `row ${k}: got ${showHexKey(o.key)}=${showCell(o)}, expected ${e === undefined ? "end" : `${showHexKey(e.key)}=${showCell(e)}`}`
    }
    i++
  }
  if (limit !== undefined && observed.length >= limit) return undefined
  for (; i < expected.length; i++) {
    if (!vanishes(expected[i]!)) return `row ${observed.length}: got end, expected ${showHexKey(expected[i]!.key)}=${showCell(expected[i]!)}`
  }
  return undefined
}
