/**
 * SST builders and reader over the in-memory object store: SlateDB goldens (fence SST, one-row WAL SST),
 * round trips (fast-check) for compacted and WAL SSTs, point lookups across blocks, range scans in both
 * directions, size estimates, and corruption of every section. The reader's requests and block cache:
 * sst/SsTableReads.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import fc from "fast-check"
import { DataError, InvalidError } from "../../src/errors.ts"
import { readU32 } from "../../src/format/BigEndian.ts"
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
import { type ScanOptions, SsTableReader } from "../../src/sst/SsTableReader.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { arbRow, arbSortedRows, compareRows, hex, plain, text, w1Key } from "./fixtures.ts"
import { failureOf, modelGet, putAndOpen, scanAll } from "../sst/readerFixtures.ts"

const FENCE_HEX =
  "0c0000000000060008000400060000000400000000000000177e6f0a080000000400040004000000ed606b2a1c00000018001c00000000000400000000000000000000000c001400180000001c000000000000001c00000000000000100000000000000064413efa000000000000002c0002"

const codecs = [
  CompressionFormat.None,
  CompressionFormat.Snappy,
  CompressionFormat.Zlib,
  CompressionFormat.Lz4,
  CompressionFormat.Zstd
] as const

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
