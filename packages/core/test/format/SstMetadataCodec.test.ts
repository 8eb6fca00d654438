import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import { Builder, FbBuffer } from "../../src/format/FlatBuffers.ts"
import type { BlockMeta, SsTableInfo, SstStats } from "../../src/format/SstMetadata.ts"
import {
  decodeSsTableIndex,
  decodeSsTableInfo,
  decodeSstStats,
  encodeSsTableIndex,
  encodeSsTableInfo,
  encodeSstStats,
  readSsTableInfo,
  writeSsTableInfo
} from "../../src/format/SstMetadataCodec.ts"
import { batch, del, type EngineDb, flushMemTable, put, writeEngineDb } from "../support/slatedb.ts"

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"))

/** The fence WAL SST written by @slatedb/uniffi 0.12.1 (docs/format.md §2.3). */
const FENCE_SST = unhex(
  "0c0000000000060008000400060000000400000000000000177e6f0a080000000400040004000000ed606b2a1c00000018001c00000000000400000000000000000000000c001400180000001c000000000000001c00000000000000100000000000000064413efa000000000000002c0002"
)
// Sections without their 4-byte CRCs.
const FENCE_INDEX = FENCE_SST.subarray(0, 24)
const FENCE_STATS = FENCE_SST.subarray(28, 40)
const FENCE_INFO = FENCE_SST.subarray(44, 100)

const FENCE_INFO_VALUE: SsTableInfo = {
  firstEntry: undefined,
  lastEntry: undefined,
  indexOffset: 0,
  indexLen: 28,
  filterOffset: 0,
  filterLen: 0,
  compressionFormat: 0,
  sstType: 0,
  statsOffset: 28,
  statsLen: 16,
  filterFormat: 0
}
const EMPTY_STATS: SstStats = { numPuts: 0, numDeletes: 0, numMerges: 0, rawKeySize: 0, rawValSize: 0, blockStats: [] }

/** Expects `f` to throw a DataError (and nothing else). */
const expectDataError = (f: () => unknown): void => {
  let thrown: unknown
  try {
    f()
  } catch (e) {
    thrown = e
  }
  expect(thrown).toBeInstanceOf(DataError)
}

/** Runs `f`; it may succeed or throw a DataError, never anything else. Returns the value or undefined. */
const dataErrorOrValue = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch (e) {
    if (!(e instanceof DataError)) throw e
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries

const safeNat = fc.maxSafeNat()
const bytes = fc.uint8Array({ maxLength: 40 })
const arbInfo: fc.Arbitrary<SsTableInfo> = fc.record({
  firstEntry: fc.option(bytes, { nil: undefined }),
  lastEntry: fc.option(bytes, { nil: undefined }),
  indexOffset: safeNat,
  indexLen: safeNat,
  filterOffset: safeNat,
  filterLen: safeNat,
  compressionFormat: fc.constantFrom(0, 1, 2, 3, 4),
  sstType: fc.constantFrom(0, 1),
  statsOffset: safeNat,
  statsLen: safeNat,
  filterFormat: fc.constantFrom(0, 1)
})
const arbBlocks: fc.Arbitrary<Array<BlockMeta>> = fc.array(fc.record({ offset: safeNat, firstKey: bytes }), { maxLength: 30 })
const u16 = fc.integer({ min: 0, max: 0xffff })
const arbStats: fc.Arbitrary<SstStats> = fc.record({
  numPuts: safeNat,
  numDeletes: safeNat,
  numMerges: safeNat,
  rawKeySize: safeNat,
  rawValSize: safeNat,
  blockStats: fc.array(fc.record({ numPuts: u16, numDeletes: u16, numMerges: u16 }), { maxLength: 30 })
})

describe("SstMetadataCodec golden (fence SST written by SlateDB 0.12.1)", () => {
  it("encodeSsTableIndex([]) is byte-identical", () => {
    expect(hex(encodeSsTableIndex([]))).toBe(hex(FENCE_INDEX))
  })

  it("encodeSstStats(empty) is byte-identical", () => {
    expect(hex(encodeSstStats(EMPTY_STATS))).toBe(hex(FENCE_STATS))
  })

  it("encodeSsTableInfo(fence info) is byte-identical", () => {
    expect(hex(encodeSsTableInfo(FENCE_INFO_VALUE))).toBe(hex(FENCE_INFO))
  })

  it("decodes the three sections", () => {
    expect(decodeSsTableIndex(FENCE_INDEX)).toEqual([])
    expect(decodeSstStats(FENCE_STATS)).toEqual(EMPTY_STATS)
    expect(decodeSsTableInfo(FENCE_INFO)).toEqual(FENCE_INFO_VALUE)
  })

  it("the info offset in the footer points at the info section", () => {
    const dv = new DataView(FENCE_SST.buffer, FENCE_SST.byteOffset, FENCE_SST.byteLength)
    expect(Number(dv.getBigUint64(FENCE_SST.length - 10))).toBe(44)
    expect(dv.getUint16(FENCE_SST.length - 2)).toBe(2)
  })
})

describe("SstMetadataCodec round trips", () => {
  it("SsTableInfo", () => {
    fc.assert(fc.property(arbInfo, (info) => {
      expect(decodeSsTableInfo(encodeSsTableInfo(info))).toEqual(info)
    }), { numRuns: 500 })
  })

  it("SsTableIndex", () => {
    fc.assert(fc.property(arbBlocks, (blocks) => {
      expect(decodeSsTableIndex(encodeSsTableIndex(blocks))).toEqual(blocks)
    }), { numRuns: 300 })
  })

  it("SstStats", () => {
    fc.assert(fc.property(arbStats, (stats) => {
      expect(decodeSstStats(encodeSstStats(stats))).toEqual(stats)
    }), { numRuns: 300 })
  })

  it("SsTableInfo embedded in a larger buffer", () => {
    fc.assert(fc.property(arbInfo, arbInfo, (a, b) => {
      const builder = new Builder(16)
      const oa = writeSsTableInfo(builder, a)
      const ob = writeSsTableInfo(builder, b)
      builder.startObject(2)
      builder.addFieldOffset(1, ob, 0)
      builder.addFieldOffset(0, oa, 0)
      builder.finish(builder.endObject())
      const root = new FbBuffer(builder.asUint8Array(), "test").root()
      expect(readSsTableInfo(root.requiredTable(0, "a"))).toEqual(a)
      expect(readSsTableInfo(root.requiredTable(1, "b"))).toEqual(b)
    }), { numRuns: 200 })
  })

  it("omits default scalars and never writes a Legacy filter_format", () => {
    // An all-default info is an empty table: 4 (root) + 4 (vtable: size 4, inline 4) + 4 (soffset).
    const info = { ...FENCE_INFO_VALUE, indexLen: 0, statsOffset: 0, statsLen: 0 }
    expect(hex(encodeSsTableInfo(info))).toBe("08000000040004000400" + "0000")
    // Composite (only in SSTs from newer SlateDB) is preserved when re-encoding.
    expect(decodeSsTableInfo(encodeSsTableInfo({ ...info, filterFormat: 1 })).filterFormat).toBe(1)
  })

  it("decoders return fresh arrays, not views into the input", () => {
    const encoded = encodeSsTableIndex([{ offset: 7, firstKey: new Uint8Array([1, 2, 3]) }])
    const buf = Buffer.from(encoded)
    const decoded = decodeSsTableIndex(buf)
    buf.fill(0xff)
    expect(decoded[0]!.firstKey).toEqual(new Uint8Array([1, 2, 3]))
    expect(decoded[0]!.firstKey.constructor).toBe(Uint8Array)
  })

  it("encoders reject values outside the on-disk ranges", () => {
    expect(() => encodeSsTableInfo({ ...FENCE_INFO_VALUE, indexLen: -1 })).toThrow()
    expect(() => encodeSsTableInfo({ ...FENCE_INFO_VALUE, indexLen: 2 ** 53 })).toThrow()
    expect(() => encodeSstStats({ ...EMPTY_STATS, blockStats: [{ numPuts: 70000, numDeletes: 0, numMerges: 0 }] }))
      .toThrow()
  })
})

describe("SstMetadataCodec on malformed input", () => {
  it("empty and tiny buffers throw DataError", () => {
    for (const f of [decodeSsTableInfo, decodeSsTableIndex, decodeSstStats]) {
      for (let n = 0; n < 4; n++) expectDataError(() => f(new Uint8Array(n)))
    }
  })

  it("an out-of-bounds root offset throws DataError, not RangeError", () => {
    const b = new Uint8Array([0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0])
    expectDataError(() => decodeSsTableInfo(b))
    expectDataError(() => decodeSsTableIndex(b))
  })

  it("a missing required block_meta throws DataError", () => {
    // An empty table as SsTableIndex.
    expectDataError(() => decodeSsTableIndex(unhex("080000000400040004000000")))
  })

  it("unknown enum values throw DataError", () => {
    const b = new Builder(64)
    b.startObject(11)
    b.addFieldInt8(5, 9, 0) // compression_format 9
    b.finish(b.endObject())
    expectDataError(() => decodeSsTableInfo(b.asUint8Array()))
  })

  it("u64 values beyond 2^53 throw DataError", () => {
    const b = new Builder(64)
    b.startObject(11)
    b.addFieldInt64(1, 2n ** 60n, 0n)
    b.finish(b.endObject())
    expectDataError(() => decodeSsTableInfo(b.asUint8Array()))
  })

  it("every truncation throws DataError or decodes", () => {
    const samples = [
      encodeSsTableInfo({ ...FENCE_INFO_VALUE, firstEntry: new Uint8Array([1, 2, 3]), lastEntry: new Uint8Array([9]) }),
      encodeSsTableIndex([{ offset: 0, firstKey: new Uint8Array() }, { offset: 100, firstKey: new Uint8Array([5, 6]) }]),
      encodeSstStats({ ...EMPTY_STATS, numPuts: 3, blockStats: [{ numPuts: 3, numDeletes: 0, numMerges: 1 }] })
    ]
    const decoders = [decodeSsTableInfo, decodeSsTableIndex, decodeSstStats] as const
    samples.forEach((s, i) => {
      for (let n = 0; n < s.length; n++) dataErrorOrValue(() => decoders[i]!(s.subarray(0, n)))
    })
  })

  it("random byte corruption throws DataError or decodes to a value that re-encodes", () => {
    fc.assert(fc.property(arbInfo, arbBlocks, arbStats, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (info, blocks, stats, flips) => {
      const cases = [
        [encodeSsTableInfo(info), (b: Uint8Array) => encodeSsTableInfo(decodeSsTableInfo(b))],
        [encodeSsTableIndex(blocks), (b: Uint8Array) => encodeSsTableIndex(decodeSsTableIndex(b))],
        [encodeSstStats(stats), (b: Uint8Array) => encodeSstStats(decodeSstStats(b))]
      ] as const
      for (const [encoded, roundTrip] of cases) {
        const corrupt = encoded.slice()
        for (const [pos, v] of flips) corrupt[pos % corrupt.length] = v
        dataErrorOrValue(() => roundTrip(corrupt))
      }
    }), { numRuns: 500 })
  })

  it("arbitrary bytes never crash the decoders", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      dataErrorOrValue(() => decodeSsTableInfo(b))
      dataErrorOrValue(() => decodeSsTableIndex(b))
      dataErrorOrValue(() => decodeSstStats(b))
    }), { numRuns: 2000 })
  })

  it("hostile offset sharing is bounded (apparent size limit)", () => {
    // 50 000 BlockMeta offsets all pointing at one table with a 1000-byte key: ~200 KB of buffer that
    // would decode to 50 MB. Must be rejected quickly with a DataError.
    const b = new Builder(1024)
    const key = b.createByteVector(new Uint8Array(1000))
    b.startObject(2)
    b.addFieldOffset(1, key, 0)
    const meta = b.endObject()
    const n = 50_000
    b.startVector(4, n, 4)
    for (let i = 0; i < n; i++) b.addOffset(meta)
    const vec = b.endVector()
    b.startObject(1)
    b.addFieldOffset(0, vec, 0)
    b.finish(b.endObject())
    expectDataError(() => decodeSsTableIndex(b.asUint8Array()))
  })
})

// ---------------------------------------------------------------------------------------------------
// Real SSTs written by the official engine

interface SstSections {
  readonly info: Uint8Array
  readonly index: Uint8Array
  readonly stats: Uint8Array | undefined
  readonly decodedInfo: SsTableInfo
  readonly version: number
}

/** Splits an uncompressed SST into its metadata sections (CRCs stripped), per the footer. */
const sstSections = (sst: Uint8Array): SstSections => {
  const dv = new DataView(sst.buffer, sst.byteOffset, sst.byteLength)
  const version = dv.getUint16(sst.length - 2)
  const infoOffset = Number(dv.getBigUint64(sst.length - 10))
  const info = sst.subarray(infoOffset, sst.length - 14)
  const decodedInfo = decodeSsTableInfo(info)
  return {
    info,
    index: sst.subarray(decodedInfo.indexOffset, decodedInfo.indexOffset + decodedInfo.indexLen - 4),
    stats: decodedInfo.statsLen === 0
      ? undefined
      : sst.subarray(decodedInfo.statsOffset, decodedInfo.statsOffset + decodedInfo.statsLen - 4),
    decodedInfo,
    version
  }
}

describe("SstMetadataCodec against SSTs written by @slatedb/uniffi 0.12.1", () => {
  let db: EngineDb
  const rows = 300
  const key = (i: number) => `key-${String(i).padStart(5, "0")}`

  beforeAll(async () => {
    const puts = Array.from({ length: rows }, (_, i) => put(key(i), "v".repeat(40 + (i % 17))))
    db = await writeEngineDb([batch(puts), batch([del(key(7)), del(key(8))]), flushMemTable()])
  }, 60_000)

  afterAll(() => db?.cleanup())

  it("a multi-block compacted SST: sections decode and re-encode byte-identically", () => {
    const ssts = db.listObjects("compacted")
    expect(ssts.length).toBe(1)
    const s = sstSections(db.readObject(ssts[0]!))
    expect(s.version).toBe(2)
    const info = s.decodedInfo
    expect(info.sstType).toBe(0)
    expect(info.compressionFormat).toBe(0)
    expect(info.filterFormat).toBe(0) // the release writes no filter_format
    expect(new TextDecoder().decode(info.firstEntry)).toBe(key(0))
    expect(new TextDecoder().decode(info.lastEntry)).toBe(key(rows - 1))
    expect(info.indexOffset).toBe(info.filterOffset + info.filterLen)
    expect(info.statsOffset).toBe(info.indexOffset + info.indexLen)

    const blocks = decodeSsTableIndex(s.index)
    expect(blocks.length).toBeGreaterThan(3)
    expect(blocks[0]!.offset).toBe(0)
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]!.offset).toBeGreaterThan(blocks[i - 1]!.offset)
    expect(blocks[blocks.length - 1]!.offset).toBeLessThan(info.filterOffset)

    const stats = decodeSstStats(s.stats!)
    expect(stats.numPuts).toBe(rows - 2)
    expect(stats.numDeletes).toBe(2)
    expect(stats.numMerges).toBe(0)
    expect(stats.blockStats.length).toBe(blocks.length)
    expect(stats.blockStats.reduce((n, b) => n + b.numPuts, 0)).toBe(rows - 2)
    expect(stats.rawKeySize).toBe(rows * key(0).length)

    expect(hex(encodeSsTableInfo(info))).toBe(hex(s.info))
    expect(hex(encodeSsTableIndex(blocks))).toBe(hex(s.index))
    expect(hex(encodeSstStats(stats))).toBe(hex(s.stats!))
  })

  it("WAL SSTs (and the fence SST): sections decode and re-encode byte-identically", () => {
    const wals = db.listObjects("wal")
    expect(wals.length).toBeGreaterThanOrEqual(2)
    expect(hex(db.readObject(wals[0]!))).toBe(hex(FENCE_SST))
    for (const w of wals.slice(1)) {
      const s = sstSections(db.readObject(w))
      const info = s.decodedInfo
      expect(info.sstType).toBe(1)
      expect(info.lastEntry).toBeUndefined()
      expect(info.firstEntry?.length).toBe(8)
      expect(info.statsLen).toBe(0)
      expect(s.stats).toBeUndefined()
      const blocks = decodeSsTableIndex(s.index)
      expect(blocks.length).toBeGreaterThan(0)
      for (const b of blocks) expect(b.firstKey.length).toBe(8)
      expect(blocks[0]!.firstKey).toEqual(info.firstEntry)
      expect(hex(encodeSsTableInfo(info))).toBe(hex(s.info))
      expect(hex(encodeSsTableIndex(blocks))).toBe(hex(s.index))
    }
  })

  it("a compressed SST's info section round-trips (compression_format recorded)", async () => {
    const lz4 = await writeEngineDb([put("a", "1"), put("b", "2"), flushMemTable()], { compression: "Lz4" })
    try {
      const [sst] = lz4.listObjects("compacted")
      const bytes = lz4.readObject(sst!)
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const info = bytes.subarray(Number(dv.getBigUint64(bytes.length - 10)), bytes.length - 14)
      const decoded = decodeSsTableInfo(info)
      expect(decoded.compressionFormat).toBe(3)
      expect(hex(encodeSsTableInfo(decoded))).toBe(hex(info))
    } finally {
      lz4.cleanup()
    }
  }, 60_000)
})
