/**
 * The recovery check's core (Model.ts `recover`): whether what a freshly opened database holds can be the
 * state after a cut of the committed writes, plus uncertain writes applied whole at seqs consistent with
 * the cut. Merge operands fold (Merges.ts): a key an uncertain write merged into, or whose elements may have
 * expired (TTL), is compared element by element (`foldMatches`), and an uncertain merge is not held to
 * being visible whole (its operand may sit under a later put).
 */
import type { WriteRecord } from "./Model.ts"
import { BASE, foldMatches, type Held, type Looseness, type ObservedRow, sameCell, showCell } from "./ModelRows.ts"
import { elementsOf, foldBytes, OPERAND_MARK } from "./Merges.ts"
import { bytesEqual, showHexKey } from "./SimBytes.ts"

export interface CutContext {
  readonly checkSeqs: boolean
  /** The incarnation's base, every write it started, and the highest seq known durable. */
  readonly base: ReadonlyMap<string, Held>
  readonly writes: ReadonlyArray<WriteRecord>
  readonly durableFloor: number
  /** This incarnation's committed writes, ascending seq. */
  readonly committed: ReadonlyArray<WriteRecord>
  readonly uncertain: ReadonlyArray<WriteRecord>
  /** How loosely a key compares given the uncertain writes (Model.ts). */
  readonly looseness: (key: string, uncertain: ReadonlyArray<WriteRecord>) => Looseness
  readonly whoWrote: (key: string, o: ObservedRow) => string
  readonly writeIdOfSeq: (seq: number) => number | undefined
}

/**
 * The recovery check: the seq of the last committed write the recovered rows (`observed`, a full scan)
 * hold, or why they match no legal recovery point.
 */
export const findCut = (ctx: CutContext, observed: ReadonlyArray<ObservedRow>): number | string => {
  const found = new Map<string, ObservedRow>()
  let maxObservedSeq = BASE
  for (const row of observed) {
    found.set(row.key, row)
    if (row.seq > maxObservedSeq) maxObservedSeq = row.seq
  }
  for (const row of observed) {
    if (!knownValue(row.key, row.value, ctx.base.get(row.key), ctx.writes)) {
      return `after reopening, ${showHexKey(row.key)} is ${showCell(row)}: written by nobody in this incarnation ` +
        `(a lost update resurrected, or corrupt data)`
    }
  }
  const L = ctx.committed
  const mustInclude = Math.max(ctx.durableFloor, ctx.checkSeqs ? maxObservedSeq : BASE)
  let cmin = 0
  while (cmin < L.length && L[cmin]!.seq! <= mustInclude) cmin++
  // expected contents after base + L[0..c), built incrementally
  const expected = new Map<string, Held>(ctx.base)
  const lastTouch = new Map<string, number>()
  const apply = (w: WriteRecord) => {
    for (const [k, v] of w.entries) {
      expected.set(k, { value: w.merges?.has(k) === true ? foldBytes(expected.get(k)?.value, v!) : v, seq: w.seq!, createTs: w.createTs })
      lastTouch.set(k, w.seq!)
    }
  }
  for (let i = 0; i < cmin; i++) apply(L[i]!)
  let firstProblem: string | undefined
  for (let c = cmin; c <= L.length; c++) {
    if (c > cmin) apply(L[c - 1]!)
    const problem = tryCut(ctx, c, expected, lastTouch, found)
    if (problem === undefined) return c > 0 ? L[c - 1]!.seq! : BASE
    firstProblem ??= problem
  }
  const lostDurable = ctx.durableFloor === BASE ? "" : ` Writes up to seq ${ctx.durableFloor} were acknowledged as durable.`
  return `after reopening, the database holds ${observed.length} keys matching no legal recovery point ` +
    `(cuts after ${cmin}..${L.length} of ${L.length} committed writes, ${ctx.uncertain.length} uncertain).` +
    `${lostDurable} At the durable cut: ${firstProblem}`
}

/** Whether some write (or the base) produced every element of `value` for `key`. */
const knownValue = (
  key: string,
  value: Uint8Array,
  base: Held | undefined,
  writes: ReadonlyArray<WriteRecord>
): boolean => {
  if (base?.value !== undefined && bytesEqual(base.value, value)) return true
  if (writes.some((w) => { const v = w.entries.get(key); return v !== undefined && bytesEqual(v, value) })) return true
  const known = new Set<string>()
  if (base?.value !== undefined) for (const e of elementsOf(base.value)) known.add(e)
  for (const w of writes) {
    const v = w.entries.get(key)
    if (v !== undefined) for (const e of elementsOf(v)) known.add(e)
  }
  return elementsOf(value).every((e) => known.has(e))
}

/** Why the recovered contents cannot be the cut after `c` committed writes (undefined: they can). */
const tryCut = (
  ctx: CutContext,
  c: number,
  expected: ReadonlyMap<string, Held>,
  lastTouch: ReadonlyMap<string, number>,
  found: ReadonlyMap<string, ObservedRow>
): string | undefined => {
  const L = ctx.committed
  const uncertain = ctx.uncertain
  const firstExcluded = c < L.length ? L[c]!.seq! : Number.POSITIVE_INFINITY
  const present = new Map<WriteRecord, number | undefined>()
  const keys = new Set<string>([...expected.keys(), ...found.keys()])
  for (const k of [...keys].sort()) {
    const e = expected.get(k)
    const visible = e !== undefined && e.value !== undefined ? e : undefined
    const o = found.get(k)
    if (sameCell(ctx.checkSeqs, visible, o)) continue
    const touching = uncertain.filter((u) => u.entries.has(k))
    // Elements that may have expired (TTL) may be gone.
    if (foldMatches(ctx.checkSeqs, visible, o, ctx.looseness(k, []))) continue
    // Not exactly an uncertain write's value (those are tracked below, for partial batches): a fold with
    // uncertain elements in it, compared element by element.
    const exact = touching.some((u) => {
      const v = u.entries.get(k)
      return o === undefined ? v === undefined : v !== undefined && bytesEqual(v, o.value)
    })
    if (!exact && touching.length > 0 && foldMatches(ctx.checkSeqs, visible, o, ctx.looseness(k, touching))) continue
    if (o !== undefined) {
      const u = touching.find((u) => {
        const v = u.entries.get(k)
        if (v === undefined || !bytesEqual(v, o.value)) return false
        if (!ctx.checkSeqs) return true
        const known = present.get(u)
        return o.seq > (e?.seq ?? BASE) && o.seq < firstExcluded && (known === undefined || known === o.seq)
      })
      if (u === undefined) return `${showHexKey(k)} is ${showCell(o)}${ctx.whoWrote(k, o)}, expected ${showCell(visible)}`
      present.set(u, ctx.checkSeqs ? o.seq : undefined)
    } else {
      const u = touching.find((u) => u.entries.get(k) === undefined)
      if (u === undefined) {
        const lost = e !== undefined && e.seq !== BASE ? ctx.writeIdOfSeq(e.seq) : undefined
        return `${showHexKey(k)} is missing, expected ${showCell(visible)}${lost === undefined ? "" : ` (write #${lost})`}`
      }
      if (!present.has(u)) present.set(u, undefined)
    }
  }
  return partialBatch(present, lastTouch, found, uncertain)
}

/**
 * Whether key `k`'s row `o` is write `u`'s `v` (a value, or a delete: undefined) at seq `s` with the
 * operands of later uncertain merges folded on top: `v`'s bytes then operands only (after a delete,
 * operands only), at a seq above `s`. Such a merge is not in `present` (its key compares element by element,
 * `foldMatches`), yet it is what rewrote the key.
 */
const foldedOver = (
  u: WriteRecord,
  k: string,
  v: Uint8Array | undefined,
  s: number | undefined,
  o: ObservedRow | undefined,
  uncertain: ReadonlyArray<WriteRecord>
): boolean => {
  if (o === undefined || (s !== undefined && o.seq <= s)) return false
  if (!uncertain.some((u2) => u2 !== u && u2.merges?.has(k) === true)) return false
  const at = v === undefined ? 0 : v.length
  if (v !== undefined && (o.value.length <= at || !bytesEqual(o.value.subarray(0, at), v))) return false
  return o.value[at] === OPERAND_MARK
}

/** A write visible in part only (none of the keys it misses rewritten by a later write), or undefined. */
const partialBatch = (
  present: ReadonlyMap<WriteRecord, number | undefined>,
  lastTouch: ReadonlyMap<string, number>,
  found: ReadonlyMap<string, ObservedRow>,
  uncertain: ReadonlyArray<WriteRecord>
): string | undefined => {
  for (const [u, s] of present) {
    for (const [k, v] of u.entries) {
      if (u.merges?.has(k) === true) continue // an operand shows inside a fold, checked element by element
      const o = found.get(k)
      const reflects = v === undefined
        ? o === undefined
        : o !== undefined && bytesEqual(o.value, v) && (s === undefined || o.seq === s)
      if (reflects) continue
      const lt = lastTouch.get(k)
      const byCommitted = lt !== undefined && (s === undefined || lt > s)
      let byUncertain = false
      for (const [u2, s2] of present) {
        if (u2 !== u && u2.entries.has(k) && (s === undefined || s2 === undefined || s2 > s)) byUncertain = true
      }
      if (!byCommitted && !byUncertain && !foldedOver(u, k, v, s, o, uncertain)) {
        return `partial batch: uncertain write #${u.id} is visible, but ${showHexKey(k)} is ${showCell(o)}, not ${
          showCell({ value: v, seq: s ?? 0 })
        }`
      }
    }
  }
  return undefined
}
