/**
 * A database over the disk cache (`CachedObjectStore`): SSTs the flusher uploads are cached (`cachePuts`),
 * so after a restart point reads and scans of them cost no SST request; a fresh cache set to preload fills
 * itself with the manifest's SSTs while the database opens. Point reads of a cold SST over an uncached store
 * cost one GET per block once the SST's metadata (index, filter) is in memory.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Db } from "../../src/db/Db.ts"
import { CachedObjectStore, type CachedObjectStoreOptions } from "../../src/objectstore/CachedObjectStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { ObjectStoreCache } from "../../src/objectstore/ObjectStoreCache.ts"
import { b, ND, openOn, s, testSettings } from "./fixtures.ts"

/** Counts SST reads (HEAD, GET, ranged GET of `*.sst`) that reach `inner`. */
const countingSstReads = (inner: ObjectStore["Service"]) => {
  const counts = { sstReads: 0, sstGets: 0 }
  const count = (p: string, get: boolean) => {
    if (p.endsWith(".sst")) {
      counts.sstReads++
      if (get) counts.sstGets++
    }
  }
  const store = ObjectStore.of({
    ...inner,
    head: (p) => Effect.suspend(() => (count(p, false), inner.head(p))),
    get: (p) => Effect.suspend(() => (count(p, true), inner.get(p))),
    getRange: (p, r) => Effect.suspend(() => (count(p, true), inner.getRange(p, r)))
  })
  return { store, counts }
}

const tempFolder = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "shale-db-cache-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Opens a database over `store`, cached in `folder` when `cache` is given, in a scope of its own. */
const open = (store: ObjectStore["Service"], cache: CachedObjectStoreOptions | undefined) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const base = Layer.succeed(ObjectStore, store)
    const stores = cache === undefined ? base : CachedObjectStore.layer(cache).pipe(Layer.provideMerge(base))
    const layer = Layer.merge(Db.layer({ path: "db", settings: testSettings }), stores).pipe(Layer.provide(stores))
    const context = yield* Layer.buildWithScope(layer, scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const cacheService = cache === undefined ? undefined : Context.get(context as unknown as Context.Context<ObjectStoreCache>, ObjectStoreCache)
    return { db: Context.get(context, Db), cache: cacheService, close: Scope.close(scope, Exit.void) }
  })

const key = (i: number) => b(`key${String(i).padStart(8, "0")}`)
const value = (i: number) => b(`value-${i}-${"v".repeat(100)}`)
const N = 4000

/** N rows in two L0 SSTs. */
const fill = (db: Db["Service"]) =>
  Effect.gen(function*() {
    for (let i = 0; i < N; i++) {
      yield* db.put(key(i), value(i), ND)
      if (i === N / 2) yield* db.flush({ type: "memtable" })
    }
    yield* db.flush({ type: "memtable" })
  })

/** A store holding a database with N rows in two L0 SSTs (written without a cache), counting SST reads. */
const written = Effect.gen(function*() {
  const memory = makeMemory()
  const writer = yield* open(memory, undefined)
  yield* fill(writer.db)
  yield* writer.close
  return countingSstReads(memory)
})

describe("Db over the disk cache", () => {
  it.effect("SSTs uploaded with cachePuts are read from disk after a restart: no SST request", () =>
    Effect.gen(function*() {
      const folder = yield* tempFolder
      const { store, counts } = countingSstReads(makeMemory())
      const options = { rootFolder: folder, partSizeBytes: 64 * 1024, cachePuts: true }
      const first = yield* open(store, options)
      yield* fill(first.db)
      yield* first.close
      const before = counts.sstReads
      const { db, cache } = yield* open(store, options)
      for (let i = 0; i < N; i += 101) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      const rows = yield* Stream.runCount(db.scan({}))
      assert.strictEqual(rows, N)
      // Only the WAL SSTs (none left to replay once flushed) and the HEADs of SSTs never read before.
      const stats = yield* cache!.stats
      assert.strictEqual(stats.innerGets, 0, "no GET of an SST reached the store")
      assert.isAtMost(counts.sstReads - before, 2, "at most a HEAD per L0 SST")
    }))

  it.effect("Settings.objectStoreCache (SlateDB's object_store_cache_options) turns the cache on for a writer", () =>
    Effect.gen(function*() {
      const folder = yield* tempFolder
      const { store, counts } = countingSstReads(makeMemory())
      const settings = { objectStoreCache: { rootFolder: folder, partSizeBytes: 64 * 1024, cachePuts: true } }
      const first = yield* openOn(store, { settings })
      yield* fill(first.db)
      yield* Scope.close(first.scope, Exit.void)
      const before = counts.sstGets
      const { db } = yield* openOn(store, { settings })
      for (let i = 0; i < N; i += 101) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      assert.strictEqual(yield* Stream.runCount(db.scan({})), N)
      assert.strictEqual(counts.sstGets, before, "every SST byte came from the cache folder")
      // Without the setting the same reads go to the store.
      const { db: uncached } = yield* openOn(store)
      yield* uncached.get(key(0))
      assert.isAbove(counts.sstGets, before)
    }))

  it.effect("preload on startup fills a fresh cache with the manifest's SSTs; reads then cost no SST request", () =>
    Effect.gen(function*() {
      const { store, counts } = yield* written
      const folder = yield* tempFolder
      const { db, cache } = yield* open(store, { rootFolder: folder, partSizeBytes: 64 * 1024, preloadOnStartup: "all" })
      const afterOpen = counts.sstReads
      assert.isAbove((yield* cache!.stats).files, 2)
      for (let i = 0; i < N; i += 101) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      assert.strictEqual(counts.sstReads, afterOpen)
    }))

  it.effect("point reads of a cold SST with its metadata in memory: one GET per SST they must read", () =>
    Effect.gen(function*() {
      const { store, counts } = yield* written
      const { db } = yield* open(store, undefined)
      // The first read opens both L0 SSTs (HEAD + one GET of index and filter each) and reads one block.
      yield* db.get(key(0))
      // Keys far apart, so no two share a block: each read of a key in the older SST costs one GET; the
      // newer SST's filter says the key is absent, so it is not read.
      const spread = [37, 611, 1222, 1801]
      const before = counts.sstReads
      for (const i of spread) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      assert.strictEqual(counts.sstReads - before, spread.length)
      // In the newer SST (the oldest one is then not asked).
      const newer = [2100, 2700, 3300, 3900]
      const mid = counts.sstReads
      for (const i of newer) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      assert.strictEqual(counts.sstReads - mid, newer.length)
      // Absent keys inside the bounds: the filters answer, no GET (a false positive would cost one).
      const absentBefore = counts.sstReads
      for (let i = 0; i < 20; i++) assert.strictEqual(yield* db.get(b(`key${String(i * 97).padStart(8, "0")}x`)), undefined)
      assert.isAtMost(counts.sstReads - absentBefore, 1)
    }))
})
