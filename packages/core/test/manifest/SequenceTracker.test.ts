import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import { SequenceTracker } from "../../src/manifest/SequenceTracker.ts"

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")

const fromPoints = (points: ReadonlyArray<readonly [number, number]>): SequenceTracker => ({
  seqs: points.map((p) => p[0]),
  timestamps: points.map((p) => p[1])
})

const dataErrorOrValue = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch (e) {
    if (!(e instanceof DataError)) throw e
    return undefined
  }
}

/** Monotonic trackers whose delta-of-deltas fit the version-1 encoding (|dod| < 2^31). */
const arbTracker: fc.Arbitrary<SequenceTracker> = fc
  .tuple(
    fc.integer({ min: 0, max: 2 ** 50 }),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 0, max: 2 ** 30 })), { maxLength: 60 })
  )
  .map(([seq0, ts0, deltas]) => {
    const seqs = [seq0]
    const timestamps = [ts0]
    for (const [ds, dt] of deltas) {
      seqs.push(seqs[seqs.length - 1]! + ds)
      timestamps.push(timestamps[timestamps.length - 1]! + dt)
    }
    return { seqs, timestamps }
  })

describe("SequenceTracker encoding", () => {
  it("the empty tracker is 01 00000000 00000000 00000000", () => {
    expect(hex(SequenceTracker.encode(SequenceTracker.empty))).toBe("01" + "00000000" + "00000000" + "00000000")
    expect(SequenceTracker.decode(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toEqual(SequenceTracker.empty)
  })

  it("matches SlateDB's version-1 golden bytes (seqs [4, 8, 1000000, 1000064], ts [100..400])", () => {
    const golden = new Uint8Array([
      1, 4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4, 130, 120, 0, 122, 17, 167, 255, 248, 95, 4, 0, 0, 0, 0, 4, 0,
      0, 0, 0, 0, 0, 0, 100, 198, 64
    ])
    const t = fromPoints([[4, 100], [8, 200], [1_000_000, 300], [1_000_064, 400]])
    expect(SequenceTracker.decode(golden)).toEqual(t)
    expect(hex(SequenceTracker.encode(t))).toBe(hex(golden))
  })

  it("covers every delta-of-delta width, negative values and single points", () => {
    const cases: Array<ReadonlyArray<number>> = [
      [1234567890],
      [1000, 1000, 1000, 1000],
      [1000, 1064, 1128, 1192],
      [1000, 1256, 1512, 1768],
      [1000, 3048, 5096, 7144],
      [1000, 1000000, 2000000, 3000000],
      [1000, 937, 874, 811],
      [-1000, -500, 0, 500, 1000],
      [1000, 1000, 1032, 1128, 1512, 50000],
      [1000, 1000, 1028, 1255, 2047, 1000000],
      [Number.MAX_SAFE_INTEGER - 1000, Number.MAX_SAFE_INTEGER - 500, Number.MAX_SAFE_INTEGER]
    ]
    for (const ts of cases) {
      const t = { seqs: ts.map((_, i) => i), timestamps: ts }
      expect(SequenceTracker.decode(SequenceTracker.encode(t))).toEqual(t)
    }
  })

  it("round-trips arbitrary monotonic trackers", () => {
    fc.assert(fc.property(arbTracker, (t) => {
      expect(SequenceTracker.decode(SequenceTracker.encode(t))).toEqual(t)
    }), { numRuns: 500 })
  })

  it("reproduces version 1's 32-bit truncation of huge delta-of-deltas (as SlateDB 0.12.1 does)", () => {
    const t = fromPoints([[1, 1000], [5_000_000_000, 2000]])
    const bytes = SequenceTracker.encode(t)
    expect(SequenceTracker.decode(bytes).seqs[1]).toBe(1 + ((5_000_000_000 - 1) | 0))
  })

  it("reads version 2 (64-bit fallback, newer SlateDB)", () => {
    // version 2, n = 2; seqs: count 2, first 1, then 1111 + 64-bit dod (4 999 999 999), padded; ts: count 2, 1000, dod 1000 → 1110 + 12 bits.
    const bits: Array<number> = []
    const push = (v: bigint, n: number) => { for (let i = n - 1; i >= 0; i--) bits.push(Number((v >> BigInt(i)) & 1n)) }
    const flush = () => {
      while (bits.length % 8 !== 0) bits.push(0)
      const out: Array<number> = []
      for (let i = 0; i < bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8).join(""), 2))
      bits.length = 0
      return out
    }
    push(2n, 32); push(1n, 64); push(0b1111n, 4); push(4_999_999_999n, 64)
    const seqs = flush()
    push(2n, 32); push(1000n, 64); push(0b1110n, 4); push(1000n, 12)
    const ts = flush()
    const bytes = new Uint8Array([2, 2, 0, 0, 0, ...seqs, ...ts])
    expect(SequenceTracker.decode(bytes)).toEqual(fromPoints([[1, 1000], [5_000_000_000, 2000]]))
  })

  it("rejects malformed input with DataError", () => {
    const bad: Array<Uint8Array> = [
      new Uint8Array([]),
      new Uint8Array([3, 0, 0, 0, 0]),
      new Uint8Array([1, 0, 0]),
      new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0, 0]), // n = 1 but the stream says 0
      new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 5]) // stream count 5 with no data
    ]
    for (const b of bad) expect(() => SequenceTracker.decode(b)).toThrow(DataError)
  })

  it("truncations and byte flips throw DataError or decode", () => {
    fc.assert(fc.property(arbTracker, fc.nat(), fc.integer({ min: 0, max: 255 }), (t, pos, v) => {
      const bytes = SequenceTracker.encode(t)
      for (let n = 0; n < bytes.length; n++) dataErrorOrValue(() => SequenceTracker.decode(bytes.subarray(0, n)))
      const corrupt = bytes.slice()
      corrupt[pos % corrupt.length] = v
      dataErrorOrValue(() => SequenceTracker.decode(corrupt))
    }), { numRuns: 200 })
  })
})

describe("SequenceTracker sampling and lookups", () => {
  it("records at most one point per 60 s", () => {
    let t = SequenceTracker.empty
    t = SequenceTracker.insert(t, 100, 1000)
    t = SequenceTracker.insert(t, 200, 1030) // 30 s later: dropped
    t = SequenceTracker.insert(t, 300, 1060) // 60 s later: kept
    t = SequenceTracker.insert(t, 400, 1000) // backwards: dropped
    expect(t).toEqual(fromPoints([[100, 1000], [300, 1060]]))
  })

  it("drops points whose seq goes backwards", () => {
    const t = SequenceTracker.insert(SequenceTracker.insert(SequenceTracker.empty, 100, 0), 50, 100)
    expect(t.seqs).toEqual([100])
  })

  it("keeps every other point past 8192", () => {
    let t = SequenceTracker.empty
    for (let i = 0; i < 8192; i++) t = SequenceTracker.insert(t, i, i * 60)
    expect(t.seqs.length).toBe(8192)
    t = SequenceTracker.insert(t, 8192, 8192 * 60)
    expect(t.seqs.length).toBe(4097)
    expect(t.seqs[0]).toBe(0)
    expect(t.seqs[1]).toBe(2)
    expect(t.seqs[4096]).toBe(8192)
    expect(SequenceTracker.decode(SequenceTracker.encode(t))).toEqual(t)
  })

  it("merge inserts the other tracker's points with the same sampling", () => {
    const a = fromPoints([[100, 1000]])
    const b = fromPoints([[200, 1030], [300, 1060], [400, 1110], [500, 1120]])
    expect(SequenceTracker.merge(a, b)).toEqual(fromPoints([[100, 1000], [300, 1060], [500, 1120]]))
    expect(SequenceTracker.merge(SequenceTracker.empty, b)).toEqual(fromPoints([[200, 1030], [400, 1110]]))
    expect(SequenceTracker.merge(a, SequenceTracker.empty)).toBe(a)
  })

  const t = fromPoints([[4, 100], [8, 200], [12, 300]])

  it("findTs rounds as SlateDB does", () => {
    expect(SequenceTracker.findTs(t, 8, "RoundDown")).toBe(200)
    expect(SequenceTracker.findTs(t, 8, "RoundUp")).toBe(200)
    expect(SequenceTracker.findTs(t, 6, "RoundUp")).toBe(200)
    expect(SequenceTracker.findTs(t, 6, "RoundDown")).toBe(100)
    expect(SequenceTracker.findTs(t, 0, "RoundDown")).toBeUndefined()
    expect(SequenceTracker.findTs(t, 16, "RoundUp")).toBeUndefined()
    expect(SequenceTracker.findTs(t, 4, "RoundDown")).toBe(100)
    expect(SequenceTracker.findTs(t, 12, "RoundUp")).toBe(300)
    expect(SequenceTracker.findTs(SequenceTracker.empty, 1, "RoundDown")).toBeUndefined()
  })

  it("findSeq rounds as SlateDB does", () => {
    expect(SequenceTracker.findSeq(t, 200, "RoundDown")).toBe(8)
    expect(SequenceTracker.findSeq(t, 200, "RoundUp")).toBe(8)
    expect(SequenceTracker.findSeq(t, 150, "RoundUp")).toBe(8)
    expect(SequenceTracker.findSeq(t, 150, "RoundDown")).toBe(4)
    expect(SequenceTracker.findSeq(t, 50, "RoundDown")).toBeUndefined()
    expect(SequenceTracker.findSeq(t, 350, "RoundUp")).toBeUndefined()
    expect(SequenceTracker.findSeq(t, 100, "RoundDown")).toBe(4)
    expect(SequenceTracker.findSeq(t, 300, "RoundUp")).toBe(12)
    expect(SequenceTracker.findSeq(SequenceTracker.empty, 1, "RoundDown")).toBeUndefined()
  })
})
