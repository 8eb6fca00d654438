/**
 * Key ranges against the SSTs of a manifest: which SSTs a range or a key may touch, and the scan options
 * that read exactly the part of an SST a range and the SST's visible range (RFC 0020 projections, clones)
 * allow. Shared by the read path (db/Reader.ts) and the compactor, which must both see an SST only through
 * its manifest entry.
 */
import { compareKeys } from "../format/KeyComparator.ts"
import type { CompactedSst, RangeBound, SortedRun, VisibleRange } from "./Manifest.ts"
import type { ScanOptions as SstScanOptions } from "../sst/SsTableReader.ts"
import type { Mutable } from "effect/Types"

/** A validated range with explicit inclusivity. */
export interface Bounds {
  readonly start: Uint8Array | undefined
  readonly startInclusive: boolean
  readonly end: Uint8Array | undefined
  readonly endInclusive: boolean
}


const inBound = (key: Uint8Array, b: RangeBound, side: "start" | "end"): boolean => {
  if (b.kind === "Unbounded") return true
  const c = compareKeys(key, b.key)
  if (side === "start") return b.kind === "Included" ? c >= 0 : c > 0
  return b.kind === "Included" ? c <= 0 : c < 0
}

export const inVisibleRange = (key: Uint8Array, vr: VisibleRange | undefined): boolean =>
  vr === undefined || (inBound(key, vr.start, "start") && inBound(key, vr.end, "end"))

/**
 * The intersection of `bounds` with an SST's visible range, as SST scan options with `extra`'s (fetching,
 * caching); undefined if empty. One object per SST: a scan clips every source it opens.
 */
export const clip = (
  bounds: Bounds,
  vr: VisibleRange | undefined,
  descending: boolean,
  extra?: SstScanOptions
): SstScanOptions | undefined => {
  let { start, startInclusive, end, endInclusive } = bounds
  if (vr !== undefined) {
    if (vr.start.kind !== "Unbounded") {
      const c = start === undefined ? -1 : compareKeys(start, vr.start.key)
      if (c < 0 || (c === 0 && vr.start.kind === "Excluded")) {
        start = vr.start.key
        startInclusive = vr.start.kind === "Included"
      }
    }
    if (vr.end.kind !== "Unbounded") {
      const c = end === undefined ? 1 : compareKeys(end, vr.end.key)
      if (c > 0 || (c === 0 && vr.end.kind === "Excluded")) {
        end = vr.end.key
        endInclusive = vr.end.kind === "Included"
      }
    }
    if (start !== undefined && end !== undefined) {
      const c = compareKeys(start, end)
      if (c > 0 || (c === 0 && !(startInclusive && endInclusive))) return undefined
    }
  }
  const options: Mutable<SstScanOptions> = extra === undefined ? { descending } : { ...extra, descending }
  if (start !== undefined) {
    options.start = start
    options.startInclusive = startInclusive
  }
  if (end !== undefined) {
    options.end = end
    options.endInclusive = endInclusive
  }
  return options
}

/** Whether an SST's [first, last] keys may overlap `bounds`. */
export const overlaps = (sst: CompactedSst, bounds: Bounds): boolean => {
  const { firstEntry, lastEntry } = sst.info
  if (bounds.end !== undefined && firstEntry !== undefined) {
    const c = compareKeys(firstEntry, bounds.end)
    if (c > 0 || (c === 0 && !bounds.endInclusive)) return false
  }
  if (bounds.start !== undefined && lastEntry !== undefined) {
    const c = compareKeys(lastEntry, bounds.start)
    if (c < 0 || (c === 0 && !bounds.startInclusive)) return false
  }
  return true
}

/**
 * The first SST of a sorted run (`ssts`) that may hold `key` (its first key ≤ `key` ≤ its last), or -1.
 * The others that may follow it (a key's versions may end one SST and start the next) come from
 * `nextCandidate`. Allocation-free: point reads ask it once per run.
 */
export const firstCandidate = (ssts: ReadonlyArray<CompactedSst>, key: Uint8Array): number => {
  // Last SST whose first key ≤ key.
  let lo = 0
  let hi = ssts.length - 1
  let j = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const first = ssts[mid]!.info.firstEntry
    if (first === undefined || compareKeys(first, key) <= 0) {
      j = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  if (j < 0) return -1
  // Walk back over SSTs that end with the key.
  let i = j
  while (i > 0) {
    const prevLast = ssts[i - 1]!.info.lastEntry
    if (prevLast === undefined || compareKeys(prevLast, key) < 0) break
    i--
  }
  // SSTs i..j-1 end at or after the key (the walk), so only j may end before it (and then i = j).
  const last = ssts[i]!.info.lastEntry
  return last === undefined || compareKeys(last, key) >= 0 ? i : -1
}

/** Whether an SST's key range (first to last key) holds `key`. */
const mayHold = (sst: CompactedSst, key: Uint8Array): boolean => {
  const { firstEntry, lastEntry } = sst.info
  return (firstEntry === undefined || compareKeys(firstEntry, key) <= 0) &&
    (lastEntry === undefined || compareKeys(lastEntry, key) >= 0)
}

/** The candidate after candidate `c` of `ssts` for `key` (see `firstCandidate`), or -1. */
export const nextCandidate = (ssts: ReadonlyArray<CompactedSst>, c: number, key: Uint8Array): number =>
  c + 1 < ssts.length && mayHold(ssts[c + 1]!, key) ? c + 1 : -1

/** The SSTs of a sorted run that may hold `key`, in run order (`firstCandidate`, then `nextCandidate`). */
export const runCandidates = (run: SortedRun, key: Uint8Array): Array<CompactedSst> => {
  const ssts = run.ssts
  const out: Array<CompactedSst> = []
  for (let k = firstCandidate(ssts, key); k >= 0; k = nextCandidate(ssts, k, key)) out.push(ssts[k]!)
  return out
}

/**
 * A sorted run's SSTs that may overlap `bounds`, in scan order, each with its scan options (`clip`, plus
 * `extra`), found as the scan reaches them: the first by binary search over the SSTs' key ranges, the
 * next ones one at a time until one starts past the far bound. A short scan of a run of thousands of SSTs
 * looks at the one or two it reads, not at every SST after its start key (SlateDB's sorted-run iterator
 * is lazy the same way).
 */
export class RunScan {
  readonly #ssts: ReadonlyArray<CompactedSst>
  readonly #bounds: Bounds
  readonly #descending: boolean
  readonly #extra: SstScanOptions | undefined
  /** The next SST to look at (walking down when descending); out of range when done. */
  #i: number

  constructor(run: SortedRun, bounds: Bounds, descending: boolean, extra?: SstScanOptions) {
    this.#ssts = run.ssts
    this.#bounds = bounds
    this.#descending = descending
    this.#extra = extra
    this.#i = descending ? lastNotAfter(run.ssts, bounds) : firstNotBefore(run.ssts, bounds)
  }

  /** The next SST and its options, or undefined after the last one within the bounds. */
  next(): readonly [CompactedSst, SstScanOptions] | undefined {
    const ssts = this.#ssts
    const bounds = this.#bounds
    const step = this.#descending ? -1 : 1
    for (let i = this.#i; i >= 0 && i < ssts.length; i += step) {
      const sst = ssts[i]!
      if (!overlaps(sst, bounds)) break // sorted: every later SST is past the far bound too
      const options = clip(bounds, sst.visibleRange, this.#descending, this.#extra)
      if (options === undefined) continue
      this.#i = i + step
      return [sst, options]
    }
    this.#i = -1
    return undefined
  }
}

/** The first SST whose last key is not before `bounds.start` (the ssts' last keys never decrease). */
const firstNotBefore = (ssts: ReadonlyArray<CompactedSst>, bounds: Bounds): number => {
  const start = bounds.start
  if (start === undefined) return 0
  let lo = 0
  let hi = ssts.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const last = ssts[mid]!.info.lastEntry
    const c = last === undefined ? 1 : compareKeys(last, start)
    if (c < 0 || (c === 0 && !bounds.startInclusive)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The last SST whose first key is not after `bounds.end`, or -1 (the ssts' first keys never decrease). */
const lastNotAfter = (ssts: ReadonlyArray<CompactedSst>, bounds: Bounds): number => {
  const end = bounds.end
  if (end === undefined) return ssts.length - 1
  let lo = 0
  let hi = ssts.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const first = ssts[mid]!.info.firstEntry
    const c = first === undefined ? -1 : compareKeys(first, end)
    if (c < 0 || (c === 0 && bounds.endInclusive)) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

/** A sorted run's SSTs that may overlap `bounds`, each with its scan options, in scan order (`RunScan`). */
export const runScanParts = (
  run: SortedRun,
  bounds: Bounds,
  descending: boolean
): Array<readonly [CompactedSst, SstScanOptions]> => {
  const scan = new RunScan(run, bounds, descending)
  const parts: Array<readonly [CompactedSst, SstScanOptions]> = []
  for (let part = scan.next(); part !== undefined; part = scan.next()) parts.push(part)
  return parts
}
