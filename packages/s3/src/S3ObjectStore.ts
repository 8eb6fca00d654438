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
 * Design note: docs/design/s3-object-store.md.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type S3ClientConfig
} from "@aws-sdk/client-s3"
import { ObjectStore as Store } from "@shale/core"
import { Config, Data, Effect, Layer, Option, Redacted, Scope, Stream } from "effect"
import { makeS3Lean, type ReadResponse } from "./S3Lean.ts"

// What a backend needs from @shale/core's public `ObjectStore` namespace, under short names.
const {
  clipRange,
  InvalidPath,
  join,
  ObjectAlreadyExists,
  ObjectNotFound,
  ObjectStore,
  StoreFailure,
  StoreUnavailable,
  validatePath,
  validatePrefix
} = Store
type ObjectStore = Store.ObjectStore
type InvalidPath = Store.InvalidPath
type ByteRange = Store.ByteRange
type ObjectMeta = Store.ObjectMeta
type ObjectStoreError = Store.ObjectStoreError
type ObjectSummary = Store.ObjectSummary
type ListOptions = Store.ListOptions
type PutOptions = Store.PutOptions
type PutResult = Store.PutResult
type StoreOp = Store.StoreOp

/** How to reach the bucket. */
export interface S3ObjectStoreConfig {
  /** Custom endpoint, e.g. `http://127.0.0.1:7480` for radosgw; absent for AWS itself. */
  readonly endpoint?: string
  readonly region: string
  readonly bucket: string
  /** Key prefix for every object of this store (`db1` stores `wal/1.sst` at `db1/wal/1.sst`). */
  readonly prefix?: string
  /** Static credentials; absent: the AWS SDK's default chain (environment, profile, instance role). */
  readonly credentials?: {
    readonly accessKeyId: string
    readonly secretAccessKey: string | Redacted.Redacted<string>
    readonly sessionToken?: string
  }
  /** `https://host/bucket/key` instead of `https://bucket.host/key`; needed by most non-AWS servers. */
  readonly forcePathStyle?: boolean
  /** Attempts per request inside the AWS SDK (default 1: retrying is the caller's business). */
  readonly maxAttempts?: number
  /** Milliseconds to establish a connection (default 5000). */
  readonly connectionTimeoutMs?: number
  /** Milliseconds for a whole request and response (default 30000); exceeded → `StoreUnavailable`. */
  readonly requestTimeoutMs?: number
  /** `MaxKeys` per listing page (default: the server's, 1000 on S3). Small values exercise pagination. */
  readonly listPageSize?: number
  /**
   * Gets, ranged gets, heads and puts as signed HTTP requests without the SDK's middleware (S3Lean.ts),
   * about 1 ms less CPU per request (default true). Ignored, with the SDK making every request, when
   * `maxAttempts` is above 1 (the lean path makes one attempt) or, on AWS without a custom endpoint, when
   * the bucket cannot be a virtual host on TLS.
   */
  readonly lean?: boolean
}

/** Where a store is inside S3: the bucket and the key prefix of its objects (`""`: the bucket's top level). */
export interface S3Location {
  readonly bucket: string
  readonly prefix: string
}

/** How to reach S3, from the environment: everything but the bucket and prefix. */
const connectionConfig = Config.all({
  endpoint: Config.option(Config.NonEmptyString("SHALE_S3_ENDPOINT")),
  region: Config.NonEmptyString("AWS_REGION").pipe(Config.withDefault("us-east-1")),
  accessKeyId: Config.option(Config.NonEmptyString("AWS_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.Redacted("AWS_SECRET_ACCESS_KEY")),
  sessionToken: Config.option(Config.NonEmptyString("AWS_SESSION_TOKEN")),
  forcePathStyle: Config.Boolean("SHALE_S3_FORCE_PATH_STYLE").pipe(Config.withDefault(false)),
  maxAttempts: Config.Int("SHALE_S3_MAX_ATTEMPTS").pipe(Config.withDefault(1))
})

const withConnection = (location: S3Location) =>
  Config.map(connectionConfig, (c): S3ObjectStoreConfig => ({
    region: c.region,
    bucket: location.bucket,
    forcePathStyle: c.forcePathStyle,
    maxAttempts: c.maxAttempts,
    ...(Option.isSome(c.endpoint) ? { endpoint: c.endpoint.value } : {}),
    ...(location.prefix.length > 0 ? { prefix: location.prefix } : {}),
    ...(Option.isSome(c.accessKeyId) && Option.isSome(c.secretAccessKey)
      ? {
        credentials: {
          accessKeyId: c.accessKeyId.value,
          secretAccessKey: c.secretAccessKey.value,
          ...(Option.isSome(c.sessionToken) ? { sessionToken: c.sessionToken.value } : {})
        }
      }
      : {})
  }))

/**
 * The configuration read from the environment: `SHALE_S3_BUCKET` (required), `SHALE_S3_ENDPOINT`,
 * `SHALE_S3_PREFIX`, `AWS_REGION` (default `us-east-1`), `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
 * (+ `AWS_SESSION_TOKEN`; without them the SDK's default chain is used), `SHALE_S3_FORCE_PATH_STYLE`
 * (default false), `SHALE_S3_MAX_ATTEMPTS` (default 1).
 */
export const config: Config.Config<S3ObjectStoreConfig> = Config.all({
  bucket: Config.NonEmptyString("SHALE_S3_BUCKET"),
  prefix: Config.String("SHALE_S3_PREFIX").pipe(Config.withDefault(""))
}).pipe(Config.flatMap(withConnection))

/**
 * The configuration of the store at `location` (an `s3://bucket/prefix` URL's parts): bucket and prefix as
 * given, the rest from the environment as `config` reads it.
 */
export const configAt = (location: S3Location): Config.Config<S3ObjectStoreConfig> => withConnection(location)

/** A rejected AWS SDK promise, before it is classified. */
class S3CallFailed extends Data.TaggedError("S3CallFailed")<{ readonly cause: unknown }> {}

const EMPTY = new Uint8Array(0)

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

const isInvalidRange = (cause: unknown): boolean => errorCode(cause) === "InvalidRange" || httpStatus(cause) === 416

/** A put's conditional and metadata headers for the lean transport (the SDK sends the same). */
const leanPutHeaders = (options: PutOptions | undefined): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (options?.mode === "create") headers["if-none-match"] = "*"
  if (options?.metadata !== undefined) {
    for (const [name, value] of Object.entries(options.metadata)) headers[`x-amz-meta-${name.toLowerCase()}`] = value
  }
  return headers
}

/** A HEAD answered by the lean transport, as the store's `ObjectMeta`. */
const metaOf = (path: string, res: ReadResponse): ObjectMeta => {
  const modified = res.lastModified === undefined ? Number.NaN : Date.parse(res.lastModified)
  return {
    path,
    size: res.contentLength ?? 0,
    lastModified: Number.isNaN(modified) ? 0 : modified,
    etag: res.etag,
    metadata: res.metadata
  }
}

/** The configured key prefix without surrounding slashes; empty means "the bucket's root". */
const normalizePrefix = (prefix: string | undefined): string => (prefix ?? "").replace(/^\/+|\/+$/g, "")

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
  const bucket = options.bucket
  const clientConfig: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle ?? false,
    maxAttempts: Math.max(1, options.maxAttempts ?? 1),
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      throwOnRequestTimeout: true
    },
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined
      ? {
        credentials: {
          accessKeyId: options.credentials.accessKeyId,
          secretAccessKey: Redacted.isRedacted(options.credentials.secretAccessKey)
            ? Redacted.value(options.credentials.secretAccessKey)
            : options.credentials.secretAccessKey,
          ...(options.credentials.sessionToken !== undefined ? { sessionToken: options.credentials.sessionToken } : {})
        }
      }
      : {})
  }
  const client = yield* Effect.acquireRelease(
    Effect.sync(() => new S3Client(clientConfig)),
    (c) => Effect.sync(() => c.destroy())
  )
  const lean = options.lean === false || (options.maxAttempts ?? 1) > 1
    ? undefined
    : yield* Effect.acquireRelease(
      Effect.sync(() =>
        makeS3Lean({
          endpoint: options.endpoint,
          region: options.region,
          bucket,
          forcePathStyle: options.forcePathStyle ?? false,
          credentials: client.config.credentials,
          connectionTimeoutMs: options.connectionTimeoutMs ?? 5_000,
          requestTimeoutMs: options.requestTimeoutMs ?? 30_000
        })
      ),
      (r) => Effect.sync(() => r?.destroy())
    )

  const keyOf = (path: string): string => join(keyPrefix, path)
  const pathOf = (key: string): string => (keyPrefix.length === 0 ? key : key.slice(keyPrefix.length + 1))

  /** Runs one SDK call; interruption aborts the HTTP request. */
  const call = <A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, S3CallFailed> =>
    Effect.tryPromise({ try: f, catch: (cause) => new S3CallFailed({ cause }) })

  const classify = (op: StoreOp, path: string) => (e: S3CallFailed): ObjectStoreError =>
    toStoreError(op, path, e.cause)

  /** A HEAD's answer, from either transport. */
  const headObject = (op: StoreOp, path: string): Effect.Effect<ObjectMeta, ObjectStoreError> =>
    call((abortSignal): Promise<ObjectMeta> =>
      lean === undefined
        ? client.send(new HeadObjectCommand({ Bucket: bucket, Key: keyOf(path) }), { abortSignal }).then((res) => ({
          path,
          size: res.ContentLength ?? 0,
          lastModified: res.LastModified?.getTime() ?? 0,
          etag: res.ETag,
          metadata: { ...res.Metadata }
        }))
        : lean.request("HEAD", keyOf(path), {}, abortSignal).then((res) => metaOf(path, res))
    ).pipe(Effect.mapError(classify(op, path)))

  /** One GET (ranged or not) of `path`: its bytes, and whether the server honoured the range. */
  const getObject = (path: string, range: string | undefined) =>
    call((abortSignal): Promise<{ readonly partial: boolean; readonly bytes: Uint8Array }> =>
      lean === undefined
        ? client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(path), Range: range }), { abortSignal })
          .then((res) =>
            (res.Body === undefined ? Promise.resolve(EMPTY) : res.Body.transformToByteArray())
              .then((bytes) => ({ partial: res.ContentRange !== undefined, bytes }))
          )
        : lean.request("GET", keyOf(path), { range }, abortSignal).then((res) => ({ partial: res.status === 206, bytes: res.body }))
    )

  const put = Store.spanned("S3ObjectStore.put", Effect.fnUntraced(function*(path: string, bytes: Uint8Array, putOptions?: PutOptions) {
    yield* validatePath("put", path)
    const input: PutObjectCommandInput = {
      Bucket: bucket,
      Key: keyOf(path),
      Body: bytes,
      ContentLength: bytes.length,
      ...(putOptions?.mode === "create" ? { IfNoneMatch: "*" } : {}),
      ...(putOptions?.metadata !== undefined ? { Metadata: { ...putOptions.metadata } } : {})
    }
    const res = yield* call((abortSignal): Promise<PutResult> =>
      lean === undefined
        ? client.send(new PutObjectCommand(input), { abortSignal }).then((res) => ({ etag: res.ETag }))
        : lean.request("PUT", keyOf(path), { body: bytes, headers: leanPutHeaders(putOptions) }, abortSignal)
          .then((res) => ({ etag: res.etag }))
    ).pipe(Effect.mapError(classify("put", path)))
    return res
  }))

  const get = Store.spanned("S3ObjectStore.get", Effect.fnUntraced(function*(path: string) {
    yield* validatePath("get", path)
    const result = yield* getObject(path, undefined).pipe(Effect.mapError(classify("get", path)))
    return result.bytes
  }))

  const getRange = Store.spanned("S3ObjectStore.getRange", Effect.fnUntraced(function*(path: string, range: ByteRange) {
    yield* validatePath("getRange", path)
    // HTTP ranges are inclusive; ours are [start, end). An empty range cannot be expressed, so it only
    // checks that the object exists.
    let header: string | undefined
    if ("suffix" in range) {
      const n = Math.floor(range.suffix)
      if (n > 0) header = `bytes=-${n}`
    } else {
      const start = Math.max(0, Math.floor(range.start))
      const end = Math.ceil(range.end)
      if (end > start) header = `bytes=${start}-${end - 1}`
    }
    if (header === undefined) {
      yield* headObject("getRange", path)
      return EMPTY
    }
    const result = yield* getObject(path, header).pipe(Effect.catch((e) =>
      isInvalidRange(e.cause)
        ? Effect.succeed({ partial: true, bytes: EMPTY })
        : Effect.fail(classify("getRange", path)(e))
    ))
    if (result.partial) return result.bytes
    // A server that ignores `Range` sends the whole object (200): clip it here.
    const [s, e] = clipRange(result.bytes.length, range)
    return result.bytes.subarray(s, e)
  }))

  const head = Store.spanned("S3ObjectStore.head", Effect.fnUntraced(function*(path: string) {
    yield* validatePath("head", path)
    return yield* headObject("head", path)
  }))

  const del = Store.spanned("S3ObjectStore.delete", Effect.fnUntraced(function*(path: string) {
    yield* validatePath("delete", path)
    yield* call((abortSignal) =>
      client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keyOf(path) }), { abortSignal })
    ).pipe(Effect.mapError(classify("delete", path)))
  }))

  const listPage = Store.spanned("S3ObjectStore.list", Effect.fnUntraced(function*(prefix: string, token: string | undefined, startAfter: string | undefined) {
    const dir = join(keyPrefix, prefix)
    const res = yield* call((abortSignal) =>
      client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: dir.length === 0 ? undefined : `${dir}/`,
          ContinuationToken: token,
          // Ignored by S3 once a continuation token is given.
          StartAfter: startAfter === undefined ? undefined : keyOf(startAfter),
          MaxKeys: options.listPageSize
        }),
        { abortSignal }
      )
    ).pipe(Effect.mapError(classify("list", prefix)))
    const items = (res.Contents ?? []).flatMap((o): Array<ObjectSummary> =>
      o.Key === undefined ? [] : [{
        path: pathOf(o.Key),
        size: o.Size ?? 0,
        lastModified: o.LastModified?.getTime() ?? 0,
        etag: o.ETag
      }]
    )
    if (res.IsTruncated === true && res.NextContinuationToken === undefined) {
      return yield* new StoreFailure({
        op: "list",
        path: prefix,
        message: `S3 list ${prefix}: truncated page without a continuation token`
      })
    }
    const next = res.IsTruncated === true ? Option.some<string | undefined>(res.NextContinuationToken) : Option.none()
    return [items, next] as const
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
