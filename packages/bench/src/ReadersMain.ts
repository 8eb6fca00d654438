/**
 * `npm run bench -- --workload readers`: replication lag and read throughput of a `DbReader`
 * (ReadersWorkload.ts) for Shale and SlateDB 0.12.1, each engine in its own process (worker-readers.ts),
 * one fresh local database per manifest poll interval. Prints, per engine and interval, the lag from a
 * durable write's acknowledgement to its visibility in the reader (p50, p99, max) and the reader's point
 * read and scan rates beside the writer's own on the same data (docs/design/benchmark.md §7).
 */
import { fork } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { READER_ENGINES, type ReaderEngineName } from "./ReadersEngine.ts"
import { READERS_FULL, READERS_QUICK, type ReadersRunResult, type ReadersSizes } from "./ReadersWorkload.ts"
import { formatInt } from "./Report.ts"
import type { ReadersWorkerConfig, ReadersWorkerMessage } from "./worker-readers.ts"

export interface ReadersOptions {
  readonly quick: boolean
  readonly n: number | undefined
  /** Poll intervals in milliseconds (`--polls 100,1000`); the defaults otherwise. */
  readonly pollsMs: ReadonlyArray<number> | undefined
  readonly only: ReadonlyArray<string> | undefined
  readonly timeoutS: number | undefined
  readonly out: string | undefined
}

export interface ReadersControl {
  /** The running worker's kill switch (for Ctrl-C), or undefined once it exited. */
  readonly onChild: (kill: (() => void) | undefined) => void
  readonly interrupted: () => boolean
}

interface EngineOutcome {
  readonly engine: ReaderEngineName
  readonly results: Array<ReadersRunResult>
  readonly status: "done" | "unavailable" | "failed"
  readonly message?: string
}

const WORKER = fileURLToPath(new URL("./worker-readers.ts", import.meta.url))

const ms = (x: number) => (Number.isNaN(x) ? "-" : Math.abs(x) >= 100 ? `${formatInt(x)} ms` : `${x.toFixed(1)} ms`)
const pollLabel = (p: number) => (p >= 1000 ? `${p / 1000} s` : `${p} ms`)

const runEngine = async (engine: ReaderEngineName, sizes: ReadersSizes, timeoutMs: number, control: ReadersControl): Promise<EngineOutcome> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), `shale-bench-readers-${engine}-`))
  const config: ReadersWorkerConfig = { sizes, dir }
  const results: Array<ReadersRunResult> = []
  try {
    return await new Promise<EngineOutcome>((resolve) => {
      let outcome: EngineOutcome | undefined
      const child = fork(WORKER, [engine, JSON.stringify(config)], {
        execArgv: ["--disable-warning=ExperimentalWarning", "--conditions=@shale/source"],
        stdio: ["ignore", "pipe", "pipe", "ipc"]
      })
      control.onChild(() => child.kill("SIGKILL"))
      for (const stream of [child.stdout, child.stderr]) {
        stream?.setEncoding("utf8").on("data", (chunk: string) => {
          for (const line of chunk.split("\n")) if (line.length > 0) console.error(`[${engine}] ${line}`)
        })
      }
      const timer = setTimeout(() => {
        outcome ??= { engine, results, status: "failed", message: `timed out after ${timeoutMs / 1000} s (--timeout)` }
        child.kill("SIGKILL")
      }, timeoutMs)
      child.on("message", (raw) => {
        const m = raw as ReadersWorkerMessage
        if (m.type === "result") {
          results.push(m.result)
          const r = m.result
          console.log(
            `[${engine}] poll ${pollLabel(r.pollMs)}: lag p50 ${ms(r.lag.p50Ms)}, p99 ${ms(r.lag.p99Ms)}, max ${ms(r.lag.maxMs)}; ` +
              `gets ${formatInt(r.readerGets)}/s (writer ${formatInt(r.writerGets)}/s), scan ${formatInt(r.readerScan)} rows/s ` +
              `(writer ${formatInt(r.writerScan)})${r.problem === undefined ? "" : `  PROBLEM: ${r.problem}`}`
          )
        } else if (m.type === "done") outcome ??= { engine, results, status: "done" }
        else outcome ??= { engine, results, status: m.type, message: m.message }
      })
      child.on("exit", (code, signal) => {
        clearTimeout(timer)
        control.onChild(undefined)
        resolve(outcome ?? { engine, results, status: "failed", message: `worker exited (${signal ?? `code ${code}`}) without a result` })
      })
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The table of docs/design/benchmark.md §7. */
export const readersTable = (outcomes: ReadonlyArray<EngineOutcome>): string => {
  const header = "| engine | poll interval | lag p50 | lag p99 | lag max | seen before ack | reader gets/s | writer gets/s | reader / writer | reader scan rows/s | writer scan rows/s | reader / writer |"
  const rows = outcomes.flatMap((o) =>
    o.results.map((r) =>
      `| ${o.engine} | ${pollLabel(r.pollMs)} | ${ms(r.lag.p50Ms)} | ${ms(r.lag.p99Ms)} | ${ms(r.lag.maxMs)} | ${r.lag.beforeAck} of ${r.lag.puts} | ${
        formatInt(r.readerGets)
      } | ${formatInt(r.writerGets)} | ${(r.readerGets / r.writerGets).toFixed(2)} | ${formatInt(r.readerScan)} | ${formatInt(r.writerScan)} | ${
        (r.readerScan / r.writerScan).toFixed(2)
      } |`
    )
  )
  return [header, `|${"---|".repeat(12)}`, ...rows].join("\n")
}

export const runReadersWorkload = async (options: ReadersOptions, control: ReadersControl): Promise<number> => {
  const base = options.quick ? READERS_QUICK : READERS_FULL
  const sizes: ReadersSizes = {
    ...base,
    ...(options.n === undefined ? {} : { n: options.n, gets: Math.min(base.gets, options.n) }),
    ...(options.pollsMs === undefined ? {} : { pollsMs: options.pollsMs })
  }
  const engines = READER_ENGINES.filter((e) => options.only === undefined || options.only.includes(e))
  const cpus = os.cpus()
  console.log(`Shale benchmark, reader workload (docs/design/benchmark.md §7)${options.quick ? ", --quick" : ""}`)
  console.log(
    `N = ${formatInt(sizes.n)}; lag: ${sizes.rate} durable puts/s for max(${sizes.minLagMs / 1000} s, ${sizes.lagPolls} polls); ` +
      `${sizes.scans} rounds of ${formatInt(sizes.gets)} gets and a scan, writer and reader in turn; poll intervals ${sizes.pollsMs.map(pollLabel).join(", ")}`
  )
  console.log(
    `${new Date().toISOString()}; ${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model.trim()}, Node ${process.version}; ` +
      `load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}\n`
  )
  const outcomes: Array<EngineOutcome> = []
  for (const engine of engines) {
    if (control.interrupted()) break
    const outcome = await runEngine(engine, sizes, (options.timeoutS ?? 900) * 1000, control)
    if (outcome.status !== "done") console.log(`[${engine}] ${outcome.status}: ${outcome.message}`)
    outcomes.push(outcome)
  }
  console.log(`\n${readersTable(outcomes)}`)
  if (options.out !== undefined) {
    await writeFile(options.out, JSON.stringify({ sizes, loadAverage: os.loadavg(), outcomes }, null, 2))
    console.log(`Results written to ${options.out}`)
  }
  return control.interrupted() ? 130 : outcomes.some((o) => o.status === "failed" || o.results.some((r) => r.problem !== undefined)) ? 1 : 0
}
