/**
 * The `ObjectStore` on S3 (or any S3-compatible server: radosgw, MinIO, R2), over `@aws-sdk/client-s3`.
 *
 * Guarantees, on top of the `ObjectStore` contract:
 * - A create-only put is one `PutObject` with `If-None-Match: *`. The server decides atomically: a 412
 *   `PreconditionFailed` (or AWS's 409 `ConditionalRequestConflict` for a racing conditional write) becomes
 *   `ObjectAlreadyExists`. The store never emulates create-only with HEAD-then-PUT, which would race.
 * - Every object lives under the configured key prefix (`<prefix>/<path>`); listing strips it again, so
 *   two stores with different prefixes share a bucket without seeing each other.
 * - `getRange` sends an HTTP `Range` header and clips like the memory store: a start at or past the end
 *   (416 `InvalidRange`) or an empty range gives an empty array; a missing object is still
 *   `ObjectNotFound`. Empty ranges and `suffix: 0` are answered with a HEAD, because S3 has no way to
 *   ask for zero bytes (radosgw answers `bytes=-0` with the whole object).
 * - `list(prefix)` is a lazy stream of `ListObjectsV2` pages, each fetched only when the previous one is
 *   consumed, in S3's key order (ascending UTF-8 bytes).
 * - Errors: 404 `NoSuchKey`/`NotFound` → `ObjectNotFound`; timeouts, throttling (429, 503 `SlowDown`),
 *   other 5xx and network errors → `StoreUnavailable`; everything else (403, 400, `NoSuchBucket`, …) →
 *   `StoreFailure`. See `toStoreError`.
 * - Retries are left to the caller (core's retrying wrapper): the SDK makes `maxAttempts` attempts,
 *   default 1. A retry inside the SDK would hide a timed-out-but-applied create-only put behind a
 *   spurious `ObjectAlreadyExists`, which only the wrapper (comparing `slatedbputid`) can resolve.
 * - Interrupting an operation aborts its HTTP request.
 *
 * Files: this one (the store's operations and layers), S3Config.ts (configuration), S3Requests.ts (one
 * request each, over the lean transport of S3Lean.ts or the SDK), S3Errors.ts (error kinds).
 * Design note: docs/design/s3-object-store.md.
 */
import { S3Client } from "@aws-sdk/client-s3"
import { ObjectStore as Store } from "@shale/core"
import { type Config, Effect, Layer, Option, Redacted, Scope, Stream } from "effect"
import { clientConfigOf, config, configAt, type S3Location, type S3ObjectStoreConfig } from "./S3Config.ts"
import { isInvalidRange, toStoreError } from "./S3Errors.ts"
import { makeS3Lean } from "./S3Lean.ts"
import { EMPTY, S3Requests } from "./S3Requests.ts"

export { config, configAt, type S3Location, type S3ObjectStoreConfig } from "./S3Config.ts"
export { toStoreError } from "./S3Errors.ts"

// What a backend needs from @shale/core's public `ObjectStore` namespace, under short names.
const {
  clipRange,
  InvalidPath,
  ObjectStore,
  StoreFailure,
  validatePath,
  validatePrefix
} = Store
type ObjectStore = Store.ObjectStore
type InvalidPath = Store.InvalidPath
type ByteRange = Store.ByteRange
type ObjectStoreError = Store.ObjectStoreError
type ObjectSummary = Store.ObjectSummary
type ListOptions = Store.ListOptions
type PutOptions = Store.PutOptions

/** The configured key prefix without surrounding slashes; empty means "the bucket's root". */
const normalizePrefix = (prefix: string | undefined): string => (prefix ?? "").replace(/^\/+|\/+$/g, "")

/** The HTTP `Range` header of a range (ours are [start, end), HTTP's inclusive); none for an empty range. */
const rangeHeader = (range: ByteRange): string | undefined => {
  if ("suffix" in range) {
    const n = Math.floor(range.suffix)
    return n > 0 ? `bytes=-${n}` : undefined
  }
  const start = Math.max(0, Math.floor(range.start))
  const end = Math.ceil(range.end)
  return end > start ? `bytes=${start}-${end - 1}` : undefined
}

/** The store's client and lean transport, released with the scope. */
const acquireRequests = (options: S3ObjectStoreConfig, keyPrefix: string): Effect.Effect<S3Requests, never, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new S3Client(clientConfigOf(options))),
      (c) => Effect.sync(() => c.destroy())
    )
    const lean = options.lean === false || (options.maxAttempts ?? 1) > 1
      ? undefined
      : yield* Effect.acquireRelease(
        Effect.sync(() =>
          makeS3Lean({
            endpoint: options.endpoint,
            region: options.region,
            bucket: options.bucket,
            forcePathStyle: options.forcePathStyle ?? false,
            credentials: client.config.credentials,
            connectionTimeoutMs: options.connectionTimeoutMs ?? 5_000,
            requestTimeoutMs: options.requestTimeoutMs ?? 30_000
          })
        ),
        (r) => Effect.sync(() => r?.destroy())
      )
    return new S3Requests(client, lean, options.bucket, keyPrefix)
  })

/**
 * Builds the store, owning an `S3Client` that is destroyed when the scope closes. Fails with
 * `InvalidPath` if the configured key prefix is not a valid path.
 */
export const make = (
  options: S3ObjectStoreConfig
): Effect.Effect<ObjectStore["Service"], InvalidPath, Scope.Scope> => Effect.gen(function*() {
  const keyPrefix = normalizePrefix(options.prefix)
  yield* validatePrefix(keyPrefix).pipe(
    Effect.mapError((e) => new InvalidPath({ ...e, message: `S3 key prefix '${options.prefix}': ${e.message}` }))
  )
  const requests = yield* acquireRequests(options, keyPrefix)

  // Each request is built once its path is valid (a path that is not a string fails as `InvalidPath`).
  const put = Store.spanned("S3ObjectStore.put", (path: string, bytes: Uint8Array, putOptions?: PutOptions) =>
    Effect.andThen(validatePath("put", path), () => requests.put(path, bytes, putOptions)))

  const get = Store.spanned("S3ObjectStore.get", (path: string) =>
    validatePath("get", path).pipe(
      Effect.andThen(() => requests.get(path, undefined)),
      Effect.mapError((e) => e._tag === "S3CallFailed" ? toStoreError("get", path, e.cause) : e),
      Effect.map((result) => result.bytes)
    ))

  // Without a generator: a cold point read is one such call, and it runs once per request.
  const getRange = Store.spanned("S3ObjectStore.getRange", (path: string, range: ByteRange) => {
    const invalid = Store.pathError("getRange", path)
    if (invalid !== undefined) return Effect.fail(invalid)
    const header = rangeHeader(range)
    // An empty range cannot be expressed in HTTP, so it only checks that the object exists.
    if (header === undefined) return Effect.as(requests.head("getRange", path), EMPTY)
    return Effect.matchEffect(requests.get(path, header), {
      onFailure: (e) =>
        isInvalidRange(e.cause) ? Effect.succeed(EMPTY) : Effect.fail(toStoreError("getRange", path, e.cause)),
      onSuccess: (result) => {
        if (result.partial) return Effect.succeed(result.bytes)
        // A server that ignores `Range` sends the whole object (200): clip it here.
        const [s, e] = clipRange(result.bytes.length, range)
        return Effect.succeed(result.bytes.subarray(s, e))
      }
    })
  })

  const head = Store.spanned("S3ObjectStore.head", (path: string) =>
    Effect.andThen(validatePath("head", path), () => requests.head("head", path)))

  const del = Store.spanned("S3ObjectStore.delete", (path: string) =>
    Effect.andThen(validatePath("delete", path), () => requests.delete(path)))

  const listPage = Store.spanned("S3ObjectStore.list", Effect.fnUntraced(function*(prefix: string, token: string | undefined, startAfter: string | undefined) {
    const page = yield* requests.listPage(prefix, token, startAfter, options.listPageSize)
    if (page.truncated && page.next === undefined) {
      return yield* new StoreFailure({
        op: "list",
        path: prefix,
        message: `S3 list ${prefix}: truncated page without a continuation token`
      })
    }
    const next = page.truncated ? Option.some<string | undefined>(page.next) : Option.none()
    return [page.items, next] as const
  }))

  const list = (prefix: string, options?: ListOptions): Stream.Stream<ObjectSummary, ObjectStoreError> =>
    Stream.unwrap(validatePrefix(prefix).pipe(Effect.as(
      Stream.paginate(undefined as string | undefined, (token: string | undefined) => listPage(prefix, token, options?.startAfter))
    )))

  return ObjectStore.of({ put, get, getRange, head, delete: del, list, recipe: recipeOf(options) })
})

/**
 * The store's recipe (another thread builds the same store with `rebuild`; `@shale/core`'s StoreRecipe.ts):
 * its configuration as plain data (a redacted secret is revealed to the other thread of this process).
 */
const recipeOf = (options: S3ObjectStoreConfig) => ({
  module: import.meta.url,
  export: "rebuild",
  options: {
    ...options,
    ...(options.credentials !== undefined
      ? {
        credentials: {
          ...options.credentials,
          secretAccessKey: Redacted.isRedacted(options.credentials.secretAccessKey)
            ? Redacted.value(options.credentials.secretAccessKey)
            : options.credentials.secretAccessKey
        }
      }
      : {})
  }
})

/** The recipe's constructor: the store with a client that lives as long as the thread. */
export const rebuild = (options: S3ObjectStoreConfig): Effect.Effect<ObjectStore["Service"], InvalidPath> =>
  Effect.flatMap(Scope.make(), (scope) => Scope.provide(scope)(make(options)))

/** `ObjectStore` on the given bucket. The S3 client lives as long as the layer. */
export const layer = (options: S3ObjectStoreConfig): Layer.Layer<ObjectStore, InvalidPath> =>
  Layer.effect(ObjectStore, make(options))

/** `ObjectStore` configured from the environment (see `config`). */
export const layerConfig: Layer.Layer<ObjectStore, Config.ConfigError | InvalidPath> = Layer.unwrap(
  Effect.map(config, layer)
)

/** `ObjectStore` at `location` (e.g. parsed from `s3://bucket/prefix`), reached as the environment says (`configAt`). */
export const layerAt = (location: S3Location): Layer.Layer<ObjectStore, Config.ConfigError | InvalidPath> =>
  Layer.unwrap(Effect.map(configAt(location), layer))
