/**
 * The messages between a compaction worker (CompactionWorker.ts) and the thread that started it
 * (WorkerJob.ts), and how a `DbError` crosses between them (structured clone keeps plain data only, so an
 * error travels as its tag and fields and is rebuilt as the same class).
 */
import { ClosedError, type CloseReason, DataError, type DbError, InternalError, InvalidError, UnavailableError } from "../errors.ts"
import type { StoreRecipe } from "../objectstore/StoreRecipe.ts"
import type { CompactionJobArgs, CompactionJobOptions, WrittenSst } from "./CompactionJob.ts"

/** One job for a worker. */
export interface WorkerInput {
  readonly recipe: StoreRecipe
  readonly root: string
  readonly args: CompactionJobArgs
  readonly options: CompactionJobOptions
  /** Tests: the worker exits (as if it crashed) right after writing this many SSTs. */
  readonly exitAfterSsts?: number | undefined
}

export interface JobCounts {
  readonly rowsRead: number
  readonly rowsWritten: number
  readonly bytesWritten: number
}

export interface SerializedError {
  readonly _tag: DbError["_tag"]
  readonly message: string
  readonly reason?: CloseReason
  readonly object?: string
  readonly section?: string
}

/** Worker → starter: an SST written (its tail transferred), an output recorded, the end. */
export type FromWorker =
  | { readonly type: "written"; readonly sst: WrittenSst }
  | { readonly type: "output"; readonly counts: JobCounts }
  | { readonly type: "done"; readonly counts: JobCounts }
  | { readonly type: "failed"; readonly error: SerializedError }
  | { readonly type: "stopped" }

/**
 * Starter → worker: run a job (one at a time); stop the job (it is interrupted: temp files are removed,
 * then `stopped` is posted); build the store of a recipe ahead of the jobs that will use it (a started
 * worker waiting for its first job; no answer: a job whose store failed to build tries again and fails).
 */
export type ToWorker =
  | { readonly type: "run"; readonly input: WorkerInput }
  | { readonly type: "stop" }
  | { readonly type: "prepare"; readonly recipe: StoreRecipe }

export const serializeError = (e: DbError): SerializedError => ({
  _tag: e._tag,
  message: e.message,
  ...(e._tag === "ClosedError" ? { reason: e.reason } : {}),
  ...(e._tag === "DataError" && e.object !== undefined ? { object: e.object } : {}),
  ...(e._tag === "DataError" && e.section !== undefined ? { section: e.section } : {})
})

export const deserializeError = (e: SerializedError): DbError => {
  switch (e._tag) {
    case "ClosedError":
      return new ClosedError({ reason: e.reason ?? "fatal", message: e.message })
    case "UnavailableError":
      return new UnavailableError({ message: e.message })
    case "InvalidError":
      return new InvalidError({ message: e.message })
    case "DataError":
      return new DataError({
        message: e.message,
        ...(e.object !== undefined ? { object: e.object } : {}),
        ...(e.section !== undefined ? { section: e.section } : {})
      })
    default:
      return new InternalError({ message: e.message })
  }
}
