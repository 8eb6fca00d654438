/**
 * SlateDB's point-lookup bloom filter (docs/format.md §2.3 "Filter block").
 *
 * - hash = SipHash-1-3 with key (0, 0) over the raw key bytes (Rust `siphasher` `SipHasher13::new().hash`);
 * - `numProbes = floor(f32(bitsPerKey) × 0.69)` (6 for the default 10 bits per key);
 * - `n` = number of keys added (every row version counts), `bytes = ceil(n × bitsPerKey / 8)`;
 * - probes (enhanced double hashing): `h = lo32 % bits`, `d = hi32 % bits`, then for i in 0..numProbes:
 *   `d = (d + i) % bits; probe h; h = (h + d) % bits`; bit b is `1 << (b % 8)` of byte `b / 8`.
 *
 * Guarantees:
 * - Byte-identical to SlateDB for the same keys in the same order (verified against engine-written SSTs).
 * - No false negatives: every added key answers `true`.
 * - We WRITE only the legacy block (`u16 BE num_probes ++ bits`), which both the released 0.12.1 and the
 *   tag read; we READ both the legacy block and the composite block (taking the `"_bf"` filter).
 * - A filter with zero bits answers "maybe" for every key (SlateDB would divide by zero).
 * - Hashing is allocation-free (32-bit halves, no BigInt).
 */
import { DataError } from "../errors.ts"
import { readU16, readU64, writeU16 } from "./BigEndian.ts"

export const DEFAULT_BITS_PER_KEY = 10
/** The composite-format name of SlateDB's built-in bloom filter policy. */
export const BLOOM_FILTER_NAME = "_bf"

// The hash result lands in HASH_LO / HASH_HI (module scratch, uint32 each: no allocation per hash).
let HASH_LO = 0
let HASH_HI = 0

/**
 * SipHash-1-3 with key (0, 0). Each 64-bit word is two int32 halves (`h`, `l`) so V8 keeps everything in
 * integer registers; additions carry by comparing the low halves as unsigned.
 */
const sipHash13 = (data: Uint8Array): void => {
  // v0 = 0x736f6d6570736575, v1 = 0x646f72616e646f6d, v2 = 0x6c7967656e657261, v3 = 0x7465646279746573
  let v0h = 0x736f6d65 | 0, v0l = 0x70736575 | 0
  let v1h = 0x646f7261 | 0, v1l = 0x6e646f6d | 0
  let v2h = 0x6c796765 | 0, v2l = 0x6e657261 | 0
  let v3h = 0x74656462 | 0, v3l = 0x79746573 | 0
  let t = 0
  let u = 0
  const len = data.length
  const full = len - (len & 7)
  let mh = 0
  let ml = 0
  for (let i = 0; i <= full; i += 8) {
    if (i < full) {
      ml = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
      mh = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)
    } else {
      // Final block: the remaining bytes little-endian, the length's low byte on top.
      ml = 0
      mh = (len & 0xff) << 24
      for (let j = full; j < len; j++) {
        const shift = 8 * ((j - full) & 3)
        if (j - full < 4) ml |= data[j]! << shift
        else mh |= data[j]! << shift
      }
    }
    v3h ^= mh
    v3l ^= ml
    // one compression round
    t = (v0l + v1l) | 0; v0h = (v0h + v1h + ((t >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = t
    t = (v1h << 13) | (v1l >>> 19); u = (v1l << 13) | (v1h >>> 19); v1h = t ^ v0h; v1l = u ^ v0l
    t = v0h; v0h = v0l; v0l = t
    t = (v2l + v3l) | 0; v2h = (v2h + v3h + ((t >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = t
    t = (v3h << 16) | (v3l >>> 16); u = (v3l << 16) | (v3h >>> 16); v3h = t ^ v2h; v3l = u ^ v2l
    t = (v0l + v3l) | 0; v0h = (v0h + v3h + ((t >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = t
    t = (v3h << 21) | (v3l >>> 11); u = (v3l << 21) | (v3h >>> 11); v3h = t ^ v0h; v3l = u ^ v0l
    t = (v2l + v1l) | 0; v2h = (v2h + v1h + ((t >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = t
    t = (v1h << 17) | (v1l >>> 15); u = (v1l << 17) | (v1h >>> 15); v1h = t ^ v2h; v1l = u ^ v2l
    t = v2h; v2h = v2l; v2l = t
    v0h ^= mh
    v0l ^= ml
  }
  v2l ^= 0xff
  for (let r = 0; r < 3; r++) {
    t = (v0l + v1l) | 0; v0h = (v0h + v1h + ((t >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = t
    t = (v1h << 13) | (v1l >>> 19); u = (v1l << 13) | (v1h >>> 19); v1h = t ^ v0h; v1l = u ^ v0l
    t = v0h; v0h = v0l; v0l = t
    t = (v2l + v3l) | 0; v2h = (v2h + v3h + ((t >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = t
    t = (v3h << 16) | (v3l >>> 16); u = (v3l << 16) | (v3h >>> 16); v3h = t ^ v2h; v3l = u ^ v2l
    t = (v0l + v3l) | 0; v0h = (v0h + v3h + ((t >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = t
    t = (v3h << 21) | (v3l >>> 11); u = (v3l << 21) | (v3h >>> 11); v3h = t ^ v0h; v3l = u ^ v0l
    t = (v2l + v1l) | 0; v2h = (v2h + v1h + ((t >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = t
    t = (v1h << 17) | (v1l >>> 15); u = (v1l << 17) | (v1h >>> 15); v1h = t ^ v2h; v1l = u ^ v2l
    t = v2h; v2h = v2l; v2l = t
  }
  HASH_HI = (v0h ^ v1h ^ v2h ^ v3h) >>> 0
  HASH_LO = (v0l ^ v1l ^ v2l ^ v3l) >>> 0
}

/** SipHash-1-3 (key 0, 0) of `data` as a BigInt (tests and diagnostics; the filter never uses BigInt). */
export const filterHash = (data: Uint8Array): bigint => {
  sipHash13(data)
  return (BigInt(HASH_HI) << 32n) | BigInt(HASH_LO)
}

/** `floor(f32(bitsPerKey) × 0.69)`, computed in single precision like SlateDB. */
export const optimalNumProbes = (bitsPerKey: number): number =>
  Math.trunc(Math.fround(Math.fround(bitsPerKey) * Math.fround(0.69)))

/** `ceil(numKeys × bitsPerKey / 8)`. */
export const filterSizeBytes = (numKeys: number, bitsPerKey: number): number => Math.ceil((numKeys * bitsPerKey) / 8)

/**
 * SlateDB 0.12.1's `BloomFilter::estimate_encoded_size`: filter bytes + the 2-byte probe count + the 4-byte
 * CRC (later versions leave the CRC out; 0.12.1 counts it).
 */
export const estimateFilterEncodedSize = (numKeys: number, bitsPerKey: number): number =>
  filterSizeBytes(numKeys, bitsPerKey) + 2 + 4

/** The probe positions for a 64-bit hash (`hi`, `lo` halves); exported for the reference test vector. */
export const probesForHash = (hi: number, lo: number, numProbes: number, filterBits: number): Array<number> => {
  const out: Array<number> = []
  let h = lo % filterBits
  let d = hi % filterBits
  for (let i = 0; i < numProbes; i++) {
    d = (d + i) % filterBits
    out.push(h)
    h = (h + d) % filterBits
  }
  return out
}

export interface BloomFilter {
  readonly numProbes: number
  /** The bit array (LSB-first within each byte). */
  readonly bits: Uint8Array
}

/** Collects key hashes; `build` sizes the bit array from the number of keys added. */
export class BloomFilterBuilder {
  readonly bitsPerKey: number
  private hashes: Uint32Array = new Uint32Array(2048)
  private n = 0

  constructor(bitsPerKey: number = DEFAULT_BITS_PER_KEY) {
    this.bitsPerKey = bitsPerKey
  }

  get numKeys(): number {
    return this.n
  }

  addKey(key: Uint8Array): void {
    sipHash13(key)
    if (2 * this.n + 2 > this.hashes.length) {
      const next = new Uint32Array(this.hashes.length * 2)
      next.set(this.hashes, 0)
      this.hashes = next
    }
    this.hashes[2 * this.n] = HASH_LO
    this.hashes[2 * this.n + 1] = HASH_HI
    this.n++
  }

  build(): BloomFilter {
    const numProbes = optimalNumProbes(this.bitsPerKey)
    const bytes = filterSizeBytes(this.n, this.bitsPerKey)
    const bits = new Uint8Array(bytes)
    const filterBits = bytes * 8
    if (filterBits > 0) {
      const hashes = this.hashes
      for (let k = 0; k < this.n; k++) {
        let h = hashes[2 * k]! % filterBits
        let d = hashes[2 * k + 1]! % filterBits
        for (let i = 0; i < numProbes; i++) {
          // (d + i) % bits and (h + d) % bits without a division: both sums stay below 2·bits
          // (bits ≥ bitsPerKey > numProbes), so one conditional subtraction is enough.
          d += i
          if (d >= filterBits) d -= filterBits
          bits[h >>> 3] = bits[h >>> 3]! | (1 << (h & 7))
          h += d
          if (h >= filterBits) h -= filterBits
        }
      }
    }
    return { numProbes, bits }
  }
}

/** Builds a filter over `keys` (each one counts, duplicates included). */
export const buildBloomFilter = (keys: Iterable<Uint8Array>, bitsPerKey: number = DEFAULT_BITS_PER_KEY): BloomFilter => {
  const b = new BloomFilterBuilder(bitsPerKey)
  for (const k of keys) b.addKey(k)
  return b.build()
}

/** False only when `key` was certainly not added. */
export const mightContain = (filter: BloomFilter, key: Uint8Array): boolean => {
  if (filter.bits.length === 0) return true
  sipHash13(key)
  return probe(filter, HASH_LO, HASH_HI)
}

/**
 * A key's filter hash, computed at most once however many filters are asked: SlateDB's filters all hash
 * the same way, so a point read that passes several SSTs hashes its key once. `reset()` it for each key.
 */
export class FilterHash {
  lo = 0
  hi = 0
  ready = false

  reset(): void {
    this.ready = false
  }
}

/** `mightContain`, with the hash of `key` taken from `hash` (computed there on first use). */
export const mightContainWith = (filter: BloomFilter, key: Uint8Array, hash: FilterHash): boolean => {
  if (filter.bits.length === 0) return true
  if (!hash.ready) {
    sipHash13(key)
    hash.lo = HASH_LO
    hash.hi = HASH_HI
    hash.ready = true
  }
  return probe(filter, hash.lo, hash.hi)
}

/** The probes of a key whose hash halves are `lo` and `hi` (the filter has at least one bit). */
const probe = (filter: BloomFilter, lo: number, hi: number): boolean => {
  const bits = filter.bits
  const filterBits = bits.length * 8
  let h = lo % filterBits
  let d = hi % filterBits
  const numProbes = filter.numProbes
  if (numProbes <= filterBits) {
    // As in the builder: both sums stay below 2·bits, so a conditional subtraction is the modulo. (The
    // subtraction runs every time: run only on a wrap, which `d` rarely does, the optimized code would
    // lack type feedback for it and deoptimize on the first wrap.)
    for (let i = 0; i < numProbes; i++) {
      d += i
      const dw = d - filterBits
      if (dw >= 0) d = dw
      if ((bits[h >>> 3]! & (1 << (h & 7))) === 0) return false
      h += d
      const hw = h - filterBits
      if (hw >= 0) h = hw
    }
    return true
  }
  for (let i = 0; i < numProbes; i++) {
    d = (d + i) % filterBits // a decoded filter may be tiny relative to its probe count
    if ((bits[h >>> 3]! & (1 << (h & 7))) === 0) return false
    h = (h + d) % filterBits
  }
  return true
}

/** The legacy filter block: `u16 BE num_probes ++ bits`. */
export const encodeBloomFilter = (filter: BloomFilter): Uint8Array => {
  const out = new Uint8Array(2 + filter.bits.length)
  writeU16(out, 0, filter.numProbes)
  out.set(filter.bits, 2)
  return out
}

/** Decodes a legacy filter block. The bit array is a view into `bytes`. */
export const decodeBloomFilter = (bytes: Uint8Array): BloomFilter => {
  if (bytes.length < 2) throw new DataError({ message: `filter block of ${bytes.length} bytes has no probe count` })
  return { numProbes: readU16(bytes, 0), bits: bytes.subarray(2) }
}

/** `"_bf"` as bytes. */
const BLOOM_NAME_BYTES = [0x5f, 0x62, 0x66] as const

/**
 * Decodes a composite filter block (`u16 BE count`, then per filter `u16 BE name_len, name, u64 BE data_len,
 * data`) and returns the `"_bf"` bloom filter, or undefined if the block has none (the reader then scans).
 */
export const decodeCompositeFilter = (bytes: Uint8Array): BloomFilter | undefined => {
  const fail = (what: string): never => {
    throw new DataError({ message: `composite filter block: ${what}` })
  }
  if (bytes.length < 2) fail("missing filter count")
  const count = readU16(bytes, 0)
  let pos = 2
  let found: BloomFilter | undefined
  for (let i = 0; i < count; i++) {
    if (pos + 2 > bytes.length) fail(`filter ${i} name length truncated`)
    const nameLen = readU16(bytes, pos)
    pos += 2
    if (pos + nameLen + 8 > bytes.length) fail(`filter ${i} name truncated`)
    const isBloom = nameLen === 3 && bytes[pos] === BLOOM_NAME_BYTES[0] && bytes[pos + 1] === BLOOM_NAME_BYTES[1] &&
      bytes[pos + 2] === BLOOM_NAME_BYTES[2]
    pos += nameLen
    const dataLen = readU64(bytes, pos)
    pos += 8
    if (pos + dataLen > bytes.length) fail(`filter ${i} data truncated`)
    if (isBloom && found === undefined) found = decodeBloomFilter(bytes.subarray(pos, pos + dataLen))
    pos += dataLen
  }
  if (pos !== bytes.length) fail(`${bytes.length - pos} trailing bytes`)
  return found
}

/** Encodes a composite block holding just the bloom filter (tests: we never write this format). */
export const encodeCompositeFilter = (filter: BloomFilter): Uint8Array => {
  const data = encodeBloomFilter(filter)
  const name = new TextEncoder().encode(BLOOM_FILTER_NAME)
  const out = new Uint8Array(2 + 2 + name.length + 8 + data.length)
  writeU16(out, 0, 1)
  writeU16(out, 2, name.length)
  out.set(name, 4)
  // u64 BE data length (fits in 32 bits here)
  const lenPos = 4 + name.length
  out[lenPos + 4] = data.length >>> 24
  out[lenPos + 5] = data.length >>> 16
  out[lenPos + 6] = data.length >>> 8
  out[lenPos + 7] = data.length
  out.set(data, lenPos + 8)
  return out
}
