/**
 * W2's tables (Markdown, like W1's in Report.ts): the figures per implementation (medians over the runs),
 * Shale / SlateDB ratios, and the targets. A figure is a function of one run (what the worker
 * measured, plus what the harness read from the store, W2Stats.ts).
 */
import type { W2RunResult } from "./W2Protocol.ts"
import { formatInt, formatMb, formatRatio, median } from "./Report.ts"
import { gcMedians, type GcRunFigures } from "./W2Gc.ts"
import type { StoreStats } from "./W2Stats.ts"
import { W2_SETTINGS } from "./W2Workload.ts"

export interface W2Run {
  readonly result: W2RunResult
  /** Undefined when the store could not be read afterwards. */
  readonly store: StoreStats | undefined
  /** The store over the load and the engine's collector counters (W2Gc.ts); undefined when not read. */
  readonly gc: GcRunFigures | undefined
}

export interface W2ImplementationReport {
  /** The implementation's name, with " (GC on)" or " (GC off)" when W2 ran both. */
  readonly name: string
  readonly implementation: string
  readonly description: string
  readonly family: "shale" | "peer"
  /** Whether the engines' garbage collectors ran (`--gc`). */
  readonly gc: "on" | "off"
  readonly status: "ok" | "unavailable" | "failed"
  readonly message: string | undefined
  readonly runs: ReadonlyArray<W2Run>
  /** Per figure (by key): the median over the runs. */
  readonly median: Readonly<Record<string, number>>
  /** Per GC figure (W2Gc.ts `GC_FIGURES`): the median over the runs. */
  readonly gcMedian: Readonly<Record<string, number>>
  readonly problems: ReadonlyArray<string>
}

type Format = "int" | "s" | "mb" | "mbs" | "x" | "pct" | "dec"

interface Figure {
  readonly key: string
  readonly label: string
  readonly format: Format
  readonly of: (run: W2Run) => number | undefined
}

const ops = (r: W2RunResult) => r.load.puts + r.load.deletes
const loadMs = (r: W2RunResult) => (r.load.waitMs === undefined ? undefined : r.load.writeMs + r.load.flushMs + r.load.waitMs)
const perSecond = (x: number | undefined, ms: number | undefined) =>
  x === undefined || ms === undefined || ms <= 0 ? undefined : (x / ms) * 1000
const share = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b <= 0 ? undefined : a / b)

const L0_MAX = W2_SETTINGS.l0MaxSsts

export const FIGURES: ReadonlyArray<Figure> = [
  { key: "write", label: "load: writes (ops/s)", format: "int", of: ({ result: r }) => perSecond(ops(r), r.load.writeMs) },
  { key: "load", label: "load with flush and compaction wait (ops/s)", format: "int", of: ({ result: r }) => perSecond(ops(r), loadMs(r)) },
  { key: "wait", label: "… wait after the flush until settled", format: "s", of: ({ result: r }) => r.load.waitMs },
  { key: "l0Max", label: `L0 SSTs, max (l0MaxSsts ${L0_MAX})`, format: "int", of: ({ store }) => store?.l0Max },
  { key: "l0Mean", label: "L0 SSTs, time-weighted mean", format: "dec", of: ({ store }) => store?.l0Mean },
  { key: "l0AtLimit", label: `time with L0 at ${L0_MAX} (writer stalls)`, format: "pct", of: ({ store }) => store?.l0AtLimitShare },
  { key: "l0Ssts", label: "L0 SSTs written", format: "int", of: ({ store }) => store?.l0Ssts },
  { key: "l0Bytes", label: "L0 bytes written", format: "mb", of: ({ store }) => store?.l0Bytes },
  { key: "compactions", label: "compactions", format: "int", of: ({ store }) => store?.load.compactions },
  { key: "compactionBytes", label: "bytes written by compaction", format: "mb", of: ({ store }) => store?.load.bytes },
  { key: "amplification", label: "… per L0 byte", format: "x", of: ({ store }) => share(store?.load.bytes, store?.l0Bytes) },
  { key: "busy", label: "compactor busy (≥ 1 compaction running)", format: "s", of: ({ store }) => store?.load.busyMs },
  {
    key: "compactionRate",
    label: "compaction MB/s over the load (incl. wait)",
    format: "mbs",
    of: ({ result: r, store }) => perSecond(store?.load.bytes, loadMs(r))
  },
  { key: "compactionBusyRate", label: "compaction MB/s while busy", format: "mbs", of: ({ store }) => perSecond(store?.load.bytes, store?.load.busyMs) },
  {
    key: "loadCpu",
    label: "process CPU over the load (CPUs in use, all threads)",
    format: "dec",
    of: ({ result: r }) => share(r.load.cpuMs, loadMs(r))
  },
  { key: "steadyL0", label: "after the load: L0 SSTs", format: "int", of: ({ store }) => store?.steady.l0 },
  { key: "steadyRuns", label: "after the load: sorted runs", format: "int", of: ({ store }) => store?.steady.sortedRuns },
  { key: "steadyBytes", label: "after the load: bytes in L0 and runs", format: "mb", of: ({ store }) => store?.steady.bytes },
  { key: "steadyGet", label: "get after the load (ops/s)", format: "int", of: ({ result: r }) => r.steady.gets.value },
  { key: "steadyScan", label: "scan after the load (rows/s)", format: "int", of: ({ result: r }) => r.steady.scans.value },
  { key: "full", label: "full compaction (until one run, no L0)", format: "s", of: ({ result: r }) => r.full?.ms },
  { key: "fullCompactions", label: "… compactions", format: "int", of: ({ store }) => store?.full?.compactions },
  { key: "fullBytes", label: "… bytes written", format: "mb", of: ({ store }) => store?.full?.bytes },
  { key: "compactedBytes", label: "fully compacted: bytes in the run", format: "mb", of: ({ store }) => store?.compacted?.bytes },
  { key: "compactedGet", label: "get, fully compacted (ops/s)", format: "int", of: ({ result: r }) => r.compacted?.gets.value },
  { key: "compactedScan", label: "scan, fully compacted (rows/s)", format: "int", of: ({ result: r }) => r.compacted?.scans.value },
  {
    key: "getShare",
    label: "get after the load / fully compacted",
    format: "pct",
    of: ({ result: r }) => share(r.steady.gets.value, r.compacted?.gets.value)
  },
  {
    key: "scanShare",
    label: "scan after the load / fully compacted",
    format: "pct",
    of: ({ result: r }) => share(r.steady.scans.value, r.compacted?.scans.value)
  },
  { key: "peakRss", label: "peak RSS", format: "mb", of: ({ result: r }) => r.peakRssBytes },
  { key: "rssAfterWrites", label: "RSS when the last pass returned", format: "mb", of: ({ result: r }) => r.load.memoryAfterWrites.rss },
  { key: "heapAfterWrites", label: "… JS heap used then", format: "mb", of: ({ result: r }) => r.load.memoryAfterWrites.heapUsed },
  { key: "baselineRss", label: "RSS before opening", format: "mb", of: ({ result: r }) => r.baselineRssBytes }
]

const format = (f: Format, x: number | undefined): string => {
  if (x === undefined || !Number.isFinite(x)) return "-"
  switch (f) {
    case "int":
      return formatInt(x)
    case "s":
      return `${(x / 1000).toFixed(1)} s`
    case "mb":
      return formatMb(x)
    case "mbs":
      return (x / 1e6).toFixed(1)
    case "x":
      return `${x.toFixed(2)}×`
    case "pct":
      return `${(x * 100).toFixed(1)} %`
    case "dec":
      return x.toFixed(1)
  }
}

export const summarizeW2 = (
  implementation: {
    readonly name: string
    readonly implementation: string
    readonly description: string
    readonly family: "shale" | "peer"
    readonly gc: "on" | "off"
  },
  runs: ReadonlyArray<W2Run>,
  failure: { readonly status: "unavailable" | "failed"; readonly message: string } | undefined
): W2ImplementationReport => {
  const medians: Record<string, number> = {}
  for (const f of FIGURES) {
    const m = f.key === "l0Max" || f.key === "peakRss"
      ? maxOf(runs.map(f.of))
      : median(runs.map(f.of).filter((x): x is number => x !== undefined))
    if (m !== undefined) medians[f.key] = m
  }
  return {
    ...implementation,
    status: runs.length > 0 ? "ok" : failure?.status ?? "failed",
    message: failure?.message,
    runs,
    median: medians,
    gcMedian: gcMedians(runs.map((r) => r.gc)),
    problems: runs.flatMap((r, i) => r.result.problems.map((p) => `run ${i + 1}: ${p}`))
  }
}

const maxOf = (xs: ReadonlyArray<number | undefined>) => {
  const ys = xs.filter((x): x is number => x !== undefined)
  return ys.length === 0 ? undefined : Math.max(...ys)
}

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
const separator = (n: number) => `|${"---|".repeat(n)}`

/** Figures (rows) × implementations (columns). */
export const w2Table = (reports: ReadonlyArray<W2ImplementationReport>): string => {
  const ok = reports.filter((r) => r.status === "ok")
  if (ok.length === 0) return ""
  return [
    row(["W2", ...ok.map((r) => r.name)]),
    separator(ok.length + 1),
    ...FIGURES.map((f) => row([f.label, ...ok.map((r) => format(f.format, r.median[f.key]))]))
  ].join("\n")
}

const RATIO_KEYS = ["write", "load", "compactionRate", "compactionBusyRate", "steadyGet", "steadyScan", "compactedGet", "compactedScan", "peakRss"]

export interface W2RatioRow {
  readonly shale: string
  readonly peer: string
  readonly ratios: Readonly<Record<string, number>>
}

export const w2Ratios = (reports: ReadonlyArray<W2ImplementationReport>): ReadonlyArray<W2RatioRow> => {
  const ok = reports.filter((r) => r.status === "ok")
  return ok.filter((r) => r.family === "shale").flatMap((shale) =>
    ok.filter((r) => r.family === "peer" && r.gc === shale.gc).map((peer) => ({
      shale: shale.name,
      peer: peer.name,
      ratios: Object.fromEntries(RATIO_KEYS.flatMap((k) => {
        const a = shale.median[k]
        const b = peer.median[k]
        return a === undefined || b === undefined || b <= 0 ? [] : [[k, a / b]]
      }))
    }))
  )
}

export const w2RatioTable = (rows: ReadonlyArray<W2RatioRow>): string => {
  if (rows.length === 0) return ""
  const labels = RATIO_KEYS.map((k) => FIGURES.find((f) => f.key === k)!.label)
  return [
    row(["Shale / peer", ...labels]),
    separator(labels.length + 1),
    ...rows.map((r) => row([`${r.shale} / ${r.peer}`, ...RATIO_KEYS.map((k) => (r.ratios[k] === undefined ? "-" : formatRatio(r.ratios[k]!)))]))
  ].join("\n")
}

/**
 * The targets, per implementation: the figure, and whether it meets the target. `scanRows` names
 * the scans' length in their row (the target is judged at W2's default, 100).
 */
export const w2TargetTable = (reports: ReadonlyArray<W2ImplementationReport>, scanRows: number): string => {
  const ok = reports.filter((r) => r.status === "ok")
  const peerOf = (r: W2ImplementationReport) => ok.find((p) => p.family === "peer" && p.gc === r.gc)
  if (ok.length === 0) return ""
  const mark = (pass: boolean | undefined) => (pass === undefined ? "" : pass ? " ✓" : " ✗")
  const targets: ReadonlyArray<{ label: string; key: string; format: Format; pass: (r: W2ImplementationReport, x: number) => boolean | undefined }> = [
    { label: `L0 max ≤ l0MaxSsts (${L0_MAX})`, key: "l0Max", format: "int", pass: (_, x) => x <= L0_MAX },
    { label: "get after the load ≥ 80 % of fully compacted", key: "getShare", format: "pct", pass: (_, x) => x >= 0.8 },
    { label: `scan (${formatInt(scanRows)} rows) after the load ≥ 80 % of fully compacted`, key: "scanShare", format: "pct", pass: (_, x) => x >= 0.8 },
    ...(["compactionRate", "compactionBusyRate", "steadyGet"] as const).map((key) => ({
      label: `${FIGURES.find((f) => f.key === key)!.label} ≥ SlateDB's`,
      key,
      format: (key === "steadyGet" ? "int" : "mbs") as Format,
      pass: (r: W2ImplementationReport, x: number) => {
        const p = peerOf(r)?.median[key]
        return r.family === "peer" || p === undefined ? undefined : x >= p
      }
    }))
  ]
  return [
    row(["target", ...ok.map((r) => r.name)]),
    separator(ok.length + 1),
    ...targets.map((t) =>
      row([t.label, ...ok.map((r) => {
        const x = r.median[t.key]
        return x === undefined ? "-" : `${format(t.format, x)}${mark(t.pass(r, x))}`
      })])
    )
  ].join("\n")
}
