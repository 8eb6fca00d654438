/**
 * The SST reader's requests and its block cache: open's requests, point lookups through the cache and
 * scans' read-ahead, point reads' own read-ahead (in key order, in any order, a key equal to its block's
 * index key, a key whose versions span many blocks), and lookups without I/O (`getIfCached`) with SSTs
 * opened from bytes in memory.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import type { Block } from "../../src/format/Block.ts"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeValue, type RowEntry } from "../../src/format/RowEntry.ts"
import { buildSsTable, buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { LruBlockCache } from "../../src/sst/BlockCache.ts"
import { type SstBlockCache, SsTableReader } from "../../src/sst/SsTableReader.ts"
import { hex, plain, text, w1Key } from "../format/fixtures.ts"
import { countingStore, failureOf, modelGet, putAndOpen, scanAll } from "./readerFixtures.ts"

describe("reader requests and the block cache", () => {
  const rows = Array.from({ length: 5000 }, (_, i) => makeValue(w1Key(i), new Uint8Array(100).fill(7), i + 1))
  const { bytes } = buildSsTable(rows)

  it.effect("open = HEAD + 1 GET (or 1 GET with a known size); metadata larger than the read adds 1 GET", () => {
    const { counts, layer } = countingStore()
    return Effect.gen(function*() {
      const store = yield* ObjectStore
      yield* store.put("big.sst", bytes)
      const small = buildSsTable(rows.slice(0, 50)).bytes
      yield* store.put("small.sst", small)
      yield* SsTableReader.open("small.sst")
      assert.deepStrictEqual(counts, { head: 1, get: 0, getRange: 1 })
      yield* SsTableReader.open("small.sst", { size: small.length })
      assert.deepStrictEqual(counts, { head: 1, get: 0, getRange: 2 })
      // 5000 rows: filter 6 KiB + index > 8 KiB; a 4 KiB tail read needs one more GET for both
      const r = yield* SsTableReader.open("big.sst", { size: bytes.length, footerReadSize: 4096 })
      assert.deepStrictEqual(counts, { head: 1, get: 0, getRange: 4 })
      assert.isDefined(r.filter)
    }).pipe(Effect.provide(layer))
  })

  it.effect("point lookups hit the block cache; scans read ahead, one block first and up to readAheadBlocks per GET", () => {
    const { counts, layer } = countingStore()
    return Effect.gen(function*() {
      const store = yield* ObjectStore
      yield* store.put("c.sst", bytes)
      const map = new Map<string, Block>()
      let bytesCached = 0
      const cache: SstBlockCache = {
        table: (path) => ({
          get: (i) => map.get(`${path}#${i}`),
          set: (i, b, n) => {
            map.set(`${path}#${i}`, b)
            bytesCached += n
          }
        })
      }
      const r = yield* SsTableReader.open("c.sst", { size: bytes.length, cache })
      const before = counts.getRange
      assert.strictEqual((yield* r.get(w1Key(1234)))!.seq, 1235)
      assert.strictEqual(counts.getRange, before + 1)
      assert.strictEqual((yield* r.get(w1Key(1235)))!.seq, 1236)
      assert.strictEqual(counts.getRange, before + 1, "same block: served from the cache")
      assert.isAbove(bytesCached, 0)
      assert.strictEqual(yield* r.get(text("key-absent")), undefined)
      assert.strictEqual(counts.getRange, before + 1, "bloom filter negative: no read")
      // The engine's LRU cache plugs in as it is.
      const lru = new LruBlockCache(1 << 20)
      const r3 = yield* SsTableReader.open("c.sst", { size: bytes.length, cache: lru })
      assert.strictEqual((yield* r3.get(w1Key(4000)))!.seq, 4001)
      assert.strictEqual((yield* r3.get(w1Key(4001)))!.seq, 4002)
      assert.deepInclude(lru.stats(), { hits: 1, entries: 1 })
      const r2 = yield* SsTableReader.open("c.sst", { size: bytes.length, readAheadBlocks: 32 })
      const n0 = counts.getRange
      assert.strictEqual((yield* scanAll(r2)).length, rows.length)
      // One block first, then twice as many per GET up to 32: 1, 2, 4, 8, 16, 32, 32, ...
      let expected = 0
      for (let covered = 0, width = 1; covered < r2.numBlocks; width = Math.min(32, 2 * width)) {
        covered += width
        expected++
      }
      assert.isAbove(r2.numBlocks, 100)
      assert.strictEqual(counts.getRange - n0, expected)
    }).pipe(Effect.provide(layer))
  })
})

describe("point reads' read-ahead", () => {
  const rows = Array.from({ length: 5000 }, (_, i) => makeValue(w1Key(i), new Uint8Array(100).fill(7), i + 1))
  const { bytes } = buildSsTable(rows)

  const readsFor = (
    order: ReadonlyArray<number>,
    options: { readonly cache: boolean; readonly readAheadBlocks?: number; readonly via?: "getNow" }
  ) => {
    const { counts, layer } = countingStore()
    return Effect.gen(function*() {
      const store = yield* ObjectStore
      yield* store.put("c.sst", bytes)
      const r = yield* SsTableReader.open("c.sst", {
        size: bytes.length,
        ...(options.cache ? { cache: new LruBlockCache(1 << 26) } : {}),
        ...(options.readAheadBlocks === undefined ? {} : { readAheadBlocks: options.readAheadBlocks })
      })
      const before = counts.getRange
      for (const i of order) {
        // As the read path asks: without I/O first (`getNow`: this store cannot read on the calling thread),
        // then `get`; the first ask must not disturb the read-ahead `get` keeps.
        const now = options.via === "getNow" ? r.getNow(w1Key(i)) : "miss"
        const row = now === "miss" ? yield* r.get(w1Key(i)) : now
        assert.strictEqual(row!.seq, i + 1)
      }
      return { reads: counts.getRange - before, blocks: r.numBlocks }
    }).pipe(Effect.provide(layer))
  }

  it.effect("gets in key order fetch a growing run of blocks per request (1, 2, 4, ... up to readAheadBlocks)", () =>
    Effect.gen(function*() {
      const inOrder = rows.map((_, i) => i)
      const { reads, blocks } = yield* readsFor(inOrder, { cache: true })
      // 1 + 2 + 4 + 8 blocks, then 16 per request.
      assert.isAbove(blocks, 100)
      assert.strictEqual(reads, 4 + Math.ceil((blocks - 15) / 16))
      const capped = yield* readsFor(inOrder, { cache: true, readAheadBlocks: 4 })
      assert.strictEqual(capped.reads, 2 + Math.ceil((blocks - 3) / 4))
      const none = yield* readsFor(inOrder, { cache: true, readAheadBlocks: 1 })
      assert.strictEqual(none.reads, blocks)
      const viaGetNow = yield* readsFor(inOrder, { cache: true, via: "getNow" })
      assert.strictEqual(viaGetNow.reads, reads)
    }))

  it.effect("gets in any other order, or without a block cache, fetch one block per miss", () =>
    Effect.gen(function*() {
      // Every 97th key, from the end: each get needs a block no earlier get fetched.
      const scattered = Array.from({ length: 50 }, (_, j) => 4999 - 97 * j)
      const { reads } = yield* readsFor(scattered, { cache: true })
      assert.strictEqual(reads, 50)
      const noCache = yield* readsFor(rows.map((_, i) => i).slice(0, 300), { cache: false })
      // (A few keys equal their block's separator and also read the block before: more than 300.)
      assert.isAtLeast(noCache.reads, 300, "without a cache every get reads its block(s), in order or not")
    }))

  it.effect("a key equal to its block's index key: that block and the one before in one request", () =>
    Effect.gen(function*() {
      // SlateDB's index key is a block's whole first key when it differs from the previous block's last key
      // only in its last byte; its versions may then start in the block before, which the get must read too.
      const r = yield* putAndOpen("c.sst", bytes).pipe(Effect.provide(countingStore().layer))
      const whole = r.blockMeta.flatMap((m, b) => {
        const i = rows.findIndex((row) => compareKeys(row.key, m.firstKey) === 0)
        return b > 0 && i >= 0 ? [i] : []
      })
      assert.isAtLeast(whole.length, 20)
      // Far apart, so that no get finds a block an earlier one fetched.
      const spread = whole.filter((_, j) => j % 4 === 0)
      const viaGet = yield* readsFor(spread, { cache: true })
      assert.strictEqual(viaGet.reads, spread.length, "one request per get, not two")
      const viaGetNow = yield* readsFor(spread, { cache: true, via: "getNow" })
      assert.strictEqual(viaGetNow.reads, spread.length)
    }))

  it.effect("a key whose versions span many blocks: its first read fetches two blocks, not all of them", () => {
    const hot = text("key-hot")
    const many = [
      makeValue(text("key-a"), new Uint8Array(100), 1),
      ...Array.from({ length: 400 }, (_, v) => makeValue(hot, new Uint8Array(100).fill(v % 256), 1000 - v)),
      makeValue(text("key-z"), new Uint8Array(100), 2)
    ]
    const sst = buildSsTable(many).bytes
    const inner = makeMemory()
    const ranges: Array<number> = []
    const store = ObjectStore.of({
      ...inner,
      getRange: (p, r) => Effect.map(inner.getRange(p, r), (b) => (ranges.push(b.length), b))
    })
    return Effect.gen(function*() {
      const r = yield* putAndOpen("hot.sst", sst, { size: sst.length, cache: new LruBlockCache(1 << 26) })
      assert.isAbove(r.numBlocks, 8)
      ranges.length = 0
      assert.strictEqual((yield* r.get(hot))!.seq, 1000)
      assert.strictEqual(ranges.length, 1)
      assert.isBelow(ranges[0]!, 2 * 4096 + 100, "the block where its versions start and the next one")
      assert.strictEqual((yield* r.get(hot, 700))!.seq, 700, "older versions further on are still found")
    }).pipe(Effect.provide(Layer.succeed(ObjectStore, store)))
  })
})

describe("point lookups without I/O (getIfCached) and SSTs opened from bytes in memory", () => {
  const rows = Array.from({ length: 5000 }, (_, i) => makeValue(w1Key(i), text(`value-${i}`), i + 1, 7))
  const { bytes } = buildSsTable(rows)

  it.effect("getIfCached: \"miss\" until the blocks are cached, then the row get returns; bounds answer at once", () => {
    const { counts, layer } = countingStore()
    return Effect.gen(function*() {
      const lru = new LruBlockCache(1 << 24)
      const r = yield* putAndOpen("c.sst", bytes, { size: bytes.length, cache: lru })
      assert.strictEqual(r.getIfCached(w1Key(1234)), "miss")
      const viaGet = yield* r.get(w1Key(1234))
      assert.deepStrictEqual(plain(r.getIfCached(w1Key(1234)) as RowEntry), plain(viaGet!))
      assert.deepStrictEqual(plain(r.getIfCached(w1Key(1235)) as RowEntry), plain(rows[1235]!), "same block")
      assert.strictEqual(r.getIfCached(w1Key(1234), 1234), undefined, "only seq 1235 exists")
      assert.strictEqual(r.getIfCached(text("key-absent")), undefined, "below the first key")
      assert.strictEqual(r.getIfCached(text("zzz")), undefined, "above the last key")
      // Absent keys inside the bounds, blocks not cached: the bloom filter answers before any read; only
      // its false positives (~1% at 10 bits per key) need a block.
      const absent = Array.from({ length: 200 }, (_, i) => text(`key${String(i * 17).padStart(13, "0")}x`))
      const uncached = absent.filter((k) => r.getIfCached(k) === "miss").length
      assert.isAtMost(uncached, 10, "bloom negatives answer without the block")
      // As the last source (the filter deferred until a block must be read): the same answers.
      assert.strictEqual(absent.filter((k) => r.getIfCached(k, undefined, true) === "miss").length, uncached)
      const before = counts.getRange
      for (const k of absent) assert.strictEqual(yield* r.get(k), undefined)
      assert.isAtMost(counts.getRange - before, uncached, "a read only for a filter false positive")
      const reads = counts.getRange
      // With the blocks cached, the blocks answer (the filter is not needed to avoid a read).
      yield* r.cacheBlocksFrom(bytes)
      for (let i = 0; i < 200; i++) {
        assert.strictEqual(r.getIfCached(text(`key${String(i * 17).padStart(13, "0")}x`)), undefined)
        assert.strictEqual(r.getIfCached(text(`key${String(i * 17).padStart(13, "0")}x`), undefined, true), undefined)
      }
      for (let i = 0; i < rows.length; i += 37) {
        assert.deepStrictEqual(plain(r.getIfCached(rows[i]!.key) as RowEntry), plain(rows[i]!))
        assert.deepStrictEqual(plain(r.getIfCached(rows[i]!.key, undefined, true) as RowEntry), plain(rows[i]!))
      }
      assert.strictEqual(counts.getRange, reads, "no I/O")
    }).pipe(Effect.provide(layer))
  })

  it.effect("getIfCached is \"miss\" without a cache and for WAL SSTs; empty SSTs answer undefined", () =>
    Effect.gen(function*() {
      const plainReader = yield* putAndOpen("n.sst", bytes)
      assert.strictEqual(plainReader.getIfCached(w1Key(1)), "miss")
      const wal = buildWalSsTable([makeValue(text("k"), text("v"), 1)]).bytes
      const walReader = yield* putAndOpen("w.sst", wal, { cache: new LruBlockCache(1 << 20) })
      assert.strictEqual(walReader.getIfCached(text("k")), "miss")
      assert.strictEqual((yield* walReader.get(text("k")))?.seq, 1)
      const empty = yield* putAndOpen("e.sst", buildSsTable([]).bytes, { cache: new LruBlockCache(1 << 20) })
      assert.strictEqual(empty.getIfCached(text("k")), undefined)
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("a corrupt cached block: getIfCached says \"miss\", get fails with DataError naming the block", () =>
    Effect.gen(function*() {
      const lru = new LruBlockCache(1 << 24)
      const r = yield* putAndOpen("x.sst", bytes, { cache: lru })
      yield* r.cacheBlocksFrom(bytes)
      const i = 10
      const block = lru.table<Block>("x.sst").get(i)!
      const probe = rows.find((row) => compareKeys(row.key, r.blockMeta[i + 1]!.firstKey) < 0 &&
        compareKeys(row.key, r.blockMeta[i]!.firstKey) > 0)!
      block.bytes[0] = 0x05 // the block's first row (a restart) now claims to share 5 bytes
      assert.strictEqual(r.getIfCached(probe.key), "miss")
      const err = failureOf(yield* Effect.exit(r.get(probe.key))) as DataError
      assert.instanceOf(err, DataError)
      assert.strictEqual(err.section, `block ${i}`)
      assert.strictEqual(err.object, "x.sst")
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("open({ bytes }) reads nothing from the store and equals a store open; cacheBlocksFrom caches every block", () => {
    const { counts, layer } = countingStore()
    return Effect.gen(function*() {
      const lru = new LruBlockCache(1 << 24)
      const fromBytes = yield* SsTableReader.open("m.sst", { bytes, cache: lru })
      assert.deepStrictEqual(counts, { head: 0, get: 0, getRange: 0 })
      const store = yield* ObjectStore
      yield* store.put("m.sst", bytes)
      const fromStore = yield* SsTableReader.open("m.sst")
      assert.deepStrictEqual(fromBytes.info, fromStore.info)
      assert.deepStrictEqual(fromBytes.blockMeta, fromStore.blockMeta)
      assert.deepStrictEqual(fromBytes.filter, fromStore.filter)
      const before = counts.getRange
      yield* fromBytes.cacheBlocksFrom(bytes)
      assert.strictEqual(lru.size, fromBytes.numBlocks)
      for (let i = 0; i < rows.length; i += 13) assert.deepStrictEqual(plain((yield* fromBytes.get(rows[i]!.key))!), plain(rows[i]!))
      assert.strictEqual(counts.getRange, before, "every block was cached")
      // The cached blocks are copies: they do not keep the object's bytes alive.
      const block = lru.table<Block>("m.sst").get(0)!
      assert.notStrictEqual(block.bytes.buffer, bytes.buffer)
      const wrong = failureOf(yield* Effect.exit(fromBytes.cacheBlocksFrom(bytes.subarray(1))))
      assert.instanceOf(wrong, DataError)
    }).pipe(Effect.provide(layer))
  })

  it.effect("get, getIfCached and scan bounds match the model for keys sharing long prefixes, of any length (fast-check)", () =>
    Effect.gen(function*() {
      // Keys = a common prefix + a short tail (possibly empty, possibly with 0x00 bytes), so that the index
      // search's 6-byte words tie, pad and differ in every way; probes include absent keys.
      const arbKey = fc.tuple(fc.constantFrom("", "p", "prefix/0123456789/"), fc.uint8Array({ maxLength: 8, min: 0, max: 3 }))
        .map(([p, tail]) => {
          const k = new Uint8Array(p.length + tail.length)
          k.set(text(p), 0)
          k.set(tail, p.length)
          return k
        })
        .filter((k) => k.length > 0)
      const samples = fc.sample(
        fc.tuple(
          fc.uniqueArray(arbKey, { maxLength: 400, selector: hex }),
          fc.array(arbKey, { maxLength: 50 }),
          fc.constantFrom(64, 128, 512),
          fc.boolean()
        ),
        { numRuns: 120, seed: 7 }
      )
      // Half the SSTs have every key under one prefix (the lookup checks it once and skips it after); probes
      // then also include keys shorter than it, differing inside it, and under it.
      const under = (k: Uint8Array) => {
        const out = new Uint8Array(7 + k.length)
        out.set(text("shared/"), 0)
        out.set(k, 7)
        return out
      }
      let n = 0
      for (const [someKeys, someProbes, blockSize, prefixed] of samples) {
        const keys = prefixed ? someKeys.map(under) : someKeys
        const probes = prefixed ? [...someProbes, ...someProbes.map(under), text("shared"), text("shares/x")] : someProbes
        const sorted = [...keys].sort(compareKeys)
        // Two versions of every third key.
        const model: Array<RowEntry> = []
        sorted.forEach((k, i) => {
          model.push(makeValue(k, text(`v${i}`), 2 * i + 2))
          if (i % 3 === 0) model.push(makeValue(k, text(`old${i}`), 2 * i + 1))
        })
        const built = buildSsTable(model, { blockSize, minFilterKeys: 0 }).bytes
        const lru = new LruBlockCache(1 << 24)
        const r = yield* putAndOpen(`p/${n++}.sst`, built, { cache: lru })
        yield* r.cacheBlocksFrom(built)
        for (const k of [...sorted, ...probes]) {
          for (const maxSeq of [Number.MAX_SAFE_INTEGER, 2 * (sorted.findIndex((x) => compareKeys(x, k) === 0)) + 1]) {
            const want = modelGet(model, k, maxSeq)
            const got = yield* r.get(k, maxSeq)
            const now = r.getIfCached(k, maxSeq, k.length % 2 === 0)
            assert.deepStrictEqual(got === undefined ? undefined : plain(got), want === undefined ? undefined : plain(want))
            assert.notStrictEqual(now, "miss")
            assert.deepStrictEqual(now === undefined ? undefined : plain(now as RowEntry), want === undefined ? undefined : plain(want))
          }
        }
        // Scans locate their first and last blocks with the same index search (strict and not).
        for (const k of probes.slice(0, 10)) {
          const from = yield* scanAll(r, { start: k, startInclusive: false })
          assert.deepStrictEqual(from.map(plain), model.filter((x) => compareKeys(x.key, k) > 0).map(plain))
          const upTo = yield* scanAll(r, { end: k, endInclusive: false, descending: true })
          assert.deepStrictEqual(upTo.map(plain), model.filter((x) => compareKeys(x.key, k) < 0).reverse().map(plain))
        }
      }
    }).pipe(Effect.provide(ObjectStore.layerMemory)))
})
