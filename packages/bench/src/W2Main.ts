/**
 * `npm run bench -- --workload W2`: the compaction workload (W2Workload.ts) on Shale and SlateDB, each run
 * in its own process (worker-w2.ts) on a fresh local directory, round-robin over the implementations
 * (and over the garbage collector on and off with `--gc both`), medians over the runs (as W1: main.ts).
 * The harness answers the worker's waits by reading the store (W2Store.ts), lists it every couple of
 * seconds and keeps its history as it goes (W2Watch.ts: the collectors delete old versions), and once a
 * run is over computes the figures (W2Stats.ts, W2Gc.ts) before deleting the store.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { W2_IMPLEMENTATIONS, type W2Implementation } from "./W2Engine.ts"
import type { W2HarnessMessage, W2RunResult, W2WorkerConfig, W2WorkerMessage } from "./W2Protocol.ts"
import { summarizeW2, type W2ImplementationReport, type W2Run, w2Ratios, w2RatioTable, w2Table, w2TargetTable } from "./W2Report.ts"
import { type PhaseWindow, storeStats } from "./W2Stats.ts"
import { awaitStore, type SstListing } from "./W2Store.ts"
import { gcRunFigures, gcTable, onOffTable, seriesTable } from "./W2Gc.ts"
import { type StoreSample, watchStore } from "./W2Watch.ts"
import { gcHoldMs, gcSampleMs, settleMs, W2_FULL, W2_QUICK, W2_SETTINGS, type W2GcSchedule, type W2Sizes } from "./W2Workload.ts"
import { formatInt, formatMb, outcomeNotes } from "./Report.ts"
import { forkWorker, type Worker } from "./Ipc.ts"
import { selectImplementations } from "./Selection.ts"

export type W2GcMode = "on" | "off" | "both"

export interface W2Options {
  readonly quick: boolean
  /** Explicit `--repeat`, `--n`, `--timeout` (seconds); the W2 defaults otherwise. */
  readonly repeat: number | undefined
  readonly n: number | undefined
  readonly timeoutS: number | undefined
  readonly only: ReadonlyArray<string> | undefined
  readonly out: string | undefined
  /** The engines' garbage collectors: on (default), off, or each implementation both ways. */
  readonly gc: W2GcMode
  /** Their schedule when on, for every kind of object and both engines (default W2_GC_DEFAULT). */
  readonly gcSchedule: W2GcSchedule
  /** With the collector on, how long to hold the database open after settling (default `gcHoldMs`). */
  readonly gcHoldMs: number | undefined
  /** `--pace`: the load's writes per second, the same for every engine (W2Sizes.paceOpsPerSec). */
  readonly paceOpsPerSec: number | undefined
  /** `--scan-rows`: rows per timed scan (default W2_FULL's). */
  readonly scanRows: number | undefined
}

/** One implementation with the collector on or off: what runs, and what its column is called. */
interface Variant {
  readonly implementation: W2Implementation
  readonly gc: "on" | "off"
  readonly name: string
}

/** How main.ts's Ctrl-C handler reaches the running worker. */
export interface W2Control {
  readonly onChild: (kill: (() => void) | undefined) => void
  readonly interrupted: () => boolean
}

type Outcome =
  | { readonly kind: "done"; readonly run: W2Run }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string }

const WORKER = fileURLToPath(new URL("./worker-w2.ts", import.meta.url))
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const GROUPS: Readonly<Record<string, (i: W2Implementation) => boolean>> = {
  shale: (i) => i.family === "shale",
  peers: (i) => i.family === "peer",
  slatedb: (i) => i.name.startsWith("slatedb-")
}

/**
 * Forks the worker, prints its progress, answers its waits, and watches the store meanwhile; what the
 * store held and had held when each wait ended.
 */
const converse = async (
  implementation: W2Implementation,
  config: W2WorkerConfig,
  label: string,
  timeoutMs: number,
  control: W2Control
) => {
  const root = path.join(config.dir, "bench")
  const watcher = await watchStore(root)
  const ends = new Map<string, { readonly listing: SstListing; readonly sample: StoreSample }>()
  watcher.start(config.sampleMs)
  const answer = async (m: Extract<W2WorkerMessage, { type: "await" }>, worker: Worker<W2HarnessMessage>) => {
    const options = { settleMs: settleMs(), timeoutMs, pollMs: 100, cancelled: worker.exited }
    const waited = await awaitStore(root, m.until, m.sinceEpochMs, options)
    if (waited.kind === "gave-up") return worker.reply({ type: "gave-up", id: m.id, message: waited.message })
    const sample = await watcher.sample()
    ends.set(m.until, { listing: watcher.sstListing(), sample })
    worker.reply({ type: "settled", id: m.id, atEpochMs: waited.atEpochMs, l0: waited.state.l0, sortedRuns: waited.state.sortedRuns })
  }
  const outcome = forkWorker<W2RunResult, W2WorkerMessage, W2HarnessMessage>({
    script: WORKER,
    args: [implementation.name, JSON.stringify(config)],
    label,
    timeoutMs,
    onChild: control.onChild,
    onMessage: (m, worker) => {
      if (m.type !== "await") return
      answer(m, worker).catch((e: unknown) => worker.reply({ type: "gave-up", id: m.id, message: `reading the store failed: ${String(e)}` }))
    }
  }).then((o): Outcome => (o.kind === "done" ? { kind: "done", run: { result: o.result, store: undefined, gc: undefined } } : o)).finally(() => watcher.stop())
  return { outcome, watcher, ends }
}

const windowOf = (start: number, end: number | undefined, listing: SstListing | undefined): PhaseWindow | undefined =>
  end === undefined || listing === undefined ? undefined : { startEpochMs: start, endEpochMs: end, listing }

const gcScheduleOf = (variant: Variant, schedule: W2GcSchedule): W2GcSchedule | null => (variant.gc === "on" ? schedule : null)

const holdOf = (gc: W2GcSchedule | null, holdMs: number | undefined) => (gc === null ? 0 : holdMs ?? gcHoldMs(gc))

const runWorker = async (
  variant: Variant,
  sizes: W2Sizes,
  schedule: W2GcSchedule,
  hold: number | undefined,
  timeoutMs: number,
  label: string,
  control: W2Control
): Promise<Outcome> => {
  const { implementation } = variant
  const dir = await mkdtemp(path.join(os.tmpdir(), `shale-bench-w2-${implementation.name}-`))
  try {
    const gc = gcScheduleOf(variant, schedule)
    const sampleMs = gcSampleMs(gc)
    const config = { sizes, dir, gc, sampleMs, holdMs: holdOf(gc, hold) }
    const { outcome, watcher, ends } = await converse(implementation, config, label, timeoutMs, control)
    const o = await outcome
    if (o.kind !== "done") return o
    const r: W2RunResult = o.run.result
    const steady = ends.get("steady")
    const load = windowOf(r.load.startEpochMs, r.load.settledEpochMs, steady?.listing)
    const fullEnd = ends.get("full")
    const full = r.full === undefined ? undefined : windowOf(r.full.startEpochMs, r.full.doneEpochMs, fullEnd?.listing)
    if (load === undefined || steady === undefined) return o
    try {
      await watcher.sample()
      const history = watcher.history()
      const gcFigures = gcRunFigures({
        samples: watcher.samples,
        sampleMs,
        loadStartEpochMs: r.load.startEpochMs,
        settled: steady.sample,
        holdMs: r.load.holdMs,
        holdEndEpochMs: r.load.holdEndEpochMs,
        churnAt: watcher.churn,
        engine: r.gc
      })
      return { kind: "done", run: { result: r, store: storeStats(history, load, full, W2_SETTINGS.l0MaxSsts), gc: gcFigures } }
    } catch (e) {
      console.log(`[${label}] could not read the store's history: ${String(e)}`)
      return o
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export const describeGc = (mode: W2GcMode, g: W2GcSchedule, holdMs: number | undefined): string => {
  const schedule = `every ${g.intervalMs / 1000} s, objects older than ${g.minAgeMs / 1000} s, each kind; held open ${
    holdOf(g, holdMs) / 1000
  } s after settling`
  return mode === "off"
    ? "garbage collectors off"
    : `garbage collectors ${mode === "both" ? "on and off (each implementation both ways)" : "on"} (${schedule}, both engines)`
}

export const describeW2 = (s: W2Sizes): string => {
  const c = W2_SETTINGS.compactor
  return `N = ${formatInt(s.n)} keys, ${s.passes} passes in batches of ${s.batch} non-durable writes (pass 1 puts every key; later passes overwrite ${
    s.overwriteShare * 100
  } % and delete ${s.deleteShare * 100} %); l0SstSizeBytes ${W2_SETTINGS.l0SstSizeBytes / 1048576} MiB, l0MaxSsts ${W2_SETTINGS.l0MaxSsts}, compactor poll ${c.pollIntervalMs} ms, ${c.minCompactionSources}-${c.maxCompactionSources} sources, ≤ ${c.maxConcurrentCompactions} at once; ${
    formatInt(s.gets)
  } gets, ${formatInt(s.scans)} scans of ${formatInt(s.scanRows)} rows${
    s.paceOpsPerSec === undefined ? "" : `; the load paced at ${formatInt(s.paceOpsPerSec)} writes/s`
  }`
}

const machineLine = () =>
  `${os.type()} ${os.release()} ${os.arch()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "unknown"}, ${Math.round(os.totalmem() / 1e9)} GB RAM, Node ${process.version}`

const variantsOf = (selected: ReadonlyArray<W2Implementation>, mode: W2GcMode): ReadonlyArray<Variant> =>
  selected.flatMap((implementation) =>
    mode === "both"
      ? (["on", "off"] as const).map((gc) => ({ implementation, gc, name: `${implementation.name} (GC ${gc})` }))
      : [{ implementation, gc: mode, name: implementation.name }]
  )

/** The GC sections: figures, on / off rates, and each variant's store over the load (its first run). */
const gcSections = (reports: ReadonlyArray<W2ImplementationReport>, mode: W2GcMode): ReadonlyArray<string> => {
  const ok = reports.filter((r) => r.status === "ok")
  const sections: Array<string> = []
  const table = gcTable(ok)
  if (table !== "") sections.push(table)
  if (mode === "both") {
    const pairs = [...new Set(ok.map((r) => r.implementation))].flatMap((name) => {
      const on = ok.find((r) => r.implementation === name && r.gc === "on")
      const off = ok.find((r) => r.implementation === name && r.gc === "off")
      return on === undefined || off === undefined ? [] : [{ name, on: on.median, off: off.median }]
    })
    const rates = onOffTable(pairs, [
      { key: "write", label: "load: writes (ops/s)" },
      { key: "load", label: "with flush and wait (ops/s)" }
    ])
    if (rates !== "") sections.push(rates)
  }
  for (const r of ok) {
    const run = r.runs[0]
    if (run?.gc === undefined) continue
    const series = seriesTable(run.gc, run.result.load.startEpochMs)
    if (series !== "") {
      const hold = run.gc.holdMs > 0 ? `, then the hold of ${run.gc.holdMs / 1000} s` : ""
      sections.push(`${r.name}: the store over the load${hold} (run 1; objects per kind; t from the start of the load; samples every ${run.gc.sampleMs / 1000} s)\n\n${series}`)
    }
  }
  return sections
}

/** `options.repeat` rounds over `variants`, each run in its own worker process (until interrupted). */
const runRounds = async (variants: ReadonlyArray<Variant>, sizes: W2Sizes, options: W2Options, control: W2Control) => {
  const runs = new Map<string, Array<W2Run>>(variants.map((v) => [v.name, []]))
  const repeat = options.repeat ?? 1
  const timeoutMs = (options.timeoutS ?? (options.quick ? 300 : 1800)) * 1000 + holdOf(options.gcSchedule, options.gcHoldMs)
  const failures = new Map<string, { status: "unavailable" | "failed"; message: string }>()
  rounds: for (let k = 1; k <= repeat; k++) {
    for (const variant of variants) {
      if (control.interrupted()) break rounds
      if (failures.get(variant.name)?.status === "unavailable") continue
      const label = `${variant.name} ${k}/${repeat}`
      const t0 = performance.now()
      const outcome = await runWorker(variant, sizes, options.gcSchedule, options.gcHoldMs, timeoutMs, label, control)
      if (control.interrupted()) {
        console.log(`[${label}] interrupted; the results below are partial`)
        break rounds
      }
      if (outcome.kind === "done") {
        runs.get(variant.name)!.push(outcome.run)
        console.log(`[${label}] done in ${seconds(performance.now() - t0)}, peak RSS ${formatMb(outcome.run.result.peakRssBytes)}`)
      } else {
        failures.set(variant.name, { status: outcome.kind, message: outcome.message })
        console.log(`[${label}] ${outcome.kind === "unavailable" ? "NOT MEASURED" : `FAILED after ${seconds(performance.now() - t0)}`}: ${outcome.message}`)
      }
    }
  }
  return { runs, failures }
}

/** The report's tables and notes, as Markdown sections. */
const reportSections = (
  heading: string,
  reports: ReturnType<typeof summarizeW2>[],
  ratioRows: ReturnType<typeof w2Ratios>,
  gc: W2Options["gc"],
  scanRows: number
): Array<string> => {
  const sections: Array<string> = []
  const table = w2Table(reports)
  if (table !== "") sections.push(`${heading}\n\n${table}`)
  const ratio = w2RatioTable(ratioRows)
  if (ratio !== "") sections.push(`Shale / SlateDB (above 1: Shale is faster; peak RSS: below 1 means Shale is lower)\n\n${ratio}`)
  const targets = w2TargetTable(reports, scanRows)
  if (targets !== "") sections.push(`Targets (✓ met, ✗ missed)\n\n${targets}`)
  sections.push(...gcSections(reports, gc))
  const notes = [
    ...outcomeNotes(reports),
    ...reports.flatMap((r) => r.problems.map((p) => `- ${r.name}: PROBLEM: ${p}`)),
    ...reports.flatMap((r) => r.runs.slice(0, 1).flatMap((run) => (run.result.full === undefined ? [] : [`- ${r.name}: full compaction by ${run.result.full.method}`])))
  ]
  if (notes.length > 0) sections.push(notes.join("\n"))
  return sections
}

export const runW2 = async (options: W2Options, control: W2Control): Promise<number> => {
  const base = options.quick ? W2_QUICK : W2_FULL
  const sizes: W2Sizes = {
    ...base,
    ...(options.n === undefined ? {} : { n: options.n }),
    ...(options.paceOpsPerSec === undefined ? {} : { paceOpsPerSec: options.paceOpsPerSec }),
    ...(options.scanRows === undefined ? {} : { scanRows: options.scanRows })
  }
  const repeat = options.repeat ?? 1
  const selection = selectImplementations(W2_IMPLEMENTATIONS, GROUPS, options.only, "W2")
  if ("error" in selection) {
    console.error(selection.error)
    return 2
  }
  const selected = selection.selected
  const variants = variantsOf(selected, options.gc)
  const started = performance.now()
  const date = new Date()
  const loadAtStart = os.loadavg().map((x) => Number(x.toFixed(2)))
  console.log(`Shale benchmark, workload W2 (compaction)${options.quick ? ", --quick" : ""}`)
  console.log(`${describeW2(sizes)}; ${describeGc(options.gc, options.gcSchedule, options.gcHoldMs)}; ${repeat} run(s) per implementation, median reported`)
  console.log(`${date.toISOString()}; ${machineLine()}; load average ${loadAtStart.join(" ")}`)
  console.log(`implementations: ${variants.map((v) => v.name).join(", ")}\n`)

  const { runs, failures } = await runRounds(variants, sizes, options, control)

  const reports = variants.map((v) =>
    summarizeW2(
      { name: v.name, implementation: v.implementation.name, description: v.implementation.description, family: v.implementation.family, gc: v.gc },
      runs.get(v.name) ?? [],
      failures.get(v.name)
    )
  )
  const ratioRows = w2Ratios(reports)
  const loadAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)))
  const heading = `W2 on ${date.toISOString().slice(0, 10)}, ${machineLine()}, load average ${loadAtStart.join(" ")} at the start, ${
    loadAtEnd.join(" ")
  } at the end. ${describeW2(sizes)}; ${describeGc(options.gc, options.gcSchedule, options.gcHoldMs)}. Median of ${repeat} run(s), each on a fresh local directory in its own process.`
  const sections = reportSections(heading, reports, ratioRows, options.gc, sizes.scanRows)
  const totalMs = performance.now() - started
  console.log(`\n${sections.join("\n\n")}\n\nTotal time ${seconds(totalMs)}.`)

  if (options.out !== undefined) {
    const json = {
      workload: "W2",
      date: date.toISOString(),
      machine: { description: machineLine(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
      options: {
        quick: options.quick,
        repeat,
        sizes,
        settings: W2_SETTINGS,
        only: options.only ?? null,
        gc: options.gc,
        gcSchedule: options.gcSchedule,
        gcHoldMs: holdOf(options.gcSchedule, options.gcHoldMs)
      },
      totalSeconds: Number((totalMs / 1000).toFixed(1)),
      implementations: reports,
      ratios: ratioRows,
      markdown: sections.join("\n\n")
    }
    await writeFile(options.out, JSON.stringify(json, null, 2) + "\n")
    console.log(`Results written to ${options.out}`)
  }
  return control.interrupted() ? 130 : reports.some((r) => r.status === "failed") ? 1 : 0
}
