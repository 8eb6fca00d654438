/**
 * Tests of the S3 `ObjectStore` against a live server (radosgw in CI); the fake servers' and the
 * configuration's are in S3ObjectStoreFakes.test.ts.
 *
 * - With `SHALE_S3_ENDPOINT` set (radosgw: `scripts/rgw/start.sh`): the shared conformance suite plus
 *   S3-specific tests against the live server. Every run works under a fresh key prefix, so reruns against
 *   the same bucket never collide.
 * - Without an endpoint: one test, reported as skipped, says so. With `SHALE_S3_REQUIRED=1` (CI) a missing
 *   endpoint is a failing test instead, and an unreachable one fails every live test in `beforeAll`.
 *
 * Environment: see support.ts.
 */
import { assert, beforeAll, describe, layer } from "@effect/vitest"
import { ObjectStore } from "@shale/core/internal"
import { CachedObjectStore } from "@shale/core/node"
import { objectStoreConformance } from "@shale/testing/conformance"
import { ConfigProvider, Effect, Layer, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { S3ObjectStore, type S3ObjectStoreConfig } from "../src/index.ts"
import {
  assertError,
  bucket,
  bytesOf,
  credentials,
  describeWithoutEndpoint,
  endpoint as configuredEndpoint,
  ensureBucket,
  failureOf,
  forcePathStyle,
  region,
  type Store
} from "./support.ts"

/** A local binding: narrowed below, in closures too. */
const endpoint = configuredEndpoint
/** Everything this run writes lives under this key prefix. */
const runPrefix = `shale-test-runs/${randomUUID()}`

// Against a live server (radosgw in CI).

const liveName = "S3ObjectStore against a live S3 server"

if (endpoint === undefined) {
  describeWithoutEndpoint(liveName, "the S3 suite")
} else {
  const base: S3ObjectStoreConfig = { endpoint, region, bucket, credentials, forcePathStyle, maxAttempts: 1 }
  const liveStore = (prefix: string, extra: Partial<S3ObjectStoreConfig> = {}) =>
    S3ObjectStore.make({ ...base, prefix: `${runPrefix}/${prefix}`, ...extra })

  // Only the live tests depend on the server: the fake-server tests above still run when it is down.
  describe(`S3 live server ${endpoint}`, () => {
    // Creates the bucket if needed. Fails every live test, loudly, when the endpoint is unreachable.
    beforeAll(() => ensureBucket(endpoint), 60_000)

    objectStoreConformance(
      `ObjectStore conformance: S3ObjectStore on ${endpoint}`,
      S3ObjectStore.layer({ ...base, prefix: `${runPrefix}/conformance` }),
      { timeout: 120_000 }
    )

    layer(S3ObjectStore.layer({ ...base, prefix: runPrefix }), { excludeTestServices: true })(liveName, (it) => {
      const deleteAll = (store: Store) =>
        Stream.runForEach(store.list(""), (o) => store.delete(o.path))

      it.effect("round-trips user metadata through put and head", () =>
        Effect.gen(function*() {
          const store = yield* liveStore("meta")
          const metadata = { slatedbputid: "01JCZ2V3W4X5Y6Z7A8B9C0D1E2", "shale-writer": "w-1 / epoch=7", empty: "" }
          yield* store.put("m/1", bytesOf(1, 2, 3), { metadata })
          const meta = yield* store.head("m/1")
          assert.deepStrictEqual(meta.metadata, metadata)
          assert.strictEqual(meta.size, 3)
          assert.match(meta.etag ?? "", /^".+"$/)
          // Create-only puts carry metadata too (the retrying wrapper matches `slatedbputid` after a timeout).
          yield* store.put("m/2", bytesOf(4), { mode: "create", metadata: { slatedbputid: "X" } })
          assert.deepStrictEqual((yield* store.head("m/2")).metadata, { slatedbputid: "X" })
          // An overwrite without metadata clears it.
          yield* store.put("m/1", bytesOf(9))
          assert.deepStrictEqual((yield* store.head("m/1")).metadata, {})
          yield* deleteAll(store)
        }))

      it.effect("the lean transport and the SDK's read the same bytes, ranges, metadata and errors", () =>
        Effect.gen(function*() {
          const lean = yield* liveStore("lean")
          const sdk = yield* liveStore("lean", { lean: false })
          const data = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff)
          yield* lean.put("k/a-b_c.d~e", data, { metadata: { slatedbputid: "P1", "x-y": "v w" } })
          for (const store of [lean, sdk]) {
            assert.deepStrictEqual(yield* store.get("k/a-b_c.d~e"), data)
            assert.deepStrictEqual(yield* store.getRange("k/a-b_c.d~e", { start: 4096, end: 8192 }), data.subarray(4096, 8192))
            assert.deepStrictEqual(yield* store.getRange("k/a-b_c.d~e", { suffix: 100 }), data.subarray(data.length - 100))
            assert.deepStrictEqual(yield* store.getRange("k/a-b_c.d~e", { start: 69_990, end: 80_000 }), data.subarray(69_990))
            const meta = yield* store.head("k/a-b_c.d~e")
            assert.strictEqual(meta.size, data.length)
            assert.deepStrictEqual(meta.metadata, { slatedbputid: "P1", "x-y": "v w" })
            assert.ok(Math.abs(meta.lastModified - Date.now()) < 600_000, `lastModified ${meta.lastModified}`)
            assertError(yield* failureOf(store.get("k/missing")), "ObjectNotFound", "get", "k/missing")
            assertError(yield* failureOf(store.getRange("k/missing", { start: 0, end: 5 })), "ObjectNotFound", "getRange", "k/missing")
            assertError(yield* failureOf(store.head("k/missing")), "ObjectNotFound", "head", "k/missing")
          }
          const [a, b] = [yield* lean.head("k/a-b_c.d~e"), yield* sdk.head("k/a-b_c.d~e")]
          assert.deepStrictEqual(a, b)
          // Puts: each transport's create-only put loses to the other's object; metadata round-trips.
          yield* sdk.put("k/p", bytesOf(1), { mode: "create", metadata: { slatedbputid: "S" } })
          assertError(yield* failureOf(lean.put("k/p", bytesOf(2), { mode: "create" })), "ObjectAlreadyExists", "put", "k/p")
          yield* lean.put("k/q", bytesOf(3), { mode: "create", metadata: { slatedbputid: "L" } })
          assertError(yield* failureOf(sdk.put("k/q", bytesOf(4), { mode: "create" })), "ObjectAlreadyExists", "put", "k/q")
          assert.deepStrictEqual((yield* sdk.head("k/q")).metadata, { slatedbputid: "L" })
          assert.deepStrictEqual(yield* sdk.get("k/q"), bytesOf(3))
          const empty = yield* lean.put("k/e", bytesOf())
          assert.match(empty.etag ?? "", /^".+"$/)
          assert.deepStrictEqual(yield* sdk.get("k/e"), bytesOf())
          yield* deleteAll(lean)
        }))

      it.effect("the lean transport and the SDK list the same objects, keys with XML's special characters included, page by page", () =>
        Effect.gen(function*() {
          const lean = yield* liveStore("list", { listPageSize: 2 })
          const sdk = yield* liveStore("list", { listPageSize: 2, lean: false })
          const paths = ["l/a&b", "l/c<d>e", "l/q\"uote'", "l/sp ace+plus%25=eq?", "l/ü-ñ-€-😀", "l/sub/x.sst", "l/z~_-."]
          for (const [i, path] of paths.entries()) yield* lean.put(path, bytesOf(...Array.from({ length: i + 1 }, () => i)))
          const all = (store: Store, prefix: string, startAfter?: string) =>
            Stream.runCollect(store.list(prefix, startAfter === undefined ? undefined : { startAfter })).pipe(
              Effect.map((items) => Array.from(items, (o) => ({ ...o })))
            )
          for (const [prefix, startAfter] of [["l", undefined], ["l", "l/c<d>e"], ["l/sub", undefined], ["", undefined]] as const) {
            const a = yield* all(lean, prefix, startAfter)
            const b = yield* all(sdk, prefix, startAfter)
            assert.deepStrictEqual(a, b, `${prefix} after ${startAfter}`)
            for (const o of a) {
              assert.match(o.etag ?? "", /^".+"$/)
              assert.ok(Math.abs(o.lastModified - Date.now()) < 600_000, `lastModified ${o.lastModified}`)
            }
          }
          const listed = yield* all(lean, "l")
          assert.deepStrictEqual(listed.map((o) => o.path), [...paths].sort())
          assert.deepStrictEqual(listed.map((o) => o.size), [...paths].sort().map((p) => paths.indexOf(p) + 1))
          assert.deepStrictEqual((yield* all(lean, "l", "l/c<d>e")).map((o) => o.path), [...paths].sort().filter((p) => p > "l/c<d>e"))
          yield* deleteAll(lean)
          assert.deepStrictEqual(yield* all(lean, "l"), [])
        }))

      it.effect("the key prefix isolates two stores in one bucket", () =>
        Effect.gen(function*() {
          const a = yield* liveStore("iso/a")
          // Slashes around the prefix are normalised away.
          const b = yield* S3ObjectStore.make({ ...base, prefix: `/${runPrefix}/iso/b/` })
          const parent = yield* liveStore("iso")
          yield* a.put("wal/1.sst", bytesOf(0xa))
          yield* b.put("wal/1.sst", bytesOf(0xb))
          yield* b.put("manifest/1.manifest", bytesOf(0xb, 1))
          // Create-only in one store does not see the other's object.
          yield* a.put("manifest/1.manifest", bytesOf(0xa, 1), { mode: "create" })
          assert.deepStrictEqual(yield* a.get("wal/1.sst"), bytesOf(0xa))
          assert.deepStrictEqual(yield* b.get("wal/1.sst"), bytesOf(0xb))
          const paths = (s: Store, prefix: string) =>
            Stream.runCollect(s.list(prefix)).pipe(Effect.map((xs) => xs.map((o) => o.path)))
          assert.deepStrictEqual(yield* paths(a, ""), ["manifest/1.manifest", "wal/1.sst"])
          assert.deepStrictEqual(yield* paths(b, "wal"), ["wal/1.sst"])
          // The layout is `<prefix>/<path>`, as another store (or SlateDB) rooted at the parent sees it.
          assert.deepStrictEqual(yield* paths(parent, ""), [
            "a/manifest/1.manifest",
            "a/wal/1.sst",
            "b/manifest/1.manifest",
            "b/wal/1.sst"
          ])
          assert.deepStrictEqual(yield* parent.get("b/manifest/1.manifest"), bytesOf(0xb, 1))
          yield* b.delete("wal/1.sst")
          assert.deepStrictEqual(yield* a.get("wal/1.sst"), bytesOf(0xa))
          yield* deleteAll(parent)
        }))

      it.effect("a missing bucket is a StoreFailure (HEAD cannot tell it from a missing key)", () =>
        Effect.gen(function*() {
          const store = yield* S3ObjectStore.make({ ...base, bucket: `shale-missing-${randomUUID()}` })
          for (const e of [
            yield* failureOf(store.get("x/1")),
            yield* failureOf(store.getRange("x/1", { start: 0, end: 4 }))
          ]) {
            assert.strictEqual(e._tag, "StoreFailure", e.message)
            assert.include(e.message, "NoSuchBucket")
          }
          assertError(yield* failureOf(store.put("x/1", bytesOf(1))), "StoreFailure", "put", "x/1")
          assertError(yield* failureOf(store.put("x/1", bytesOf(1), { mode: "create" })), "StoreFailure", "put", "x/1")
          assertError(yield* failureOf(Stream.runCollect(store.list("x"))), "StoreFailure", "list", "x")
          // A HEAD response has no body, so S3 says only "404 NotFound".
          assertError(yield* failureOf(store.head("x/1")), "ObjectNotFound", "head", "x/1")
        }))

      it.effect("wrong credentials are a StoreFailure", () =>
        Effect.gen(function*() {
          const store = yield* liveStore("creds", {
            credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: "not-the-secret" }
          })
          const e = yield* failureOf(store.put("c/1", bytesOf(1)))
          assertError(e, "StoreFailure", "put", "c/1")
          assert.include(e.message, "403")
        }))

      it.effect("create-only: of 20 racers on two independent clients exactly one wins, five rounds", () =>
        Effect.gen(function*() {
          const clients = [yield* liveStore("race"), yield* liveStore("race")] as const
          for (let round = 0; round < 5; round++) {
            const path = `wal/${String(round).padStart(20, "0")}.sst`
            const results = yield* Effect.forEach(
              Array.from({ length: 20 }, (_, i) => i),
              (i) =>
                Effect.result(
                  clients[i % 2]!.put(path, bytesOf(round, i), { mode: "create", metadata: { writer: `${i}` } })
                ),
              { concurrency: "unbounded" }
            )
            const winners = results.flatMap((r, i) => (r._tag === "Success" ? [i] : []))
            assert.strictEqual(winners.length, 1, `round ${round}: winners ${JSON.stringify(winners)}`)
            for (const r of results) {
              if (r._tag === "Failure") assertError(r.failure, "ObjectAlreadyExists", "put", path)
            }
            const winner = winners[0]!
            assert.deepStrictEqual(yield* clients[0].get(path), bytesOf(round, winner))
            assert.deepStrictEqual((yield* clients[1].head(path)).metadata, { writer: `${winner}` })
          }
          yield* deleteAll(clients[0])
        }))

      it.effect("getRange: suffix 0 and empty ranges are empty, but still need the object", () =>
        Effect.gen(function*() {
          const store = yield* liveStore("range")
          yield* store.put("r", bytesOf(1, 2, 3, 4, 5))
          // radosgw answers `Range: bytes=-0` with the whole object; the store must not send it.
          assert.deepStrictEqual(yield* store.getRange("r", { suffix: 0 }), bytesOf())
          assert.deepStrictEqual(yield* store.getRange("r", { start: 3, end: 2 }), bytesOf())
          assert.deepStrictEqual(yield* store.getRange("r", { start: -5, end: 2 }), bytesOf(1, 2))
          assert.deepStrictEqual(yield* store.getRange("r", { start: 5, end: 6 }), bytesOf())
          assertError(yield* failureOf(store.getRange("nope", { suffix: 0 })), "ObjectNotFound", "getRange", "nope")
          const empty = store.getRange("nope", { start: 1, end: 1 })
          assertError(yield* failureOf(empty), "ObjectNotFound", "getRange", "nope")
          yield* deleteAll(store)
        }))

      it.effect("lists lazily across small pages", () =>
        Effect.gen(function*() {
          const store = yield* liveStore("pages", { listPageSize: 2 })
          const paths = Array.from({ length: 7 }, (_, i) => `d/${i}`)
          yield* Effect.forEach(paths, (p) => store.put(p, bytesOf(1)), { concurrency: 7 })
          yield* store.put("d0", bytesOf(2))
          const listed = yield* Stream.runCollect(store.list("d"))
          assert.deepStrictEqual(listed.map((o) => o.path), paths)
          for (const o of listed) {
            assert.strictEqual(o.size, 1)
            assert.isAbove(o.lastModified, 0)
          }
          const firstThree = yield* Stream.runCollect(store.list("d").pipe(Stream.take(3)))
          assert.deepStrictEqual(firstThree.map((o) => o.path), paths.slice(0, 3))
          yield* deleteAll(store)
        }))

      it.effect("the disk cache over S3: each part fetched once; whole objects, suffixes and ranges past the end", () =>
        Effect.gen(function*() {
          const s3 = yield* ObjectStore
          const part = 64 * 1024
          const data = new Uint8Array(3 * part + 100).map((_, i) => (i * 7) & 255)
          const path = "cached/compacted/01J0000000000000000000000A.sst"
          yield* s3.put(path, data)
          const folder = yield* Effect.acquireRelease(
            Effect.sync(() => mkdtempSync(join(tmpdir(), "shale-s3-cache-"))),
            (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
          )
          const { store, cache } = yield* CachedObjectStore.make(s3, { rootFolder: folder, partSizeBytes: part })
          const same = (a: Uint8Array, b: Uint8Array) => assert.isTrue(Buffer.from(a).equals(Buffer.from(b)))
          same(yield* store.getRange(path, { start: 5, end: 100 }), data.subarray(5, 100))
          same(yield* store.get(path), data) // part 0 cached: one open-ended GET for the rest
          assert.strictEqual((yield* store.getRange(path, { start: 10 * part, end: 11 * part })).length, 0)
          same(yield* store.getRange(path, { suffix: 150 }), data.subarray(data.length - 150))
          same(yield* store.getRange(path, { start: part - 10, end: 2 * part + 10 }), data.subarray(part - 10, 2 * part + 10))
          const stats = yield* cache.stats
          assert.deepStrictEqual([stats.innerGets, stats.innerHeads], [3, 1])
          assertError(yield* failureOf(store.getRange(`${path}.missing.sst`, { start: 0, end: 1 })), "ObjectNotFound", "getRange", `${path}.missing.sst`)
          yield* s3.delete(path)
        }))

      it.effect("layerConfig reads the same settings from the environment", () =>
        Effect.gen(function*() {
          const store = yield* ObjectStore
          yield* store.put("cfg/1", bytesOf(7))
          assert.deepStrictEqual(yield* store.get("cfg/1"), bytesOf(7))
          yield* store.delete("cfg/1")
        }).pipe(Effect.provide(S3ObjectStore.layerConfig.pipe(Layer.provide(ConfigProvider.layer(
          ConfigProvider.fromEnvRecord({
            SHALE_S3_ENDPOINT: endpoint,
            SHALE_S3_BUCKET: bucket,
            SHALE_S3_PREFIX: `${runPrefix}/config`,
            AWS_REGION: region,
            AWS_ACCESS_KEY_ID: credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
            SHALE_S3_FORCE_PATH_STYLE: String(forcePathStyle)
          })
        ))))))
    })
  })
}
