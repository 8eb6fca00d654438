/**
 * W3 with `--repeat N`: one implementation's runs folded into one result for the tables, each figure the
 * median over the runs (as W1 and W2 report theirs). Figures are taken one by one, so a phase's p50 and
 * p99 may come from different runs; request counts are medians kind by kind.
 */
import { median } from "./Report.ts"
import type { W3PhaseResult, W3RunResult } from "./W3Protocol.ts"

/** The median of the defined values, undefined when none is. */
const medianOf = (xs: ReadonlyArray<number | undefined>): number | undefined =>
  median(xs.filter((x): x is number => x !== undefined))

/** The median of values there is at least one of. */
const middle = (xs: ReadonlyArray<number>): number => median(xs)!

/** Counts (a record of numbers) kind by kind; undefined when no run has them. */
const medianCounts = <C extends object>(all: ReadonlyArray<C | undefined>): C | undefined => {
  const runs = all.filter((c): c is C => c !== undefined)
  if (runs.length === 0) return undefined
  const out: Record<string, number> = {}
  for (const key of Object.keys(runs[0]!)) out[key] = middle(runs.map((c) => Number((c as Record<string, unknown>)[key] ?? 0)))
  return out as C
}

const medianPhase = (phases: ReadonlyArray<W3PhaseResult>): W3PhaseResult => {
  const first = phases[0]!
  const rows = medianOf(phases.map((p) => p.rows))
  const p50Ms = medianOf(phases.map((p) => p.p50Ms))
  const p99Ms = medianOf(phases.map((p) => p.p99Ms))
  const meanMs = medianOf(phases.map((p) => p.meanMs))
  const server = medianCounts(phases.map((p) => p.server))
  const own = medianCounts(phases.map((p) => p.own))
  const problems = phases.flatMap((p) => (p.problem === undefined ? [] : [p.problem]))
  return {
    phase: first.phase,
    ops: first.ops,
    ms: middle(phases.map((p) => p.ms)),
    ...(rows === undefined ? {} : { rows }),
    ...(p50Ms === undefined ? {} : { p50Ms }),
    ...(p99Ms === undefined ? {} : { p99Ms }),
    ...(meanMs === undefined ? {} : { meanMs }),
    ...(server === undefined ? {} : { server }),
    ...(own === undefined ? {} : { own }),
    ...(problems.length === 0 ? {} : { problem: problems.join("; ") })
  }
}

/** The runs of one implementation as one result: medians phase by phase, every problem, the highest RSS. */
export const medianRun = (runs: ReadonlyArray<W3RunResult>): W3RunResult => {
  if (runs.length === 1) return runs[0]!
  const phases = runs[0]!.phases.map((p) => medianPhase(runs.flatMap((r) => r.phases.filter((q) => q.phase === p.phase))))
  return {
    phases,
    compaction: runs[0]!.compaction,
    readOpenMs: middle(runs.map((r) => r.readOpenMs)),
    problems: runs.flatMap((r, i) => r.problems.map((p) => `run ${i + 1}: ${p}`)),
    peakRssBytes: Math.max(...runs.map((r) => r.peakRssBytes))
  }
}
