/**
 * W2 with the garbage collector on and off (docs/design/benchmark.md §5.1): what the store holds over the
 * load (objects and bytes per kind, from the harness's samples, W2Watch.ts), whether that levels off
 * (the plateau: the most objects in the load's last third against its first third), what the engines'
 * collectors did (passes, deletions, time and store requests per pass, from their own counters), and
 * the write rates with the collector on against off.
 */
import { formatInt, formatRatio, median } from "./Report.ts"
import type { GcLoadResult } from "./W2Protocol.ts"
import type { KindChurn, KindFigures, StoreSample } from "./W2Watch.ts"
import { STORE_KINDS, type StoreKind } from "./W2Workload.ts"

/** One run's store over the load, as the harness saw it, and the engine's collector counters. */
export interface GcRunFigures {
  readonly sampleMs: number
  /** The samples from the start of the load until the end of the hold (or until the store settled). */
  readonly series: ReadonlyArray<StoreSample>
  /** The sample taken when the store settled (the load's end). */
  readonly settledEpochMs: number
  /** What the store held when it settled. */
  readonly atEnd: Readonly<Record<StoreKind, KindFigures>>
  /** Objects written and deleted during the load, per kind, as the store showed them. */
  readonly churn: Readonly<Record<StoreKind, KindChurn>>
  /** The hold after settling (collector on): how long, what the store held at its end, and the churn until then. */
  readonly holdMs: number
  readonly afterHold: Readonly<Record<StoreKind, KindFigures>> | undefined
  readonly churnAfterHold: Readonly<Record<StoreKind, KindChurn>> | undefined
  /** The most objects and bytes (all kinds) in the first and the last third of the load, and per kind. */
  readonly plateau: Plateau
  /** The engine's counters over the load and the hold. */
  readonly engine: GcLoadResult | undefined
}

/** The most of a quantity in the load's first and last third (undefined: no sample there). */
export interface Thirds {
  readonly first: number | undefined
  readonly last: number | undefined
}

export interface Plateau {
  readonly objects: Thirds
  readonly bytes: Thirds
  readonly kinds: Readonly<Record<StoreKind, Thirds>>
}

const totalObjects = (s: StoreSample) => STORE_KINDS.reduce((a, k) => a + s.kinds[k].objects, 0)
const totalBytes = (s: StoreSample) => STORE_KINDS.reduce((a, k) => a + s.kinds[k].bytes, 0)

const maxOf = (xs: ReadonlyArray<number>) => (xs.length === 0 ? undefined : Math.max(...xs))

/** The most of `f` in the first and in the last third of the window. */
const thirds = (series: ReadonlyArray<StoreSample>, from: number, to: number, f: (s: StoreSample) => number): Thirds => {
  const third = (to - from) / 3
  return {
    first: maxOf(series.filter((s) => s.atEpochMs < from + third).map(f)),
    last: maxOf(series.filter((s) => s.atEpochMs >= to - third).map(f))
  }
}

export const gcRunFigures = (options: {
  readonly samples: ReadonlyArray<StoreSample>
  readonly sampleMs: number
  readonly loadStartEpochMs: number
  /** The sample taken when the store settled. */
  readonly settled: StoreSample
  readonly holdMs: number
  readonly holdEndEpochMs: number | undefined
  readonly churnAt: (epochMs: number) => Readonly<Record<StoreKind, KindChurn>>
  readonly engine: GcLoadResult | undefined
}): GcRunFigures => {
  const from = options.loadStartEpochMs
  const to = options.settled.atEpochMs
  const holdEnd = options.holdEndEpochMs === undefined
    ? undefined
    : options.samples.filter((s) => s.atEpochMs <= options.holdEndEpochMs! && s.atEpochMs > to).at(-1)
  const series = options.samples.filter((s) => s.atEpochMs >= from && s.atEpochMs <= (holdEnd ?? options.settled).atEpochMs)
  const load = series.filter((s) => s.atEpochMs <= to)
  return {
    sampleMs: options.sampleMs,
    series,
    settledEpochMs: to,
    atEnd: options.settled.kinds,
    churn: options.churnAt(to),
    holdMs: options.holdMs,
    afterHold: holdEnd?.kinds,
    churnAfterHold: holdEnd === undefined ? undefined : options.churnAt(holdEnd.atEpochMs),
    engine: options.engine,
    plateau: {
      objects: thirds(load, from, to, totalObjects),
      bytes: thirds(load, from, to, totalBytes),
      kinds: Object.fromEntries(STORE_KINDS.map((k) => [k, thirds(load, from, to, (s) => s.kinds[k].objects)])) as Plateau["kinds"]
    }
  }
}

// ---- figures and tables -------------------------------------------------------------------------------

type Format = "int" | "mb" | "ms" | "x" | "dec"

interface GcFigure {
  readonly key: string
  readonly label: string
  readonly format: Format
  readonly of: (g: GcRunFigures) => number | undefined
}

const KIND_LABELS: Readonly<Record<StoreKind, string>> = {
  manifests: "manifests",
  wal: "WAL SSTs",
  compacted: "compacted SSTs",
  compactions: "compactions files"
}

const per = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b <= 0 ? undefined : a / b)

export const GC_FIGURES: ReadonlyArray<GcFigure> = [
  { key: "endObjects", label: "store when settled: objects", format: "int", of: (g) => STORE_KINDS.reduce((a, k) => a + g.atEnd[k].objects, 0) },
  ...STORE_KINDS.map((k): GcFigure => ({ key: `end.${k}`, label: `… ${KIND_LABELS[k]}`, format: "int", of: (g) => g.atEnd[k].objects })),
  { key: "endBytes", label: "store when settled: MB", format: "mb", of: (g) => STORE_KINDS.reduce((a, k) => a + g.atEnd[k].bytes, 0) },
  { key: "end.walBytes", label: "… in WAL SSTs", format: "mb", of: (g) => g.atEnd.wal.bytes },
  { key: "end.compactedBytes", label: "… in compacted SSTs", format: "mb", of: (g) => g.atEnd.compacted.bytes },
  {
    key: "holdObjects",
    label: "after the hold (collector on, nothing written): objects",
    format: "int",
    of: (g) => (g.afterHold === undefined ? undefined : STORE_KINDS.reduce((a, k) => a + g.afterHold![k].objects, 0))
  },
  {
    key: "holdBytes",
    label: "after the hold: MB",
    format: "mb",
    of: (g) => (g.afterHold === undefined ? undefined : STORE_KINDS.reduce((a, k) => a + g.afterHold![k].bytes, 0))
  },
  { key: "hold.compactedBytes", label: "… in compacted SSTs", format: "mb", of: (g) => g.afterHold?.compacted.bytes },
  { key: "firstObjects", label: "objects, most in the load's first third", format: "int", of: (g) => g.plateau.objects.first },
  { key: "lastObjects", label: "objects, most in the load's last third", format: "int", of: (g) => g.plateau.objects.last },
  { key: "plateauObjects", label: "… last third / first third", format: "x", of: (g) => per(g.plateau.objects.last, g.plateau.objects.first) },
  { key: "firstBytes", label: "MB, most in the load's first third", format: "mb", of: (g) => g.plateau.bytes.first },
  { key: "lastBytes", label: "MB, most in the load's last third", format: "mb", of: (g) => g.plateau.bytes.last },
  { key: "plateauBytes", label: "… last third / first third", format: "x", of: (g) => per(g.plateau.bytes.last, g.plateau.bytes.first) },
  ...STORE_KINDS.map((k): GcFigure => ({
    key: `plateau.${k}`,
    label: `${KIND_LABELS[k]}, most in the last third / first third`,
    format: "x",
    of: (g) => per(g.plateau.kinds[k].last, g.plateau.kinds[k].first)
  })),
  ...STORE_KINDS.map((k): GcFigure => ({
    key: `deleted.${k}`,
    label: `deleted during the load (store): ${KIND_LABELS[k]}`,
    format: "int",
    of: (g) => g.churn[k].deleted
  })),
  ...STORE_KINDS.map((k): GcFigure => ({
    key: `deletedHold.${k}`,
    label: `deleted by the end of the hold (store): ${KIND_LABELS[k]}`,
    format: "int",
    of: (g) => g.churnAfterHold?.[k].deleted
  })),
  ...STORE_KINDS.map((k): GcFigure => ({
    key: `written.${k}`,
    label: `written during the load (store): ${KIND_LABELS[k]}`,
    format: "int",
    of: (g) => g.churn[k].written
  })),
  { key: "passes", label: "collector passes, load and hold (engine; one kind each)", format: "int", of: (g) => g.engine?.final.passes },
  {
    key: "engineDeleted",
    label: "deletions, load and hold (engine's counters, all kinds)",
    format: "int",
    of: (g) => (g.engine === undefined ? undefined : STORE_KINDS.reduce((a, k) => a + g.engine!.final.deleted[k], 0))
  },
  { key: "errors", label: "collector errors", format: "int", of: (g) => g.engine?.final.errors },
  { key: "passMean", label: "pass time, mean", format: "ms", of: (g) => per(g.engine?.final.durationMs, g.engine?.final.passes) },
  { key: "passMax", label: "pass time, max", format: "ms", of: (g) => g.engine?.final.maxDurationMs },
  { key: "requestsMean", label: "store requests per pass, mean", format: "dec", of: (g) => per(g.engine?.final.requests, g.engine?.final.passes) },
  { key: "requestsMax", label: "store requests per pass, max", format: "int", of: (g) => g.engine?.final.maxRequests }
]

const format = (f: Format, x: number | undefined): string => {
  if (x === undefined || !Number.isFinite(x)) return "-"
  switch (f) {
    case "int":
      return formatInt(x)
    case "mb":
      return `${(x / 1e6).toFixed(1)} MB`
    case "ms":
      return `${x.toFixed(1)} ms`
    case "x":
      return `${x.toFixed(2)}×`
    case "dec":
      return x.toFixed(1)
  }
}

/** Per figure: the median over the runs that have one. */
export const gcMedians = (runs: ReadonlyArray<GcRunFigures | undefined>): Readonly<Record<string, number>> =>
  Object.fromEntries(GC_FIGURES.flatMap((f) => {
    const m = median(runs.flatMap((g) => (g === undefined ? [] : [f.of(g)])).filter((x): x is number => x !== undefined))
    return m === undefined ? [] : [[f.key, m]]
  }))

export interface GcColumn {
  readonly name: string
  readonly gcMedian: Readonly<Record<string, number>>
}

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
const separator = (n: number) => `|${"---|".repeat(n)}`

/** GC figures (rows) × implementations (columns). */
export const gcTable = (columns: ReadonlyArray<GcColumn>): string =>
  columns.length === 0 ? "" : [
    row(["W2, store and collector over the load", ...columns.map((c) => c.name)]),
    separator(columns.length + 1),
    ...GC_FIGURES.map((f) => row([f.label, ...columns.map((c) => format(f.format, c.gcMedian[f.key]))]))
  ].join("\n")

/** About `rows` samples evenly spaced in time, the first and the last always. */
const spaced = (s: ReadonlyArray<StoreSample>, rows: number): Array<StoreSample> => {
  const picked: Array<StoreSample> = []
  if (s.length === 0) return picked
  const t0 = s[0]!.atEpochMs
  const span = s.at(-1)!.atEpochMs - t0
  for (let k = 0; k < rows; k++) {
    const at = t0 + (rows === 1 ? span : (span * k) / (rows - 1))
    const next = s.find((x) => x.atEpochMs >= at) ?? s.at(-1)!
    if (picked.at(-1) !== next) picked.push(next)
  }
  return picked
}

/**
 * A run's store over the load (and the hold) in about `rows` rows, evenly spaced in time within each
 * (the load gets two thirds of the rows when there is a hold), with the checkpoints in the latest
 * manifest and the engine's collector counters read last before each sample.
 */
export const seriesTable = (g: GcRunFigures, loadStartEpochMs: number, rows = 12): string => {
  const s = g.series
  if (s.length === 0) return ""
  const load = s.filter((x) => x.atEpochMs <= g.settledEpochMs)
  const hold = s.filter((x) => x.atEpochMs > g.settledEpochMs)
  const loadRows = hold.length === 0 ? rows : Math.ceil((rows * 2) / 3)
  const picked = [...spaced(load, loadRows), ...spaced(hold, rows - loadRows)]
  const engineAt = (epochMs: number) => g.engine?.samples.filter((e) => e.atEpochMs <= epochMs).at(-1)?.status
  const withEngine = g.engine !== undefined
  const withPasses = g.engine?.final.passes !== undefined
  const header = [
    "t (s)",
    ...STORE_KINDS.map((k) => KIND_LABELS[k]),
    "objects",
    "MB",
    "checkpoints",
    ...(withPasses ? ["GC passes"] : []),
    ...(withEngine ? ["GC deleted"] : [])
  ]
  return [
    row(header),
    separator(header.length),
    ...picked.map((x) => {
      const e = engineAt(x.atEpochMs)
      const t = ((x.atEpochMs - loadStartEpochMs) / 1000).toFixed(0)
      return row([
        x.atEpochMs === g.settledEpochMs ? `${t} settled` : x.atEpochMs > g.settledEpochMs ? `${t} hold` : t,
        ...STORE_KINDS.map((k) => formatInt(x.kinds[k].objects)),
        formatInt(totalObjects(x)),
        (totalBytes(x) / 1e6).toFixed(1),
        x.checkpoints === undefined ? "-" : formatInt(x.checkpoints),
        ...(withPasses ? [e?.passes === undefined ? "-" : formatInt(e.passes)] : []),
        ...(withEngine ? [e === undefined ? "-" : formatInt(STORE_KINDS.reduce((a, k) => a + e.deleted[k], 0))] : [])
      ])
    })
  ].join("\n")
}

export interface OnOffPair {
  readonly name: string
  readonly on: Readonly<Record<string, number>>
  readonly off: Readonly<Record<string, number>>
}

/** Write and load rates with the collector on against off, per implementation that ran both. */
export const onOffTable = (pairs: ReadonlyArray<OnOffPair>, figures: ReadonlyArray<{ readonly key: string; readonly label: string }>): string =>
  pairs.length === 0 ? "" : [
    row(["GC on / off", ...figures.flatMap((f) => [`${f.label}, on`, "off", "on / off"])]),
    separator(1 + 3 * figures.length),
    ...pairs.map((p) =>
      row([p.name, ...figures.flatMap((f) => {
        const a = p.on[f.key]
        const b = p.off[f.key]
        return [a === undefined ? "-" : formatInt(a), b === undefined ? "-" : formatInt(b), a === undefined || b === undefined || b <= 0 ? "-" : formatRatio(a / b)]
      })])
    )
  ].join("\n")
