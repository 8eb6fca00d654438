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
 * - The worker's object-store requests are not in this thread's `slatedb.object_store.*` metrics
 *   (docs/design/compaction.md §8).
 */
import { Effect, Queue } from "effect"
import { existsSync } from "node:fs"
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

/**
 * For tests: workers started so far and still alive; `exitAfterSsts` makes the next workers exit (as if
 * they crashed) after writing that many SSTs.
 */
export const WorkerJobTesting: { exitAfterSsts: number | undefined; started: number; alive: number } = {
  exitAfterSsts: undefined,
  started: 0,
  alive: 0
}

const SOURCE_MODE = import.meta.url.endsWith(".ts")
const ENTRY = new URL(SOURCE_MODE ? "./CompactionWorker.ts" : "./CompactionWorker.js", import.meta.url)

/**
 * Whether workers can start here: the entry module exists beside this one (not in a bundle that inlined
 * this module, such as the `shale` command's).
 */
export const workersAvailable: boolean = ENTRY.protocol === "file:" && existsSync(fileURLToPath(ENTRY))

/** Node options of the worker: from the sources, `@shale/*` imports resolve to the sources too. */
const execArgv = (): Array<string> =>
  SOURCE_MODE && !process.execArgv.some((a) => a.includes("@shale/source"))
    ? [...process.execArgv, "--conditions=@shale/source"]
    : [...process.execArgv]

type Event = FromWorker | { readonly type: "exit"; readonly code: number } | { readonly type: "error"; readonly error: unknown }

interface Started {
  readonly worker: Worker
  readonly events: Queue.Queue<Event>
  readonly exited: Promise<number>
  finished: boolean
}

const start = (input: WorkerInput): Effect.Effect<Started> =>
  Effect.gen(function*() {
    const events = yield* Queue.unbounded<Event>()
    const worker = new Worker(ENTRY, { workerData: input, execArgv: execArgv() })
    WorkerJobTesting.started++
    WorkerJobTesting.alive++
    const exited = new Promise<number>((resolve) => worker.once("exit", resolve))
    void exited.then(() => void WorkerJobTesting.alive--)
    worker.on("message", (m: FromWorker) => void Queue.offerUnsafe(events, m))
    worker.on("error", (error) => void Queue.offerUnsafe(events, { type: "error", error }))
    void exited.then((code) => Queue.offerUnsafe(events, { type: "exit", code }))
    return { worker, events, exited, finished: false }
  })

/** Stops the worker: asks first (see the module comment), terminates in any case. */
const stop = (w: Started): Effect.Effect<void> =>
  Effect.promise(async () => {
    if (!w.finished) {
      w.worker.postMessage({ type: "stop" } satisfies ToWorker)
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([w.exited, new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))])
      clearTimeout(timer)
    }
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
    start({ recipe: deps.recipe, root: deps.root, args, options, exitAfterSsts: WorkerJobTesting.exitAfterSsts }),
    (w) =>
      Effect.gen(function*() {
        const outputs: Array<SstHandle> = [...args.outputSsts]
        for (;;) {
          const m = yield* Queue.take(w.events)
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
              w.finished = true
              return yield* Effect.interrupt
            case "error":
              w.finished = true
              return yield* new UnavailableError({ message: `compaction worker failed: ${String(m.error)}`, cause: m.error })
            case "exit":
              w.finished = true
              return yield* new UnavailableError({ message: `compaction worker exited (code ${m.code}) before the job finished` })
          }
        }
      }),
    stop
  )
