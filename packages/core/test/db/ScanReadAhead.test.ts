/**
 * Scans fetch ahead (sst/SsTableScan.ts): over a store that answers every read after 20 ms, a 10k-row scan
 * of a cold SST with the default read-ahead (pages growing to 16 blocks, 4 requests in flight) runs several
 * times faster than SlateDB's default (`readAheadBytes: 1`, `maxFetchTasks: 1`: one block per round trip),
 * and `maxFetchTasks` bounds the requests in flight. Blocks already in the block cache (point reads) do not
 * split a page into several requests. The rows are the same every way. A scan its consumer stops early
 * reads little more than it used: the first pulls emit few rows (16, 32, ...) and fetching ahead starts one
 * page at a time. A scan over several SSTs fetches their first blocks at once, not one round trip per SST.
 * A scan caches the blocks of the database's small sources only, unless it says (`cacheBlocks`, SlateDB's
 * `cache_blocks`: false caches nothing, true everything).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Stream } from "effect"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, ND, openOn, s } from "./fixtures.ts"

const LATENCY_MS = 20

/** Delays every ranged GET by `LATENCY_MS` (real time); counts requests and the most in flight at once. */
const slowStore = (inner: ObjectStore["Service"]) => {
  const stats = { getRanges: 0, inFlight: 0, maxInFlight: 0 }
  const store = ObjectStore.of({
    ...inner,
    getRange: (p, r) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          stats.getRanges++
          stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight)
        }),
        () => Effect.andThen(Effect.sleep(`${LATENCY_MS} millis`), inner.getRange(p, r)),
        () => Effect.sync(() => void stats.inFlight--)
      )
  })
  return { store, stats }
}

const N = 10_000
const key = (i: number) => b(`key${String(i).padStart(8, "0")}`)
const value = (i: number) => b(`value-${i}-${"v".repeat(100)}`)

describe("Db scans fetch ahead", () => {
  it.live("cacheBlocks: by default a scan caches the blocks of the database's small sources only; false: none; true: all", () =>
    Effect.gen(function*() {
      const memory = makeMemory()
      const settings = { blockSize: 16 * 1024 } as const
      const writer = yield* openOn(memory, { settings })
      for (let i = 0; i < 2000; i++) yield* writer.db.put(key(i), value(i), ND)
      yield* writer.db.flush({ type: "memtable" }) // one L0 SST of ~250 KB
      yield* writer.db.close
      const { store, stats } = slowStore(memory)
      /** A fresh database on `store` (its own block cache) whose SST's handle is open. */
      const reopen = (blockCacheBytes?: number) =>
        Effect.gen(function*() {
          const { db } = yield* openOn(store, { settings: blockCacheBytes === undefined ? settings : { ...settings, blockCacheBytes } })
          assert.strictEqual(s(yield* db.get(key(1000))), s(value(1000)))
          return db
        })
      const requestsOf = (db: Effect.Success<ReturnType<typeof reopen>>, options: { readonly cacheBlocks?: boolean }) =>
        Effect.gen(function*() {
          const before = stats.getRanges
          const rows = yield* Stream.runCollect(db.scan({}, options))
          assert.strictEqual(rows.length, 2000)
          return stats.getRanges - before
        })
      // The default 64 MiB cache: the SST is among the sources that together fit in a quarter of it.
      const small = yield* reopen()
      const first = yield* requestsOf(small, {})
      assert.isAbove(first, 0)
      assert.strictEqual(yield* requestsOf(small, {}), 0, "by default a small source's blocks are cached")
      // `cacheBlocks: false` caches nothing, `true` everything, whatever the sources' sizes.
      const asked = yield* reopen()
      assert.strictEqual(yield* requestsOf(asked, { cacheBlocks: false }), first)
      assert.strictEqual(yield* requestsOf(asked, { cacheBlocks: false }), first, "cacheBlocks false: nothing cached")
      assert.strictEqual(yield* requestsOf(asked, { cacheBlocks: true }), first)
      assert.strictEqual(yield* requestsOf(asked, {}), 0, "after a scan with cacheBlocks, every block it read is cached")
      // A 512 KiB cache: the SST is more than a quarter of it, so a default scan leaves the cache alone.
      const large = yield* reopen(512 * 1024)
      assert.strictEqual(yield* requestsOf(large, {}), first)
      assert.strictEqual(yield* requestsOf(large, {}), first, "by default a large source's blocks are not cached")
      assert.strictEqual(yield* requestsOf(large, { cacheBlocks: true }), first)
      assert.strictEqual(yield* requestsOf(large, {}), 0, "cacheBlocks true caches it all the same")
    }))

  it.live("by default a scan caches the smallest sources that together fit in a quarter of the cache, not the others", () =>
    Effect.gen(function*() {
      const memory = makeMemory()
      const settings = { blockSize: 16 * 1024 } as const
      const writer = yield* openOn(memory, { settings })
      // Two L0 SSTs over disjoint keys: ~250 KB (keys 0-1999), then ~60 KB (keys 5000-5499).
      for (let i = 0; i < 2000; i++) yield* writer.db.put(key(i), value(i), ND)
      yield* writer.db.flush({ type: "memtable" })
      for (let i = 5000; i < 5500; i++) yield* writer.db.put(key(i), value(i), ND)
      yield* writer.db.flush({ type: "memtable" })
      yield* writer.db.close
      const { store, stats } = slowStore(memory)
      // A 512 KiB cache: a quarter (128 KiB) holds the small SST, not the large one.
      const { db } = yield* openOn(store, { settings: { ...settings, blockCacheBytes: 512 * 1024 } })
      const requestsOf = (range: { readonly start?: Uint8Array; readonly end?: Uint8Array }, rows: number) =>
        Effect.gen(function*() {
          const before = stats.getRanges
          assert.strictEqual((yield* Stream.runCollect(db.scan(range))).length, rows)
          return stats.getRanges - before
        })
      assert.isAbove(yield* requestsOf({}, 2500), 0)
      assert.strictEqual(yield* requestsOf({ start: key(5000) }, 500), 0, "the small SST's blocks were cached")
      const large = yield* requestsOf({ end: key(2000) }, 2000)
      assert.isAbove(large, 0, "the large SST's were not")
      assert.strictEqual(yield* requestsOf({ end: key(2000) }, 2000), large)
    }))

  it.live("a 10k-row scan of a cold SST: ≥ 3x faster than one block per round trip; maxFetchTasks bounds the requests in flight", () =>
    Effect.gen(function*() {
      const memory = makeMemory()
      // 16 KiB blocks: ~80 blocks, so that the slow way takes ~1.6 s rather than ~6 s.
      const settings = { blockSize: 16 * 1024 } as const
      const writer = yield* openOn(memory, { settings })
      for (let i = 0; i < N; i++) yield* writer.db.put(key(i), value(i), ND)
      yield* writer.db.flush({ type: "memtable" })
      yield* writer.db.close
      const { store, stats } = slowStore(memory)
      const { db } = yield* openOn(store, { settings })
      // Opens the SST's handle, and leaves scattered blocks in the block cache, as point reads would: a
      // page with cached blocks inside is still one request (no request per hole).
      for (let i = 5; i < N; i += 700) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))

      const timed = (options: { readonly readAheadBytes?: number; readonly maxFetchTasks?: number }) =>
        Effect.gen(function*() {
          stats.maxInFlight = 0
          const requests = stats.getRanges
          const t0 = yield* Clock.currentTimeMillis
          // Every scan reads the SST cold (by default its blocks, a small source's, would stay cached).
          const rows = yield* Stream.runCollect(db.scan({}, { ...options, cacheBlocks: false }))
          const ms = (yield* Clock.currentTimeMillis) - t0
          assert.strictEqual(rows.length, N)
          assert.strictEqual(s(rows[N - 1]!.key), s(key(N - 1)))
          return { ms, requests: stats.getRanges - requests, maxInFlight: stats.maxInFlight }
        })

      const slow = yield* timed({ readAheadBytes: 1, maxFetchTasks: 1 })
      const sequential = yield* timed({ maxFetchTasks: 1 })
      const ahead = yield* timed({})
      const wide = yield* timed({ readAheadBytes: 256 * 1024, maxFetchTasks: 8 })
      yield* Effect.log(`10k-row scan at ${LATENCY_MS} ms per read: ${JSON.stringify({ slow, sequential, ahead, wide })}`)
      assert.strictEqual(slow.maxInFlight, 1)
      assert.strictEqual(sequential.maxInFlight, 1)
      assert.strictEqual(ahead.maxInFlight, 4)
      assert.isAtMost(wide.maxInFlight, 8)
      assert.isAbove(slow.requests, 60, "one block per request")
      assert.isAtMost(ahead.requests, 12, "pages of up to 16 blocks")
      assert.isAtLeast(slow.ms / ahead.ms, 3)
      assert.isBelow(ahead.ms, sequential.ms)
    }), 60_000)

  it.effect("a scan stopped after 20 or 100 rows reads about the blocks those rows are in, not 256 rows' worth", () =>
    Effect.gen(function*() {
      const memory = makeMemory()
      // 4 KiB blocks of ~30 rows.
      const writer = yield* openOn(memory, {})
      for (let i = 0; i < N; i++) yield* writer.db.put(key(i), value(i), ND)
      yield* writer.db.flush({ type: "memtable" })
      yield* writer.db.close
      const stats = { getRanges: 0, bytes: 0 }
      const counted = ObjectStore.of({
        ...memory,
        getRange: (p, r) =>
          Effect.tap(memory.getRange(p, r), (bytes) =>
            Effect.sync(() => {
              if (!p.endsWith(".sst") || bytes.length > 64 * 1024) return
              stats.getRanges++
              stats.bytes += bytes.length
            }))
      })
      const { db } = yield* openOn(counted, {})
      // Opens the SST's handle (index, filter) with one get far from the scans.
      assert.strictEqual(s(yield* db.get(key(N - 1))), s(value(N - 1)))
      const scanned = (start: number, rows: number) =>
        Effect.gen(function*() {
          const before = { ...stats }
          const got = yield* Stream.runCollect(Stream.take(db.scan({ start: key(start) }), rows))
          assert.deepStrictEqual(got.map((kv) => s(kv.key)), Array.from({ length: rows }, (_, i) => s(key(start + i))))
          return { requests: stats.getRanges - before.getRanges, blocks: (stats.bytes - before.bytes) / 4096 }
        })
      const twenty = yield* scanned(1000, 20)
      const hundred = yield* scanned(5000, 100)
      yield* Effect.log(`blocks read: 20 rows ${JSON.stringify(twenty)}, 100 rows ${JSON.stringify(hundred)}`)
      // 20 rows: 16 + 32 merged, in the first page (1 block) and the second (2 blocks).
      assert.isAtMost(twenty.requests, 2)
      assert.isAtMost(twenty.blocks, 3.5)
      // 100 rows: 16 + 32 + 64 merged: pages of 1, 2 and 4 blocks (256 rows were 9 blocks, 4-6 requests).
      assert.isAtMost(hundred.requests, 3)
      assert.isAtMost(hundred.blocks, 7.5)
    }))

  it.live("a scan over four L0 SSTs fetches their first blocks at once", () =>
    Effect.gen(function*() {
      const memory = makeMemory()
      const writer = yield* openOn(memory, {})
      // Four SSTs with interleaved keys: the first rows of the scan come from all four.
      for (let j = 0; j < 4; j++) {
        for (let i = j; i < 4000; i += 4) yield* writer.db.put(key(i), value(i), ND)
        yield* writer.db.flush({ type: "memtable" })
      }
      yield* writer.db.close
      const { store, stats } = slowStore(memory)
      const { db } = yield* openOn(store, {})
      // Opens the four handles (one get each side of the scans' keys).
      for (const i of [3996, 3997, 3998, 3999]) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      stats.maxInFlight = 0
      const requests = stats.getRanges
      const t0 = yield* Clock.currentTimeMillis
      const got = yield* Stream.runCollect(Stream.take(db.scan({ start: key(1000) }), 10))
      const ms = (yield* Clock.currentTimeMillis) - t0
      assert.deepStrictEqual(got.map((kv) => s(kv.key)), Array.from({ length: 10 }, (_, i) => s(key(1000 + i))))
      yield* Effect.log(`10 rows over 4 SSTs: ${stats.getRanges - requests} requests, ${stats.maxInFlight} at once, ${ms} ms`)
      // One after the other, the four first blocks were four round trips with one request in flight.
      assert.strictEqual(stats.getRanges - requests, 4)
      assert.strictEqual(stats.maxInFlight, 4)
    }))
})
