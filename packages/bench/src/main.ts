/**
 * `npm run bench`: workload W1 (docs/design/benchmark.md §0) on Shale and its peers in one run, on this machine.
 *
 * Every run of every implementation is its own child process (worker.ts) on a fresh database, so each
 * process's peak RSS is that implementation's; the repeats go round the implementations (run 1 of each, then
 * run 2 of each, ...) so that a slow spell of a shared machine does not land on one implementation only.
 * The figures are medians over the repeats. See docs/design/benchmark.md for how to read them.
 *
 *   npm run bench                          # full W1, 3 runs each (under 15 minutes)
 *   npm run bench -- --quick               # small W1, 1 run each (under a minute)
 *   npm run bench -- --only slatedb,lmdb --repeat 5 --out bench.json
 *   npm run bench -- --workload W2         # the compaction workload (W2Main.ts), Shale and SlateDB
 *   npm run bench -- --workload W3         # object storage (W3Main.ts): Shale and SlateDB on S3
 *   npm run bench -- --workload readers    # DbReader lag and read rates (ReadersMain.ts), Shale and SlateDB
 */
import { fork } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Options, parseOptions, positiveInt, secondsOption, USAGE, UsageError } from "./BenchOptions.ts"
import { GROUPS, type Implementation, implementations } from "./Implementations.ts"
import type { PhaseResult, RunResult, WorkerConfig, WorkerMessage } from "./Protocol.ts"
import {
  formatInt,
  formatMb,
  formatMs,
  type ImplementationReport,
  latencyTable,
  mainTable,
  outcomeNotes,
  ratios,
  ratioTable,
  summarize
} from "./Report.ts"
import { phaseUnit, type WorkloadSizes } from "./Workload.ts"

const select = (all: ReadonlyArray<Implementation>, only: ReadonlyArray<string> | undefined) => {
  if (only === undefined) return all
  const unknown = only.filter((o) => !(o in GROUPS) && !all.some((i) => i.name === o))
  if (unknown.length > 0) {
    throw new UsageError(
      `--only: unknown ${unknown.join(", ")}; known: ${[...all.map((i) => i.name), ...Object.keys(GROUPS)].join(", ")}`
    )
  }
  return all.filter((i) => only.some((o) => o === i.name || GROUPS[o]?.(i) === true))
}

// ---- one run of one implementation, in a child process ---------------------------------------------------

type Outcome =
  | { readonly kind: "done"; readonly result: RunResult }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string }

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url))

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const describePhase = (p: PhaseResult): string => {
  const puts = p.storePuts === undefined
    ? ""
    : `, ${formatInt(p.storePuts)} PUTs (${formatInt((p.storePuts / p.ms) * 1000)} PUTs/s)`
  const problem = p.problem === undefined ? "" : `  PROBLEM: ${p.problem}`
  if (phaseUnit(p.phase) === "ms") {
    return `${p.phase.padEnd(18)} ${formatInt(p.ops).padStart(8)} puts, mean ${formatMs(p.value)} (p50 ${
      formatMs(p.p50Ms ?? p.value)
    }, max ${formatMs(p.maxMs ?? p.value)})${puts}${problem}`
  }
  return `${p.phase.padEnd(18)} ${formatInt(p.ops).padStart(8)} ${p.phase === "scan_all" ? "rows" : "ops"} in ${
    seconds(p.ms).padStart(7)
  }: ${formatInt(p.value).padStart(9)} ${phaseUnit(p.phase)}${puts}${problem}`
}

let current: { readonly kill: () => void } | undefined
let interrupted = false

const runWorker = async (
  implementation: Implementation,
  options: Options,
  label: string
): Promise<Outcome> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), `shale-bench-${implementation.name}-`))
  const config: WorkerConfig = { sizes: options.sizes, putLatencyMs: options.putLatencyMs, dir }
  const log = (line: string) => console.log(`[${label}] ${line}`)
  try {
    return await new Promise<Outcome>((resolve) => {
      let outcome: Outcome | undefined
      const child = fork(WORKER, [implementation.name, JSON.stringify(config)], {
        // The workers import @shale/core from its sources, as this process does (docs/design/packaging.md).
        execArgv: ["--disable-warning=ExperimentalWarning", "--conditions=@shale/source"],
        stdio: ["ignore", "pipe", "pipe", "ipc"]
      })
      current = { kill: () => child.kill("SIGKILL") }
      // Whatever the engine prints (logs, native warnings) goes to stderr, labelled.
      for (const stream of [child.stdout, child.stderr]) {
        let pending = ""
        stream?.setEncoding("utf8").on("data", (chunk: string) => {
          const lines = (pending + chunk).split("\n")
          pending = lines.pop() ?? ""
          for (const line of lines) if (line.length > 0) console.error(`[${label}] ${line}`)
        })
      }
      const timer = setTimeout(() => {
        outcome ??= { kind: "failed", message: `timed out after ${seconds(options.timeoutMs)} (--timeout)` }
        child.kill("SIGKILL")
      }, options.timeoutMs)
      child.on("message", (raw) => {
        const message = raw as WorkerMessage
        switch (message.type) {
          case "opened":
            log(`opened in ${formatMs(message.ms)}`)
            break
          case "phase":
            log(describePhase(message.result))
            break
          case "flushed":
            log(`memtable flush in ${formatMs(message.ms)}`)
            break
          case "done":
            outcome ??= { kind: "done", result: message.result }
            break
          case "unavailable":
            outcome ??= { kind: "unavailable", message: message.message }
            break
          case "failed":
            outcome ??= { kind: "failed", message: message.message }
            break
        }
      })
      child.on("error", (e) => {
        outcome ??= { kind: "failed", message: `could not start the worker: ${e.message}` }
      })
      child.on("exit", (code, signal) => {
        clearTimeout(timer)
        current = undefined
        resolve(outcome ?? { kind: "failed", message: `worker exited (${signal ?? `code ${code}`}) without a result` })
      })
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// ---- the whole run ------------------------------------------------------------------------------------------

const machine = () => {
  const cpus = os.cpus()
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGb: Math.round(os.totalmem() / 1e9),
    node: process.version,
    loadAverageAtStart: os.loadavg().map((x) => Number(x.toFixed(2)))
  }
}

const describeSizes = (s: WorkloadSizes) =>
  `N = ${formatInt(s.n)}; put_durable_c256: ${formatInt(s.c256)} puts, ${s.inFlight} in flight; put_durable_seq: ${s.seq} puts; get_random_seq: ${
    formatInt(s.gets)
  } gets`

type Failure = { status: "unavailable" | "failed"; message: string }

/** `options.repeat` rounds over `selected`, each run in its own worker process (until interrupted). */
const runRounds = async (selected: ReadonlyArray<Implementation>, options: Options) => {
  const runs = new Map<string, Array<RunResult>>(selected.map((i) => [i.name, []]))
  const failures = new Map<string, Failure>()
  rounds: for (let repeat = 1; repeat <= options.repeat; repeat++) {
    for (const implementation of selected) {
      if (interrupted) break rounds
      if (failures.get(implementation.name)?.status === "unavailable") continue
      const label = `${implementation.name} ${repeat}/${options.repeat}`
      const t0 = performance.now()
      const outcome = await runWorker(implementation, options, label)
      if (interrupted) {
        console.log(`[${label}] interrupted; the results below are partial`)
        break rounds
      }
      switch (outcome.kind) {
        case "done":
          runs.get(implementation.name)!.push(outcome.result)
          console.log(
            `[${label}] done in ${seconds(performance.now() - t0)}, peak RSS ${formatMb(outcome.result.peakRssBytes)} (${
              formatMb(outcome.result.baselineRssBytes)
            } before opening)`
          )
          break
        case "unavailable":
          failures.set(implementation.name, { status: "unavailable", message: outcome.message })
          console.log(`[${implementation.name}] NOT MEASURED: ${outcome.message}`)
          break
        case "failed":
          failures.set(implementation.name, { status: "failed", message: outcome.message })
          console.log(`[${label}] FAILED after ${seconds(performance.now() - t0)}: ${outcome.message}`)
          break
      }
    }
  }
  return { runs, failures }
}

/** The report's tables and notes, as Markdown sections. */
const reportSections = (
  heading: string,
  reports: ReadonlyArray<ImplementationReport>,
  ratioRows: ReturnType<typeof ratios>,
  putLatencyMs: number
): Array<string> => {
  const sections: Array<string> = []
  const table = mainTable(reports)
  if (table !== "") sections.push(`${heading}\n\n${table}`)
  const ratio = ratioTable(ratioRows)
  if (ratio !== "") {
    sections.push(
      `Shale / peer (ops/s and rows/s: above 1 means Shale is faster; put_durable_seq latency and peak RSS: below 1 means Shale is lower)\n\n${ratio}`
    )
  }
  const latency = latencyTable(reports)
  if (latency !== "") {
    sections.push(
      `Shale's durable puts against a memory store whose PUTs take ${putLatencyMs} ms (Effect API; PUTs counted by the store)\n\n${latency}`
    )
  }
  const notes = [
    ...outcomeNotes(reports),
    ...reports.flatMap((r) => r.problems.map((p) => `- ${r.name}: PROBLEM: ${p}`))
  ]
  if (notes.length > 0) sections.push(notes.join("\n"))
  return sections
}

const main = async (): Promise<number> => {
  const options = parseOptions(process.argv.slice(2))
  if (options === undefined) return 0
  if (options.workload === "W2") return runW2(options)
  if (options.workload === "W3") return runW3(options)
  if (options.workload === "READERS") return runReaders(options)
  const all = implementations({ putLatencyMs: options.putLatencyMs })
  if (options.list) {
    for (const i of all) console.log(`${i.name.padEnd(22)} ${i.description}`)
    return 0
  }
  const selected = select(all, options.only)
  const started = performance.now()
  const date = new Date()
  const host = machine()
  const machineLine = `${host.os}, ${host.cpus} × ${host.cpuModel}, ${host.memoryGb} GB RAM, Node ${host.node}`
  console.log(`Shale benchmark, workload W1 (docs/design/benchmark.md §0)${options.quick ? ", --quick" : ""}`)
  console.log(`${describeSizes(options.sizes)}; ${options.repeat} run(s) per implementation, median reported`)
  console.log(`${date.toISOString()}; ${machineLine}; load average ${host.loadAverageAtStart.join(" ")}`)
  console.log(`implementations: ${selected.map((i) => i.name).join(", ")}\n`)

  const { runs, failures } = await runRounds(selected, options)

  const reports: Array<ImplementationReport> = selected.map((i) =>
    summarize(i, runs.get(i.name) ?? [], failures.get(i.name))
  )
  const ratioRows = ratios(reports)
  const totalMs = performance.now() - started
  const heading = `W1 on ${date.toISOString().slice(0, 10)}, ${machineLine}. ${describeSizes(options.sizes)}. Median of ${
    options.repeat
  } run(s), each on a fresh database in its own process.`
  const sections = reportSections(heading, reports, ratioRows, options.putLatencyMs)
  console.log(`\n${sections.join("\n\n")}\n\nTotal time ${seconds(totalMs)}.`)

  if (options.out !== undefined) {
    const json = {
      date: date.toISOString(),
      machine: { ...host, loadAverageAtEnd: os.loadavg().map((x) => Number(x.toFixed(2))) },
      options: {
        quick: options.quick,
        repeat: options.repeat,
        sizes: options.sizes,
        putLatencyMs: options.putLatencyMs,
        only: options.only ?? null
      },
      totalSeconds: Number((totalMs / 1000).toFixed(1)),
      implementations: reports,
      ratios: ratioRows,
      markdown: sections.join("\n\n")
    }
    await writeFile(options.out, JSON.stringify(json, null, 2) + "\n")
    console.log(`Results written to ${options.out}`)
  }
  return interrupted ? 130 : reports.some((r) => r.status === "failed") ? 1 : 0
}

/** `--workload W2`: W2Main.ts, loaded only then. */
const runW2 = async (options: Options): Promise<number> => {
  if (options.list) {
    const { W2_IMPLEMENTATIONS } = await import("./W2Engine.ts")
    for (const i of W2_IMPLEMENTATIONS) console.log(`${i.name.padEnd(22)} ${i.description}`)
    return 0
  }
  const { runW2 } = await import("./W2Main.ts")
  const { W2_GC_DEFAULT, W2_GC_QUICK } = await import("./W2Workload.ts")
  const given = (name: "repeat" | "n" | "timeout") =>
    options.given[name] === undefined ? undefined : positiveInt(name, options.given[name], 1)
  const gc = options.given.gc ?? "on"
  if (gc !== "on" && gc !== "off" && gc !== "both") throw new UsageError(`--gc expects on, off or both, got "${gc}"`)
  const defaults = options.quick ? W2_GC_QUICK : W2_GC_DEFAULT
  const gcSchedule = {
    intervalMs: secondsOption("gc-interval", options.given.gcInterval, defaults.intervalMs / 1000, 0.001) * 1000,
    minAgeMs: secondsOption("gc-min-age", options.given.gcMinAge, defaults.minAgeMs / 1000, 0) * 1000
  }
  return runW2(
    {
      quick: options.quick,
      repeat: given("repeat"),
      n: given("n"),
      timeoutS: given("timeout"),
      only: options.only,
      out: options.out,
      gc,
      gcSchedule,
      gcHoldMs: options.given.gcHold === undefined ? undefined : secondsOption("gc-hold", options.given.gcHold, 0, 0) * 1000,
      paceOpsPerSec: options.given.pace === undefined ? undefined : positiveInt("pace", options.given.pace, 1),
      scanRows: options.given.scanRows === undefined ? undefined : positiveInt("scan-rows", options.given.scanRows, 1)
    },
    {
      onChild: (kill) => {
        current = kill === undefined ? undefined : { kill }
      },
      interrupted: () => interrupted
    }
  )
}

/** `--workload W3`: W3Main.ts, loaded only then. */
const runW3 = async (options: Options): Promise<number> => {
  if (options.list) {
    const { W3_IMPLEMENTATIONS } = await import("./W3Engine.ts")
    for (const i of W3_IMPLEMENTATIONS) console.log(`${i.name.padEnd(22)} ${i.description}`)
    return 0
  }
  const { runW3 } = await import("./W3Main.ts")
  const given = (name: "repeat" | "n" | "timeout") =>
    options.given[name] === undefined ? undefined : positiveInt(name, options.given[name], 1)
  let shaleSettings: unknown = {}
  try {
    shaleSettings = JSON.parse(options.given.shaleSettings ?? "{}")
  } catch (e) {
    throw new UsageError(`--shale-settings expects a JSON object: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (typeof shaleSettings !== "object" || shaleSettings === null || Array.isArray(shaleSettings)) throw new UsageError("--shale-settings expects a JSON object")
  return runW3(
    { quick: options.quick, repeat: given("repeat"), n: given("n"), timeoutS: given("timeout"), only: options.only, out: options.out, shaleSettings: shaleSettings as Record<string, unknown> },
    { onChild: (kill) => (current = kill === undefined ? undefined : { kill }), interrupted: () => interrupted }
  )
}

/** `--workload readers`: ReadersMain.ts, loaded only then. */
const runReaders = async (options: Options): Promise<number> => {
  if (options.list) {
    const { READER_ENGINES } = await import("./ReadersEngine.ts")
    for (const e of READER_ENGINES) console.log(e)
    return 0
  }
  const pollsMs = options.given.polls?.split(",").map((p) => positiveInt("polls", p.trim(), 1))
  const { runReadersWorkload } = await import("./ReadersMain.ts")
  return runReadersWorkload(
    {
      quick: options.quick,
      n: options.given.n === undefined ? undefined : positiveInt("n", options.given.n, 1),
      pollsMs,
      only: options.only,
      timeoutS: options.given.timeout === undefined ? undefined : positiveInt("timeout", options.given.timeout, 1),
      out: options.out
    },
    {
      onChild: (kill) => {
        current = kill === undefined ? undefined : { kill }
      },
      interrupted: () => interrupted
    }
  )
}

// Ctrl-C: stop the running worker, then report what was measured.
process.on("SIGINT", () => {
  if (interrupted) process.exit(130)
  interrupted = true
  current?.kill()
})

main().then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    if (e instanceof UsageError || (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))) {
      console.error(`${e.message}\n\n${USAGE}`)
      process.exitCode = 2
    } else {
      console.error(e)
      process.exitCode = 1
    }
  }
)
