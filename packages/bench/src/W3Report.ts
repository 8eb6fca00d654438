/**
 * W3's tables (Markdown, as W1's and W2's): per phase × implementation the throughput, latency p50/p99 and
 * store requests per 1,000 operations; Shale / SlateDB ratios; the durable write cost per flush mode; the
 * issue's targets with ✓/✗. The figures are one run's, or with `--repeat` the medians over the runs
 * (W3Median.ts).
 *
 * Requests are what reached the S3 server (the proxy's count) on S3, and the store wrapper's count on the
 * injected-latency store, which has no server.
 */
import { REQUEST_KINDS, type RequestCounts } from "./engines/LatencyStore.ts"
import { formatInt, formatMs, formatRatio } from "./Report.ts"
import type { W3PhaseResult, W3RunResult } from "./W3Protocol.ts"
import { FLUSH_MODES, type W3Phase, W3_PHASES } from "./W3Workload.ts"

export interface W3ImplementationReport {
  readonly name: string
  readonly family: "shale" | "peer"
  readonly store: "s3" | "latency"
  readonly status: "ok" | "unavailable" | "failed"
  readonly message: string | undefined
  readonly result: W3RunResult | undefined
}

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
const separator = (n: number) => `|${"---|".repeat(n)}`

const phaseOf = (r: W3ImplementationReport, phase: W3Phase) => r.result?.phases.find((p) => p.phase === phase)
const countsOf = (p: W3PhaseResult): RequestCounts | undefined => p.server ?? p.own
const total = (c: RequestCounts) => REQUEST_KINDS.reduce((a, k) => a + c[k], 0) + ("other" in c ? Number(c.other) : 0)

/** Requests per 1,000 operations of the phase. */
export const requestsPer1000 = (p: W3PhaseResult | undefined): number | undefined => {
  const c = p === undefined ? undefined : countsOf(p)
  return p === undefined || c === undefined || p.ops === 0 ? undefined : (total(c) / p.ops) * 1000
}

const KIND_LABEL: Readonly<Record<string, string>> = { get: "GET", getRange: "range GET", head: "HEAD", put: "PUT", list: "LIST", delete: "DELETE", other: "other" }

const byKind = (p: W3PhaseResult): string => {
  const c = countsOf(p)
  if (c === undefined) return "-"
  const kinds = [...REQUEST_KINDS, ...("other" in c ? ["other" as const] : [])]
  const parts = kinds.flatMap((k) => {
    const n = (c as unknown as Record<string, number>)[k] ?? 0
    return n === 0 ? [] : [`${KIND_LABEL[k]} ${per1000(n, p.ops)}`]
  })
  return parts.length === 0 ? "0" : parts.join(" · ")
}

const per1000 = (n: number, ops: number) => {
  const x = (n / ops) * 1000
  return x >= 10 ? formatInt(x) : x.toFixed(1)
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

interface Line {
  readonly label: string
  readonly cell: (p: W3PhaseResult) => string
}

const linesOf = (phase: W3Phase): ReadonlyArray<Line> => {
  const scans = phase === "scan" || phase === "scan_no_read_ahead"
  const rate: Line = scans
    ? { label: "scans/s (rows/s)", cell: (p) => `${((p.ops / p.ms) * 1000).toFixed(2)} (${formatInt(((p.rows ?? 0) / p.ms) * 1000)})` }
    : phase === "load" || phase === "compact"
    ? { label: "time (keys/s)", cell: (p) => `${seconds(p.ms)} (${formatInt((p.ops / p.ms) * 1000)})` }
    : { label: "ops/s", cell: (p) => formatInt((p.ops / p.ms) * 1000) }
  const latency: ReadonlyArray<Line> = phase === "load" || phase === "compact"
    ? []
    : [{ label: "p50 / p99", cell: (p) => (p.p50Ms === undefined ? "-" : `${formatMs(p.p50Ms)} / ${formatMs(p.p99Ms ?? 0)}`) }]
  const per = phase === "load" || phase === "compact" ? "key" : scans ? "scan" : "op"
  return [
    rate,
    ...latency,
    { label: `requests / 1,000 ${per}s`, cell: (p) => (p.ops === 0 || countsOf(p) === undefined ? "-" : per1000(total(countsOf(p)!), p.ops)) },
    { label: "… by kind", cell: byKind }
  ]
}

/** Phases (with their figures) × implementations. */
export const w3Table = (reports: ReadonlyArray<W3ImplementationReport>): string => {
  const ok = reports.filter((r) => r.status === "ok")
  if (ok.length === 0) return ""
  return [
    row(["W3", ...ok.map((r) => r.name)]),
    separator(ok.length + 1),
    ...W3_PHASES.flatMap((phase) =>
      linesOf(phase).map((line) =>
        row([`${phase}: ${line.label}`, ...ok.map((r) => {
          const p = phaseOf(r, phase)
          return p === undefined ? "-" : line.cell(p)
        })])
      )
    )
  ].join("\n")
}

const pair = (reports: ReadonlyArray<W3ImplementationReport>) => {
  const ok = reports.filter((r) => r.status === "ok" && r.store === "s3")
  const shale = ok.find((r) => r.family === "shale")
  const peer = ok.find((r) => r.family === "peer")
  return shale === undefined || peer === undefined ? undefined : { shale, peer }
}

const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b <= 0 ? "-" : formatRatio(a / b))

/** Shale / SlateDB on S3, per phase: throughput, p50, p99, requests per operation. */
export const w3RatioTable = (reports: ReadonlyArray<W3ImplementationReport>): string => {
  const both = pair(reports)
  if (both === undefined) return ""
  const rate = (p: W3PhaseResult | undefined) => (p === undefined ? undefined : (p.ops / p.ms) * 1000)
  return [
    row([`${both.shale.name} / ${both.peer.name}`, "throughput", "p50", "p99", "requests / op"]),
    separator(5),
    ...W3_PHASES.map((phase) => {
      const a = phaseOf(both.shale, phase)
      const b = phaseOf(both.peer, phase)
      return row([phase, ratio(rate(a), rate(b)), ratio(a?.p50Ms, b?.p50Ms), ratio(a?.p99Ms, b?.p99Ms), ratio(requestsPer1000(a), requestsPer1000(b))])
    })
  ].join("\n")
}

/** Durable writes per implementation and flush mode: latency, throughput, and the PUTs they cost. */
export const w3DurableTable = (reports: ReadonlyArray<W3ImplementationReport>): string => {
  const ok = reports.filter((r) => r.status === "ok")
  if (ok.length === 0) return ""
  const puts = (p: W3PhaseResult | undefined) => (p === undefined ? undefined : countsOf(p)?.put)
  return [
    row(["durable puts", "sequential p50 / p99", "64 writers: writes/s", "64 writers: p50 / p99", "PUTs/s", "PUTs / 1,000 writes"]),
    separator(6),
    ...ok.flatMap((r) =>
      FLUSH_MODES.map((mode) => {
        const seq = phaseOf(r, `put_seq_${mode}`)
        const c64 = phaseOf(r, `put_c64_${mode}`)
        const n = puts(c64)
        return row([
          `${r.name}, ${mode}${r.family === "peer" && mode === "eager" ? " (flush_interval 1 ms)" : ""}`,
          seq?.p50Ms === undefined ? "-" : `${formatMs(seq.p50Ms)} / ${formatMs(seq.p99Ms ?? 0)}`,
          c64 === undefined ? "-" : formatInt((c64.ops / c64.ms) * 1000),
          c64?.p50Ms === undefined ? "-" : `${formatMs(c64.p50Ms)} / ${formatMs(c64.p99Ms ?? 0)}`,
          c64 === undefined || n === undefined ? "-" : formatInt((n / c64.ms) * 1000),
          c64 === undefined || n === undefined ? "-" : formatInt((n / c64.ops) * 1000)
        ])
      })
    )
  ].join("\n")
}

/** Shale's scans against its scans fetching one block per request (`scan_no_read_ahead`), by p50. */
const readAheadCell = (r: W3ImplementationReport | undefined): string => {
  const fast = r === undefined ? undefined : phaseOf(r, "scan")?.p50Ms
  const slow = r === undefined ? undefined : phaseOf(r, "scan_no_read_ahead")?.p50Ms
  if (fast === undefined || slow === undefined || fast <= 0) return "-"
  const ratio = slow / fast
  return `${formatMs(fast)} vs ${formatMs(slow)}: ${ratio.toFixed(1)}× ${ratio >= 3 ? "✓" : "✗"}`
}

/** The targets: Shale's cold reads against SlateDB's on S3; scans against Shale without read-ahead. */
export const w3TargetTable = (reports: ReadonlyArray<W3ImplementationReport>): string => {
  const both = pair(reports)
  const cell = (a: number | undefined, b: number | undefined, show: (x: number) => string) =>
    a === undefined || b === undefined ? "-" : `${show(a)} vs ${show(b)} ${a <= b ? "✓" : "✗"}`
  const cold = (r: W3ImplementationReport | undefined) => (r === undefined ? undefined : phaseOf(r, "get_cold"))
  const [a, b] = [cold(both?.shale), cold(both?.peer)]
  const one = (x: number) => (x / 1000).toFixed(2)
  return [
    row(["target", "Shale vs SlateDB (S3)"]),
    separator(2),
    row(["cold get p50 ≤ SlateDB's", cell(a?.p50Ms, b?.p50Ms, formatMs)]),
    row(["cold get p99 ≤ SlateDB's", cell(a?.p99Ms, b?.p99Ms, formatMs)]),
    row(["requests per cold get ≤ SlateDB's", cell(requestsPer1000(a), requestsPer1000(b), one)]),
    row(["scans ≥ 3× faster than without read-ahead", readAheadCell(reports.find((r) => r.status === "ok" && r.store === "s3" && r.family === "shale"))])
  ].join("\n")
}
