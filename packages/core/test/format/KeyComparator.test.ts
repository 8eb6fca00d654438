import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { makeTombstone, makeValue } from "../../src/format/RowEntry.ts"
import { compareKeyParts, compareKeys, compareRows, compareRowTo, keyPartsEqual, keysEqual, MAX_SEQ } from "../../src/format/KeyComparator.ts"

const b = (...xs: Array<number>) => Uint8Array.from(xs)
const s = (x: string) => new TextEncoder().encode(x)
const sign = (x: number) => (x < 0 ? -1 : x > 0 ? 1 : 0)

/** The obvious definition, for the property test. */
const naive = (a: Uint8Array, c: Uint8Array): number => {
  for (let i = 0; i < Math.min(a.length, c.length); i++) if (a[i] !== c[i]) return a[i]! - c[i]!
  return a.length - c.length
}

describe("compareKeys", () => {
  it("orders bytes unsigned", () => {
    assert.isBelow(compareKeys(b(0x7f), b(0x80)), 0)
    assert.isAbove(compareKeys(b(0xff), b(0x00)), 0)
    assert.isBelow(compareKeys(b(1, 2, 0x7f), b(1, 2, 0xfe)), 0)
  })

  it("puts a proper prefix first, the empty key before all", () => {
    assert.isBelow(compareKeys(s("ab"), s("abc")), 0)
    assert.isAbove(compareKeys(s("abc"), s("ab")), 0)
    assert.isBelow(compareKeys(b(), b(0)), 0)
    assert.isAbove(compareKeys(b(0), b()), 0)
    assert.strictEqual(compareKeys(b(), b()), 0)
  })

  it("is 0 exactly for equal bytes, including views into larger buffers", () => {
    const big = s("xxkey0001yy")
    const view = big.subarray(2, 9)
    assert.strictEqual(compareKeys(view, s("key0001")), 0)
    assert.isTrue(keysEqual(view, s("key0001")))
    assert.isFalse(keysEqual(view, s("key0002")))
    assert.isFalse(keysEqual(s("key"), s("key0")))
    assert.isTrue(keysEqual(b(), b()))
  })

  it("agrees with the naive definition (property)", () => {
    const key = fc.uint8Array({ maxLength: 40 })
    // Shared prefixes are the interesting case: build pairs that often share one.
    const pair = fc.tuple(fc.uint8Array({ maxLength: 20 }), key, key).map(([p, x, y]) => {
      const a = new Uint8Array(p.length + x.length)
      a.set(p)
      a.set(x, p.length)
      const c = new Uint8Array(p.length + y.length)
      c.set(p)
      c.set(y, p.length)
      return [a, c] as const
    })
    fc.assert(
      fc.property(pair, fc.uint8Array({ maxLength: 8 }), ([x, y], tail) => {
        assert.strictEqual(sign(compareKeys(x, y)), sign(naive(x, y)))
        assert.strictEqual(keysEqual(x, y), naive(x, y) === 0)
        // The same keys at the start of longer buffers (a reused key buffer), native path past 32 bytes.
        const bx = new Uint8Array(x.length + tail.length)
        bx.set(x)
        bx.set(tail, x.length)
        const by = new Uint8Array(y.length + 3).fill(0xff)
        by.set(y)
        assert.strictEqual(sign(compareKeyParts(bx, x.length, by, y.length)), sign(naive(x, y)))
        assert.strictEqual(keyPartsEqual(bx, x.length, y), naive(x, y) === 0)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("compareKeyParts / keyPartsEqual", () => {
  it("agree with compareKeys on keys at the start of longer buffers, short and long (native path)", () => {
    let seed = 3
    const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % 4
    for (let round = 0; round < 2000; round++) {
      // Keys over a 4-letter alphabet sharing a long prefix, so that they often differ late or not at all.
      const prefix = 10 + (round % 50)
      const x = Uint8Array.from({ length: prefix + next() }, (_, i) => (i < prefix ? 7 : next()))
      const y = Uint8Array.from({ length: prefix + next() }, (_, i) => (i < prefix ? 7 : next()))
      const bx = new Uint8Array(x.length + 5).fill(0xff)
      bx.set(x)
      const by = new Uint8Array(y.length + 2)
      by.set(y)
      assert.strictEqual(sign(compareKeyParts(bx, x.length, by, y.length)), sign(naive(x, y)), `round ${round}`)
      assert.strictEqual(keyPartsEqual(bx, x.length, y), naive(x, y) === 0, `round ${round}`)
    }
  })
})

describe("row order", () => {
  it("is key ascending, then seq descending, whatever the kind", () => {
    const rows = [
      makeValue(s("b"), s("1"), 1),
      makeValue(s("a"), s("1"), 1),
      makeTombstone(s("a"), 3),
      makeValue(s("a"), s("2"), 2)
    ]
    const sorted = rows.slice().sort(compareRows).map((r) => `${new TextDecoder().decode(r.key)}@${r.seq}`)
    assert.deepStrictEqual(sorted, ["a@3", "a@2", "a@1", "b@1"])
  })

  it("compareRowTo positions: (key, maxSeq) before the newest visible version, -1 after all, MAX_SEQ before all", () => {
    const r5 = makeValue(s("k"), s("v"), 5)
    assert.isBelow(compareRowTo(r5, s("k"), 4), 0) // r5 sorts before (k, 4): it is newer
    assert.strictEqual(compareRowTo(r5, s("k"), 5), 0)
    assert.isAbove(compareRowTo(r5, s("k"), 6), 0)
    assert.isBelow(compareRowTo(r5, s("k"), -1), 0)
    assert.isAbove(compareRowTo(r5, s("k"), MAX_SEQ), 0)
    assert.isBelow(compareRowTo(r5, s("l"), MAX_SEQ), 0)
  })
})
