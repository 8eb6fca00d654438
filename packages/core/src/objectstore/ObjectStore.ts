/**
 * The object store: everything Shale persists goes through this service, as whole immutable objects.
 *
 * Guarantees every implementation gives:
 * - `put` replaces an object atomically: a reader sees the old bytes or the new bytes, never a mix.
 * - `put` with `mode: "create"` is atomic create-if-absent: of any number of racing creators exactly one
 *   succeeds and the others fail with `ObjectAlreadyExists`. SlateDB's fencing depends on this.
 * - `getRange` never fails because a range runs past the end: the range is clipped to the object
 *   (a start at or past the end gives an empty array).
 * - `list(prefix)` streams the objects under the directory-like `prefix` (`list("wal")` holds `wal/1.sst`
 *   but not `walrus`), in ascending path order, fetching pages lazily; with `{ startAfter: path }` only
 *   those whose path sorts after `path` (S3's `StartAfter`), so that polling for new versions does not
 *   pay for the old ones.
 * - Bytes returned by `get`/`getRange` must be treated as read-only; bytes passed to `put` may be reused
 *   by the caller once the put completes.
 * - Optional parts: `putChunks` (a put from chunks, without concatenating them), `putStream` (a put
 *   written as its chunks arrive) and `recipe` (how another thread builds the same store, StoreRecipe.ts).
 *   A wrapper built by spreading another store's service inherits them: it must override them (or set them undefined) if it has to see every put, or if a
 *   store rebuilt from the inner recipe would lose what it adds.
 */
import { Clock, Context, Effect, Layer, Option, Stream } from "effect"
import { isUnder, validatePath, validatePrefix } from "./ObjectPath.ts"
import {
  ObjectAlreadyExists,
  ObjectNotFound,
  type InvalidPath,
  type ObjectStoreError
} from "./ObjectStoreError.ts"

export type PutMode = "overwrite" | "create"

export interface PutOptions {
  /** `overwrite` (default) replaces any object; `create` fails with `ObjectAlreadyExists` if one exists. */
  readonly mode?: PutMode
  /** User metadata (lower-case ASCII keys), returned by `head`. */
  readonly metadata?: Readonly<Record<string, string>>
}

export interface PutResult {
  readonly etag: string | undefined
}

/** A byte range: `[start, end)` (end exclusive), or the last `suffix` bytes. */
export type ByteRange =
  | { readonly start: number; readonly end: number }
  | { readonly suffix: number }

export interface ListOptions {
  /** Only objects whose path sorts after this one (JS string order, as the listing's own order). */
  readonly startAfter?: string | undefined
}

/** What listing returns for each object. */
export interface ObjectSummary {
  readonly path: string
  readonly size: number
  /** Milliseconds since the Unix epoch. */
  readonly lastModified: number
  readonly etag: string | undefined
}

/** What `head` returns: the summary plus user metadata. */
export interface ObjectMeta extends ObjectSummary {
  readonly metadata: Readonly<Record<string, string>>
}

/**
 * How another thread builds an equivalent store (StoreRecipe.ts): a module `import()` loads, its export
 * (called with `options`, plain data) giving an `Effect` of the store.
 */
export interface StoreRecipe {
  /** What `import()` loads. */
  readonly module: string
  /** The export: `(options) => Effect<ObjectStore service, ObjectStoreError>`. */
  readonly export: string
  /** Structured-cloneable options (plain data). */
  readonly options: unknown
}

export class ObjectStore extends Context.Service<ObjectStore, {
  readonly put: (path: string, bytes: Uint8Array, options?: PutOptions) => Effect.Effect<PutResult, ObjectStoreError>
  readonly get: (path: string) => Effect.Effect<Uint8Array, ObjectStoreError>
  readonly getRange: (path: string, range: ByteRange) => Effect.Effect<Uint8Array, ObjectStoreError>
  readonly head: (path: string) => Effect.Effect<ObjectMeta, ObjectStoreError>
  /** Deletes the object; deleting a missing object succeeds (as on S3). */
  readonly delete: (path: string) => Effect.Effect<void, ObjectStoreError>
  readonly list: (prefix: string, options?: ListOptions) => Stream.Stream<ObjectSummary, ObjectStoreError>
  /**
   * Optional: a put of the concatenation of `chunks` without building it (a large SST's blocks). Stores
   * without it get the concatenation (`putChunks` below).
   */
  readonly putChunks?: ((path: string, chunks: ReadonlyArray<Uint8Array>, options?: PutOptions) => Effect.Effect<PutResult, ObjectStoreError>) | undefined
  /**
   * Optional: a put whose bytes arrive as a stream of chunk batches, written as they come (a compaction's
   * output SST, so that a job holds a few blocks rather than a whole SST). Not retried by the retrying
   * wrapper (a stream is read once): a transient failure fails the put.
   */
  readonly putStream?: ((path: string, batches: Stream.Stream<ReadonlyArray<Uint8Array>>, options?: PutOptions) => Effect.Effect<PutResult, ObjectStoreError>) | undefined
  /**
   * Optional: `getRange`'s bytes read on the calling thread, when the store can answer at once (a local
   * directory's SST file already open, a small range); undefined when it cannot or when the read fails
   * (then `getRange`, which reports the error), or when the running fiber has a tracer (`getRange` makes
   * the request's span). The read path uses it to read a block without an Effect. A wrapper that changes
   * how `getRange` behaves (faults, latency, counting) must leave it out or wrap it as well.
   */
  readonly getRangeNow?: ((path: string, range: ByteRange) => Uint8Array | undefined) | undefined
  /** How another thread builds an equivalent store (StoreRecipe.ts); absent when none can. */
  readonly recipe?: StoreRecipe | undefined
}>()("shale/ObjectStore") {
  /** An in-memory store: deterministic (etags count up, times come from the Effect `Clock`), no timers. */
  static readonly layerMemory: Layer.Layer<ObjectStore> = Layer.sync(ObjectStore, () => makeMemory())

  /** The memory store with a small listing page, to exercise pagination in tests. */
  static readonly layerMemoryWith = (options: MemoryOptions): Layer.Layer<ObjectStore> =>
    Layer.sync(ObjectStore, () => makeMemory(options))
}

export interface MemoryOptions {
  /** Objects per listing page (default 1000, as S3). */
  readonly pageSize?: number
}

interface MemoryObject {
  readonly bytes: Uint8Array
  readonly metadata: Readonly<Record<string, string>>
  readonly etag: string
  readonly lastModified: number
}

/** Puts the concatenation of `chunks`: through the store's `putChunks` if it has one, else concatenated. */
export const putChunks = (
  store: ObjectStore["Service"],
  path: string,
  chunks: ReadonlyArray<Uint8Array>,
  options?: PutOptions
): Effect.Effect<PutResult, ObjectStoreError> => {
  if (store.putChunks !== undefined) return store.putChunks(path, chunks, options)
  let size = 0
  for (const c of chunks) size += c.length
  const bytes = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    bytes.set(c, at)
    at += c.length
  }
  return store.put(path, bytes, options)
}

/** Clips a byte range to an object of `size` bytes: returns `[start, end)`. */
export const clipRange = (size: number, range: ByteRange): readonly [number, number] => {
  if ("suffix" in range) return [Math.max(0, size - Math.max(0, range.suffix)), size]
  const start = Math.min(Math.max(0, range.start), size)
  return [start, Math.max(start, Math.min(range.end, size))]
}

/** Builds an in-memory store. Exported so that wrappers (fault injection) can own one directly. */
export const makeMemory = (options: MemoryOptions = {}): ObjectStore["Service"] => {
  const objects = new Map<string, MemoryObject>()
  const pageSize = Math.max(1, options.pageSize ?? 1000)
  let etagCounter = 0

  const find = (op: "get" | "getRange" | "head", path: string) =>
    validatePath(op, path).pipe(Effect.flatMap(() => {
      const o = objects.get(path)
      return o === undefined
        ? Effect.fail(new ObjectNotFound({ op, path, message: `no object at ${path}` }))
        : Effect.succeed(o)
    }))

  const put = (path: string, bytes: Uint8Array, options?: PutOptions) =>
    Effect.gen(function*() {
      yield* validatePath("put", path)
      const now = yield* Clock.currentTimeMillis
      if (options?.mode === "create" && objects.has(path)) {
        return yield* new ObjectAlreadyExists({ op: "put", path, message: `object exists at ${path}` })
      }
      const etag = `"${++etagCounter}"`
      objects.set(path, { bytes: bytes.slice(), metadata: { ...options?.metadata }, etag, lastModified: now })
      return { etag }
    })

  const summary = (path: string, o: MemoryObject): ObjectSummary => ({
    path,
    size: o.bytes.length,
    lastModified: o.lastModified,
    etag: o.etag
  })

  const list = (prefix: string, options?: ListOptions): Stream.Stream<ObjectSummary, InvalidPath> =>
    Stream.unwrap(validatePrefix(prefix).pipe(Effect.map(() =>
      Stream.paginate(options?.startAfter, (after: string | undefined) =>
        Effect.sync(() => {
          // Each page is read from the live map, like S3's ListObjectsV2 with a continuation key.
          const keys: Array<string> = []
          for (const k of objects.keys()) {
            if (isUnder(k, prefix) && (after === undefined || k > after)) keys.push(k)
          }
          keys.sort()
          const page = keys.slice(0, pageSize)
          const items = page.map((k) => summary(k, objects.get(k)!))
          const next = keys.length > pageSize ? page[page.length - 1] : undefined
          return [items, next === undefined ? Option.none() : Option.some(next)] as const
        }))
    )))

  return ObjectStore.of({
    put,
    get: (path) => find("get", path).pipe(Effect.map((o) => o.bytes)),
    getRange: (path, range) =>
      find("getRange", path).pipe(Effect.map((o) => {
        const [s, e] = clipRange(o.bytes.length, range)
        return o.bytes.subarray(s, e)
      })),
    head: (path) => find("head", path).pipe(Effect.map((o) => ({ ...summary(path, o), metadata: o.metadata }))),
    delete: (path) => validatePath("delete", path).pipe(Effect.map(() => void objects.delete(path))),
    list
  })
}
