/**
 * Reads (GET, ranged GET, HEAD) and puts as signed HTTP requests on a pool of kept-alive connections
 * (undici's `Pool`, driven through `dispatch`: no streams, no per-request socket objects), without the AWS
 * SDK's middleware stack. Design note: docs/design/s3-object-store.md §4.
 *
 * Why: a ranged GET of one 4 KiB block costs about 1 ms more CPU through `S3Client.send` (its middleware
 * stack, stream wrappers and body collection) than the request itself; on a server that answers in 2-3 ms
 * that is most of a cold point read. Requests are signed by `@smithy/signature-v4`, the SDK's own SigV4
 * signer, with the credentials provider of the store's `S3Client` (the SDK's default chain, refreshed as
 * the SDK does), so signing and credentials stay the SDK's; only the transport is ours.
 *
 * Reads reuse their signature: a GET or HEAD signs its method, object, date and credentials but not its
 * `Range` (SigV4 requires only `host` and the `x-amz-*` headers to be signed), so every read of one object
 * within `SIGNATURE_REUSE_MS` sends the same signed headers, plus its range. Signing was a third of the
 * client's CPU per cold point read (about 45 µs of SHA-256 and HMAC chains); S3 accepts a request date up
 * to 15 minutes old, and the SDK's credential providers refresh minutes before credentials expire.
 *
 * Failures are shaped like the SDK's rejections (`Code`, `message`, `$metadata.httpStatusCode`, `$fault`) so
 * that the store's one classifier (`toStoreError`) maps both; a request timeout is `TimeoutError`.
 * A put's payload is signed (its sha256 in `x-amz-content-sha256`) over plain HTTP and sent as
 * `UNSIGNED-PAYLOAD` over TLS, as the SDK does. Listings (`ListObjectsV2`: a GET of the bucket with a
 * signed query) come here too, every database polls one a second, their answer read by S3ListXml.ts;
 * deletes stay on the SDK: they are rare and on no write's or read's critical path.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, SourceData } from "@smithy/types"
import { SignatureV4 } from "@smithy/signature-v4"
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"
import { type Dispatcher, Pool } from "undici"

/** The response of one request: its status, the headers we use, and body. */
export interface ReadResponse {
  readonly status: number
  readonly body: Uint8Array
  readonly contentLength: number | undefined
  readonly lastModified: string | undefined
  readonly etag: string | undefined
  /** `x-amz-meta-*` headers, without the prefix. */
  readonly metadata: Record<string, string>
}

export interface S3LeanConfig {
  /** Custom endpoint (`http://127.0.0.1:7480`); absent: AWS's regional endpoint. */
  readonly endpoint: string | undefined
  readonly region: string
  readonly bucket: string
  readonly forcePathStyle: boolean
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider
  readonly connectionTimeoutMs: number
  readonly requestTimeoutMs: number
}

/** What one request sends besides its method and key. */
export interface LeanRequest {
  /** A `Range` header value (GET). */
  readonly range?: string | undefined
  /** The body (PUT). */
  readonly body?: Uint8Array | undefined
  /** More headers to send and sign (lower-case names): `if-none-match`, `x-amz-meta-*`. */
  readonly headers?: Record<string, string> | undefined
  /** Query parameters (a GET of the bucket: `list-type=2`, `prefix`, ...), unencoded. */
  readonly query?: Record<string, string> | undefined
}

export type Method = "GET" | "HEAD" | "PUT"

/** Where requests go: the endpoint's URL and the path every key is under. */
interface Target {
  readonly url: URL
  readonly pathPrefix: string
}

/** How a request ends: its response, or its failure as the store classifies it. */
export interface LeanCallbacks {
  readonly done: (response: ReadResponse) => void
  readonly failed: (error: unknown) => void
}

/** A started request, which `abort` stops (nothing once it has settled). */
export interface LeanAbort {
  readonly abort: () => void
}

export interface S3Lean {
  /**
   * Sends one signed request for `key` (already prefixed); exactly one of `callbacks` is called, unless
   * the request is aborted first (then `failed` may be called or not). Interruption calls `abort`: no
   * `AbortController` and event listener per request, which cost more than the rest of the dispatch.
   */
  readonly send: (method: Method, key: string, options: LeanRequest, callbacks: LeanCallbacks) => LeanAbort
  readonly destroy: () => void
}

/** `SourceData` as something node:crypto takes. */
const bytesOf = (data: SourceData): string | Uint8Array =>
  typeof data === "string" || data instanceof Uint8Array
    ? data
    : ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data)

/** node:crypto behind the `Checksum` interface the signer wants (sha256, or HMAC-sha256 with a secret). */
class NodeSha256 {
  readonly #hash: Hash | Hmac
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytesOf(secret))
  }
  update(data: Uint8Array): void {
    this.#hash.update(data)
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()))
  }
  reset(): void {}
}

/** SigV4's URI encoding of one path segment (RFC 3986 unreserved characters stay). */
const encodeSegment = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** Keys of only unreserved characters and `/` (every key Shale writes) need no encoding. */
const PLAIN_KEY = /^[A-Za-z0-9\-._~/]*$/

const encodeKey = (key: string): string => PLAIN_KEY.test(key) ? key : key.split("/").map(encodeSegment).join("/")

/**
 * A query string as SigV4 canonicalizes it (names sorted, names and values URI-encoded as path segments
 * are), so the request sends exactly what was signed.
 */
const encodeQuery = (query: Record<string, string>): string =>
  Object.keys(query).sort().map((name) => `${encodeSegment(name)}=${encodeSegment(query[name]!)}`).join("&")

/** Bucket names that can be a host label over TLS (no dots) and in DNS. */
const VIRTUAL_HOST_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/

/**
 * Where requests go, or undefined when this transport should not be used (a bucket that cannot be a
 * virtual host on AWS: the SDK knows the exceptions).
 */
const targetOf = (config: S3LeanConfig): Target | undefined => {
  if (config.endpoint !== undefined) {
    const url = new URL(config.endpoint)
    if (config.forcePathStyle) return { url, pathPrefix: `${url.pathname.replace(/\/+$/, "")}/${encodeSegment(config.bucket)}/` }
    if (!VIRTUAL_HOST_BUCKET.test(config.bucket)) return undefined
    return { url: new URL(`${url.protocol}//${config.bucket}.${url.host}`), pathPrefix: "/" }
  }
  if (config.forcePathStyle) {
    return { url: new URL(`https://s3.${config.region}.amazonaws.com`), pathPrefix: `/${encodeSegment(config.bucket)}/` }
  }
  if (!VIRTUAL_HOST_BUCKET.test(config.bucket)) return undefined
  return { url: new URL(`https://${config.bucket}.s3.${config.region}.amazonaws.com`), pathPrefix: "/" }
}

/** An error shaped like the SDK's rejections, for `toStoreError`. */
const httpError = (status: number, body: string): Error => {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? (status === 404 ? "NotFound" : `HTTP${status}`)
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? `HTTP ${status}`
  return Object.assign(new Error(message), {
    name: code,
    Code: code,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status }
  })
}

/** sha256 of no bytes, the payload hash of a GET or HEAD. */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const timeoutError = (what: string, ms: number): Error =>
  Object.assign(new Error(`${what} timed out after ${ms} ms`), { name: "TimeoutError", code: "TimeoutError" })

const single = (value: string | Array<string> | undefined): string | undefined => (Array.isArray(value) ? value[0] : value)

/** undici's timeouts as the `TimeoutError` the store classifies as transient; other failures as they are. */
const transportError = (error: Error, method: string, config: S3LeanConfig): Error => {
  switch ((error as { code?: unknown }).code) {
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return timeoutError(`S3 ${method}`, config.requestTimeoutMs)
    case "UND_ERR_CONNECT_TIMEOUT":
      return timeoutError("S3 connection", config.connectionTimeoutMs)
    default:
      return error
  }
}

/** Connections to the endpoint at most (requests beyond wait for one). */
const MAX_CONNECTIONS = 50

const metadataOf = (headers: IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name in headers) {
    if (!name.startsWith("x-amz-meta-")) continue
    const value = headers[name]
    if (typeof value === "string") out[name.slice("x-amz-meta-".length)] = value
  }
  return out
}

const bodyOf = (chunks: Array<Buffer>, size: number): Uint8Array => {
  if (chunks.length === 1) return new Uint8Array(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.length)
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** How long a read's signed headers are reused for more reads of the same object (see the module comment). */
export const SIGNATURE_REUSE_MS = 60_000
/** Objects whose read signatures are kept at once; beyond, the table starts over. */
const MAX_REUSED_SIGNATURES = 4096

/** A read's signed headers and until when they are reused. */
interface SignedRead {
  readonly headers: Record<string, string>
  readonly until: number
}

/** Signs requests with SigV4; a read's signature is reused for the same object for a minute. */
class LeanSigner {
  readonly #signer: SignatureV4
  readonly #url: URL
  readonly #port: number | undefined
  readonly #host: string
  readonly #secure: boolean
  /** Signed headers of reads (GET, HEAD without other headers), by method and path, with their expiry. */
  readonly #reads: Record<"GET" | "HEAD", Map<string, SignedRead>> = { GET: new Map(), HEAD: new Map() }

  constructor(config: S3LeanConfig, url: URL) {
    this.#signer = new SignatureV4({
      service: "s3",
      region: config.region,
      credentials: config.credentials,
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: true
    })
    this.#url = url
    this.#port = url.port.length > 0 ? Number(url.port) : undefined
    this.#host = url.host
    this.#secure = url.protocol === "https:"
  }

  /** The signed headers of a request (a promise when it had to be signed now). */
  headers(method: Method, path: string, options: LeanRequest, query = ""): Record<string, string> | Promise<Record<string, string>> {
    const body = options.body
    if (method !== "PUT" && options.headers === undefined) return this.#readHeaders(method, path, options.range, options.query, query)
    const headers: Record<string, string> = {
      ...options.headers,
      host: this.#host,
      "x-amz-content-sha256": body === undefined
        ? EMPTY_SHA256
        : this.#secure
        ? "UNSIGNED-PAYLOAD"
        : createHash("sha256").update(body).digest("hex")
    }
    if (options.range !== undefined) headers["range"] = options.range
    if (body !== undefined) headers["content-length"] = String(body.length)
    return this.#sign(method, path, headers, options.query)
  }

  async #sign(
    method: Method,
    path: string,
    headers: Record<string, string>,
    query: Record<string, string> | undefined
  ): Promise<Record<string, string>> {
    const url = this.#url
    const signed = await this.#signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(this.#port === undefined ? {} : { port: this.#port }),
      path,
      query: query ?? {},
      headers
    })
    return signed.headers
  }

  /**
   * A read's signed headers (see the module comment); `queryString`, the encoded `query`, is part of what
   * is reused: a listing's signature serves the same listing again (a poll asks the same every second).
   */
  #readHeaders(
    method: "GET" | "HEAD",
    path: string,
    range: string | undefined,
    query: Record<string, string> | undefined,
    queryString: string
  ): Record<string, string> | Promise<Record<string, string>> {
    const reads = this.#reads[method]
    const id = queryString.length === 0 ? path : `${path}?${queryString}`
    // The wall clock, not Effect's Clock: the signer dates the signature by it, and S3 checks that date.
    const now = Date.now()
    const hit = reads.get(id)
    if (hit !== undefined && hit.until > now) return withRange(hit.headers, range)
    return this.#sign(method, path, { host: this.#host, "x-amz-content-sha256": EMPTY_SHA256 }, query).then((headers) => {
      if (reads.size >= MAX_REUSED_SIGNATURES) reads.clear()
      reads.set(id, { headers, until: now + SIGNATURE_REUSE_MS })
      return withRange(headers, range)
    })
  }
}

/** A request's own copy of signed headers, with its range. */
const withRange = (headers: Record<string, string>, range: string | undefined) =>
  range === undefined ? { ...headers } : { ...headers, range }

const abortError = (): Error => Object.assign(new Error("S3 request aborted"), { name: "AbortError" })

/**
 * One request's abort: before undici starts the request it only marks it (the request is then never
 * sent); once started, it aborts undici's controller.
 */
class Aborter implements LeanAbort {
  aborted = false
  controller: Dispatcher.DispatchController | undefined = undefined

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.controller?.abort(abortError())
    this.controller = undefined
  }
}

/** One request on the pool; its response, or its failure as the store classifies it, goes to `callbacks`. */
const dispatch = (
  pool: Pool,
  target: Target,
  request: { readonly method: Method; readonly path: string; readonly headers: Record<string, string>; readonly body: Uint8Array | undefined },
  aborter: Aborter,
  callbacks: LeanCallbacks,
  config: S3LeanConfig
): void => {
  if (aborter.aborted) {
    callbacks.failed(abortError())
    return
  }
  const chunks: Array<Buffer> = []
  let size = 0
  let status = 0
  let answer: IncomingHttpHeaders = {}
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: (controller) => {
      // Aborted while it waited for a connection: never sent.
      if (aborter.aborted) controller.abort(abortError())
      else aborter.controller = controller
    },
    onResponseStart: (_, statusCode, headers) => {
      status = statusCode
      answer = headers
    },
    onResponseData: (_, chunk) => {
      chunks.push(chunk)
      size += chunk.length
    },
    onResponseEnd: () => {
      aborter.controller = undefined
      if (status < 200 || status >= 300) {
        callbacks.failed(httpError(status, Buffer.concat(chunks).toString("utf8")))
        return
      }
      const length = answer["content-length"]
      callbacks.done({
        status,
        body: bodyOf(chunks, size),
        contentLength: typeof length === "string" ? Number(length) : undefined,
        lastModified: single(answer["last-modified"]),
        etag: single(answer["etag"]),
        metadata: metadataOf(answer)
      })
    },
    onResponseError: (_, error) => {
      aborter.controller = undefined
      callbacks.failed(transportError(error, request.method, config))
    }
  }
  try {
    pool.dispatch({
      origin: target.url.origin,
      method: request.method,
      path: request.path,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      headersTimeout: config.requestTimeoutMs,
      bodyTimeout: config.requestTimeoutMs
    }, handler)
  } catch (error) {
    // Called after an asynchronous signing too, where nothing else would catch it.
    callbacks.failed(error)
  }
}

/** The transport, or undefined when the SDK must do the requests (see `targetOf`). */
export const makeS3Lean = (config: S3LeanConfig): S3Lean | undefined => {
  const target = targetOf(config)
  if (target === undefined) return undefined
  const pool = new Pool(target.url.origin, { connections: MAX_CONNECTIONS, connect: { timeout: config.connectionTimeoutMs } })
  const signer = new LeanSigner(config, target.url)

  const send = (method: Method, key: string, options: LeanRequest, callbacks: LeanCallbacks): LeanAbort => {
    const aborter = new Aborter()
    const path = target.pathPrefix + encodeKey(key)
    const query = options.query === undefined ? "" : encodeQuery(options.query)
    const sent = query.length === 0 ? path : `${path}?${query}`
    const go = (headers: Record<string, string>) =>
      dispatch(pool, target, { method, path: sent, headers, body: options.body }, aborter, callbacks, config)
    try {
      const pending = signer.headers(method, path, options, query)
      if (pending instanceof Promise) pending.then(go, callbacks.failed)
      else go(pending)
    } catch (error) {
      callbacks.failed(error)
    }
    return aborter
  }

  return { send, destroy: () => void pool.destroy().catch(() => undefined) }
}
