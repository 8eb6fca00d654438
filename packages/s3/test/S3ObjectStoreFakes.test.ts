/**
 * Tests of the S3 `ObjectStore` that need no S3 server (always run): error classification and range
 * handling against small fake HTTP servers (503/429/500/403/404/412/409 answers, a server that never
 * answers, a refused connection, a server that ignores `Range`), and reading the configuration from the
 * environment. The live server's tests are in S3ObjectStore.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ObjectStoreError, rebuildStore } from "@shale/core/internal"
import { ConfigProvider, Effect, Exit, Layer, Redacted, Stream } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { S3ObjectStore, type S3ObjectStoreConfig } from "../src/index.ts"
import { assertError, bucket, bytesOf, credentials, failureOf, region } from "./support.ts"
// ---------------------------------------------------------------------------------------------------------
// Fake HTTP servers: exercise the classification of real SDK rejections without a real S3.

type Handler = (req: Http.IncomingMessage, res: Http.ServerResponse) => void

/** A loopback HTTP server for the test's scope; returns its endpoint URL. */
const fakeServer = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        req.resume()
        req.on("end", () => handler(req, res))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

const s3Error = (status: number, code: string): Handler => (req, res) => {
  const body = `<?xml version="1.0" encoding="UTF-8"?>` +
    `<Error><Code>${code}</Code><Message>fake ${code}</Message></Error>`
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) })
  res.end(req.method === "HEAD" ? undefined : body)
}

const storeAt = (url: string, extra: Partial<S3ObjectStoreConfig> = {}) =>
  S3ObjectStore.make({ endpoint: url, region, bucket: "fake", forcePathStyle: true, credentials, ...extra })

describe("S3ObjectStore error mapping (fake servers)", () => {
  const transient: ReadonlyArray<readonly [number, string]> = [
    [503, "SlowDown"],
    [503, "ServiceUnavailable"],
    [500, "InternalError"],
    [429, "TooManyRequests"],
    [502, "BadGateway"]
  ]
  for (const [status, code] of transient) {
    it.live(`${status} ${code} is StoreUnavailable for every operation`, () =>
      Effect.gen(function*() {
        const store = yield* storeAt(yield* fakeServer(s3Error(status, code)))
        assertError(yield* failureOf(store.put("a/b", bytesOf(1))), "StoreUnavailable", "put", "a/b")
        assertError(yield* failureOf(store.get("a/b")), "StoreUnavailable", "get", "a/b")
        const range = store.getRange("a/b", { start: 0, end: 2 })
        assertError(yield* failureOf(range), "StoreUnavailable", "getRange", "a/b")
        assertError(yield* failureOf(store.head("a/b")), "StoreUnavailable", "head", "a/b")
        assertError(yield* failureOf(store.delete("a/b")), "StoreUnavailable", "delete", "a/b")
        assertError(yield* failureOf(Stream.runCollect(store.list("a"))), "StoreUnavailable", "list", "a")
      }))
  }

  it.live("403 AccessDenied and 400 are StoreFailure", () =>
    Effect.gen(function*() {
      const denied = yield* storeAt(yield* fakeServer(s3Error(403, "AccessDenied")))
      const e = yield* failureOf(denied.get("k"))
      assertError(e, "StoreFailure", "get", "k")
      assert.include(e.message, "AccessDenied")
      assertError(yield* failureOf(denied.put("k", bytesOf(1), { mode: "create" })), "StoreFailure", "put", "k")
      const bad = yield* storeAt(yield* fakeServer(s3Error(400, "InvalidArgument")))
      assertError(yield* failureOf(bad.head("k")), "StoreFailure", "head", "k")
    }))

  it.live("404 NoSuchKey is ObjectNotFound, 404 NoSuchBucket is StoreFailure", () =>
    Effect.gen(function*() {
      const noKey = yield* storeAt(yield* fakeServer(s3Error(404, "NoSuchKey")))
      assertError(yield* failureOf(noKey.get("k")), "ObjectNotFound", "get", "k")
      assertError(yield* failureOf(noKey.getRange("k", { suffix: 3 })), "ObjectNotFound", "getRange", "k")
      const noBucket = yield* storeAt(yield* fakeServer(s3Error(404, "NoSuchBucket")))
      const e = yield* failureOf(noBucket.get("k"))
      assertError(e, "StoreFailure", "get", "k")
      assert.include(e.message, "bucket does not exist")
    }))

  it.live("412 and 409 ConditionalRequestConflict on a create-only put are ObjectAlreadyExists", () =>
    Effect.gen(function*() {
      const precondition = yield* storeAt(yield* fakeServer(s3Error(412, "PreconditionFailed")))
      assertError(
        yield* failureOf(precondition.put("w/1", bytesOf(1), { mode: "create" })),
        "ObjectAlreadyExists",
        "put",
        "w/1"
      )
      // A 412 on a read is not "already exists": the store never sets a read precondition.
      assertError(yield* failureOf(precondition.get("w/1")), "StoreFailure", "get", "w/1")
      const conflict = yield* storeAt(yield* fakeServer(s3Error(409, "ConditionalRequestConflict")))
      assertError(
        yield* failureOf(conflict.put("w/1", bytesOf(1), { mode: "create" })),
        "ObjectAlreadyExists",
        "put",
        "w/1"
      )
    }))

  it.live("a refused connection is StoreUnavailable", () =>
    Effect.gen(function*() {
      // Bind a port, then close it: nothing listens there any more.
      const url = yield* Effect.scoped(fakeServer(s3Error(500, "unused")))
      const store = yield* storeAt(url)
      const e = yield* failureOf(store.get("k"))
      assertError(e, "StoreUnavailable", "get", "k")
      assert.include(e.message, "ECONNREFUSED")
      assertError(yield* failureOf(Stream.runCollect(store.list(""))), "StoreUnavailable", "list", "")
    }))

  it.live("a server that never answers times out as StoreUnavailable", () =>
    Effect.gen(function*() {
      const url = yield* fakeServer(() => {
        // never respond
      })
      const store = yield* storeAt(url, { requestTimeoutMs: 300 })
      assertError(yield* failureOf(store.get("slow")), "StoreUnavailable", "get", "slow")
      const create = store.put("slow", bytesOf(1), { mode: "create" })
      assertError(yield* failureOf(create), "StoreUnavailable", "put", "slow")
    }))

  it.live("interrupting an operation aborts its request", () =>
    Effect.gen(function*() {
      let closed = 0
      const url = yield* fakeServer((req) => {
        req.socket.on("close", () => closed++)
      })
      const store = yield* storeAt(url, { requestTimeoutMs: 60_000 })
      const exit = yield* Effect.exit(store.get("k").pipe(Effect.timeout("200 millis")))
      assert.isTrue(Exit.isFailure(exit))
      yield* Effect.sleep("200 millis")
      assert.strictEqual(closed, 1, "the client closed the connection")
    }))

  it.live("interrupting a request that waits for a connection means it is never sent", () =>
    Effect.gen(function*() {
      let received = 0
      const url = yield* fakeServer(() => {
        received++ // never respond
      })
      const store = yield* storeAt(url, { requestTimeoutMs: 60_000 })
      // 50 requests hold every connection of the pool; the 51st waits for one.
      const gets = Effect.forEach(Array.from({ length: 51 }, (_, i) => `k${i}`), (k) => store.get(k), { concurrency: "unbounded" })
      const exit = yield* Effect.exit(gets.pipe(Effect.timeout("300 millis")))
      assert.isTrue(Exit.isFailure(exit))
      // The 50 sent requests are aborted and their connections closed; the waiting one must not start then.
      yield* Effect.sleep("300 millis")
      assert.strictEqual(received, 50)
    }))

  it.live("a server that ignores Range gets its full answer clipped", () =>
    Effect.gen(function*() {
      const body = bytesOf(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
      const store = yield* storeAt(yield* fakeServer((_req, res) => {
        res.writeHead(200, { "content-length": body.length, etag: "\"e\"" })
        res.end(body)
      }))
      assert.deepStrictEqual(yield* store.getRange("k", { start: 2, end: 5 }), bytesOf(2, 3, 4))
      assert.deepStrictEqual(yield* store.getRange("k", { suffix: 3 }), bytesOf(7, 8, 9))
      assert.deepStrictEqual(yield* store.getRange("k", { start: 8, end: 100 }), bytesOf(8, 9))
    }))

  it.effect("classifies SDK rejections by code, status and fault", () =>
    Effect.sync(() => {
      const classify = (cause: unknown, op: ObjectStoreError["op"] = "get") =>
        S3ObjectStore.toStoreError(op, "p", cause)._tag
      assert.strictEqual(classify({ name: "NotFound", $metadata: { httpStatusCode: 404 } }, "head"), "ObjectNotFound")
      assert.strictEqual(classify(Object.assign(new Error("reset"), { code: "ECONNRESET" })), "StoreUnavailable")
      assert.strictEqual(classify(Object.assign(new Error("t"), { name: "TimeoutError" })), "StoreUnavailable")
      const throttled = { name: "Weird", $metadata: {}, $retryable: { throttling: true } }
      assert.strictEqual(classify(throttled), "StoreUnavailable")
      assert.strictEqual(classify({ name: "Weird", $fault: "server", $metadata: {} }), "StoreUnavailable")
      const conflict = { name: "ConditionalRequestConflict", $metadata: { httpStatusCode: 409 } }
      assert.strictEqual(classify(conflict, "put"), "ObjectAlreadyExists")
      assert.strictEqual(classify(conflict, "get"), "StoreFailure")
      assert.strictEqual(classify(new TypeError("boom")), "StoreFailure")
      assert.strictEqual(classify("a string"), "StoreFailure")
    }))
})

describe("S3ObjectStore configuration", () => {
  it.effect("reads the environment variables", () =>
    Effect.gen(function*() {
      const config = yield* S3ObjectStore.config.parse(ConfigProvider.fromEnvRecord({
        SHALE_S3_ENDPOINT: "http://127.0.0.1:7480",
        SHALE_S3_BUCKET: "b",
        SHALE_S3_PREFIX: "db1",
        AWS_REGION: "eu-west-1",
        AWS_ACCESS_KEY_ID: "AK",
        AWS_SECRET_ACCESS_KEY: "SK",
        SHALE_S3_FORCE_PATH_STYLE: "true",
        SHALE_S3_MAX_ATTEMPTS: "3"
      }))
      assert.strictEqual(config.endpoint, "http://127.0.0.1:7480")
      assert.strictEqual(config.bucket, "b")
      assert.strictEqual(config.prefix, "db1")
      assert.strictEqual(config.region, "eu-west-1")
      assert.strictEqual(config.forcePathStyle, true)
      assert.strictEqual(config.maxAttempts, 3)
      assert.strictEqual(config.credentials?.accessKeyId, "AK")
      // The secret stays redacted until the client is built.
      assert.notInclude(String(config.credentials?.secretAccessKey), "SK")
    }))

  it.effect("defaults everything but the bucket", () =>
    Effect.gen(function*() {
      const config = yield* S3ObjectStore.config.parse(ConfigProvider.fromEnvRecord({ SHALE_S3_BUCKET: "b" }))
      assert.deepStrictEqual(config, { region: "us-east-1", bucket: "b", forcePathStyle: false, maxAttempts: 1 })
      const missing = yield* Effect.flip(S3ObjectStore.config.parse(ConfigProvider.fromEnvRecord({})))
      assert.strictEqual(missing._tag, "ConfigError")
    }))

  it.live("its recipe builds the same store elsewhere (same endpoint, bucket, prefix and credentials)", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const url = yield* fakeServer((req, res) => {
        seen.push(`${req.method} ${req.url} ${String(req.headers.authorization).includes(credentials.accessKeyId)}`)
        s3Error(404, "NoSuchKey")(req, res)
      })
      const store = yield* storeAt(url, { prefix: "p", credentials: { ...credentials, secretAccessKey: Redacted.make(credentials.secretAccessKey) } })
      assert.isDefined(store.recipe)
      const rebuilt = yield* rebuildStore(structuredClone(store.recipe!))
      assert.strictEqual((yield* Effect.flip(store.head("a/b")))._tag, "ObjectNotFound")
      assert.strictEqual((yield* Effect.flip(rebuilt.head("a/b")))._tag, "ObjectNotFound")
      assert.deepStrictEqual(seen, ["HEAD /fake/p/a/b true", "HEAD /fake/p/a/b true"])
    }))

  it.effect("rejects an invalid key prefix when the layer is built", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Layer.build(S3ObjectStore.layer({ region, bucket, prefix: "a//b" })))
      assert.strictEqual(e._tag, "InvalidPath")
    }))
})

// ---------------------------------------------------------------------------------------------------------
