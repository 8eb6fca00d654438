/**
 * Turns the runs into what `npm run bench` prints and writes: per implementation the median of each phase
 * over the repeats (and the highest peak RSS), Shale's ratio to each comparable peer, and the
 * injected-latency table. The tables are Markdown, so the printed text can be pasted into the README.
 *
 * Ratios are always Shale / peer of the figure in the table: above 1 means Shale is faster for ops/s and
 * rows/s, and (careful) slower for `put_durable_seq`, whose figure is a latency, and bigger for RSS.
 * A Shale implementation is compared with peers on the same kind of store: memory with SlateDB's memory
 * store; file with SlateDB's file store, LevelDB and LMDB.
 */
import type { Family, Implementation, Storage } from "./Implementations.ts"
import type { RunResult } from "./Protocol.ts"
import { LATENCY_PHASES, type Phase, PHASES, phaseUnit } from "./Workload.ts"

export type Status = "ok" | "unavailable" | "failed"

export interface ImplementationReport {
  readonly name: string
  readonly description: string
  readonly family: Family
  readonly storage: Storage
  readonly status: Status
  /** Why the implementation was not measured, or why a run failed. */
  readonly message: string | undefined
  readonly runs: ReadonlyArray<RunResult>
  /** Per phase: the median over the runs of ops/s, rows/s, or mean latency in ms. */
  readonly median: Partial<Record<Phase, number>>
  /** Per phase: the median over the runs of store PUTs per second (injected-latency runs). */
  readonly medianStorePutsPerSecond: Partial<Record<Phase, number>>
  /** Per phase: the median over the runs of store PUTs per operation (injected-latency runs). */
  readonly medianStorePutsPerOp: Partial<Record<Phase, number>>
  /** Median over the runs of the share of `put_nodurable_seq`'s puts durable when its last put returned. */
  readonly durableShareAtEnd: number | undefined
  /** The highest peak RSS of the runs, bytes. */
  readonly peakRssBytes: number | undefined
  /** The median RSS before opening the database (Node, the harness, W1's keys), bytes. */
  readonly baselineRssBytes: number | undefined
  /** Correctness problems seen in any run. */
  readonly problems: ReadonlyArray<string>
}

export const median = (xs: ReadonlyArray<number>): number | undefined => {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const medianOf = (runs: ReadonlyArray<RunResult>, f: (r: RunResult) => number | undefined) =>
  median(runs.map(f).filter((x): x is number => x !== undefined))

export const summarize = (
  implementation: Implementation,
  runs: ReadonlyArray<RunResult>,
  failure: { readonly status: Status; readonly message: string } | undefined
): ImplementationReport => {
  const byPhase = (f: (r: RunResult, phase: Phase) => number | undefined) => {
    const out: Partial<Record<Phase, number>> = {}
    for (const phase of implementation.phases) {
      const m = medianOf(runs, (r) => f(r, phase))
      if (m !== undefined) out[phase] = m
    }
    return out
  }
  const phaseOf = (r: RunResult, phase: Phase) => r.phases.find((p) => p.phase === phase)
  const problems = runs.flatMap((r, i) =>
    r.phases.flatMap((p) => (p.problem === undefined ? [] : [`run ${i + 1}, ${p.phase}: ${p.problem}`]))
  )
  const rss = runs.map((r) => r.peakRssBytes)
  return {
    name: implementation.name,
    description: implementation.description,
    family: implementation.family,
    storage: implementation.storage,
    status: runs.length > 0 ? "ok" : failure?.status ?? "failed",
    message: failure?.message,
    runs,
    median: byPhase((r, phase) => phaseOf(r, phase)?.value),
    medianStorePutsPerSecond: byPhase((r, phase) => {
      const p = phaseOf(r, phase)
      return p?.storePuts === undefined ? undefined : (p.storePuts / p.ms) * 1000
    }),
    medianStorePutsPerOp: byPhase((r, phase) => {
      const p = phaseOf(r, phase)
      return p?.storePuts === undefined ? undefined : p.storePuts / p.ops
    }),
    durableShareAtEnd: medianOf(runs, (r) => {
      const p = phaseOf(r, "put_nodurable_seq")
      return p?.durableAtEnd === undefined ? undefined : p.durableAtEnd / p.ops
    }),
    peakRssBytes: rss.length === 0 ? undefined : Math.max(...rss),
    baselineRssBytes: medianOf(runs, (r) => r.baselineRssBytes),
    problems
  }
}

// ---- formatting ---------------------------------------------------------------------------------------------

/**
 * The notes under a report's tables on how each implementation's runs went: not measured or failed (with
 * the first line of why), or measured with a run that failed.
 */
export const outcomeNotes = (
  reports: ReadonlyArray<{ readonly name: string; readonly status: Status; readonly message?: string | undefined }>
): Array<string> => [
  ...reports.filter((r) => r.status !== "ok").map((r) => `- ${r.name}: ${r.status === "unavailable" ? "not measured" : "failed"}: ${r.message?.split("\n")[0]}`),
  ...reports.filter((r) => r.status === "ok" && r.message !== undefined).map((r) => `- ${r.name}: a run failed: ${r.message?.split("\n")[0]}`)
]

export const formatInt = (n: number): string => Math.round(n).toLocaleString("en-US")

export const formatMs = (ms: number): string =>
  ms < 1 ? `${ms.toFixed(2)} ms` : ms < 10 ? `${ms.toFixed(1)} ms` : `${formatInt(ms)} ms`

export const formatMb = (bytes: number): string => `${formatInt(bytes / 1e6)} MB`

export const formatRatio = (r: number): string =>
  !Number.isFinite(r) ? "-" : r >= 100 ? `${formatInt(r)}×` : `${r.toPrecision(3)}×`

export const formatPhaseValue = (phase: Phase, value: number | undefined): string =>
  value === undefined ? "-" : phaseUnit(phase) === "ms" ? formatMs(value) : formatInt(value)

const PHASE_LABEL: Record<Phase, string> = {
  put_nodurable_seq: "put_nodurable_seq (ops/s)",
  put_durable_c256: "put_durable_c256 (ops/s)",
  put_durable_seq: "put_durable_seq (mean latency)",
  get_random_seq: "get_random_seq (ops/s)",
  scan_all: "scan_all (rows/s)"
}

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
const separator = (n: number) => `|${"---|".repeat(n)}`

/** Phases (rows) × implementations (columns), plus peak RSS. */
export const mainTable = (reports: ReadonlyArray<ImplementationReport>): string => {
  const measured = reports.filter((r) => r.status === "ok" && r.family !== "latency")
  if (measured.length === 0) return ""
  const lines = [row(["phase", ...measured.map((r) => r.name)]), separator(measured.length + 1)]
  for (const phase of PHASES) {
    lines.push(row([PHASE_LABEL[phase], ...measured.map((r) => formatPhaseValue(phase, r.median[phase]))]))
    if (phase === "put_nodurable_seq") {
      lines.push(row([
        "… durable when its last put returned",
        ...measured.map((r) => (r.durableShareAtEnd === undefined ? "-" : `${(r.durableShareAtEnd * 100).toFixed(1)} %`))
      ]))
    }
  }
  lines.push(row(["peak RSS", ...measured.map((r) => (r.peakRssBytes === undefined ? "-" : formatMb(r.peakRssBytes)))]))
  lines.push(row(["RSS before opening", ...measured.map((r) => (r.baselineRssBytes === undefined ? "-" : formatMb(r.baselineRssBytes)))]))
  return lines.join("\n")
}

export interface RatioRow {
  readonly shale: string
  readonly peer: string
  /** Shale / peer of each phase's figure, and of the peak RSS. */
  readonly ratios: Partial<Record<Phase | "peak_rss", number>>
}

const comparable = (shale: ImplementationReport, peer: ImplementationReport) => shale.storage === peer.storage

export const ratios = (reports: ReadonlyArray<ImplementationReport>): ReadonlyArray<RatioRow> => {
  const ok = reports.filter((r) => r.status === "ok")
  const shales = ok.filter((r) => r.family === "shale")
  const peers = ok.filter((r) => r.family === "peer")
  return shales.flatMap((shale) =>
    peers.filter((peer) => comparable(shale, peer)).map((peer): RatioRow => {
      const out: Partial<Record<Phase | "peak_rss", number>> = {}
      for (const phase of PHASES) {
        const a = shale.median[phase]
        const b = peer.median[phase]
        if (a !== undefined && b !== undefined && b > 0) out[phase] = a / b
      }
      if (shale.peakRssBytes !== undefined && peer.peakRssBytes !== undefined) {
        out.peak_rss = shale.peakRssBytes / peer.peakRssBytes
      }
      return { shale: shale.name, peer: peer.name, ratios: out }
    })
  )
}

/** Comparisons (rows) × phases (columns). */
export const ratioTable = (rows: ReadonlyArray<RatioRow>): string => {
  if (rows.length === 0) return ""
  const columns = [...PHASES, "peak_rss"] as const
  const header = ["Shale / peer", ...PHASES.map((p) => (p === "put_durable_seq" ? "put_durable_seq (latency)" : p)), "peak RSS"]
  const lines = [row(header), separator(header.length)]
  for (const r of rows) {
    lines.push(row([`${r.shale} / ${r.peer}`, ...columns.map((c) => {
      const x = r.ratios[c]
      return x === undefined ? "-" : formatRatio(x)
    })]))
  }
  return lines.join("\n")
}

/** The injected-latency experiment: one row per durable-flush mode. */
export const latencyTable = (reports: ReadonlyArray<ImplementationReport>): string => {
  const measured = reports.filter((r) => r.status === "ok" && r.family === "latency")
  if (measured.length === 0) return ""
  const [c256, seq] = LATENCY_PHASES
  const header = [
    "run",
    `${c256} (ops/s)`,
    "PUTs/s",
    "PUTs per 1,000 puts",
    `${seq} (mean latency)`,
    "PUTs/s"
  ]
  const lines = [row(header), separator(header.length)]
  for (const r of measured) {
    const perSecond = (p: Phase) => {
      const x = r.medianStorePutsPerSecond[p]
      return x === undefined ? "-" : formatInt(x)
    }
    const perOp = r.medianStorePutsPerOp[c256]
    lines.push(row([
      r.name,
      formatPhaseValue(c256, r.median[c256]),
      perSecond(c256),
      perOp === undefined ? "-" : formatInt(perOp * 1000),
      formatPhaseValue(seq, r.median[seq]),
      perSecond(seq)
    ]))
  }
  return lines.join("\n")
}
