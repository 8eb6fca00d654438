/**
 * SST builders and reader over the in-memory object store: SlateDB goldens (fence SST, one-row WAL SST),
 * round trips (fast-check) for compacted and WAL SSTs, point lookups across blocks, range scans in both
 * directions, request counts, the block cache hook, size estimates, and corruption of every section.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Stream } from "effect"
import fc from "fast-check"
import { DataError, InvalidError } from "../../src/errors.ts"
import { readU32 } from "../../src/format/BigEndian.ts"
import type { Block } from "../../src/format/Block.ts"
import { crc32 } from "../../src/format/Checksum.ts"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeTombstone, makeValue, type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import { CompressionFormat, SstType } from "../../src/format/SstMetadata.ts"
import {
  buildSsTable,
  buildWalSsTable,
  computeIndexKey,
  concatChunks,
  estimateCompactedSstSize,
  estimateWalSstSize,
  SsTableBuilder
} from "../../src/format/SsTableBuilder.ts"
import { type ScanOptions, type SstBlockCache, SsTableReader } from "../../src/sst/SsTableReader.ts"
import { LruBlockCache } from "../../src/sst/BlockCache.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { arbRow, arbSortedRows, compareRows, hex, plain, text, w1Key } from "./fixtures.ts"

const FENCE_HEX =
  "0c0000000000060008000400060000000400000000000000177e6f0a080000000400040004000000ed606b2a1c00000018001c00000000000400000000000000000000000c001400180000001c000000000000001c00000000000000100000000000000064413efa000000000000002c0002"

/** A memory store that counts requests. */
const countingStore = () => {
  const inner = makeMemory()
  const counts = { head: 0, get: 0, getRange: 0 }
  const store = ObjectStore.of({
    ...inner,
    head: (p) => {
      counts.head++
      return inner.head(p)
    },
    get: (p) => {
      counts.get++
      return inner.get(p)
    },
    getRange: (p, r) => {
      counts.getRange++
      return inner.getRange(p, r)
    }
  })
  return { store, counts, layer: Layer.succeed(ObjectStore, store) }
}

const putAndOpen = (path: string, bytes: Uint8Array, options?: Parameters<typeof SsTableReader.open>[1]) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    yield* store.put(path, bytes)
    return yield* SsTableReader.open(path, options)
  })

const scanAll = (r: SsTableReader, options?: ScanOptions) => Stream.runCollect(r.scan(options))

const codecs = [
  CompressionFormat.None,
  CompressionFormat.Snappy,
  CompressionFormat.Zlib,
  CompressionFormat.Lz4,
  CompressionFormat.Zstd
] as const

/** The newest version of `key` with seq ≤ maxSeq, per the model. */
const modelGet = (rows: ReadonlyArray<RowEntry>, key: Uint8Array, maxSeq: number) =>
  rows.filter((r) => compareKeys(r.key, key) === 0 && r.seq <= maxSeq).sort((a, b) => b.seq - a.seq)[0]

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) assert.fail("expected a failure")
  const err = Cause.squash(exit.cause)
  return err as E
}

describe("SlateDB goldens", () => {
  it.effect("the fence (empty) SST is the 114-byte golden, and reads as empty", () =>
    Effect.gen(function*() {
      const { bytes, table } = buildSsTable([])
      assert.strictEqual(hex(bytes), FENCE_HEX)
      assert.strictEqual(table.info.sstType, SstType.Compacted)
      const r = yield* putAndOpen("wal/00000000000000000001.sst", bytes)
      assert.strictEqual(r.formatVersion, 2)
      assert.strictEqual(r.numBlocks, 0)
      assert.strictEqual(r.info.firstEntry, undefined)
      assert.strictEqual(r.info.indexLen, 28)
      assert.strictEqual(r.info.statsLen, 16)
      assert.deepStrictEqual(yield* scanAll(r), [])
      assert.strictEqual(yield* r.get(text("k")), undefined)
      assert.deepStrictEqual(yield* r.readStats(), {
        numPuts: 0,
        numDeletes: 0,
        numMerges: 0,
        rawKeySize: 0,
        rawValSize: 0,
        blockStats: []
      })
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("the one-row WAL SST: block bytes, CRC, index key, footer", () =>
    Effect.gen(function*() {
      const row = makeValue(text("key1"), text("value1"), 1, 0x1a20e64c38d)
      const { bytes, table } = buildWalSsTable([row])
      const block = "0004066b65793176616c7565310000000000000001" + "04" + "000001a20e64c38d" + "0000" + "0001"
      assert.strictEqual(hex(bytes.subarray(0, block.length / 2)), block)
      assert.strictEqual(hex(bytes.subarray(block.length / 2, block.length / 2 + 4)), "9e00b22f")
      assert.strictEqual(hex(table.blockMeta[0]!.firstKey), "0000000000000001")
      assert.strictEqual(hex(table.info.firstEntry!), "0000000000000001")
      assert.strictEqual(table.info.lastEntry, undefined)
      assert.strictEqual(table.info.sstType, SstType.Wal)
      assert.strictEqual(hex(bytes.subarray(bytes.length - 10)), "00000000000000620002")
      const r = yield* putAndOpen("wal/2.sst", bytes)
      assert.deepStrictEqual((yield* scanAll(r)).map(plain), [plain(row)])
      assert.deepStrictEqual(plain((yield* r.get(text("key1")))!), plain(row))
    }).pipe(Effect.provide(ObjectStore.layerMemory)))
})

describe("compacted SST round trips", () => {
  it.effect("build → open → scan/get equals the rows (fast-check: rows, block size, codec)", () =>
    Effect.gen(function*() {
      const samples = fc.sample(
        fc.tuple(arbSortedRows(400), fc.constantFrom(64, 256, 1024, 4096), fc.constantFrom(...codecs), fc.nat(3)),
        { numRuns: 60, seed: 42 }
      )
      let n = 0
      for (const [rows, blockSize, compression, minFilter] of samples) {
        const minFilterKeys = [0, 10, 1000, 1 << 30][minFilter]!
        const { bytes, table } = buildSsTable(rows, { blockSize, compression, minFilterKeys })
        assert.strictEqual(bytes.length, table.size)
        const r = yield* putAndOpen(`t/${n++}.sst`, bytes, { footerReadSize: [10, 100, 65536][n % 3]! })
        assert.deepStrictEqual((yield* scanAll(r)).map(plain), rows.map(plain))
        assert.strictEqual(r.filter !== undefined, rows.length >= minFilterKeys && rows.length > 0 || (rows.length === 0 && minFilterKeys === 0))
        for (const row of rows) {
          assert.isTrue(r.mightContain(row.key))
          assert.deepStrictEqual(plain((yield* r.get(row.key, row.seq))!), plain(modelGet(rows, row.key, row.seq)!))
        }
        for (const probe of [text("`"), text("e"), text("abca"), text("dddd")]) {
          const want = modelGet(rows, probe, Number.MAX_SAFE_INTEGER)
          const got = yield* r.get(probe)
          assert.deepStrictEqual(got === undefined ? undefined : plain(got), want === undefined ? undefined : plain(want))
        }
        const stats = yield* r.readStats()
        assert.strictEqual(stats!.numPuts, rows.filter((x) => x.kind === RowKind.Value).length)
        assert.strictEqual(stats!.numDeletes, rows.filter((x) => x.kind === RowKind.Tombstone).length)
        assert.strictEqual(stats!.numMerges, rows.filter((x) => x.kind === RowKind.Merge).length)
        assert.strictEqual(stats!.rawKeySize, rows.reduce((s, x) => s + x.key.length, 0))
        assert.strictEqual(stats!.rawValSize, rows.reduce((s, x) => s + x.value.length, 0))
      }
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("range scans, ascending and descending, match the model (fast-check)", () =>
    Effect.gen(function*() {
      const bound = fc.option(fc.uint8Array({ minLength: 1, maxLength: 6, min: 0x60, max: 0x65 }), { nil: undefined })
      const samples = fc.sample(
        fc.tuple(arbSortedRows(300), bound, fc.boolean(), bound, fc.boolean(), fc.boolean(), fc.constantFrom(64, 512)),
        { numRuns: 150, seed: 7 }
      )
      let n = 0
      for (const [rows, start, startInclusive, end, endInclusive, descending, blockSize] of samples) {
        const { bytes } = buildSsTable(rows, { blockSize })
        const r = yield* putAndOpen(`r/${n++}.sst`, bytes, { readAheadBlocks: 1 + (n % 3) })
        const options: ScanOptions = {
          ...(start === undefined ? {} : { start }),
          ...(end === undefined ? {} : { end }),
          startInclusive,
          endInclusive,
          descending
        }
        const inRange = rows.filter((x) => {
          if (start !== undefined) {
            const c = compareKeys(x.key, start)
            if (c < 0 || (c === 0 && !startInclusive)) return false
          }
          if (end !== undefined) {
            const c = compareKeys(x.key, end)
            if (c > 0 || (c === 0 && !endInclusive)) return false
          }
          return true
        })
        const want = descending ? [...inRange].reverse() : inRange
        assert.deepStrictEqual((yield* scanAll(r, options)).map(plain), want.map(plain))
      }
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("versions of one key straddling many blocks: get(key, maxSeq) finds the right one", () =>
    Effect.gen(function*() {
      const rows: Array<RowEntry> = [makeValue(text("a"), text("a"), 1)]
      for (let s = 600; s > 0; s--) rows.push(makeValue(text("key"), text(`v${s}`), s * 2))
      rows.push(makeTombstone(text("key"), 1))
      rows.push(makeValue(text("key0"), text("x"), 5))
      rows.push(makeValue(text("zz"), text("z"), 3))
      const { bytes, table } = buildSsTable(rows, { blockSize: 128 })
      assert.isAbove(table.blockMeta.length, 20)
      // separators between blocks holding only "key" are the full key
      assert.isTrue(table.blockMeta.some((m) => hex(m.firstKey) === hex(text("key"))))
      const r = yield* putAndOpen("v.sst", bytes)
      for (const maxSeq of [1200, 1199, 1000, 777, 500, 3, 2, 1, 0]) {
        const got = yield* r.get(text("key"), maxSeq)
        const want = modelGet(rows, text("key"), maxSeq)
        assert.deepStrictEqual(got === undefined ? undefined : plain(got), want === undefined ? undefined : plain(want), `maxSeq ${maxSeq}`)
      }
      assert.strictEqual((yield* r.get(text("key0")))!.seq, 5)
      assert.strictEqual(yield* r.get(text("ke")), undefined)
      assert.strictEqual(yield* r.get(text("key00")), undefined)
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it("index separators follow SlateDB's compute_index_key", () => {
    assert.strictEqual(hex(computeIndexKey(undefined, text("abc"))), "")
    assert.strictEqual(hex(computeIndexKey(text("abc"), text("abd"))), hex(text("abd")))
    assert.strictEqual(hex(computeIndexKey(text("abc"), text("b"))), hex(text("b")))
    assert.strictEqual(hex(computeIndexKey(text("ab"), text("abcd"))), hex(text("abc")))
    assert.strictEqual(hex(computeIndexKey(text("abc"), text("abc"))), hex(text("abc")))
    assert.strictEqual(hex(computeIndexKey(text("apple"), text("banana"))), hex(text("b")))
  })

  it("streaming: drained chunks ++ finish().chunks = the whole SST", () => {
    const rows = Array.from({ length: 3000 }, (_, i) => makeValue(w1Key(i), new Uint8Array(100).fill(i & 0xff), i + 1))
    const whole = buildSsTable(rows, { compression: CompressionFormat.Lz4 }).bytes
    const b = new SsTableBuilder({ compression: CompressionFormat.Lz4 })
    const chunks: Array<Uint8Array> = []
    for (const [i, r] of rows.entries()) {
      b.add(r)
      if (i % 500 === 0) chunks.push(...b.takeFinishedChunks())
    }
    assert.isAbove(chunks.length, 10)
    chunks.push(...b.finish().chunks)
    assert.strictEqual(hex(concatChunks(chunks)), hex(whole))
  })

  it("add() validates rows and order and leaves the builder usable", () => {
    const b = new SsTableBuilder()
    b.add(makeValue(text("b"), text("1"), 5))
    assert.throws(() => b.add(makeValue(text("a"), text("1"), 5)), InvalidError)
    assert.throws(() => b.add(makeValue(text("b"), text("1"), 6)), InvalidError)
    assert.throws(() => b.add(makeValue(new Uint8Array(0), text("1"), 1)), InvalidError)
    assert.throws(() => b.add(makeValue(new Uint8Array(65536), text("1"), 1)), InvalidError)
    assert.throws(() => b.add(makeValue(text("c"), text("1"), 2 ** 53)), InvalidError)
    assert.throws(() => b.add(makeValue(text("c"), text("1"), 1, 0.5)), InvalidError)
    b.add(makeValue(text("b"), text("0"), 5))
    b.add(makeValue(text("c"), text("1"), 9))
    assert.strictEqual(b.finish().numRows, 3)
    assert.throws(() => new SsTableBuilder({ blockSize: 0 }), InvalidError)
  })
})

describe("WAL SST round trips", () => {
  it.effect("rows in any (insertion) order come back in that order (fast-check)", () =>
    Effect.gen(function*() {
      const samples = fc.sample(
        fc.tuple(fc.array(arbRow, { maxLength: 300 }), fc.constantFrom(64, 1024, 4096), fc.constantFrom(...codecs)),
        { numRuns: 40, seed: 3 }
      )
      let n = 0
      for (const [rows, blockSize, compression] of samples) {
        const { bytes, table } = buildWalSsTable(rows, { blockSize, compression })
        assert.strictEqual(table.info.filterLen, 0)
        assert.strictEqual(table.info.statsLen, 0)
        assert.strictEqual(table.info.filterOffset, table.info.indexOffset)
        const r = yield* putAndOpen(`wal/${n++}.sst`, bytes)
        assert.isTrue(r.isWal)
        assert.deepStrictEqual((yield* scanAll(r)).map(plain), rows.map(plain))
        assert.deepStrictEqual((yield* scanAll(r, { descending: true })).map(plain), [...rows].reverse().map(plain))
        if (rows.length > 0) {
          assert.strictEqual(hex(r.info.firstEntry!), rows[0]!.seq.toString(16).padStart(16, "0"))
          const probe = rows[Math.floor(rows.length / 2)]!
          const want = rows.filter((x) => compareKeys(x.key, probe.key) === 0).sort((a, b) => b.seq - a.seq)[0]!
          assert.strictEqual((yield* r.get(probe.key))!.seq, want.seq)
        }
        assert.strictEqual(yield* r.readStats(), undefined)
      }
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it("index keys are the BE seq of each block's first row", () => {
    const rows = Array.from({ length: 200 }, (_, i) => makeValue(w1Key(199 - i), new Uint8Array(50), 1000 + i))
    const { table } = buildWalSsTable(rows, { blockSize: 1024 })
    assert.isAbove(table.blockMeta.length, 5)
    let expectedSeq = 1000
    for (const m of table.blockMeta) {
      assert.strictEqual(m.firstKey.length, 8)
      const seq = readU32(m.firstKey, 4)
      assert.isAtLeast(seq, expectedSeq)
      expectedSeq = seq + 1
    }
  })
})

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

describe("size estimates (SlateDB estimate_encoded_size_*)", () => {
  it("match the formulas", () => {
    assert.strictEqual(estimateWalSstSize(0, 0), 0)
    assert.strictEqual(estimateCompactedSstSize(0, 0), 0)
    assert.strictEqual(estimateWalSstSize(1, 100), 181)
    assert.strictEqual(estimateCompactedSstSize(1, 100), 233)
    assert.strictEqual(estimateWalSstSize(1000, 100000), 111382)
    assert.strictEqual(estimateCompactedSstSize(1000, 100000), 112794)
    assert.strictEqual(estimateCompactedSstSize(1000, 100000, { minFilterKeys: 2000 }), 112794 - 1256)
  })

  // With the engine's settings given in full (SstSizeOptions), as the memtable, writer and flusher call them.
  const defaults = { blockSize: 4096, minFilterKeys: 1000, filterBitsPerKey: 10 }

  it("are 0 for no rows", () => {
    assert.strictEqual(estimateCompactedSstSize(0, 0, defaults), 0)
    assert.strictEqual(estimateWalSstSize(0, 0, defaults), 0)
  })

  it("compacted, with a bloom filter (n >= min_filter_keys), term by term", () => {
    // n = 1000 rows, Σ estimated_size = 100 000
    // E = 100000 + 9*1000 = 109000; B = ceil(109000/4096) = 27
    // blocks 109000 + 2*1000 + 4*27 = 111108; index 27*12 + 2 + 4 = 330; metadata 12 + 32 + 2 = 46; footer 10
    // filter ceil(1000*10/8) + 2 + 4 = 1256; stats 5*8 + 4 = 44
    assert.strictEqual(estimateCompactedSstSize(1000, 100_000, defaults), 111108 + 330 + 46 + 10 + 1256 + 44)
  })

  it("compacted without a filter below min_filter_keys", () => {
    // n = 999, bytes = 99 900: E = 108891, B = 27; 108891 + 1998 + 108 + 330 + 46 + 10 + 44
    assert.strictEqual(estimateCompactedSstSize(999, 99_900, defaults), 108891 + 1998 + 108 + 330 + 46 + 10 + 44)
  })

  it("WAL: 8-byte first keys, no filter, no stats", () => {
    // E + 2n + 4B + (8B + 2) + 4 + 42 + 10
    assert.strictEqual(estimateWalSstSize(1000, 100_000, defaults), 109000 + 2000 + 108 + (216 + 2) + 4 + 42 + 10)
    assert.strictEqual(estimateWalSstSize(1, 30, defaults), 39 + 2 + 4 + 10 + 4 + 42 + 10)
  })

  it("follow the block size", () => {
    const small = estimateCompactedSstSize(10, 10_000, { ...defaults, blockSize: 1024 })
    const large = estimateCompactedSstSize(10, 10_000, { ...defaults, blockSize: 65536 })
    // E = 10090: 10 blocks of 1 KiB vs 1 of 64 KiB => 9 * (4 + 12) bytes apart
    assert.strictEqual(small - large, 9 * 16)
  })

  it("are in the right ballpark for W1 rows (they assume V0 rows, so they over-estimate V2)", () => {
    const rows = Array.from({ length: 10000 }, (_, i) => makeValue(w1Key(i), new Uint8Array(100), i + 1, 1))
    const entriesSize = rows.reduce((s, r) => s + r.key.length + r.value.length + 16, 0)
    const actualWal = buildWalSsTable(rows).bytes.length
    const actual = buildSsTable(rows).bytes.length
    assert.approximately(estimateWalSstSize(rows.length, entriesSize) / actualWal, 1.1, 0.1)
    assert.approximately(estimateCompactedSstSize(rows.length, entriesSize) / actual, 1.1, 0.1)
  })
})

describe("corruption", () => {
  // 1500 rows: several blocks, a filter, stats.
  const rows = Array.from({ length: 1500 }, (_, i) =>
    i % 10 === 0 ? makeTombstone(w1Key(i), i + 1, 5) : makeValue(w1Key(i), text(`value-${i}`), i + 1, 5))
  const sorted = [...rows].sort(compareRows)

  /** Opens, scans, looks up and reads stats; returns the exit. */
  const readEverything = (bytes: Uint8Array, path: string) =>
    Effect.gen(function*() {
      const r = yield* putAndOpen(path, bytes)
      const scanned = yield* scanAll(r)
      for (const row of sorted.filter((_, i) => i % 50 === 0)) yield* r.get(row.key)
      yield* r.readStats()
      return scanned
    }).pipe(Effect.exit)

  for (const compression of [CompressionFormat.None, CompressionFormat.Snappy]) {
    const { bytes, table } = buildSsTable(sorted, { compression, blockSize: 4096 })
    const info = table.info
    const sections: ReadonlyArray<readonly [string, number]> = [
      ["block 0", 5],
      [`block ${table.blockMeta.length - 1}`, table.blockMeta[table.blockMeta.length - 1]!.offset + 3],
      ["filter", info.filterOffset + 10],
      ["index", info.indexOffset + 8],
      ["stats", info.statsOffset + 6],
      ["info", info.indexOffset + info.indexLen + info.statsLen + 12],
      ["footer", bytes.length - 1],
      ["footer", bytes.length - 9]
    ]
    for (const [section, at] of sections) {
      it.effect(`codec ${compression}: a flipped byte in the ${section} fails with DataError naming it`, () =>
        Effect.gen(function*() {
          assert.isTrue(Exit.isSuccess(yield* readEverything(bytes, "ok.sst")))
          const bad = bytes.slice()
          bad[at] = bad[at]! ^ 0x20
          const err = failureOf(yield* readEverything(bad, "bad.sst"))
          assert.instanceOf(err, DataError)
          assert.strictEqual((err as DataError).section, section)
          assert.strictEqual((err as DataError).object, "bad.sst")
        }).pipe(Effect.provide(ObjectStore.layerMemory)))
    }
  }

  it.effect("every single-byte flip anywhere in an SST is detected (never wrong rows, never a defect)", () =>
    Effect.gen(function*() {
      const small = sorted.slice(0, 120)
      const { bytes } = buildSsTable(small, { blockSize: 512, minFilterKeys: 10 })
      const wal = buildWalSsTable(small.slice(0, 60), { blockSize: 512 }).bytes
      for (const [name, file] of [["sst", bytes], ["wal", wal]] as const) {
        for (let i = 0; i < file.length; i++) {
          const bad = file.slice()
          bad[i] = bad[i]! ^ 0x55
          const exit = yield* readEverything(bad, `${name}-${i}`)
          if (Exit.isSuccess(exit)) assert.fail(`flip at ${i} of the ${name} went unnoticed`)
          const err = Cause.squash(exit.cause)
          assert.instanceOf(err, DataError, `flip at ${i}: ${String(err)}`)
        }
      }
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("truncated objects and bad versions fail with DataError; a missing object with ObjectNotFound", () =>
    Effect.gen(function*() {
      const { bytes } = buildSsTable(sorted.slice(0, 100))
      for (const n of [0, 5, 10, 11, 50]) {
        const err = failureOf(yield* putAndOpen(`trunc-${n}`, bytes.subarray(bytes.length - n)).pipe(Effect.exit))
        assert.instanceOf(err, DataError)
      }
      const v3 = bytes.slice()
      v3[v3.length - 1] = 3
      const err = failureOf(yield* putAndOpen("v3", v3).pipe(Effect.exit)) as DataError
      assert.strictEqual(err.section, "footer")
      assert.match(err.message, /version 3/)
      const missing = failureOf(yield* SsTableReader.open("nope.sst").pipe(Effect.exit))
      assert.strictEqual((missing as { _tag: string })._tag, "ObjectNotFound")
    }).pipe(Effect.provide(ObjectStore.layerMemory)))

  it.effect("an info section whose CRC matches but whose offsets are inconsistent is rejected", () =>
    Effect.gen(function*() {
      const { bytes, table } = buildSsTable(sorted.slice(0, 100))
      const infoStart = table.info.indexOffset + table.info.indexLen + table.info.statsLen
      // Re-frame a valid FlatBuffer with a lying index_len, with a correct CRC.
      const { encodeSsTableInfo } = yield* Effect.promise(() => import("../../src/format/SstMetadataCodec.ts"))
      const lying = encodeSsTableInfo({ ...table.info, indexLen: table.info.indexLen + 1000 })
      const framed = new Uint8Array(lying.length + 4)
      framed.set(lying)
      const crc = crc32(lying)
      framed.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], lying.length)
      const out = new Uint8Array(infoStart + framed.length + 10)
      out.set(bytes.subarray(0, infoStart))
      out.set(framed, infoStart)
      out.set(bytes.subarray(bytes.length - 10), infoStart + framed.length)
      const err = failureOf(yield* putAndOpen("lying", out).pipe(Effect.exit)) as DataError
      assert.strictEqual(err.section, "info")
    }).pipe(Effect.provide(ObjectStore.layerMemory)))
})

describe("format version 1", () => {
  it.effect("an SST with V1 blocks reads back (scan, get)", () =>
    Effect.gen(function*() {
      const rows: Array<RowEntry> = Array.from({ length: 2000 }, (_, i) =>
        i % 7 === 0
          ? makeTombstone(text(`k${String(i).padStart(5, "0")}`), 5000 - i, i)
          : makeValue(text(`k${String(i).padStart(5, "0")}`), new Uint8Array(i % 50).fill(i & 0xff), 5000 - i, i))
      const { bytes } = buildSsTable(rows, { formatVersion: 1, blockSize: 1024 })
      assert.strictEqual(bytes[bytes.length - 1], 1)
      const r = yield* putAndOpen("v1.sst", bytes)
      assert.strictEqual(r.formatVersion, 1)
      assert.deepStrictEqual((yield* scanAll(r)).map(plain), rows.map(plain))
      assert.deepStrictEqual((yield* scanAll(r, { descending: true, start: text("k01000") })).length, 1000)
      for (const row of rows.filter((_, i) => i % 97 === 0)) {
        assert.deepStrictEqual(plain((yield* r.get(row.key))!), plain(row))
      }
    }).pipe(Effect.provide(ObjectStore.layerMemory)))
})
