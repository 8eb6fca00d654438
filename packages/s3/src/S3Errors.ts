/**
 * The S3 store's errors (S3ObjectStore.ts, "Errors"): how a rejected request becomes one of the store's
 * error kinds.
 */
import { ObjectStore as Store } from "@shale/core"
import { Data } from "effect"

const { ObjectAlreadyExists, ObjectNotFound, StoreFailure, StoreUnavailable } = Store
type ObjectStoreError = Store.ObjectStoreError
type StoreOp = Store.StoreOp

/** A rejected AWS SDK (or lean transport) promise, before it is classified. */
export class S3CallFailed extends Data.TaggedError("S3CallFailed")<{ readonly cause: unknown }> {}

interface ErrorShape {
  readonly name?: unknown
  readonly code?: unknown
  readonly Code?: unknown
  readonly message?: unknown
  readonly $fault?: unknown
  readonly $retryable?: unknown
  readonly $metadata?: { readonly httpStatusCode?: unknown }
}

const shape = (cause: unknown): ErrorShape =>
  typeof cause === "object" && cause !== null ? (cause as ErrorShape) : {}

const str = (u: unknown): string | undefined => (typeof u === "string" && u.length > 0 ? u : undefined)

/** The S3 error code (`NoSuchKey`, `SlowDown`, …) or Node error code (`ECONNRESET`, …) of a rejection. */
const errorCode = (cause: unknown): string | undefined => {
  const e = shape(cause)
  return str(e.Code) ?? str(e.code) ?? (str(e.name) !== "Error" ? str(e.name) : undefined)
}

const httpStatus = (cause: unknown): number | undefined => {
  const s = shape(cause).$metadata?.httpStatusCode
  return typeof s === "number" ? s : undefined
}

const NOT_FOUND = new Set(["NoSuchKey", "NotFound"])
const ALREADY_EXISTS = new Set(["PreconditionFailed", "ConditionalRequestConflict"])
const TRANSIENT = new Set([
  // S3 / SDK
  "SlowDown", "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
  "RequestThrottled", "RequestThrottledException", "ServiceUnavailable", "InternalError", "RequestTimeout",
  "RequestTimeoutException", "TimeoutError", "OperationAborted",
  // Node sockets and DNS
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH",
  "ENETDOWN", "EAI_AGAIN", "ENOTFOUND", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT"
])

/**
 * Classifies a rejection of the AWS SDK into the store's error kinds. Exported for tests.
 *
 * `ObjectAlreadyExists` is only produced for puts: a 412 anywhere else is a failed precondition the store
 * never sets, so it is a `StoreFailure`.
 */
export const toStoreError = (op: StoreOp, path: string, cause: unknown): ObjectStoreError => {
  const code = errorCode(cause)
  const status = httpStatus(cause)
  const detail = [code, status === undefined ? undefined : `HTTP ${status}`, str(shape(cause).message)]
    .filter((s) => s !== undefined)
    .join(": ")
  const fields = { op, path, cause, message: `S3 ${op} ${path}: ${detail.length > 0 ? detail : String(cause)}` }
  if (code === "NoSuchBucket") {
    return new StoreFailure({ ...fields, message: `${fields.message} (the bucket does not exist)` })
  }
  if ((code !== undefined && NOT_FOUND.has(code)) || status === 404) return new ObjectNotFound(fields)
  if (op === "put" && ((code !== undefined && ALREADY_EXISTS.has(code)) || status === 412)) {
    return new ObjectAlreadyExists(fields)
  }
  if (
    (code !== undefined && TRANSIENT.has(code)) ||
    status === 429 || (status !== undefined && status >= 500) ||
    shape(cause).$retryable !== undefined || shape(cause).$fault === "server"
  ) {
    return new StoreUnavailable(fields)
  }
  return new StoreFailure(fields)
}

/** A 416: the range starts at or past the object's end. */
export const isInvalidRange = (cause: unknown): boolean => errorCode(cause) === "InvalidRange" || httpStatus(cause) === 416
