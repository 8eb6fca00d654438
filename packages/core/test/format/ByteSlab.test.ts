/**
 * ByteSlab (format/ByteSlab.ts): copies carved out of shared slabs are independent of their source and of
 * each other, whatever their length (the byte loop up to 32 bytes, `set` beyond, a fresh array past
 * `maxPooled`) and across the start of a new slab; `copyPrefix` copies only the first `n` bytes (a scan's
 * reused key buffer).
 */
import { assert, describe, it } from "@effect/vitest"
import { ByteSlab } from "../../src/format/ByteSlab.ts"

const bytes = (n: number, from: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff)

describe("ByteSlab", () => {
  it("copies of any length stay intact while the source changes and later copies are made", () => {
    const slab = new ByteSlab(256, 64)
    const made: Array<[Uint8Array, Uint8Array]> = []
    for (const n of [0, 1, 7, 31, 32, 33, 64, 65, 100, 3, 50, 50, 50, 50, 50]) {
      const src = bytes(n, n)
      const copy = slab.copy(src)
      src.fill(0xee)
      made.push([copy, bytes(n, n)])
    }
    for (const [copy, expected] of made) assert.deepStrictEqual(copy, expected)
  })

  it("copyPrefix copies the first n bytes of a longer buffer", () => {
    const slab = new ByteSlab(128, 48)
    const buf = bytes(80, 1)
    for (const n of [0, 5, 32, 40, 48, 49, 80]) {
      const copy = slab.copyPrefix(buf, n)
      assert.strictEqual(copy.length, n)
      assert.deepStrictEqual(copy, buf.slice(0, n))
      assert.notStrictEqual(copy.buffer, buf.buffer)
    }
  })
})
