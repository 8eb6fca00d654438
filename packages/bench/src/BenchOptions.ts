/**
 * `npm run bench`'s command line (main.ts): the usage text, the options every workload shares and the
 * ones some take (`given`, parsed by the workload's own dispatcher with `positiveInt`/`secondsOption`),
 * and `UsageError`, which main.ts reports with the usage text.
 */
import { parseArgs } from "node:util"
import { GROUPS } from "./Implementations.ts"
import { FULL, QUICK, withN, type WorkloadSizes } from "./Workload.ts"

export const USAGE = `usage: npm run bench -- [options]

  --workload W       W1 (default: puts, gets, scans; docs/design/benchmark.md), W2 (compaction: a
                     steady state with the compactor running, Shale and SlateDB on local directories),
                     W3 (object storage: reads and durable writes on S3, Shale and SlateDB, radosgw) or
                     readers (a DbReader beside its writer: lag from a durable write's acknowledgement to
                     its visibility, and the reader's gets and scans against the writer's)
  --polls MS,MS      readers: the manifest poll intervals (default 100,1000,10000, or 100,1000 with --quick)
  --quick            small workload (W1: N = 10,000, under a minute; W2: N = 100,000, under 3 minutes)
  --repeat N         runs per implementation, each on a fresh database (default: W1 3, or 1 with --quick; W2 and W3 1)
  --n N              number of keys (default W1 100,000, or 10,000 with --quick; W2 1,000,000, or 100,000)
  --only a,b,...     implementations or groups to run (groups: ${Object.keys(GROUPS).join(", ")})
  --put-latency MS   injected PUT latency of the latency experiment (W1; default 20)
  --timeout S        give up on one run after S seconds (W1: default 300, or 60 with --quick; W2: 1800, or 300)
  --gc MODE          W2: the engines' garbage collectors on (default), off, or both (each implementation
                     run both ways, with a GC on / off table); SlateDB's follows Shale's
  --gc-interval S    W2: each kind of object collected every S seconds (default 5, or 1 with --quick)
  --gc-min-age S     W2: objects older than S seconds (default 10, or 2 with --quick; the engines'
                     defaults, 60 s and 300 s, would delete nothing during W2's load)
  --gc-hold S        W2, collector on: keep the database open S seconds after the store settled
                     (default: min age + 2 intervals; > 900 lets the compactor's 15-minute checkpoints expire)
  --pace OPS         W2: the load writes at most OPS operations per second, in both engines (default:
                     each as fast as it goes), to compare compactors under the same stream of writes
  --scan-rows N      W2: rows per timed scan (default 100, the length the compaction issue's 80 % scan
                     target is judged on; longer scans spread the cost of opening each source)
  --shale-settings J W3: JSON over Shale's default settings in every Shale opening (e.g. read-ahead)
  --out FILE         also write the results as JSON to FILE
  --list             list the implementations and exit
  --help`

export interface Options {
  readonly workload: "W1" | "W2" | "W3" | "READERS"
  /** The options as given (W2 has defaults of its own). */
  readonly given: {
    readonly repeat?: string
    readonly n?: string
    readonly timeout?: string
    readonly gc?: string
    readonly gcInterval?: string
    readonly gcMinAge?: string
    readonly gcHold?: string
    readonly pace?: string
    readonly scanRows?: string
    readonly shaleSettings?: string
    readonly polls?: string
  }
  readonly quick: boolean
  readonly repeat: number
  readonly sizes: WorkloadSizes
  readonly only: ReadonlyArray<string> | undefined
  readonly putLatencyMs: number
  readonly timeoutMs: number
  readonly out: string | undefined
  readonly list: boolean
}

export class UsageError extends Error {}

/** A duration option in seconds (fractions allowed), at least `min`. */
export const secondsOption = (name: string, text: string | undefined, fallback: number, min: number): number => {
  if (text === undefined) return fallback
  const x = Number(text)
  if (text.trim() === "" || !Number.isFinite(x) || x < min) throw new UsageError(`--${name} expects a number of seconds ≥ ${min}, got "${text}"`)
  return x
}

export const positiveInt = (name: string, text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} expects a positive integer, got "${text}"`)
  return n
}

export const parseOptions = (argv: ReadonlyArray<string>): Options | undefined => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      workload: { type: "string", default: "W1" },
      quick: { type: "boolean", default: false },
      repeat: { type: "string" },
      n: { type: "string" },
      only: { type: "string" },
      "put-latency": { type: "string" },
      timeout: { type: "string" },
      gc: { type: "string" },
      "gc-interval": { type: "string" },
      "gc-min-age": { type: "string" },
      "gc-hold": { type: "string" },
      pace: { type: "string" },
      "scan-rows": { type: "string" },
      "shale-settings": { type: "string" },
      polls: { type: "string" },
      out: { type: "string" },
      list: { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help) {
    console.log(USAGE)
    return undefined
  }
  const workload = values.workload.toUpperCase()
  if (workload !== "W1" && workload !== "W2" && workload !== "W3" && workload !== "READERS") {
    throw new UsageError(`--workload expects W1, W2, W3 or readers, got "${values.workload}"`)
  }
  const quick = values.quick
  const base = quick ? QUICK : FULL
  const n = positiveInt("n", values.n, base.n)
  return {
    workload,
    given: {
      ...(values.repeat === undefined ? {} : { repeat: values.repeat }),
      ...(values.n === undefined ? {} : { n: values.n }),
      ...(values.timeout === undefined ? {} : { timeout: values.timeout }),
      ...(values.gc === undefined ? {} : { gc: values.gc }),
      ...(values["gc-interval"] === undefined ? {} : { gcInterval: values["gc-interval"] }),
      ...(values["gc-min-age"] === undefined ? {} : { gcMinAge: values["gc-min-age"] }),
      ...(values["gc-hold"] === undefined ? {} : { gcHold: values["gc-hold"] }),
      ...(values.pace === undefined ? {} : { pace: values.pace }),
      ...(values["scan-rows"] === undefined ? {} : { scanRows: values["scan-rows"] }),
      ...(values["shale-settings"] === undefined ? {} : { shaleSettings: values["shale-settings"] }),
      ...(values.polls === undefined ? {} : { polls: values.polls })
    },
    quick,
    repeat: positiveInt("repeat", values.repeat, quick ? 1 : 3),
    sizes: withN(base, n),
    only: values.only?.split(",").map((s) => s.trim()).filter((s) => s.length > 0),
    putLatencyMs: positiveInt("put-latency", values["put-latency"], 20),
    timeoutMs: positiveInt("timeout", values.timeout, quick ? 60 : 300) * 1000,
    out: values.out,
    list: values.list
  }
}
