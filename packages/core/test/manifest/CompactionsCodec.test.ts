import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import { Builder, createOffsetVector } from "../../src/format/FlatBuffers.ts"
import { writeUlid } from "../../src/manifest/Ids.ts"
import {
  type Compaction,
  compactionDestination,
  type Compactions,
  decodeCompactions,
  encodeCompactions
} from "../../src/manifest/CompactionsCodec.ts"
import { arbInfo, arbUlid, safeNat } from "./arbitraries.ts"

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")

const arbCompaction: fc.Arbitrary<Compaction> = fc.record({
  id: arbUlid,
  spec: fc.record({
    l0ViewIds: fc.array(arbUlid, { maxLength: 4 }),
    sortedRuns: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 4 })
  }),
  status: fc.constantFrom(0, 1, 2, 3),
  outputSsts: fc.array(fc.record({ id: arbUlid, info: arbInfo, formatVersion: fc.integer({ min: 0, max: 0xffff }) }), { maxLength: 3 })
})
const arbCompactions: fc.Arbitrary<Compactions> = fc.record({
  compactorEpoch: safeNat,
  recentCompactions: fc.array(arbCompaction, { maxLength: 4 })
})

const ULID_A = "01HZX4V4K0B1F9J8Q2Z3M5N6P7"

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

describe("CompactionsCodec", () => {
  it("the empty compactions file of a new compactor (epoch 0) is 26 bytes", () => {
    const bytes = encodeCompactions({ compactorEpoch: 0, recentCompactions: [] })
    expect(bytes.length).toBe(26) // as written by SlateDB 0.12.1 (compactions/…1.compactions)
    expect(hex(bytes.subarray(0, 2))).toBe("0001")
    expect(decodeCompactions(bytes)).toEqual({ compactorEpoch: 0, recentCompactions: [] })
  })

  it("round-trips generated compactions", () => {
    fc.assert(fc.property(arbCompactions, (c) => {
      const bytes = encodeCompactions(c)
      expect(decodeCompactions(bytes)).toEqual(c)
      expect(hex(encodeCompactions(decodeCompactions(bytes)))).toBe(hex(bytes))
    }), { numRuns: 300 })
  })

  it("derives the destination like SlateDB: lowest source run, else 0", () => {
    expect(compactionDestination({ l0ViewIds: [ULID_A], sortedRuns: [] })).toBe(0)
    expect(compactionDestination({ l0ViewIds: [], sortedRuns: [7, 3, 5] })).toBe(3)
  })

  it("reads the deprecated `ssts` list as L0 sources", () => {
    const b = new Builder(128)
    const ssts = createOffsetVector(b, [writeUlid(b, ULID_A)])
    b.startObject(3)
    b.addFieldOffset(0, ssts, 0)
    const spec = b.endObject()
    const id = writeUlid(b, ULID_A)
    b.startObject(5)
    b.addFieldOffset(2, spec, 0)
    b.addFieldOffset(0, id, 0)
    b.addFieldInt8(3, 1, 0)
    b.addFieldInt8(1, 1, 0)
    const compactions = createOffsetVector(b, [b.endObject()])
    b.startObject(2)
    b.addFieldInt64(0, 4n, 0n)
    b.addFieldOffset(1, compactions, 0)
    b.finish(b.endObject())
    const decoded = decodeCompactions(new Uint8Array([0, 1, ...b.asUint8Array()]))
    expect(decoded).toEqual({
      compactorEpoch: 4,
      recentCompactions: [{ id: ULID_A, spec: { l0ViewIds: [ULID_A], sortedRuns: [] }, status: 1, outputSsts: [] }]
    })
  })

  it("rejects bad versions, short files, unknown spec types and statuses", () => {
    expectDataError(() => decodeCompactions(new Uint8Array([1])), /InvalidCompaction/)
    expectDataError(() => decodeCompactions(new Uint8Array([0, 2, 0, 0, 0, 0])), /InvalidVersion/)
    const good = encodeCompactions({
      compactorEpoch: 1,
      recentCompactions: [{ id: ULID_A, spec: { l0ViewIds: [], sortedRuns: [1] }, status: 2, outputSsts: [] }]
    })
    // Find the status byte (2) and the spec-type byte (1) by trying every byte: some changes must fail.
    let failures = 0
    for (let pos = 2; pos < good.length; pos++) {
      const c = good.slice()
      c[pos] = 9
      try {
        decodeCompactions(c)
      } catch (e) {
        expect(e).toBeInstanceOf(DataError)
        failures++
      }
    }
    expect(failures).toBeGreaterThan(0)
  })

  it("truncations and byte flips throw DataError or decode to re-encodable values", () => {
    fc.assert(fc.property(arbCompactions, fc.nat(), fc.integer({ min: 0, max: 255 }), (c, pos, v) => {
      const bytes = encodeCompactions(c)
      const attempt = (b: Uint8Array) => {
        try {
          const d = decodeCompactions(b)
          expect(decodeCompactions(encodeCompactions(d))).toEqual(d)
        } catch (e) {
          if (!(e instanceof DataError)) throw e
        }
      }
      for (let n = 0; n < bytes.length; n += 3) attempt(bytes.subarray(0, n))
      const corrupt = bytes.slice()
      corrupt[pos % corrupt.length] = v
      attempt(corrupt)
    }), { numRuns: 200 })
  })
})
