/**
 * A compaction worker's entry (a `node:worker_threads` worker started by WorkerJob.ts). It runs the jobs it
 * is sent (`run`), one at a time, each a compaction job (CompactionJob.ts) on a store rebuilt from the
 * starter's recipe (objectstore/StoreRecipe.ts; rebuilt once per recipe, ahead of the first job when the
 * starter sends `prepare`), wrapped in SlateDB's default
 * retry policy, with a table store of its own (no block cache: a job bypasses it). Each SST written is
 * posted back (its handle and tail, the tail's buffer transferred) and so is each recorded output; then
 * the counts, or the typed error. On `stop` the job is interrupted (a put in flight removes its temp
 * file) and `stopped` is posted.
 */
import { Cause, Effect, Exit, Option } from "effect"
import { parentPort } from "node:worker_threads"
import { type DbError, InternalError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { rebuildStore, type StoreRecipe } from "../objectstore/StoreRecipe.ts"
import { withRetries } from "../objectstore/RetryingObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { TableStore } from "../sst/TableStore.ts"
import { runCompactionJob } from "./CompactionJob.ts"
import { type FromWorker, serializeError, type ToWorker, type WorkerInput } from "./WorkerProtocol.ts"

const port = parentPort!
const post = (m: FromWorker, transfer: Array<ArrayBuffer> = []) => port.postMessage(m, transfer)

/**
 * Stores by recipe (JSON): a worker that runs many jobs on one database builds its store once, and a job
 * that comes while the store is being built (`prepare`) waits for that build. A failed build is
 * forgotten, so the next job builds again.
 */
const stores = new Map<string, Promise<Exit.Exit<ObjectStore["Service"], DbError>>>()
const storeFor = (recipe: StoreRecipe): Effect.Effect<ObjectStore["Service"], DbError> =>
  Effect.flatMap(
    Effect.promise(() => {
      const key = JSON.stringify(recipe)
      let built = stores.get(key)
      if (built === undefined) {
        built = Effect.runPromiseExit(rebuildStore(recipe).pipe(Effect.mapError(toDbError), Effect.map((store) => withRetries(store))))
        stores.set(key, built)
        void built.then((exit) => Exit.isFailure(exit) && stores.delete(key))
      }
      return built
    }),
    (exit) => exit
  )

const job = (input: WorkerInput) =>
  Effect.gen(function*() {
    const store = yield* storeFor(input.recipe)
    const tables = new TableStore(store, input.root, 0)
    let written = 0
    return yield* runCompactionJob(
      { root: input.root, store, tables },
      input.args,
      input.options,
      (p) => Effect.sync(() => post({ type: "output", counts: { rowsRead: p.rowsRead, rowsWritten: p.rowsWritten, bytesWritten: p.bytesWritten } })),
      (sst) =>
        Effect.sync(() => {
          post({ type: "written", sst }, [sst.tail.buffer as ArrayBuffer])
          if (input.exitAfterSsts !== undefined && ++written >= input.exitAfterSsts) process.exit(70)
        })
    )
  })

let running: AbortController | undefined

const run = (input: WorkerInput) => {
  const stop = new AbortController()
  running = stop
  void Effect.runPromiseExit(job(input), { signal: stop.signal }).then((exit) => {
    running = undefined
    if (Exit.isSuccess(exit)) {
      const { rowsRead, rowsWritten, bytesWritten } = exit.value
      post({ type: "done", counts: { rowsRead, rowsWritten, bytesWritten } })
    } else if (Cause.hasInterruptsOnly(exit.cause)) {
      post({ type: "stopped" })
    } else {
      const error = Option.getOrUndefined(Exit.findErrorOption(exit)) ??
        new InternalError({ message: `compaction worker failed: ${Cause.pretty(exit.cause)}` })
      post({ type: "failed", error: serializeError(error) })
    }
  })
}

port.on("message", (m: ToWorker) => {
  if (m.type === "run") run(m.input)
  else if (m.type === "prepare") void Effect.runPromiseExit(storeFor(m.recipe))
  else running?.abort()
})
