/**
 * The disk cache of object ranges (`CachedObjectStore`): hits cost no request to the wrapped store, ranges
 * spanning parts come back whole, eviction bounds the folder, a reopened cache reuses its files, a damaged
 * file is fetched again (never served), concurrent readers of one part share one fetch.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CachedObjectStore, type CachedObjectStoreOptions, makeMemory, ObjectStore, type ObjectStoreCache } from "../../src/internal.ts"
import { objectStoreConformance } from "@shale/testing/conformance"

const KiB = 1024
const PART = 64 * KiB
const SST = "db/compacted/01J000000000000000000000AA.sst"

/** Requests that reached the wrapped store, by operation. */
interface Counts {
  get: number
  getRange: number
  head: number
  put: number
}

/** Wraps `inner`, counting requests (and optionally delaying every read by `delayMs`, real time). */
const counting = (inner: ObjectStore["Service"], delayMs = 0) => {
  const counts: Counts = { get: 0, getRange: 0, head: 0, put: 0 }
  const delay = <A, E>(e: Effect.Effect<A, E>) => (delayMs > 0 ? Effect.delay(e, `${delayMs} millis`) : e)
  const store = ObjectStore.of({
    ...inner,
    get: (p) => delay(Effect.suspend(() => (counts.get++, inner.get(p)))),
    getRange: (p, r) => delay(Effect.suspend(() => (counts.getRange++, inner.getRange(p, r)))),
    head: (p) => Effect.suspend(() => (counts.head++, inner.head(p))),
    put: (p, b, o) => Effect.suspend(() => (counts.put++, inner.put(p, b, o)))
  })
  return { store, counts, requests: () => counts.get + counts.getRange + counts.head }
}

/** Deterministic bytes (so that a wrong offset shows as a wrong value). */
const pattern = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const tempFolder = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "shale-cache-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The cached store over `inner` in `folder`, in a scope of its own (closed by `close`). */
const openCache = (inner: ObjectStore["Service"], folder: string, options: Partial<CachedObjectStoreOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const { store, cache } = yield* CachedObjectStore.make(inner, { rootFolder: folder, partSizeBytes: PART, ...options }).pipe(
      Scope.provide(scope)
    )
    return { store, cache, close: Scope.close(scope, Exit.void) }
  })

/** Every file under `dir` with its size. */
const filesUnder = (dir: string): Array<{ path: string; size: number }> =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => {
    const path = join(e.parentPath, e.name)
    return { path, size: statSync(path).size }
  })

const same = (a: Uint8Array, b: Uint8Array) => assert.isTrue(Buffer.from(a).equals(Buffer.from(b)), `${a.length} vs ${b.length} bytes differ`)

const setup = (size: number, options: Partial<CachedObjectStoreOptions> = {}, delayMs = 0) =>
  Effect.gen(function*() {
    const memory = makeMemory()
    const data = pattern(size)
    yield* memory.put(SST, data)
    const inner = counting(memory, delayMs)
    const folder = yield* tempFolder
    const cached = yield* openCache(inner.store, folder, options)
    yield* Effect.addFinalizer(() => cached.close)
    return { memory, data, inner, folder, ...cached }
  })

const stats = (cache: ObjectStoreCache["Service"]) => cache.stats

describe("CachedObjectStore", () => {
  it.effect("a cached range costs no request; the bytes are the object's", () =>
    Effect.gen(function*() {
      const { data, inner, store, cache } = yield* setup(5 * PART + 123)
      same(yield* store.getRange(SST, { start: 1000, end: 5000 }), data.subarray(1000, 5000))
      assert.strictEqual(inner.requests(), 1)
      same(yield* store.getRange(SST, { start: 1000, end: 5000 }), data.subarray(1000, 5000))
      same(yield* store.getRange(SST, { start: 0, end: PART }), data.subarray(0, PART)) // same part
      assert.strictEqual(inner.requests(), 1)
      const s = yield* stats(cache)
      assert.deepStrictEqual([s.partAccesses, s.partHits, s.innerGets], [3, 2, 1])
    }))

  it.effect("ranges spanning parts: one GET per run of missing parts, then none; suffixes, whole gets, clipping", () =>
    Effect.gen(function*() {
      const size = 5 * PART + 123
      const { data, inner, store } = yield* setup(size)
      // Parts 1 and 2 cached first; then a range over parts 0..4 fetches part 0 and parts 3..4 (two GETs).
      same(yield* store.getRange(SST, { start: PART + 10, end: 3 * PART - 10 }), data.subarray(PART + 10, 3 * PART - 10))
      assert.strictEqual(inner.counts.getRange, 1)
      same(yield* store.getRange(SST, { start: 100, end: 4 * PART + 7 }), data.subarray(100, 4 * PART + 7))
      assert.strictEqual(inner.counts.getRange, 3)
      // The last part (123 bytes) ends the object: a range past it is clipped.
      same(yield* store.getRange(SST, { start: 5 * PART, end: 9 * PART }), data.subarray(5 * PART))
      assert.strictEqual(inner.counts.getRange, 4)
      same(yield* store.getRange(SST, { start: 5 * PART + 100, end: 9 * PART }), data.subarray(5 * PART + 100))
      same(yield* store.getRange(SST, { start: 2 * PART, end: 2 * PART }), new Uint8Array(0)) // asks the store
      same(yield* store.get(SST), data)
      assert.strictEqual(inner.counts.getRange, 5)
      // A suffix needs the size: one HEAD, cached afterwards.
      same(yield* store.getRange(SST, { suffix: 200 }), data.subarray(size - 200))
      same(yield* store.getRange(SST, { suffix: 10 * PART }), data)
      assert.deepStrictEqual([inner.counts.head, inner.counts.getRange, inner.counts.get], [1, 5, 0])
    }))

  it.effect("a whole get of an uncached object is one request and fills the cache", () =>
    Effect.gen(function*() {
      const { data, inner, store } = yield* setup(3 * PART) // an exact multiple: the empty part 3 ends it
      same(yield* store.get(SST), data)
      same(yield* store.get(SST), data)
      same(yield* store.getRange(SST, { start: 2 * PART - 5, end: 4 * PART }), data.subarray(2 * PART - 5))
      assert.strictEqual(inner.requests(), 1)
    }))

  it.effect("eviction keeps the folder within max_cache_size_bytes, least recently used first", () =>
    Effect.gen(function*() {
      const max = 4 * PART + 8 * KiB // room for 4 part files (each a part plus a small header)
      const { data, inner, store, cache, folder } = yield* setup(12 * PART, { maxCacheSizeBytes: max })
      const part = (k: number) => store.getRange(SST, { start: k * PART, end: k * PART + 10 })
      for (let k = 0; k < 12; k++) same(yield* part(k), data.subarray(k * PART, k * PART + 10))
      const onDisk = filesUnder(folder).reduce((n, f) => n + f.size, 0)
      assert.isAtMost(onDisk, max)
      const s = yield* stats(cache)
      assert.strictEqual(s.bytes, onDisk)
      assert.strictEqual(s.evictions, 8)
      // Parts 8..11 are cached; reading 8 makes it the most recent, so part 0 (fetched again) evicts 9.
      const before = inner.requests()
      yield* part(8)
      assert.strictEqual(inner.requests(), before)
      yield* part(0)
      yield* part(8)
      assert.strictEqual(inner.requests(), before + 1)
      yield* part(9)
      assert.strictEqual(inner.requests(), before + 2)
    }))

  it.effect("a reopened cache reuses its files (parts and heads) with no request", () =>
    Effect.gen(function*() {
      const { data, inner, store, folder, close, memory } = yield* setup(3 * PART + 5)
      same(yield* store.getRange(SST, { suffix: 100 }), data.subarray(data.length - 100))
      same(yield* store.get(SST), data)
      assert.strictEqual(inner.requests(), 3) // HEAD, the suffix's part, the rest
      yield* close
      const again = counting(memory)
      const reopened = yield* openCache(again.store, folder)
      same(yield* reopened.store.get(SST), data)
      assert.strictEqual((yield* reopened.store.head(SST)).size, data.length)
      same(yield* reopened.store.getRange(SST, { suffix: 100 }), data.subarray(data.length - 100))
      assert.strictEqual(again.requests(), 0)
      assert.strictEqual((yield* reopened.cache.stats).files, 5) // 4 parts and the head
      yield* reopened.close
    }))

  it.effect("reopening deletes leftover temp files and evicts down to a smaller limit", () =>
    Effect.gen(function*() {
      const { store, folder, close, memory } = yield* setup(6 * PART)
      yield* store.get(SST)
      yield* close
      const dir = join(folder, SST)
      writeFileSync(join(dir, "_part65536-000000000.tmp-1-1"), "half a file")
      const reopened = yield* openCache(memory, folder, { maxCacheSizeBytes: 2 * PART + 4 * KiB })
      const files = filesUnder(folder)
      assert.isFalse(files.some((f) => f.path.includes(".tmp-")))
      assert.isAtMost(files.reduce((n, f) => n + f.size, 0), 2 * PART + 4 * KiB)
      yield* reopened.close
    }))

  it.effect("a corrupt or truncated part file is fetched again, never served", () =>
    Effect.gen(function*() {
      const { data, inner, store, cache, folder } = yield* setup(3 * PART)
      yield* store.get(SST)
      const file = (k: number) => join(folder, SST, `_part${PART}-00000000${k}`)
      // A flipped bit in part 1's payload, part 2 cut short, part 0's header damaged.
      const bytes = readFileSync(file(1))
      bytes[bytes.length - 3]! ^= 0x10
      writeFileSync(file(1), bytes)
      truncateSync(file(2), statSync(file(2)).size - 1000)
      const head0 = readFileSync(file(0))
      head0[16]! ^= 1 // the payload length field
      writeFileSync(file(0), head0)
      const before = inner.requests()
      same(yield* store.getRange(SST, { start: 2 * PART - 10, end: 2 * PART }), data.subarray(2 * PART - 10, 2 * PART))
      same(yield* store.getRange(SST, { start: 3 * PART - 10, end: 3 * PART }), data.subarray(3 * PART - 10))
      same(yield* store.getRange(SST, { start: 0, end: 10 }), data.subarray(0, 10))
      assert.strictEqual(inner.requests(), before + 3)
      assert.strictEqual((yield* stats(cache)).corrupt, 3)
      // Fetched parts were written again: the next reads are hits.
      same(yield* store.get(SST), data)
      assert.strictEqual(inner.requests(), before + 3)
    }))

  it.effect("a part file deleted behind the cache's back is fetched again", () =>
    Effect.gen(function*() {
      const { data, inner, store, folder } = yield* setup(PART + 1)
      yield* store.get(SST)
      rmSync(join(folder, SST), { recursive: true })
      same(yield* store.get(SST), data)
      assert.strictEqual(inner.requests(), 2)
    }))

  it.live("concurrent reads of one part share one fetch", () =>
    Effect.gen(function*() {
      const { data, inner, store } = yield* setup(4 * PART, {}, 30)
      const reads = Array.from({ length: 20 }, (_, i) => store.getRange(SST, { start: i * 100, end: i * 100 + 50 }))
      const got = yield* Effect.all(reads, { concurrency: "unbounded" })
      got.forEach((b, i) => same(b, data.subarray(i * 100, i * 100 + 50)))
      assert.strictEqual(inner.requests(), 1)
    }))

  it.live("a reader interrupted while its fetch runs does not fail the others waiting for the part", () =>
    Effect.gen(function*() {
      const { data, inner, store } = yield* setup(PART, {}, 50)
      const first = yield* Effect.forkChild(store.getRange(SST, { start: 0, end: 10 }))
      yield* Effect.sleep("5 millis")
      const second = yield* Effect.forkChild(store.getRange(SST, { start: 10, end: 20 }))
      yield* Effect.sleep("5 millis")
      yield* Fiber.interrupt(first)
      same(yield* Fiber.join(second), data.subarray(10, 20))
      assert.strictEqual(inner.requests(), 1)
    }))

  it.effect("only SSTs are cached: manifests pass through; errors pass through and cache nothing", () =>
    Effect.gen(function*() {
      const { memory, inner, store, cache } = yield* setup(PART)
      yield* memory.put("db/manifest/00000000000000000001.manifest", pattern(100))
      yield* store.get("db/manifest/00000000000000000001.manifest")
      yield* store.get("db/manifest/00000000000000000001.manifest")
      assert.strictEqual(inner.counts.get, 2)
      const missing = yield* Effect.flip(store.getRange("db/wal/00000000000000000009.sst", { start: 0, end: 10 }))
      assert.strictEqual(missing._tag, "ObjectNotFound")
      const missingAgain = yield* Effect.flip(store.get("db/wal/00000000000000000009.sst"))
      assert.strictEqual(missingAgain._tag, "ObjectNotFound")
      assert.strictEqual((yield* stats(cache)).files, 0)
      const bad = yield* Effect.flip(store.get("db/../x/wal/1.sst"))
      assert.strictEqual(bad._tag, "InvalidPath")
    }))

  it.effect("cache_puts: an SST written through the cache is read from disk; delete forgets it", () =>
    Effect.gen(function*() {
      const { inner, store, cache } = yield* setup(0, { cachePuts: true })
      const path = "db/compacted/01J000000000000000000000BB.sst"
      const data = pattern(2 * PART + 77, 7)
      yield* store.put(path, data)
      same(yield* store.get(path), data)
      same(yield* store.getRange(path, { start: PART - 3, end: PART + 3 }), data.subarray(PART - 3, PART + 3))
      assert.strictEqual(inner.requests(), 0)
      yield* store.delete(path)
      assert.strictEqual((yield* store.get(path).pipe(Effect.flip))._tag, "ObjectNotFound")
      assert.strictEqual((yield* stats(cache)).files, 0)
    }))

  it.effect("without cache_puts a put caches nothing and drops what was cached for the path", () =>
    Effect.gen(function*() {
      const { inner, store, cache } = yield* setup(PART)
      yield* store.get(SST)
      const replaced = pattern(100, 9)
      yield* store.put(SST, replaced)
      assert.strictEqual((yield* stats(cache)).files, 0)
      same(yield* store.get(SST), replaced)
      assert.strictEqual(inner.counts.put, 1)
    }))

  it.effect("preload fetches objects in order while they fit, then reads are hits", () =>
    Effect.gen(function*() {
      const { memory, inner, store, cache } = yield* setup(0, { maxCacheSizeBytes: 5 * PART })
      const paths = [1, 2, 3].map((i) => `db/compacted/01J00000000000000000000${i}AA.sst`)
      for (const p of paths) yield* memory.put(p, pattern(2 * PART, 3))
      yield* cache.preload(paths)
      const after = inner.requests()
      yield* store.get(paths[0]!)
      yield* store.get(paths[1]!)
      assert.strictEqual(inner.requests(), after)
      yield* store.get(paths[2]!) // did not fit in what was left of the limit
      assert.strictEqual(inner.requests(), after + 1)
    }))

  it.effect("rejects a part size that is not a positive multiple of 1024", () =>
    Effect.gen(function*() {
      const folder = yield* tempFolder
      const exit = yield* Effect.exit(openCache(makeMemory(), folder, { partSizeBytes: 1000 }))
      assert.isTrue(Exit.isFailure(exit))
    }))
})

/** The store contract holds with every object cached (overwrites and deletes drop cached parts). */
objectStoreConformance(
  "cached store (everything cacheable)",
  Layer.unwrap(Effect.gen(function*() {
    const folder = yield* tempFolder
    return CachedObjectStore.layer({ rootFolder: folder, partSizeBytes: 4 * KiB, cacheable: () => true })
  })).pipe(Layer.provide(ObjectStore.layerMemory)),
  { manyPagesCount: 50 }
)
