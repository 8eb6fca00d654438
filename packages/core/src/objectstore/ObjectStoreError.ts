/**
 * Typed object-store errors. Every error carries the operation and the path so a caller can act on it:
 *
 * - `ObjectNotFound`: the object does not exist.
 * - `ObjectAlreadyExists`: a create-only put found the object there (this is how writers are fenced).
 * - `StoreUnavailable`: transient (timeouts, throttling, 5xx, connection resets). Safe to retry.
 * - `StoreFailure`: anything else (permissions, bad requests, a local disk error). Fatal: do not retry.
 * - `InvalidPath`: the path was rejected before any I/O (empty segments, `.` or `..`).
 */
import { Data } from "effect"

export type StoreOp = "put" | "get" | "getRange" | "head" | "delete" | "list"

interface Fields {
  readonly op: StoreOp
  readonly path: string
  readonly message: string
  readonly cause?: unknown
}

export class ObjectNotFound extends Data.TaggedError("ObjectNotFound")<Fields> {}
export class ObjectAlreadyExists extends Data.TaggedError("ObjectAlreadyExists")<Fields> {}
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<Fields> {}
export class StoreFailure extends Data.TaggedError("StoreFailure")<Fields> {}
export class InvalidPath extends Data.TaggedError("InvalidPath")<Fields> {}

export type ObjectStoreError =
  | ObjectNotFound
  | ObjectAlreadyExists
  | StoreUnavailable
  | StoreFailure
  | InvalidPath

/** True for errors a retry may cure. */
export const isTransient = (e: ObjectStoreError): e is StoreUnavailable => e._tag === "StoreUnavailable"
