import { assert, describe, it } from "@effect/vitest"
import { estimateEncodedSizeCompacted, estimateEncodedSizeWal } from "../../src/memtable/SizeEstimate.ts"

const defaults = { blockSize: 4096, minFilterKeys: 1000, filterBitsPerKey: 10 }

describe("SST size estimates (SlateDB's estimate_encoded_size_*)", () => {
  it("is 0 for no rows", () => {
    assert.strictEqual(estimateEncodedSizeCompacted(0, 0, defaults), 0)
    assert.strictEqual(estimateEncodedSizeWal(0, 0, defaults), 0)
  })

  it("compacted, with a bloom filter (n >= min_filter_keys), term by term", () => {
    // n = 1000 rows, Σ estimated_size = 100 000
    // E = 100000 + 9*1000 = 109000; B = ceil(109000/4096) = 27
    // blocks 109000 + 2*1000 + 4*27 = 111108; index 27*12 + 2 + 4 = 330; metadata 12 + 32 + 2 = 46; footer 10
    // filter ceil(1000*10/8) + 2 + 4 = 1256; stats 5*8 + 4 = 44
    assert.strictEqual(estimateEncodedSizeCompacted(1000, 100_000, defaults), 111108 + 330 + 46 + 10 + 1256 + 44)
  })

  it("compacted without a filter below min_filter_keys", () => {
    // n = 999, bytes = 99 900: E = 108891, B = 27; 108891 + 1998 + 108 + 330 + 46 + 10 + 44
    assert.strictEqual(estimateEncodedSizeCompacted(999, 99_900, defaults), 108891 + 1998 + 108 + 330 + 46 + 10 + 44)
  })

  it("WAL: 8-byte first keys, no filter, no stats", () => {
    // E + 2n + 4B + (8B + 2) + 4 + 42 + 10
    assert.strictEqual(estimateEncodedSizeWal(1000, 100_000, defaults), 109000 + 2000 + 108 + (216 + 2) + 4 + 42 + 10)
    assert.strictEqual(estimateEncodedSizeWal(1, 30, defaults), 39 + 2 + 4 + 10 + 4 + 42 + 10)
  })

  it("follows the block size", () => {
    const small = estimateEncodedSizeCompacted(10, 10_000, { ...defaults, blockSize: 1024 })
    const large = estimateEncodedSizeCompacted(10, 10_000, { ...defaults, blockSize: 65536 })
    // E = 10090: 10 blocks of 1 KiB vs 1 of 64 KiB => 9 * (4 + 12) bytes apart
    assert.strictEqual(small - large, 9 * 16)
  })
})
