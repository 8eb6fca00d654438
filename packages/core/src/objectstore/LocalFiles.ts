/**
 * The local object store's building blocks that need no file system handle (LocalObjectStore.ts is the
 * store): temp-file naming, the mapping of file-system errors to store errors, path checks, the metadata
 * sidecar's JSON, ETags, and writing a put's chunks through one reused buffer.
 */
import { Effect, type FileSystem, Option, Schema, type Stream } from "effect"
import { isPlatformError, type PlatformError } from "effect/PlatformError"
import { validatePath, validatePrefix } from "./ObjectPath.ts"
import {
  InvalidPath,
  ObjectNotFound,
  StoreFailure,
  StoreUnavailable,
  type ObjectStoreError,
  type StoreOp
} from "./ObjectStoreError.ts"

export const HIDDEN = /#[0-9]+$/

/** Temp files named after their writer process (`#2<pid><9 random digits>`), and the older unnamed kind. */
export const PID_DIGITS = 10
export const NAMED_TEMP = /^#2([0-9]{10})[0-9]{9}$/
export const UNNAMED_TEMP = /^#1[0-9]{18}$/
/** Unnamed temp files older than this are leftovers (no put takes an hour). */
export const UNNAMED_TEMP_MAX_AGE_MS = 3_600_000

/** Whether process `pid` runs on this machine (signal 0 only checks; EPERM means it runs as someone else). */
export const processRuns = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"
  }
}

/** Ranges up to this many bytes are read without asking the file's size first (see `getRange`). */
export const UNSIZED_READ_MAX = 1 << 20

/** How many times a put retries creating its temp file (name clash, or its directory pruned meanwhile). */
export const TEMP_ATTEMPTS = 16

export const NOT_FOUND_CODES = new Set(["ENOENT", "ENOTDIR", "EISDIR"])
const TRANSIENT_CODES = new Set(["EAGAIN", "EWOULDBLOCK", "EBUSY", "EMFILE", "ENFILE", "EINTR", "ETIMEDOUT"])

/** The errno code (`ENOENT`, ...) behind a platform error, when there is one. */
const errnoOf = (e: PlatformError): string | undefined => {
  const reason = e.reason
  if (reason._tag === "BadArgument") return undefined
  const cause: unknown = reason.cause
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code
  }
  switch (reason._tag) {
    case "NotFound":
      return "ENOENT"
    case "AlreadyExists":
      return "EEXIST"
    case "Busy":
      return "EBUSY"
    case "WouldBlock":
      return "EAGAIN"
    case "TimedOut":
      return "ETIMEDOUT"
    default:
      return undefined
  }
}

export const isCode = (e: PlatformError, ...codes: ReadonlyArray<string>): boolean => {
  const c = errnoOf(e)
  return c !== undefined && codes.includes(c)
}

/** What the system said (`ENOSPC: no space left on device, write`), else the platform error's message. */
const describe = (e: PlatformError): string => {
  const reason = e.reason
  const cause: unknown = reason._tag === "BadArgument" ? undefined : reason.cause
  return typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string"
    ? cause.message
    : e.message
}

/** The store's error kind for a failure with errno `code` (not found on a read, transient, or a failure). */
const storeErrorOf = (op: StoreOp, path: string, code: string | undefined, said: string, cause: unknown): ObjectStoreError => {
  const fields = { op, path, message: `${op} ${path}: ${said}`, cause }
  const isRead = op === "get" || op === "getRange" || op === "head"
  if (isRead && code !== undefined && NOT_FOUND_CODES.has(code)) return new ObjectNotFound(fields)
  if (code !== undefined && TRANSIENT_CODES.has(code)) return new StoreUnavailable(fields)
  return new StoreFailure(fields)
}

/** Maps a platform error to the store's error kinds. */
const toStoreError = (op: StoreOp, path: string, e: PlatformError): ObjectStoreError =>
  storeErrorOf(op, path, errnoOf(e), describe(e), e)

/** Maps a Node system error (`err.code`: `ENOENT`, ...) to the store's error kinds, as `toStoreError` does. */
export const errnoToStoreError = (op: StoreOp, path: string, e: NodeJS.ErrnoException): ObjectStoreError =>
  storeErrorOf(op, path, e.code, e.message, e)

/** The directory of a store rooted at `root`, without trailing slashes (`""` for `/`). */
export const rootDirOf = (root: string): string => (root === "/" ? "" : root.replace(/\/+$/, ""))

export const mapPlatformError = (op: StoreOp, path: string) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, PlatformError> | ObjectStoreError, R> =>
  Effect.mapError(effect, (e) => isPlatformError(e) ? toStoreError(op, path, e) : e as Exclude<E, PlatformError>)

/** Local-store path rule on top of the common one: no segment may end in `#<digits>`. */
export const validateLocalPath = (op: StoreOp, path: string): Effect.Effect<void, InvalidPath> =>
  validatePath(op, path).pipe(Effect.andThen(
    path.split("/").some((s) => HIDDEN.test(s))
      ? Effect.fail(new InvalidPath({ op, path, message: "a path segment ends in '#<digits>' (reserved)" }))
      : Effect.void
  ))

export const validateLocalPrefix = (prefix: string): Effect.Effect<void, InvalidPath> =>
  validatePrefix(prefix).pipe(Effect.andThen(
    prefix.length > 0 && prefix.split("/").some((s) => HIDDEN.test(s))
      ? Effect.fail(new InvalidPath({ op: "list", path: prefix, message: "a path segment ends in '#<digits>' (reserved)" }))
      : Effect.void
  ))

const MetadataJson = Schema.fromJsonString(Schema.Record(Schema.String, Schema.String))
export const decodeMetadata = Schema.decodeUnknownEffect(MetadataJson)

export const textEncoder = new TextEncoder()

export const dirOf = (file: string): string => file.slice(0, file.lastIndexOf("/"))

/** The metadata sidecar in `dir` of the file with inode `ino` (LocalObjectStore.ts, "User metadata"). */
export const sidecarOf = (dir: string, ino: bigint): string => `${dir}/#0${ino}`

/** Removes a file; a missing file is fine. Returns whether it was there. */
export const removeFileIfExists = (fs: FileSystem.FileSystem, file: string): Effect.Effect<boolean, PlatformError> =>
  fs.remove(file).pipe(Effect.as(true), Effect.catchIf((e) => isCode(e, "ENOENT"), () => Effect.succeed(false)))

/** The etag of a file version, as `object_store` computes it: inode, mtime and size in hex. */
export const etagOf = (info: FileSystem.File.Info): string => {
  const ino = Option.getOrElse(info.ino, () => 0n)
  const mtime = Option.match(info.mtime, { onNone: () => 0, onSome: (d) => d.getTime() })
  return `${ino.toString(16)}-${mtime.toString(16)}-${info.size.toString(16)}`
}

export const lastModifiedOf = (info: FileSystem.File.Info): number =>
  Option.match(info.mtime, { onNone: () => 0, onSome: (d) => d.getTime() })


/**
 * What a put writes: the bytes, chunks that concatenate to them, or a stream of chunk batches (written as
 * they arrive; `writeTemp` tries again only when its temp file could not be created, before any is read).
 */
export type Body = Uint8Array | ReadonlyArray<Uint8Array> | Stream.Stream<ReadonlyArray<Uint8Array>>

/** Writes of chunks are gathered into buffers of this size (one reused buffer: no copy of the whole). */
const WRITE_BATCH_BYTES = 1024 * 1024

/** Writes `chunks` in order through `write`, small ones gathered in one reused buffer. */
export const writeChunks = <E>(chunks: ReadonlyArray<Uint8Array>, write: (b: Uint8Array) => Effect.Effect<void, E>): Effect.Effect<void, E> =>
  Effect.gen(function*() {
    let batch: Uint8Array | undefined
    let n = 0
    for (const chunk of chunks) {
      if (chunk.length >= WRITE_BATCH_BYTES) {
        if (n > 0) yield* write(batch!.subarray(0, n))
        n = 0
        yield* write(chunk)
        continue
      }
      if (n + chunk.length > WRITE_BATCH_BYTES) {
        yield* write(batch!.subarray(0, n))
        n = 0
      }
      batch ??= new Uint8Array(WRITE_BATCH_BYTES)
      batch.set(chunk, n)
      n += chunk.length
    }
    if (n > 0) yield* write(batch!.subarray(0, n))
  })
