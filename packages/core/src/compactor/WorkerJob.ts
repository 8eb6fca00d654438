/**
 * Runs a compaction job in a `node:worker_threads` worker (CompactionWorker.ts): the job's CPU (decoding,
 * merging, encoding, compressing) leaves the thread of the writer that embeds the compactor. Node-only,
 * loaded on demand (JobLauncher.ts), so the engine's main entry imports no Node built-in.
 *
 * - The worker rebuilds the store from its recipe (objectstore/StoreRecipe.ts) and posts each SST it
 *   writes; here each is announced to the table store (`announceOutput`, the one place an output becomes
 *   known to this thread) and each recorded output goes to `onOutput` as the inline job's would. The
 *   result (the destination run) is built here from the kept SSTs and the announced ones.
 * - A job failure comes back as the same typed `DbError`; a worker that dies or throws fails the job
 *   with an `UnavailableError` (the compactor marks the compaction Failed; a later poll proposes it again).
 * - Interrupting the job (compactor stopped, database closed, fenced) asks the worker to stop: it
 *   interrupts its job, whose put in flight removes its temp file; the worker is terminated once it
 *   says so, or after `STOP_GRACE_MS` at the latest.
 * - At most `MAX_WORKERS` jobs run in workers at once (CPUs less one; others wait for a worker).
 * - Workers are reused: one whose job ended with an answer waits (unreferenced: it keeps no process
 *   alive) for the next job up to `IDLE_MS`, as loading the engine in a new worker takes a while (about a
 *   second from the TypeScript sources, less from the built package). For the same reason a worker may be
 *   started before its first job (`prestartWorker`): it waits in the pool the same way.
 * - The worker's object-store requests are not in this thread's `slatedb.object_store.*` metrics
 *   (docs/design/compaction.md §8).
 */
import { Effect, Queue, Semaphore } from "effect"
import { existsSync } from "node:fs"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import { type DbError, UnavailableError } from "../errors.ts"
import type { SstHandle } from "../manifest/Manifest.ts"
import type { StoreRecipe } from "../objectstore/StoreRecipe.ts"
import type { TableStore } from "../sst/TableStore.ts"
import {
  announceOutput,
  type CompactionJobArgs,
  type CompactionJobOptions,
  type JobProgress,
  type JobResult
} from "./CompactionJob.ts"
import { deserializeError, type FromWorker, type ToWorker, type WorkerInput } from "./WorkerProtocol.ts"

/** How long a stopping worker may take to interrupt its job before it is terminated. */
const STOP_GRACE_MS = 10_000
/** An idle worker is kept this long for the next job (starting one costs loading the engine again). */
const IDLE_MS = 30_000

/** Workers started so far, alive (started, not exited), and running a job. */
const counts = { started: 0, alive: 0, busy: 0 }

/**
 * For tests: workers started so far, alive, and running a job; `exitAfterSsts` makes the next jobs' workers
 * exit (as if they crashed) after writing that many SSTs; `endIdle` ends the pooled workers.
 */
export const WorkerJobTesting: {
  exitAfterSsts: number | undefined
  readonly started: number
  readonly alive: number
  readonly busy: number
  idle: () => number
  endIdle: () => Promise<void>
} = {
  exitAfterSsts: undefined,
  get started() {
    return counts.started
  },
  get alive() {
    return counts.alive
  },
  get busy() {
    return counts.busy
  },
  idle: () => idle.length,
  endIdle: async () => {
    const ending = idle.splice(0)
    for (const w of ending) clearTimeout(w.idleTimer)
    await Promise.all(ending.map((w) => w.worker.terminate().then(() => w.exited)))
  }
}

const SOURCE_MODE = import.meta.url.endsWith(".ts")
const ENTRY = new URL(SOURCE_MODE ? "./CompactionWorker.ts" : "./CompactionWorker.js", import.meta.url)

/**
 * Whether workers can start here: the entry module exists beside this one (not in a bundle that inlined
 * this module, such as the `shale` command's).
 */
export const workersAvailable: boolean = ENTRY.protocol === "file:" && existsSync(fileURLToPath(ENTRY))

/** Node options of the worker: the process's; from the sources, `@shale/*` imports resolve to the sources too. */
const execArgv = (): Array<string> =>
  SOURCE_MODE && !process.execArgv.some((a) => a.includes("@shale/source"))
    ? [...process.execArgv, "--conditions=@shale/source"]
    : [...process.execArgv]

/** The options that decide how modules load, and whether their value is the next argument when not `=`-joined. */
const MODULE_OPTIONS: ReadonlyMap<string, boolean> = new Map([
  ["--conditions", true],
  ["-C", true],
  ["--import", true],
  ["--require", true],
  ["-r", true],
  ["--loader", true],
  ["--experimental-loader", true],
  ["--disable-warning", true],
  ["--no-warnings", false],
  ["--enable-source-maps", false]
])

/**
 * What of `argv` a worker may be given when Node refuses some of it (`--expose-gc`, `--max-old-space-size`
 * and other per-process options: ERR_WORKER_INVALID_EXEC_ARGV): the options that decide how modules load,
 * and the `--experimental-*` switches.
 */
export const moduleExecArgv = (argv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf("=")
    const name = eq < 0 ? arg : arg.slice(0, eq)
    const takesValue = MODULE_OPTIONS.get(name)
    if (takesValue === undefined && !name.startsWith("--experimental-") && !name.startsWith("--no-experimental-")) continue
    out.push(arg)
    if (takesValue === true && eq < 0 && i + 1 < argv.length) out.push(argv[++i]!)
  }
  return out
}

/** A worker running `entry`, with the process's Node options, or those it may have (`moduleExecArgv`). */
export const startWorker = (entry: URL, argv: ReadonlyArray<string>): Worker => {
  try {
    return new Worker(entry, { execArgv: [...argv] })
  } catch (e) {
    if ((e as { code?: unknown }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw e
    return new Worker(entry, { execArgv: moduleExecArgv(argv) })
  }
}

type Event = FromWorker | { readonly type: "exit"; readonly code: number } | { readonly type: "error"; readonly error: unknown }

interface PooledWorker {
  readonly worker: Worker
  readonly exited: Promise<number>
  /** Where its events go: the job it runs. */
  sink: Queue.Queue<Event> | undefined
  /** Its job ended with an answer (done, failed): it may take another. */
  finished: boolean
  idleTimer: ReturnType<typeof setTimeout> | undefined
}

/** Idle workers, most recently used last. */
const idle: Array<PooledWorker> = []

/**
 * Jobs running in workers at once (more wait for a worker): one CPU is left to the writer's thread. More
 * workers than CPUs only add start-up costs (each loads the engine) and memory.
 */
export const MAX_WORKERS = Math.max(1, availableParallelism() - 1)
const slots = Semaphore.makeUnsafe(MAX_WORKERS)

const spawn = (): PooledWorker => {
  const worker = startWorker(ENTRY, execArgv())
  const w: PooledWorker = { worker, exited: new Promise((resolve) => worker.once("exit", resolve)), sink: undefined, finished: false, idleTimer: undefined }
  counts.started++
  counts.alive++
  worker.on("message", (m: FromWorker) => void (w.sink !== undefined && Queue.offerUnsafe(w.sink, m)))
  worker.on("error", (error) => void (w.sink !== undefined && Queue.offerUnsafe(w.sink, { type: "error", error })))
  void w.exited.then((code) => {
    counts.alive--
    const i = idle.indexOf(w)
    if (i >= 0) idle.splice(i, 1)
    if (w.sink !== undefined) Queue.offerUnsafe(w.sink, { type: "exit", code })
  })
  return w
}

/** An idle worker (or a new one) running `input`, its events into a fresh queue. */
const acquire = (input: WorkerInput): Effect.Effect<PooledWorker & { sink: Queue.Queue<Event> }> =>
  Effect.map(Queue.unbounded<Event>(), (sink) => {
    const w = idle.pop() ?? spawn()
    clearTimeout(w.idleTimer)
    w.worker.ref()
    w.sink = sink
    w.finished = false
    counts.busy++
    w.worker.postMessage({ type: "run", input } satisfies ToWorker)
    return w as PooledWorker & { sink: Queue.Queue<Event> }
  })

/** Puts a worker that may take a job into the pool: not keeping the process alive, ended after `IDLE_MS`. */
const park = (w: PooledWorker): void => {
  w.worker.unref()
  w.idleTimer = setTimeout(() => void w.worker.terminate(), IDLE_MS)
  w.idleTimer.unref()
  idle.push(w)
}

/**
 * Starts a worker into the pool when none is alive, so that the next job finds the engine loaded and the
 * store of `recipe` built (JobLauncher.ts, `warmExecutor`). It is ended after `IDLE_MS` if no job comes.
 */
export const prestartWorker = (recipe: StoreRecipe): void => {
  if (counts.alive > 0) return
  const w = spawn()
  w.finished = true
  w.worker.postMessage({ type: "prepare", recipe } satisfies ToWorker)
  park(w)
}

/**
 * After its job: a worker that answered goes back to the pool (`park`); one interrupted mid-job is asked
 * to stop (see the module comment) and terminated.
 */
const release = (w: PooledWorker): Effect.Effect<void> =>
  Effect.promise(async () => {
    counts.busy--
    w.sink = undefined
    if (w.finished) return park(w)
    // Its answer (`stopped`, or the end it reached meanwhile) means its job let go of everything.
    const answered = new Promise<void>((resolve) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === "stopped" || m.type === "done" || m.type === "failed") {
          w.worker.off("message", onMessage)
          resolve()
        }
      }
      w.worker.on("message", onMessage)
    })
    w.worker.postMessage({ type: "stop" } satisfies ToWorker)
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([answered, w.exited, new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))])
    clearTimeout(timer)
    await w.worker.terminate()
  })

/** Runs the job in a worker (see the module comment). */
export const runCompactionJobInWorker = (
  deps: { readonly root: string; readonly recipe: StoreRecipe; readonly tables: TableStore },
  args: CompactionJobArgs,
  options: CompactionJobOptions,
  onOutput: (progress: JobProgress) => Effect.Effect<void, DbError>
): Effect.Effect<JobResult, DbError> =>
  Effect.acquireUseRelease(
    acquire({ recipe: deps.recipe, root: deps.root, args, options, exitAfterSsts: WorkerJobTesting.exitAfterSsts }),
    (w) =>
      Effect.gen(function*() {
        const outputs: Array<SstHandle> = [...args.outputSsts]
        for (;;) {
          const m = yield* Queue.take(w.sink)
          switch (m.type) {
            case "written":
              yield* announceOutput(deps.tables, m.sst)
              outputs.push(m.sst.handle)
              break
            case "output":
              yield* onOutput({ ...m.counts, outputSsts: outputs.slice() })
              break
            case "done":
              w.finished = true
              return { run: { id: args.destination, ssts: outputs }, ...m.counts }
            case "failed":
              w.finished = true
              return yield* Effect.fail(deserializeError(m.error))
            case "stopped":
              return yield* Effect.interrupt
            case "error":
              return yield* new UnavailableError({ message: `compaction worker failed: ${String(m.error)}`, cause: m.error })
            case "exit":
              return yield* new UnavailableError({ message: `compaction worker exited (code ${m.code}) before the job finished` })
          }
        }
      }),
    release
  ).pipe(Semaphore.withPermit(slots))
