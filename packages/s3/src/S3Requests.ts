/**
 * The S3 store's requests (S3ObjectStore.ts): one HEAD, GET, PUT, DELETE or listing page each, over the
 * lean transport (S3Lean.ts) where it is on and the AWS SDK otherwise, under the store's key prefix. An
 * interrupted request is aborted. Path checks, spans and the store's semantics stay in S3ObjectStore.ts.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client
} from "@aws-sdk/client-s3"
import { ObjectStore as Store } from "@shale/core"
import { Effect } from "effect"
import { S3CallFailed, toStoreError } from "./S3Errors.ts"
import { parseListPage } from "./S3ListXml.ts"
import type { LeanRequest, Method, ReadResponse, S3Lean } from "./S3Lean.ts"

const { join } = Store

export const EMPTY = new Uint8Array(0)

/** A put's conditional and metadata headers for the lean transport (the SDK sends the same). */
const leanPutHeaders = (options: Store.PutOptions | undefined): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (options?.mode === "create") headers["if-none-match"] = "*"
  if (options?.metadata !== undefined) {
    for (const [name, value] of Object.entries(options.metadata)) headers[`x-amz-meta-${name.toLowerCase()}`] = value
  }
  return headers
}

/** A HEAD answered by the lean transport, as the store's `ObjectMeta`. */
const metaOf = (path: string, res: ReadResponse): Store.ObjectMeta => {
  const modified = res.lastModified === undefined ? Number.NaN : Date.parse(res.lastModified)
  return {
    path,
    size: res.contentLength ?? 0,
    lastModified: Number.isNaN(modified) ? 0 : modified,
    etag: res.etag,
    metadata: res.metadata
  }
}

/** A GET's bytes, and whether the server honoured its range (206). */
export interface GetResult {
  readonly partial: boolean
  readonly bytes: Uint8Array
}

/** One listing page: its objects and the token of the next page, if the listing goes on. */
export interface ListPage {
  readonly items: ReadonlyArray<Store.ObjectSummary>
  readonly truncated: boolean
  readonly next: string | undefined
}

/** Runs one request through the SDK; interruption aborts it. */
const call = <A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, S3CallFailed> =>
  Effect.tryPromise({ try: f, catch: (cause) => new S3CallFailed({ cause }) })

/** Runs one request on the lean transport, its response mapped by `f`; interruption aborts it. */
const leanCall = <A>(
  lean: S3Lean,
  method: Method,
  key: string,
  options: LeanRequest,
  f: (response: ReadResponse) => A
): Effect.Effect<A, S3CallFailed> =>
  Effect.callback<A, S3CallFailed>((resume) => {
    const request = lean.send(method, key, options, {
      done: (response) => {
        let a: A
        try {
          a = f(response)
        } catch (cause) {
          resume(Effect.fail(new S3CallFailed({ cause })))
          return
        }
        resume(Effect.succeed(a))
      },
      failed: (cause) => resume(Effect.fail(new S3CallFailed({ cause })))
    })
    return Effect.sync(() => request.abort())
  })

/** The requests of one store: its client, its lean transport (absent when off), its bucket and key prefix. */
export class S3Requests {
  private readonly client: S3Client
  private readonly lean: S3Lean | undefined
  private readonly bucket: string
  private readonly keyPrefix: string

  constructor(client: S3Client, lean: S3Lean | undefined, bucket: string, keyPrefix: string) {
    this.client = client
    this.lean = lean
    this.bucket = bucket
    this.keyPrefix = keyPrefix
  }

  keyOf(path: string): string {
    return join(this.keyPrefix, path)
  }

  private pathOf(key: string): string {
    return this.keyPrefix.length === 0 ? key : key.slice(this.keyPrefix.length + 1)
  }

  /** A HEAD's answer (`op`: the store operation it serves, for its error). */
  head(op: Store.StoreOp, path: string): Effect.Effect<Store.ObjectMeta, Store.ObjectStoreError> {
    const { client, lean, bucket } = this
    const key = this.keyOf(path)
    const request = lean !== undefined
      ? leanCall(lean, "HEAD", key, {}, (res) => metaOf(path, res))
      : call((abortSignal): Promise<Store.ObjectMeta> =>
        client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }).then((res) => ({
          path,
          size: res.ContentLength ?? 0,
          lastModified: res.LastModified?.getTime() ?? 0,
          etag: res.ETag,
          metadata: { ...res.Metadata }
        }))
      )
    return request.pipe(Effect.mapError((e) => toStoreError(op, path, e.cause)))
  }

  /** One GET (ranged or not, `range` an HTTP `Range` header's value), unclassified (see `getRange`). */
  get(path: string, range: string | undefined): Effect.Effect<GetResult, S3CallFailed> {
    const { client, lean, bucket } = this
    const key = this.keyOf(path)
    if (lean !== undefined) return leanCall(lean, "GET", key, { range }, (res) => ({ partial: res.status === 206, bytes: res.body }))
    return call((abortSignal): Promise<GetResult> =>
      client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }), { abortSignal })
        .then((res) =>
          (res.Body === undefined ? Promise.resolve(EMPTY) : res.Body.transformToByteArray())
            .then((bytes) => ({ partial: res.ContentRange !== undefined, bytes }))
        )
    )
  }

  put(path: string, bytes: Uint8Array, options: Store.PutOptions | undefined): Effect.Effect<Store.PutResult, Store.ObjectStoreError> {
    const { client, lean, bucket } = this
    const key = this.keyOf(path)
    const request = lean !== undefined
      ? leanCall(lean, "PUT", key, { body: bytes, headers: leanPutHeaders(options) }, (res): Store.PutResult => ({ etag: res.etag }))
      : call((abortSignal): Promise<Store.PutResult> => {
        const input: PutObjectCommandInput = {
          Bucket: bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          ...(options?.mode === "create" ? { IfNoneMatch: "*" } : {}),
          ...(options?.metadata !== undefined ? { Metadata: { ...options.metadata } } : {})
        }
        return client.send(new PutObjectCommand(input), { abortSignal }).then((res) => ({ etag: res.ETag }))
      })
    return request.pipe(Effect.mapError((e) => toStoreError("put", path, e.cause)))
  }

  delete(path: string): Effect.Effect<void, Store.ObjectStoreError> {
    const key = this.keyOf(path)
    return call((abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal })
    ).pipe(Effect.asVoid, Effect.mapError((e) => toStoreError("delete", path, e.cause)))
  }

  /** One `ListObjectsV2` page under `prefix` (paths relative to the store, not the bucket). */
  listPage(
    prefix: string,
    token: string | undefined,
    startAfter: string | undefined,
    pageSize: number | undefined
  ): Effect.Effect<ListPage, Store.ObjectStoreError> {
    const dir = this.keyOf(prefix)
    const lean = this.lean
    if (lean !== undefined) {
      const query: Record<string, string> = { "list-type": "2" }
      if (dir.length > 0) query["prefix"] = `${dir}/`
      if (token !== undefined) query["continuation-token"] = token
      // Ignored by S3 once a continuation token is given.
      if (startAfter !== undefined) query["start-after"] = this.keyOf(startAfter)
      if (pageSize !== undefined) query["max-keys"] = String(pageSize)
      return leanCall(lean, "GET", "", { query }, (res): ListPage => {
        const page = parseListPage(res.body)
        return {
          items: page.objects.map((o) => ({ path: this.pathOf(o.key), size: o.size, lastModified: o.lastModified, etag: o.etag })),
          truncated: page.truncated,
          next: page.next
        }
      }).pipe(Effect.mapError((e) => toStoreError("list", prefix, e.cause)))
    }
    return call((abortSignal) =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: dir.length === 0 ? undefined : `${dir}/`,
          ContinuationToken: token,
          // Ignored by S3 once a continuation token is given.
          StartAfter: startAfter === undefined ? undefined : this.keyOf(startAfter),
          MaxKeys: pageSize
        }),
        { abortSignal }
      )
    ).pipe(
      Effect.map((res): ListPage => ({
        items: (res.Contents ?? []).flatMap((o): Array<Store.ObjectSummary> =>
          o.Key === undefined ? [] : [{
            path: this.pathOf(o.Key),
            size: o.Size ?? 0,
            lastModified: o.LastModified?.getTime() ?? 0,
            etag: o.ETag
          }]
        ),
        truncated: res.IsTruncated === true,
        next: res.NextContinuationToken
      })),
      Effect.mapError((e) => toStoreError("list", prefix, e.cause))
    )
  }
}
