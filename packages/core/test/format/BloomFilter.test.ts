/**
 * Bloom filter: SipHash-1-3 vectors, SlateDB's probe test vector, sizing, no false negatives, false-positive
 * rate, and the legacy/composite block codecs.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import {
  buildBloomFilter,
  decodeBloomFilter,
  decodeCompositeFilter,
  encodeBloomFilter,
  encodeCompositeFilter,
  estimateFilterEncodedSize,
  filterHash,
  FilterHash,
  filterSizeBytes,
  mightContain,
  mightContainWith,
  optimalNumProbes,
  probesForHash
} from "../../src/format/BloomFilter.ts"
import { expectDataError, text } from "./fixtures.ts"

const u32be = (i: number) => Uint8Array.of(i >>> 24, i >>> 16, i >>> 8, i)

describe("SipHash-1-3 (key 0, 0)", () => {
  // Reference values: CPython 3.11's bytes hash is SipHash-1-3; with PYTHONHASHSEED=0 its key is (0, 0).
  const vectors: ReadonlyArray<readonly [string, bigint]> = [
    ["a", 4644417185603328019n],
    ["hello", 16350172494705860510n],
    ["12345678", 3785724242978802311n],
    ["123456789abcdefgh", 78424065292164886n]
  ]
  for (const [input, expected] of vectors) {
    it(JSON.stringify(input), () => assert.strictEqual(filterHash(text(input)), expected))
  }

  // A straightforward BigInt SipHash-1-3, as a reference for the 32-bit-halves implementation.
  const M = (1n << 64n) - 1n
  const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M
  const reference = (data: Uint8Array): bigint => {
    let v0 = 0x736f6d6570736575n, v1 = 0x646f72616e646f6dn, v2 = 0x6c7967656e657261n, v3 = 0x7465646279746573n
    const round = () => {
      v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n)
      v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2
      v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0
      v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n)
    }
    const full = data.length - (data.length % 8)
    for (let i = 0; i <= full; i += 8) {
      let m = 0n
      if (i < full) for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(data[i + j]!)
      else {
        m = BigInt(data.length & 0xff) << 56n
        for (let j = full; j < data.length; j++) m |= BigInt(data[j]!) << BigInt(8 * (j - full))
      }
      v3 ^= m
      round()
      v0 ^= m
    }
    v2 ^= 0xffn
    round()
    round()
    round()
    return v0 ^ v1 ^ v2 ^ v3
  }

  it("matches a BigInt reference implementation on arbitrary inputs (fast-check)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (data) => filterHash(data) === reference(data)), {
      numRuns: 2000
    })
  })
})

describe("bloom filter", () => {
  it("SlateDB's probe vector (test_compute_probes)", () => {
    assert.deepStrictEqual(probesForHash(0xdf77ef56, 0xdeadbeef, 7, 1000000), [
      928559,
      107781,
      287004,
      466229,
      645457,
      824689,
      3926
    ])
  })

  it("sizing: 6 probes at 10 bits/key, ceil(n·bits/8) bytes", () => {
    assert.strictEqual(optimalNumProbes(10), 6)
    assert.strictEqual(optimalNumProbes(1), 0)
    assert.strictEqual(optimalNumProbes(20), 13)
    assert.strictEqual(filterSizeBytes(1, 10), 2)
    assert.strictEqual(filterSizeBytes(1000, 10), 1250)
    assert.strictEqual(estimateFilterEncodedSize(0, 10), 6)
    assert.strictEqual(estimateFilterEncodedSize(100, 10), 131)
    const f = buildBloomFilter([text("test_key")])
    assert.strictEqual(f.bits.length, 2)
    assert.strictEqual(f.numProbes, 6)
  })

  it("has no false negatives (fast-check)", () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 32 }), { minLength: 1, maxLength: 300 }), (keys) => {
      const f = buildBloomFilter(keys)
      return keys.every((k) => mightContain(f, k))
    }), { numRuns: 300 })
  })

  it("mightContain answers 'every probe bit set', per SlateDB's probe sequence, for any filter (fast-check)", () => {
    // Random bits and probe counts, including filters with fewer bits than probes (decoded from other
    // writers), where the probe sequence wraps repeatedly.
    const arbFilter = fc.record({
      numProbes: fc.integer({ min: 0, max: 40 }),
      bits: fc.uint8Array({ minLength: 1, maxLength: 64 })
    })
    fc.assert(fc.property(arbFilter, fc.array(fc.uint8Array({ maxLength: 24 }), { maxLength: 20 }), (filter, keys) => {
      const filterBits = filter.bits.length * 8
      for (const k of keys) {
        const h = filterHash(k)
        const probes = probesForHash(Number(h >> 32n), Number(h & 0xffffffffn), filter.numProbes, filterBits)
        const want = probes.every((p) => (filter.bits[p >>> 3]! & (1 << (p & 7))) !== 0)
        assert.strictEqual(mightContain(filter, k), want)
      }
    }), { numRuns: 500 })
  })

  it("mightContainWith: one hash per key, shared by several filters, the same answers as mightContain (fast-check)", () => {
    const arbFilter = fc.record({
      numProbes: fc.integer({ min: 0, max: 12 }),
      bits: fc.uint8Array({ minLength: 0, maxLength: 64 })
    })
    fc.assert(fc.property(fc.array(arbFilter, { minLength: 1, maxLength: 4 }), fc.array(fc.uint8Array({ maxLength: 24 }), { maxLength: 20 }), (filters, keys) => {
      const hash = new FilterHash()
      for (const k of keys) {
        hash.reset()
        for (const f of filters) assert.strictEqual(mightContainWith(f, k, hash), mightContain(f, k))
        if (filters.some((f) => f.bits.length > 0)) {
          const h = filterHash(k)
          assert.isTrue(hash.ready)
          assert.strictEqual(hash.hi, Number(h >> 32n))
          assert.strictEqual(hash.lo, Number(h & 0xffffffffn))
        }
      }
    }), { numRuns: 300 })
  })

  it("false-positive rate below 1% at 10 bits/key (SlateDB's test_filter_effective)", () => {
    const n = 100000
    const keys = Array.from({ length: n }, (_, i) => u32be(i))
    const f = buildBloomFilter(keys)
    for (const k of keys) assert.isTrue(mightContain(f, k))
    let fp = 0
    for (let i = n; i < 2 * n; i++) if (mightContain(f, u32be(i))) fp++
    assert.isBelow(fp / n, 0.01)
  })

  it("a zero-bit filter answers maybe", () => {
    const f = buildBloomFilter([])
    assert.strictEqual(f.bits.length, 0)
    assert.isTrue(mightContain(f, text("anything")))
  })

  it("legacy block: u16 BE num_probes ++ bits, round trip", () => {
    const f = buildBloomFilter([text("a"), text("b"), text("c")])
    const enc = encodeBloomFilter(f)
    assert.deepStrictEqual([enc[0], enc[1]], [0, 6])
    assert.strictEqual(enc.length, 2 + 4)
    const back = decodeBloomFilter(enc)
    assert.strictEqual(back.numProbes, 6)
    assert.deepStrictEqual(Array.from(back.bits), Array.from(f.bits))
    expectDataError(() => decodeBloomFilter(new Uint8Array(1)))
  })

  it("composite block: finds \"_bf\" among other filters, skips unknown ones", () => {
    const f = buildBloomFilter([text("x"), text("y")])
    const single = encodeCompositeFilter(f)
    assert.deepStrictEqual(Array.from(decodeCompositeFilter(single)!.bits), Array.from(f.bits))
    // an unknown filter "zz" with 3 data bytes, then "_bf"
    const otherEntry = [0, 2, 0x7a, 0x7a, 0, 0, 0, 0, 0, 0, 0, 3, 9, 9, 9]
    const composite = Uint8Array.from([0, 2, ...otherEntry, ...single.subarray(2)])
    assert.deepStrictEqual(Array.from(decodeCompositeFilter(composite)!.bits), Array.from(f.bits))
    assert.strictEqual(decodeCompositeFilter(Uint8Array.from([0, 1, ...otherEntry])), undefined, "no _bf ⇒ no filter")
    expectDataError(() => decodeCompositeFilter(composite.subarray(0, composite.length - 1)))
    expectDataError(() => decodeCompositeFilter(Uint8Array.from([...composite, 0])))
  })
})
