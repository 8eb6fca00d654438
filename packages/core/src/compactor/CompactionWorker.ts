/**
 * A compaction worker's entry (a `node:worker_threads` worker started by WorkerJob.ts): runs one
 * compaction job (CompactionJob.ts) on a store rebuilt from the starter's recipe (objectstore/
 * StoreRecipe.ts), wrapped in SlateDB's default retry policy, with a table store of its own (no block
 * cache: a job bypasses it). Each SST written is posted back (its handle and tail, the tail's buffer
 * transferred) and so is each recorded output; then the counts, or the typed error. On `stop` the job is
 * interrupted (a put in flight removes its temp file) and `stopped` is posted.
 */
import { Cause, Effect, Exit, Option } from "effect"
import { parentPort, workerData } from "node:worker_threads"
import { InternalError } from "../errors.ts"
import { rebuildStore } from "../objectstore/StoreRecipe.ts"
import { withRetries } from "../objectstore/RetryingObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { TableStore } from "../sst/TableStore.ts"
import { runCompactionJob } from "./CompactionJob.ts"
import { type FromWorker, serializeError, type ToWorker, type WorkerInput } from "./WorkerProtocol.ts"

const port = parentPort!
const input = workerData as WorkerInput
const post = (m: FromWorker, transfer: Array<ArrayBuffer> = []) => port.postMessage(m, transfer)

let written = 0
const job = Effect.gen(function*() {
  const store = withRetries(yield* Effect.mapError(rebuildStore(input.recipe), toDbError))
  const tables = new TableStore(store, input.root, 0)
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

const stop = new AbortController()
port.on("message", (m: ToWorker) => {
  if (m.type === "stop") stop.abort()
})

void Effect.runPromiseExit(job, { signal: stop.signal }).then((exit) => {
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
  port.close()
})
