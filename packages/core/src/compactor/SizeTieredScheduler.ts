/**
 * SlateDB 0.12.1's size-tiered compaction scheduler (`size_tiered_compaction.rs`, docs/format.md §3.7.4)
 * and its validation of a compaction about to start (§3.7.5).
 *
 * Sizes are estimates (`Manifest.sstBytes`): an SST's is `index_offset + index_len` (its data, filter and
 * index), a run's the sum of its SSTs'. Candidates, in order, while the active compactions plus those
 * proposed stay under `maxConcurrentCompactions`:
 * 1. L0: every L0 SST (newest first) once there are at least `minCompactionSources`; the newest are dropped
 *    down to `maxCompactionSources` (so the oldest are compacted first); destination = the highest run id
 *    + 1, or 0.
 * 2. Sorted runs: from each run (highest id first), grow a window of consecutive runs while each next run
 *    is at most `includeSizeThreshold` × the smallest so far, checking each step; at least
 *    `minCompactionSources` runs, the newest dropped down to `maxCompactionSources`; destination = the
 *    window's lowest id.
 * A candidate is refused when a source or its destination is used by an active compaction or an earlier
 * proposal (conflict), or when its output would be compactable with the next run and that run already
 * heads a maximal window (backpressure: let the lower tier catch up first).
 */
import { Manifest } from "../manifest/Manifest.ts"
import type { CompactionSource, CompactionSpec } from "./CompactorState.ts"

export interface SchedulerOptions {
  readonly minCompactionSources: number
  /**
   * Fewest L0 SSTs compacted at once, when not `minCompactionSources`: an embedded compactor uses at most
   * the writer's `l0MaxSsts`, or L0 could never hold enough SSTs to start a compaction (SlateDB stalls then).
   */
  readonly minL0Sources?: number
  readonly maxCompactionSources: number
  readonly includeSizeThreshold: number
  readonly maxConcurrentCompactions: number
}

interface Sized {
  readonly source: CompactionSource
  readonly size: number
}

const keyOf = (s: CompactionSource): string => `${s.kind}:${s.id}`

/** `(size as f32 * factor as f32) as u64`: SlateDB compares sizes in single precision. */
const scaled = (size: number, factor: number): number => Math.trunc(Math.fround(Math.fround(size) * Math.fround(factor)))

/** The scheduler's sources: L0 newest first, runs highest id first, with their estimated sizes. */
export const sizedSources = (manifest: Manifest) => ({
  l0: manifest.l0.map((sst): Sized => ({ source: { kind: "l0", id: sst.id }, size: Manifest.sstBytes(sst) })),
  runs: manifest.compacted.map((run): Sized => ({ source: { kind: "sr", id: run.id }, size: Manifest.runBytes(run) }))
})

/** The window of consecutive runs from `start` that grows while sizes stay within the threshold. */
const compactableRun = (
  threshold: number,
  runs: ReadonlyArray<Sized>,
  start: number,
  accept?: (window: ReadonlyArray<Sized>, dst: number, next: Sized | undefined) => boolean
): Array<Sized> => {
  const window: Array<Sized> = []
  let min: number | undefined
  for (let i = start; i < runs.length; i++) {
    const run = runs[i]!
    if (min !== undefined) {
      if (run.size > scaled(min, threshold)) break
      min = Math.min(min, run.size)
    } else {
      min = run.size
    }
    window.push(run)
    if (accept !== undefined && !accept(window, run.source.id as number, runs[i + 1])) {
      window.pop()
      break
    }
  }
  return window
}

/** Proposes compactions for `manifest`, given the sources already used by active compactions. */
export const propose = (
  manifest: Manifest,
  active: ReadonlyArray<CompactionSpec>,
  options: SchedulerOptions
): Array<CompactionSpec> => {
  const { l0, runs } = sizedSources(manifest)
  const used = new Set<string>()
  const use = (spec: CompactionSpec) => {
    for (const s of spec.sources) used.add(keyOf(s))
    used.add(keyOf({ kind: "sr", id: spec.destination }))
  }
  for (const spec of active) use(spec)
  // Backpressure: the longest window each run heads, unchecked.
  const longest = new Map(runs.map((r, i) => [r.source.id as number, compactableRun(options.includeSizeThreshold, runs, i).length]))

  const accept = (window: ReadonlyArray<Sized>, dst: number, next: Sized | undefined): boolean => {
    if (window.some((s) => used.has(keyOf(s.source))) || used.has(keyOf({ kind: "sr", id: dst }))) return false
    if (next !== undefined) {
      const estimate = window.reduce((n, s) => n + s.size, 0)
      if (next.size <= scaled(estimate, options.includeSizeThreshold)) {
        if ((longest.get(next.source.id as number) ?? 0) >= options.maxCompactionSources) return false
      }
    }
    return true
  }

  const clampMax = (window: ReadonlyArray<Sized>) => window.slice(Math.max(0, window.length - options.maxCompactionSources))

  const pickNext = (): CompactionSpec | undefined => {
    if (l0.length >= (options.minL0Sources ?? options.minCompactionSources)) {
      const window = clampMax(l0)
      const dst = runs.length === 0 ? 0 : (runs[0]!.source.id as number) + 1
      if (accept(window, dst, runs[0])) return { sources: window.map((s) => s.source), destination: dst }
    }
    for (let i = 0; i < runs.length; i++) {
      const window = compactableRun(options.includeSizeThreshold, runs, i, accept)
      if (window.length < options.minCompactionSources) continue
      const clamped = clampMax(window)
      return { sources: clamped.map((s) => s.source), destination: clamped[clamped.length - 1]!.source.id as number }
    }
    return undefined
  }

  const out: Array<CompactionSpec> = []
  while (active.length + out.length < options.maxConcurrentCompactions) {
    const spec = pickNext()
    if (spec === undefined) break
    use(spec)
    out.push(spec)
  }
  return out
}

/**
 * A full compaction: every L0 SST and every sorted run into one run (the lowest run id, or run 0). SlateDB's
 * `CompactionRequest::Full` takes the sorted runs only; Shale's takes L0 too, so that "compact everything"
 * means everything (the spec is one SlateDB's validation accepts as well). Undefined when there is nothing.
 */
export const fullCompaction = (manifest: Manifest): CompactionSpec | undefined => {
  if (manifest.compacted.length === 0 && manifest.l0.length === 0) return undefined
  return {
    sources: [
      ...manifest.l0.map((sst): CompactionSource => ({ kind: "l0", id: sst.id })),
      ...manifest.compacted.map((run): CompactionSource => ({ kind: "sr", id: run.id }))
    ],
    destination: manifest.compacted.length === 0 ? 0 : Math.min(...manifest.compacted.map((run) => run.id))
  }
}

/**
 * Why a compaction may not start now (docs/format.md §3.7.5), or undefined: its sources must exist and be
 * a consecutive window of [L0 newest → oldest, runs highest → lowest id] whose L0 part, if any, ends with
 * the oldest L0 SST (not in §3.7.5: a window of newer L0 SSTs alone would make the manifest merges, which
 * cut L0 at `l0_last_compacted`, drop the older ones and their rows); with runs among them the
 * destination is their lowest id; an L0-only compaction creates a run above every existing one; and no
 * two compactions with L0 sources run at once.
 */
export const startProblem = (
  manifest: Manifest,
  spec: CompactionSpec,
  runningHaveL0: boolean
): string | undefined => {
  if (spec.sources.length === 0) return "it has no sources"
  const order = [
    ...manifest.l0.map((sst): CompactionSource => ({ kind: "l0", id: sst.id })),
    ...manifest.compacted.map((run): CompactionSource => ({ kind: "sr", id: run.id }))
  ].map(keyOf)
  const wanted = spec.sources.map(keyOf)
  const missing = wanted.find((k) => !order.includes(k))
  if (missing !== undefined) return `source ${missing} is not in the manifest`
  const start = order.indexOf(wanted[0]!)
  if (wanted.some((k, i) => order[start + i] !== k)) return "its sources are not a consecutive window of L0 and the runs"
  const l0Sources = spec.sources.filter((s) => s.kind === "l0")
  const oldest = manifest.l0[manifest.l0.length - 1]
  if (l0Sources.length > 0 && l0Sources[l0Sources.length - 1]!.id !== oldest?.id) {
    // Older L0 SSTs left behind would sit below `l0_last_compacted`, which every manifest merge cuts at.
    return "its L0 sources do not end with the oldest L0 SST"
  }
  const runIds = spec.sources.flatMap((s) => (s.kind === "sr" ? [s.id] : []))
  const hasL0 = runIds.length < spec.sources.length
  if (runIds.length === 0) {
    const above = manifest.compacted.length === 0 ? 0 : manifest.compacted[0]!.id + 1
    if (spec.destination < above) return `an L0-only compaction must create a run above ${above - 1}`
  } else if (spec.destination !== Math.min(...runIds)) {
    return `its destination ${spec.destination} is not the lowest source run ${Math.min(...runIds)}`
  }
  if (hasL0 && runningHaveL0) return "another compaction of L0 is running"
  return undefined
}
