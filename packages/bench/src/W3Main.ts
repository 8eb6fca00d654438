/**
 * `npm run bench -- --workload W3`: reads and durable writes on object storage (W3Workload.ts), Shale and
 * SlateDB on S3 side by side, and Shale on an in-memory store with S3-like latency. Each implementation
 * runs once (or `--repeat N` times: rounds over the implementations, the order reversed every other round,
 * medians reported: W3Median.ts), in its own process (worker-w3.ts), in a fresh prefix of the bucket,
 * one after another.
 *
 * The harness finds the S3 server (radosgw, started with the project's scripts when none answers, and
 * stopped afterwards: W3S3.ts), puts its counting proxy in front of it (W3Proxy.ts) for both engines,
 * answers the workers' questions (the proxy's counts; when SlateDB's full compaction is done), deletes
 * each run's objects afterwards, and prints the tables (W3Report.ts).
 */
import { writeFile } from "node:fs/promises"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { forkWorker, type Outcome, type Worker } from "./Ipc.ts"
import { formatInt, formatMs, outcomeNotes } from "./Report.ts"
import { selectImplementations } from "./Selection.ts"
import { W3_IMPLEMENTATIONS, type W3Implementation } from "./W3Engine.ts"
import type { W3HarnessMessage, W3RunResult, W3WorkerConfig, W3WorkerMessage } from "./W3Protocol.ts"
import { type CountingProxy, startProxy } from "./W3Proxy.ts"
import { type W3ImplementationReport, w3DurableTable, w3RatioTable, w3Table, w3TargetTable } from "./W3Report.ts"
import { engineEnv, ensureServer, harnessStore, type S3Server, stopServer } from "./W3S3.ts"
import { medianRun } from "./W3Median.ts"
import { W3_FULL, W3_LATENCY, W3_QUICK, type W3Sizes } from "./W3Workload.ts"

export interface W3Options {
  readonly quick: boolean
  /** Runs per implementation (default 1). */
  readonly repeat: number | undefined
  readonly n: number | undefined
  readonly timeoutS: number | undefined
  readonly only: ReadonlyArray<string> | undefined
  readonly out: string | undefined
  /** `--shale-settings`: over Shale's defaults in every opening of the Shale implementations. */
  readonly shaleSettings: Readonly<Record<string, unknown>>
}

/** How main.ts's Ctrl-C handler reaches the running worker. */
export interface W3Control {
  readonly onChild: (kill: (() => void) | undefined) => void
  readonly interrupted: () => boolean
}

const WORKER = fileURLToPath(new URL("./worker-w3.ts", import.meta.url))
/** The bucket's prefix of a run: `<RUN_ROOT>-<stamp>/<implementation>`, two segments, as the proxy counts. */
const RUN_ROOT = "shale-bench-w3"

const GROUPS: Readonly<Record<string, (i: W3Implementation) => boolean>> = {
  shale: (i) => i.family === "shale",
  slatedb: (i) => i.family === "peer",
  peers: (i) => i.family === "peer",
  s3: (i) => i.store === "s3",
  latency: (i) => i.store === "latency"
}

/** Polls the database's latest manifest until it shows one sorted run and no L0 SST. */
const awaitOneRun = async (store: ReturnType<typeof harnessStore>, timeoutMs: number, exited: () => boolean) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && !exited()) {
    const layout = await store.layout("bench")
    if (layout !== undefined && layout.l0 === 0 && layout.sortedRuns === 1) return undefined
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return "the store did not show one sorted run and no L0 SST in time"
}

interface Context {
  readonly server: S3Server | undefined
  readonly proxy: CountingProxy | undefined
  readonly stamp: string
  readonly sizes: W3Sizes
  readonly options: W3Options
  readonly timeoutMs: number
  readonly control: W3Control
}

const runOne = async (implementation: W3Implementation, ctx: Context, round: number): Promise<Outcome<W3RunResult>> => {
  // A fresh prefix per run: the proxy counts by prefix (two segments).
  const prefix = `${RUN_ROOT}-${ctx.stamp}/${implementation.name}${round > 1 ? `-r${round}` : ""}`
  const onS3 = implementation.store === "s3"
  if (onS3 && (ctx.server === undefined || ctx.proxy === undefined)) return { kind: "unavailable", message: "no S3 server" }
  const store = onS3 ? harnessStore(ctx.server!, prefix) : undefined
  const config: W3WorkerConfig = {
    sizes: ctx.sizes,
    location: onS3 ? `s3://${ctx.server!.bucket}/${prefix}` : "",
    shaleSettings: implementation.family === "shale" ? ctx.options.shaleSettings : {}
  }
  const answer = async (m: W3WorkerMessage, worker: Worker<W3HarnessMessage>) => {
    if (m.type === "counts") worker.reply({ type: "counts", id: m.id, counts: onS3 ? ctx.proxy!.counts(prefix) : undefined })
    if (m.type !== "await") return
    const gaveUp = store === undefined ? "no S3 store to read" : await awaitOneRun(store, ctx.timeoutMs, worker.exited)
    worker.reply(gaveUp === undefined ? { type: "settled", id: m.id } : { type: "gave-up", id: m.id, message: gaveUp })
  }
  try {
    return await forkWorker<W3RunResult, W3WorkerMessage, W3HarnessMessage>({
      script: WORKER,
      args: [implementation.name, JSON.stringify(config)],
      ...(onS3 ? { env: engineEnv(ctx.server!, ctx.proxy!.url) } : {}),
      label: implementation.name,
      timeoutMs: ctx.timeoutMs,
      onChild: ctx.control.onChild,
      onMessage: (m, worker) => {
        answer(m, worker).catch((e: unknown) => {
          if (m.type === "await") worker.reply({ type: "gave-up", id: m.id, message: `reading the store failed: ${String(e)}` })
        })
      }
    })
  } finally {
    if (store !== undefined) {
      const deleted = await store.deleteAll().catch((e: unknown) => `could not delete: ${String(e)}`)
      console.log(`[${implementation.name}] deleted the run's objects (${typeof deleted === "number" ? formatInt(deleted) : deleted}) from s3://${ctx.server!.bucket}/${prefix}`)
      await store.close()
    }
  }
}

export const describeW3 = (s: W3Sizes): string =>
  `N = ${formatInt(s.n)} keys (100-byte values) loaded in batches of ${s.batch} and fully compacted; ${formatInt(s.gets)} cold gets, the same warm, ${s.scans} scans of ${
    formatInt(s.scanRows)
  } rows; per flush mode ${s.durableSeq} sequential durable puts and ${s.writers} writers × ${s.perWriter}; injected latency: first byte ${W3_LATENCY.firstByteMs} ms, ${
    W3_LATENCY.bytesPerSecond / 1e6
  } MB/s per request`

const machineLine = () =>
  `${os.type()} ${os.release()} ${os.arch()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "unknown"}, ${Math.round(os.totalmem() / 1e9)} GB RAM, Node ${process.version}`

/** One implementation's report: the median of its finished runs (W3Median.ts), or its first failure. */
const reportOf = (i: W3Implementation, runs: ReadonlyArray<Outcome<W3RunResult>>): Array<W3ImplementationReport> => {
  if (runs.length === 0) return []
  const done = runs.flatMap((o) => (o.kind === "done" ? [o.result] : []))
  const failed = runs.find((o) => o.kind !== "done")
  const base = { name: i.name, family: i.family, store: i.store }
  if (done.length === 0) {
    const o = failed as Exclude<Outcome<W3RunResult>, { kind: "done" }>
    return [{ ...base, status: o.kind, message: o.message, result: undefined }]
  }
  const result = medianRun(done)
  const missing = runs.length - done.length
  return [{
    ...base,
    status: "ok",
    message: undefined,
    result: missing === 0 ? result : { ...result, problems: [...result.problems, `${missing} of ${runs.length} runs did not finish`] }
  }]
}

/** With `--repeat`: each run's cold gets and scans, so the spread behind the medians shows. */
const perRunNotes = (
  selected: ReadonlyArray<W3Implementation>,
  outcomes: ReadonlyMap<string, ReadonlyArray<Outcome<W3RunResult>>>
): Array<string> =>
  selected.flatMap((i) => {
    const cells = (outcomes.get(i.name) ?? []).map((o) => {
      if (o.kind !== "done") return o.kind
      const cold = o.result.phases.find((p) => p.phase === "get_cold")
      const scan = o.result.phases.find((p) => p.phase === "scan")
      return `${formatMs(cold?.p50Ms ?? 0)} / ${formatMs(cold?.p99Ms ?? 0)}, scans ${formatMs(scan?.p50Ms ?? 0)}`
    })
    return cells.length === 0 ? [] : [`- ${i.name}, each run's cold get p50 / p99 and scan p50: ${cells.join("; ")}`]
  })

const sectionsOf = (
  reports: ReadonlyArray<W3ImplementationReport>,
  heading: string,
  runNotes: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const sections: Array<string> = []
  const table = w3Table(reports)
  if (table !== "") sections.push(`${heading}\n\n${table}`)
  const ratios = w3RatioTable(reports)
  if (ratios !== "") sections.push(`Shale / SlateDB on S3 (throughput above 1: Shale faster; latency and requests below 1: Shale lower)\n\n${ratios}`)
  const durable = w3DurableTable(reports)
  if (durable !== "") sections.push(`Durable write cost per flush mode\n\n${durable}`)
  sections.push(`Targets (✓ met, ✗ missed)\n\n${w3TargetTable(reports)}`)
  const notes = [
    ...runNotes,
    ...outcomeNotes(reports),
    ...reports.flatMap((r) => (r.result?.problems ?? []).map((p) => `- ${r.name}: PROBLEM: ${p}`)),
    ...reports.flatMap((r) => (r.result === undefined ? [] : [`- ${r.name}: ${r.result.compaction}; reopening for the reads took ${formatInt(r.result.readOpenMs)} ms`]))
  ]
  if (notes.length > 0) sections.push(notes.join("\n"))
  return sections
}

const startS3 = async (selected: ReadonlyArray<W3Implementation>) => {
  if (!selected.some((i) => i.store === "s3")) return { server: undefined, proxy: undefined, problem: undefined }
  try {
    const server = await ensureServer((line) => console.log(line))
    const proxy = await startProxy(server.endpoint, 2).catch(async (e: unknown) => {
      await stopServer(server)
      throw e
    })
    return { server, proxy, problem: undefined }
  } catch (e) {
    return { server: undefined, proxy: undefined, problem: e instanceof Error ? e.message : String(e) }
  }
}

export const runW3 = async (options: W3Options, control: W3Control): Promise<number> => {
  const base = options.quick ? W3_QUICK : W3_FULL
  const sizes: W3Sizes = options.n === undefined ? base : { ...base, n: options.n }
  const selection = selectImplementations(W3_IMPLEMENTATIONS, GROUPS, options.only, "W3")
  if ("error" in selection) {
    console.error(selection.error)
    return 2
  }
  const selected = selection.selected
  const date = new Date()
  const started = performance.now()
  const loadAtStart = os.loadavg().map((x) => Number(x.toFixed(2)))
  console.log(`Shale benchmark, workload W3 (object storage)${options.quick ? ", --quick" : ""}`)
  console.log(`${describeW3(sizes)}; Shale settings ${JSON.stringify(options.shaleSettings)}`)
  console.log(`${date.toISOString()}; ${machineLine()}; load average ${loadAtStart.join(" ")}`)
  const s3 = await startS3(selected)
  if (s3.server !== undefined) console.log(`S3: ${s3.server.endpoint} bucket ${s3.server.bucket}, through the counting proxy ${s3.proxy?.url}`)
  console.log(`implementations: ${selected.map((i) => i.name).join(", ")}\n`)
  const ctx: Context = {
    ...s3,
    stamp: date.toISOString().replace(/[-:.]/g, ""),
    sizes,
    options,
    timeoutMs: (options.timeoutS ?? (options.quick ? 300 : 1800)) * 1000,
    control
  }
  const repeat = options.repeat ?? 1
  const outcomes = new Map<string, Array<Outcome<W3RunResult>>>(selected.map((i) => [i.name, []]))
  try {
    rounds: for (let k = 1; k <= repeat; k++) {
      // Every other round in the reverse order, so that no implementation always runs first.
      for (const i of k % 2 === 1 ? selected : [...selected].reverse()) {
        if (control.interrupted()) break rounds
        if (repeat > 1) console.log(`[${i.name}] run ${k}/${repeat}`)
        const outcome = i.store === "s3" && s3.problem !== undefined
          ? { kind: "unavailable" as const, message: s3.problem }
          : await runOne(i, ctx, k)
        if (outcome.kind !== "done") console.log(`[${i.name}] ${outcome.kind === "unavailable" ? "NOT MEASURED" : "FAILED"}: ${outcome.message}`)
        outcomes.get(i.name)!.push(outcome)
      }
    }
  } finally {
    await s3.proxy?.close()
    if (s3.server?.started === true) {
      console.log("stopping the radosgw this run started (scripts/rgw/stop.sh)")
      await stopServer(s3.server)
    }
  }
  const reports = selected.flatMap((i) => reportOf(i, outcomes.get(i.name)!))
  const loadAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)))
  const runs = repeat === 1 ? "One run each." : `Medians of ${repeat} runs each (round-robin, every other round in the reverse order).`
  const heading = `W3 on ${date.toISOString().slice(0, 10)}, ${machineLine()}, load average ${loadAtStart.join(" ")} at the start, ${loadAtEnd.join(" ")} at the end. ${describeW3(sizes)}. ${runs}`
  const sections = sectionsOf(reports, heading, repeat > 1 ? perRunNotes(selected, outcomes) : [])
  const totalMs = performance.now() - started
  console.log(`\n${sections.join("\n\n")}\n\nTotal time ${(totalMs / 1000).toFixed(1)} s.`)
  if (options.out !== undefined) {
    const json = {
      workload: "W3",
      date: date.toISOString(),
      machine: { description: machineLine(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
      options: { quick: options.quick, repeat, sizes, latency: W3_LATENCY, shaleSettings: options.shaleSettings, only: options.only ?? null },
      totalSeconds: Number((totalMs / 1000).toFixed(1)),
      implementations: reports,
      markdown: sections.join("\n\n")
    }
    await writeFile(options.out, JSON.stringify(json, null, 2) + "\n")
    console.log(`Results written to ${options.out}`)
  }
  // Any failed run fails the command, even when other runs of that implementation finished.
  const failed = [...outcomes.values()].some((runs) => runs.some((o) => o.kind === "failed"))
  return control.interrupted() ? 130 : failed ? 1 : 0
}
