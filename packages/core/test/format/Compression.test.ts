/**
 * Compression adapters: round trips for every codec, SlateDB's exact framings (raw snappy, zlib header,
 * lz4 4-byte LE size prefix, zstd frame magic), and typed failures on garbage.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { compress, decompress } from "../../src/format/Compression.ts"
import { CompressionFormat } from "../../src/format/SstMetadata.ts"
import { expectDataError, hex, text } from "./fixtures.ts"

const formats = [
  CompressionFormat.None,
  CompressionFormat.Snappy,
  CompressionFormat.Zlib,
  CompressionFormat.Lz4,
  CompressionFormat.Zstd
] as const

describe("compression", () => {
  it("round-trips arbitrary bytes with every codec (fast-check)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), (data) => {
      for (const f of formats) assert.strictEqual(hex(decompress(f, compress(f, data))), hex(data))
    }), { numRuns: 100 })
  })

  const sample = text("hello hello hello hello hello world ".repeat(20))

  it("framings match SlateDB's", () => {
    assert.strictEqual(compress(CompressionFormat.None, sample), sample)
    // snappy raw: varint uncompressed length first (720 = d0 05), no stream identifier
    assert.strictEqual(hex(compress(CompressionFormat.Snappy, sample).subarray(0, 2)), "d005")
    // zlib: RFC 1950 header, default level
    assert.strictEqual(hex(compress(CompressionFormat.Zlib, sample).subarray(0, 2)), "789c")
    // lz4: 4-byte little-endian uncompressed length, then the block
    assert.strictEqual(hex(compress(CompressionFormat.Lz4, sample).subarray(0, 4)), "d0020000")
    // zstd: frame magic
    assert.strictEqual(hex(compress(CompressionFormat.Zstd, sample).subarray(0, 4)), "28b52ffd")
  })

  it("empty input", () => {
    for (const f of formats) assert.strictEqual(decompress(f, compress(f, new Uint8Array(0))).length, 0)
  })

  it("garbage fails with DataError, never a raw exception", () => {
    const garbage = Uint8Array.of(0xff, 0xfe, 0xfd, 0x00, 0x13, 0x37, 0x42)
    for (const f of formats.slice(1)) expectDataError(() => decompress(f, garbage), /decompression failed/)
    expectDataError(() => decompress(CompressionFormat.Lz4, Uint8Array.of(1, 2)))
    expectDataError(() => decompress(9, sample), /unknown compression format/)
    const truncated = compress(CompressionFormat.Zstd, sample)
    expectDataError(() => decompress(CompressionFormat.Zstd, truncated.subarray(0, truncated.length - 3)))
  })
})
