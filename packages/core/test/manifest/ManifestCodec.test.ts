import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import { Builder, createOffsetVector } from "../../src/format/FlatBuffers.ts"
import type { SsTableInfo } from "../../src/format/SstMetadata.ts"
import { writeSsTableInfo } from "../../src/format/SstMetadataCodec.ts"
import { writeUlid, writeUuid } from "../../src/manifest/Ids.ts"
import { type CompactedSst, INITIAL_CLOCK_TICK, Manifest } from "../../src/manifest/Manifest.ts"
import {
  compactedSstProblem,
  decodeManifest,
  encodeManifest,
  writeCompactedSst
} from "../../src/manifest/ManifestCodec.ts"
import { SequenceTracker } from "../../src/manifest/SequenceTracker.ts"
import { arbManifest } from "./arbitraries.ts"

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"))

/** `manifest/00000000000000000001.manifest` of a brand-new database (docs/format.md §2.5). */
const INITIAL_MANIFEST_HEX =
  "000128000000240020000000000007000000000000000000000008000c001800100000000000000014002400000000000001340000002c000000240000000c00000000000000000000800d00000001000000000000000000000000000000000000000000000000000000"

const expectDataError = (f: () => unknown, message?: RegExp): void => {
  let thrown: unknown
  try {
    f()
  } catch (e) {
    thrown = e
  }
  expect(thrown).toBeInstanceOf(DataError)
  if (message !== undefined) expect((thrown as DataError).message).toMatch(message)
}

/**
 * Decodes possibly-corrupt bytes: either a DataError, or a manifest that is structurally valid, meaning it
 * re-encodes and decodes back to itself. Anything else (TypeError, RangeError, ...) fails the test.
 */
const decodeOrDataError = (bytes: Uint8Array): Manifest | undefined => {
  let m: Manifest
  try {
    m = decodeManifest(bytes)
  } catch (e) {
    if (!(e instanceof DataError)) throw e
    return undefined
  }
  expect(decodeManifest(encodeManifest(m))).toEqual(m)
  return m
}

const info = (over: Partial<SsTableInfo> = {}): SsTableInfo => ({
  firstEntry: new Uint8Array([1]),
  lastEntry: new Uint8Array([9]),
  indexOffset: 100,
  indexLen: 40,
  filterOffset: 100,
  filterLen: 0,
  compressionFormat: 0,
  sstType: 0,
  statsOffset: 140,
  statsLen: 30,
  filterFormat: 0,
  ...over
})

const sst = (id: string, over: Partial<CompactedSst> = {}): CompactedSst => ({ id, info: info(), formatVersion: 2, ...over })

const ULID_A = "01HZX4V4K0B1F9J8Q2Z3M5N6P7"
const ULID_B = "01HZX4V4K0B1F9J8Q2Z3M5N6P8"
const ULID_C = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
const UUID_A = "0f6c3a8e-4c1b-4e8a-9d62-3a1f0e9b7c55"

describe("ManifestCodec golden", () => {
  it("decodes the initial manifest written by SlateDB 0.12.1", () => {
    const m = decodeManifest(unhex(INITIAL_MANIFEST_HEX))
    expect(m).toEqual(Manifest.initial())
    expect(m.lastL0ClockTick).toBe(-(2 ** 63))
    expect(m.nextWalSstId).toBe(1)
    expect(m.initialized).toBe(true)
  })

  it("encodeManifest(Manifest.initial()) is byte-identical (106 bytes)", () => {
    const bytes = encodeManifest(Manifest.initial())
    expect(bytes.length).toBe(106)
    expect(hex(bytes)).toBe(INITIAL_MANIFEST_HEX)
  })
})

describe("ManifestCodec round trips", () => {
  it("decode(encode(m)) equals m for generated manifests", () => {
    fc.assert(fc.property(arbManifest, (m) => {
      expect(decodeManifest(encodeManifest(m))).toEqual(m)
    }), { numRuns: 300 })
  })

  it("encoding is deterministic and canonical (encode(decode(encode(m))) = encode(m))", () => {
    fc.assert(fc.property(arbManifest, (m) => {
      const a = encodeManifest(m)
      expect(hex(encodeManifest(decodeManifest(a)))).toBe(hex(a))
    }), { numRuns: 100 })
  })

  it("keeps L0 order, sorted runs, visible ranges, checkpoints, external dbs and the tracker", () => {
    const m: Manifest = {
      ...Manifest.initial(),
      writerEpoch: 3,
      compactorEpoch: 2,
      replayAfterWalId: 17,
      nextWalSstId: 21,
      l0LastCompacted: ULID_C,
      l0: [sst(ULID_B), sst(ULID_A, { visibleRange: { start: { kind: "Included", key: new Uint8Array([1]) }, end: { kind: "Unbounded" } } })],
      compacted: [{ id: 5, ssts: [sst(ULID_C, { formatVersion: 1 })] }, { id: 0, ssts: [] }],
      lastL0ClockTick: 1_795_539_923_786,
      lastL0Seq: 77,
      checkpoints: [{ id: UUID_A, manifestId: 9, expireTimeS: 1_795_540_842, createTimeS: 1_795_539_942, name: "nightly ✓" }],
      walObjectStoreUri: "",
      recentSnapshotMinSeq: 70,
      sequenceTracker: { seqs: [1, 50], timestamps: [1_795_539_922, 1_795_539_990] },
      externalDbs: [{ path: "parent/db", sourceCheckpointId: UUID_A, sstIds: [ULID_A, ULID_B] }]
    }
    expect(decodeManifest(encodeManifest(m))).toEqual(m)
  })

  it("manifest_id is always written as 0 and wal_id_last_seen = nextWalSstId - 1", () => {
    // For the initial manifest wal_id_last_seen is 0 (omitted); with nextWalSstId 5 it is 4.
    const bytes = encodeManifest(Manifest.withNextWalSstId(Manifest.initial(), 5))
    expect(decodeManifest(bytes).nextWalSstId).toBe(5)
    expect(hex(bytes)).toContain("0400000000000000")
  })

  it("encoders reject values that cannot be stored", () => {
    expect(() => encodeManifest({ ...Manifest.initial(), nextWalSstId: 0 })).toThrow()
    expect(() => encodeManifest({ ...Manifest.initial(), writerEpoch: -1 })).toThrow()
    expect(() => encodeManifest({ ...Manifest.initial(), lastL0ClockTick: 2 ** 60 })).toThrow()
    expect(() => encodeManifest({ ...Manifest.initial(), l0: [sst("not-a-ulid")] })).toThrow()
    expect(() => encodeManifest({ ...Manifest.initial(), compacted: [{ id: 2 ** 32, ssts: [] }] })).toThrow()
    expect(() => encodeManifest({ ...Manifest.initial(), checkpoints: [{ id: "nope", manifestId: 1, createTimeS: 0 }] })).toThrow()
  })
})

/** A V1 manifest whose L0 holds `l0` as given, bypassing the encoder's checks. */
const rawManifestWithL0 = (l0: ReadonlyArray<CompactedSst>): Uint8Array => {
  const b = new Builder(256)
  const vec = createOffsetVector(b, l0.map((s) => writeCompactedSst(b, s)))
  const empty = createOffsetVector(b, [])
  b.startObject(16)
  b.addFieldOffset(11, empty, 0)
  b.addFieldOffset(9, empty, 0)
  b.addFieldOffset(8, vec, 0)
  b.finish(b.endObject())
  return new Uint8Array([0, 1, ...b.asUint8Array()])
}

describe("entries SlateDB would refuse (it panics loading them)", () => {
  const k = (...xs: Array<number>) => new Uint8Array(xs)
  const bad: Array<[string, CompactedSst]> = [
    ["no first entry", sst(ULID_A, { info: info({ firstEntry: undefined }) })],
    ["start Excluded", sst(ULID_A, { visibleRange: { start: { kind: "Excluded", key: k(1) }, end: { kind: "Unbounded" } } })],
    ["empty range", sst(ULID_A, { visibleRange: { start: { kind: "Included", key: k(5) }, end: { kind: "Excluded", key: k(5) } } })],
    ["inverted range", sst(ULID_A, { visibleRange: { start: { kind: "Included", key: k(6) }, end: { kind: "Included", key: k(5) } } })],
    ["below the first key", sst(ULID_A, { visibleRange: { start: { kind: "Unbounded" }, end: { kind: "Excluded", key: k(1) } } })]
  ]
  const good: Array<CompactedSst> = [
    sst(ULID_A),
    sst(ULID_A, { visibleRange: { start: { kind: "Unbounded" }, end: { kind: "Included", key: k(1) } } }),
    sst(ULID_A, { visibleRange: { start: { kind: "Included", key: k(0) }, end: { kind: "Excluded", key: k(1, 0) } } }),
    sst(ULID_A, { visibleRange: { start: { kind: "Included", key: k(200) }, end: { kind: "Unbounded" } } })
  ]

  it("compactedSstProblem", () => {
    for (const [, s] of bad) expect(compactedSstProblem(s)).toBeDefined()
    for (const s of good) expect(compactedSstProblem(s)).toBeUndefined()
  })

  it("encodeManifest refuses them (InvalidError), in L0 and in sorted runs", () => {
    for (const [, s] of bad) {
      expect(() => encodeManifest({ ...Manifest.initial(), l0: [s] })).toThrow()
      expect(() => encodeManifest({ ...Manifest.initial(), compacted: [{ id: 1, ssts: [s] }] })).toThrow()
    }
    for (const s of good) expect(decodeManifest(encodeManifest({ ...Manifest.initial(), l0: [s] })).l0).toEqual([s])
  })

  it("decodeManifest reports them as DataError", () => {
    for (const [, s] of bad) expectDataError(() => decodeManifest(rawManifestWithL0([s])))
    expect(decodeManifest(rawManifestWithL0(good)).l0).toEqual(good)
  })
})

describe("Manifest updates", () => {
  it("withL0Pushed pushes to the front and moves the watermarks", () => {
    const m0 = Manifest.withWriterEpoch(Manifest.initial(), 1)
    const m1 = Manifest.withL0Pushed(m0, sst(ULID_A), 11, 10, 1000)
    const m2 = Manifest.withL0Pushed(m1, sst(ULID_B), 12, 11, 900)
    expect(m2.l0.map((s) => s.id)).toEqual([ULID_B, ULID_A])
    expect(m2.replayAfterWalId).toBe(12)
    expect(m2.lastL0Seq).toBe(11)
    expect(m2.lastL0ClockTick).toBe(1000) // never moves backwards
    expect(m1.lastL0ClockTick).toBe(1000)
    expect(m0.l0).toEqual([]) // immutable
    expect(m2.writerEpoch).toBe(1)
    expect(Manifest.ssts({ ...m2, compacted: [{ id: 0, ssts: [sst(ULID_C)] }] }).map((s) => s.id)).toEqual([ULID_B, ULID_A, ULID_C])
  })

  it("other helpers", () => {
    const m = Manifest.initial()
    expect(Manifest.withNextWalSstId(m, 7).nextWalSstId).toBe(7)
    expect(Manifest.withCompactorEpoch(m, 2).compactorEpoch).toBe(2)
    expect(Manifest.withReplayAfterWalId(m, 3).replayAfterWalId).toBe(3)
    expect(Manifest.withRecentSnapshotMinSeq(m, 4).recentSnapshotMinSeq).toBe(4)
    const cp = { id: UUID_A, manifestId: 2, createTimeS: 10 }
    expect(Manifest.withCheckpointRemoved(Manifest.withCheckpointAdded(m, cp), UUID_A).checkpoints).toEqual([])
    expect(Manifest.withCheckpointAdded(m, cp).checkpoints).toEqual([cp])
    const tracked = Manifest.withSequenceTrackerMerged(m, { seqs: [5], timestamps: [100] })
    expect(tracked.sequenceTracker).toEqual({ seqs: [5], timestamps: [100] })
    expect(m.sequenceTracker).toBe(SequenceTracker.empty)
    expect(INITIAL_CLOCK_TICK).toBe(-9223372036854775808)
  })
})

// ---------------------------------------------------------------------------------------------------
// ManifestV2 (decode only): built by hand with the V2 schema

interface V2Options {
  readonly ssts: ReadonlyArray<{ readonly id: string; readonly formatVersion?: number }>
  readonly l0: ReadonlyArray<{ readonly viewId: string; readonly sstId: string }>
  readonly runs: ReadonlyArray<{ readonly id: number; readonly views: ReadonlyArray<{ readonly viewId: string; readonly sstId: string }> }>
  readonly lastCompactedViewId?: string
}

const encodeV2 = (o: V2Options): Uint8Array => {
  const b = new Builder(256)
  const view = (v: { readonly viewId: string; readonly sstId: string }) => {
    const sstId = writeUlid(b, v.sstId)
    const id = writeUlid(b, v.viewId)
    b.startObject(3)
    b.addFieldOffset(1, sstId, 0)
    b.addFieldOffset(0, id, 0)
    return b.endObject()
  }
  const ssts = createOffsetVector(b, o.ssts.map((s) => {
    const id = writeUlid(b, s.id)
    const inf = writeSsTableInfo(b, info())
    b.startObject(3)
    b.addFieldOffset(1, inf, 0)
    b.addFieldOffset(0, id, 0)
    if (s.formatVersion !== undefined) {
      b.addInt16(s.formatVersion)
      b.slot(2)
    }
    return b.endObject()
  }))
  const l0 = createOffsetVector(b, o.l0.map(view))
  const runs = createOffsetVector(b, o.runs.map((r) => {
    const vs = createOffsetVector(b, r.views.map(view))
    b.startObject(2)
    b.addFieldOffset(1, vs, 0)
    b.addFieldInt32(0, r.id, 0)
    return b.endObject()
  }))
  const last = o.lastCompactedViewId === undefined ? 0 : writeUlid(b, o.lastCompactedViewId)
  const cpId = writeUuid(b, UUID_A)
  b.startObject(7)
  b.addFieldInt64(1, 4n, 0n)
  b.addFieldInt32(3, 100, 0)
  b.addFieldOffset(0, cpId, 0)
  const checkpoints = createOffsetVector(b, [b.endObject()])
  b.startObject(16)
  b.addFieldInt64(14, 5n, 0n) // recent_snapshot_min_seq
  b.addFieldInt64(13, 6n, 0n) // last_l0_seq
  b.addFieldInt64(11, 7n, 0n) // last_l0_clock_tick
  b.addFieldInt64(6, 8n, 0n) // wal_id_last_seen
  b.addFieldInt64(5, 2n, 0n) // replay_after_wal_id
  b.addFieldInt64(4, 1n, 0n) // compactor_epoch
  b.addFieldInt64(3, 3n, 0n) // writer_epoch
  b.addFieldOffset(12, checkpoints, 0)
  b.addFieldOffset(10, runs, 0)
  b.addFieldOffset(9, l0, 0)
  b.addFieldOffset(8, ssts, 0)
  if (last !== 0) b.addFieldOffset(7, last, 0)
  b.addFieldInt8(2, 1, 0)
  b.finish(b.endObject())
  const fb = b.asUint8Array()
  return new Uint8Array([0, 2, ...fb])
}

describe("ManifestCodec V2 (read only)", () => {
  it("resolves views through the SST lookup table", () => {
    const m = decodeManifest(encodeV2({
      ssts: [{ id: ULID_A, formatVersion: 2 }, { id: ULID_B }],
      l0: [{ viewId: ULID_C, sstId: ULID_A }],
      runs: [{ id: 3, views: [{ viewId: ULID_C, sstId: ULID_B }] }],
      lastCompactedViewId: ULID_C
    }))
    expect(m).toEqual({
      initialized: true,
      writerEpoch: 3,
      compactorEpoch: 1,
      replayAfterWalId: 2,
      nextWalSstId: 9,
      l0LastCompacted: ULID_C,
      l0: [{ id: ULID_A, info: info(), formatVersion: 2 }],
      compacted: [{ id: 3, ssts: [{ id: ULID_B, info: info(), formatVersion: 1 }] }],
      lastL0ClockTick: 7,
      lastL0Seq: 6,
      checkpoints: [{ id: UUID_A, manifestId: 4, createTimeS: 100 }],
      recentSnapshotMinSeq: 5,
      sequenceTracker: SequenceTracker.empty,
      externalDbs: []
    })
  })

  it("an unknown sst_id is a DataError", () => {
    expectDataError(
      () => decodeManifest(encodeV2({ ssts: [{ id: ULID_A }], l0: [{ viewId: ULID_C, sstId: ULID_B }], runs: [] })),
      /unknown SST id/
    )
  })
})

describe("ManifestCodec errors and corruption", () => {
  it("< 2 bytes is EmptyManifest; other versions are InvalidVersion", () => {
    expectDataError(() => decodeManifest(new Uint8Array()), /EmptyManifest/)
    expectDataError(() => decodeManifest(new Uint8Array([0])), /EmptyManifest/)
    expectDataError(() => decodeManifest(new Uint8Array([0, 3, 0, 0, 0, 0])), /InvalidVersion/)
    expectDataError(() => decodeManifest(new Uint8Array([0, 0])), /InvalidVersion/)
    expectDataError(() => decodeManifest(new Uint8Array([0, 1])))
  })

  it("out-of-bounds offsets are DataErrors, not RangeErrors", () => {
    const bytes = unhex(INITIAL_MANIFEST_HEX)
    const rootOut = bytes.slice()
    new DataView(rootOut.buffer).setUint32(2, 0xfffffff0, true)
    expectDataError(() => decodeManifest(rootOut))
    // Point the l0 vector offset (a uoffset inside the root table) far outside the buffer.
    const m = encodeManifest({ ...Manifest.initial(), l0: [sst(ULID_A)] })
    let hits = 0
    for (let pos = 2; pos + 4 <= m.length; pos += 4) {
      const c = m.slice()
      new DataView(c.buffer).setUint32(pos, 0x7ffffff0, true)
      if (decodeOrDataError(c) === undefined) hits++
    }
    expect(hits).toBeGreaterThan(0)
  })

  it("a required vector missing is a DataError", () => {
    const b = new Builder(64)
    b.startObject(16)
    b.addFieldInt8(2, 1, 0)
    b.finish(b.endObject())
    expectDataError(() => decodeManifest(new Uint8Array([0, 1, ...b.asUint8Array()])), /required field/)
  })

  it("a bad range bound or tracker is a DataError", () => {
    const b = new Builder(64)
    b.startObject(2)
    b.addFieldInt8(1, 2, 0) // Included without a key
    const bound = b.endObject()
    b.startObject(2)
    b.addFieldOffset(1, bound, 0)
    b.addFieldOffset(0, bound, 0)
    const range = b.endObject()
    const id = writeUlid(b, ULID_A)
    const inf = writeSsTableInfo(b, info())
    b.startObject(4)
    b.addFieldOffset(2, range, 0)
    b.addFieldOffset(1, inf, 0)
    b.addFieldOffset(0, id, 0)
    const l0 = createOffsetVector(b, [b.endObject()])
    const empty = createOffsetVector(b, [])
    const tracker = b.createByteVector(new Uint8Array([9]))
    b.startObject(16)
    b.addFieldOffset(15, tracker, 0)
    b.addFieldOffset(11, empty, 0)
    b.addFieldOffset(9, empty, 0)
    b.addFieldOffset(8, l0, 0)
    b.finish(b.endObject())
    expectDataError(() => decodeManifest(new Uint8Array([0, 1, ...b.asUint8Array()])), /range bound|sequence tracker/)
  })

  it("every truncation throws DataError or decodes to a valid manifest", () => {
    fc.assert(fc.property(arbManifest, (m) => {
      const bytes = encodeManifest(m)
      for (let n = 0; n < bytes.length; n++) decodeOrDataError(bytes.subarray(0, n))
    }), { numRuns: 30 })
  })

  it("byte flips throw DataError or decode to a valid manifest", () => {
    fc.assert(fc.property(
      arbManifest,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
      (m, flips) => {
        const bytes = encodeManifest(m).slice()
        for (const [pos, v] of flips) bytes[pos % bytes.length] = v
        decodeOrDataError(bytes)
      }
    ), { numRuns: 2000 })
  })

  it("every single-byte change of the golden manifest throws DataError or decodes validly", () => {
    const golden = unhex(INITIAL_MANIFEST_HEX)
    for (let pos = 0; pos < golden.length; pos++) {
      for (const v of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
        const c = golden.slice()
        c[pos] = v
        decodeOrDataError(c)
      }
    }
  })

  it("hostile offset sharing is bounded (apparent size limit)", () => {
    const b = new Builder(1024)
    const shared = writeCompactedSst(b, sst(ULID_A, { info: info({ firstEntry: new Uint8Array(2000) }) }))
    const n = 20_000
    const l0 = createOffsetVector(b, new Array<number>(n).fill(shared))
    const empty = createOffsetVector(b, [])
    b.startObject(16)
    b.addFieldOffset(11, empty, 0)
    b.addFieldOffset(9, empty, 0)
    b.addFieldOffset(8, l0, 0)
    b.finish(b.endObject())
    expectDataError(() => decodeManifest(new Uint8Array([0, 1, ...b.asUint8Array()])), /apparent size/)
  })
})
