/**
 * W2's figures from the store's history (W2Store.ts), for one run: the L0 count over the load, what
 * compaction wrote and for how long it was busy, and the layouts the reads saw. The same arithmetic for
 * every engine; docs/design/benchmark.md §5 says how to read them.
 */
import type { Layout, SstListing, StoreHistory } from "./W2Store.ts"
import { layoutAt } from "./W2Store.ts"

/** A phase as the store saw it: its wall-clock window and the listing of `compacted/` just after its end. */
export interface PhaseWindow {
  readonly startEpochMs: number
  readonly endEpochMs: number
  readonly listing: SstListing
}

export interface CompactionFigures {
  /**
   * Compactions that started inside the window and completed (`failed`: failed), whenever they ended: the
   * compactions file records the end after the manifest, so a window that ends with a manifest version (the
   * full compaction's) would miss its last compaction if ended ones were counted.
   */
  readonly compactions: number
  readonly failed: number
  /** SSTs written by compactions in the window (new in `compacted/`, never in L0), and their bytes. */
  readonly ssts: number
  readonly bytes: number
  /** Time inside the window with at least one compaction running. */
  readonly busyMs: number
}

export interface LayoutFigures {
  readonly l0: number
  readonly sortedRuns: number
  /** Bytes of the SSTs the layout references. */
  readonly bytes: number
}

export interface StoreStats {
  /** The most L0 SSTs any manifest version of the load listed. */
  readonly l0Max: number
  /** L0 SSTs on average over the load's time (each manifest version weighted by how long it was current). */
  readonly l0Mean: number
  /** Share of the load's time with L0 at `l0MaxSsts` or above (the writer's L0 uploads stall there). */
  readonly l0AtLimitShare: number
  /** L0 SSTs the load wrote, and their bytes. */
  readonly l0Ssts: number
  readonly l0Bytes: number
  readonly load: CompactionFigures
  readonly steady: LayoutFigures
  readonly full: CompactionFigures | undefined
  readonly compacted: LayoutFigures | undefined
  readonly manifestVersions: number
  readonly compactionsVersions: number
  /** Versions that could not be decoded. */
  readonly unreadable: number
}

const layoutFigures = (layout: Layout | undefined, listing: SstListing): LayoutFigures => {
  const bytesOf = (ids: ReadonlyArray<string>) => ids.reduce((a, id) => a + (listing.get(id)?.bytes ?? 0), 0)
  return {
    l0: layout?.l0.length ?? 0,
    sortedRuns: layout?.runs.length ?? 0,
    bytes: layout === undefined ? 0 : bytesOf(layout.l0) + layout.runs.reduce((a, r) => a + bytesOf(r.ssts), 0)
  }
}

/** Per compaction: when the compactions file first showed it Running, and first showed it finished. */
const compactionSpans = (history: StoreHistory) => {
  const spans = new Map<string, { start: number | undefined; end: number | undefined; failed: boolean }>()
  for (const version of history.compactions) {
    for (const c of version.value.states) {
      const span = spans.get(c.id) ?? { start: undefined, end: undefined, failed: false }
      if (c.status === 1) span.start ??= version.mtimeMs
      if (c.status >= 2 && span.end === undefined) {
        span.start ??= version.mtimeMs
        span.end = version.mtimeMs
        span.failed = c.status === 3
      }
      spans.set(c.id, span)
    }
  }
  return [...spans.values()]
}

/** Length of the union of intervals, clipped to [from, to]. */
const unionMs = (intervals: ReadonlyArray<readonly [number, number]>, from: number, to: number): number => {
  const clipped = intervals
    .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0])
  let total = 0
  let end = -Infinity
  for (const [a, b] of clipped) {
    if (b <= end) continue
    total += b - Math.max(a, end)
    end = b
  }
  return total
}

const compactionFigures = (
  history: StoreHistory,
  window: PhaseWindow,
  before: SstListing
): CompactionFigures => {
  const spans = compactionSpans(history)
  const ended = spans.filter((s) =>
    s.end !== undefined && s.start !== undefined && s.start >= window.startEpochMs && s.start <= window.endEpochMs
  )
  // Written inside the window (the listing is taken a little later), not in L0, not there before.
  const written = [...window.listing].filter(([id, sst]) =>
    sst.mtimeMs <= window.endEpochMs && !before.has(id) && !history.l0Ever.has(id)
  )
  return {
    compactions: ended.filter((s) => !s.failed).length,
    failed: ended.filter((s) => s.failed).length,
    ssts: written.length,
    bytes: written.reduce((a, [, sst]) => a + sst.bytes, 0),
    busyMs: unionMs(
      spans.flatMap((s) => (s.start === undefined ? [] : [[s.start, s.end ?? window.endEpochMs] as const])),
      window.startEpochMs,
      window.endEpochMs
    )
  }
}

/** L0 over the load: the highest count, the time-weighted mean, and the share of time at `l0MaxSsts`. */
const l0Figures = (history: StoreHistory, from: number, to: number, l0MaxSsts: number) => {
  const versions = history.manifests.filter((m) => m.mtimeMs <= to)
  let max = 0
  let weighted = 0
  let atLimit = 0
  versions.forEach((m, k) => {
    const l0 = m.value.l0.length
    if (m.mtimeMs >= from) max = Math.max(max, l0)
    const start = Math.max(from, m.mtimeMs)
    const end = Math.min(to, versions[k + 1]?.mtimeMs ?? to)
    if (end <= start) return
    weighted += l0 * (end - start)
    if (l0 >= l0MaxSsts) atLimit += end - start
  })
  const span = Math.max(1, to - from)
  return { max, mean: weighted / span, atLimitShare: atLimit / span }
}

export const storeStats = (
  history: StoreHistory,
  load: PhaseWindow,
  full: PhaseWindow | undefined,
  l0MaxSsts: number
): StoreStats => {
  const l0 = l0Figures(history, load.startEpochMs, load.endEpochMs, l0MaxSsts)
  const l0Written = [...load.listing].filter(([id]) => history.l0Ever.has(id))
  return {
    l0Max: l0.max,
    l0Mean: l0.mean,
    l0AtLimitShare: l0.atLimitShare,
    l0Ssts: l0Written.length,
    l0Bytes: l0Written.reduce((a, [, sst]) => a + sst.bytes, 0),
    load: compactionFigures(history, load, new Map()),
    steady: layoutFigures(layoutAt(history, load.endEpochMs), load.listing),
    full: full === undefined ? undefined : compactionFigures(history, full, load.listing),
    compacted: full === undefined ? undefined : layoutFigures(layoutAt(history, full.endEpochMs), full.listing),
    manifestVersions: history.manifests.length,
    compactionsVersions: history.compactions.length,
    unreadable: history.unreadable
  }
}
