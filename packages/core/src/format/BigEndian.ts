/**
 * Big-endian integer reads and writes over `Uint8Array`, as SlateDB frames every integer it defines
 * (FlatBuffers aside). Plain functions on purpose: they are called in the innermost loops of the row and
 * block codecs, where V8 inlines them.
 *
 * Guarantees:
 * - 64-bit values are JavaScript numbers (`hi * 2^32 + lo`), never BigInt. A stored value outside the
 *   safe-integer range is rejected with a `DataError` rather than silently rounded.
 * - Reads do not check bounds; callers check once per record (a read past the end would give `NaN`).
 * - Writes assume the caller sized the destination; values are not range-checked beyond what the
 *   arithmetic needs (writers validate rows before encoding).
 */
import { DataError } from "../errors.ts"

const TWO_32 = 4294967296

export const readU16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!

export const readU32 = (b: Uint8Array, o: number): number =>
  b[o]! * 16777216 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)

/** Reads a u64 that must be a safe integer (sequence numbers, offsets, lengths). */
export const readU64 = (b: Uint8Array, o: number): number => {
  const hi = readU32(b, o)
  if (hi > 0x1fffff) {
    throw new DataError({ message: `u64 value at byte ${o} exceeds 2^53-1 and cannot be represented` })
  }
  return hi * TWO_32 + readU32(b, o + 4)
}

/** Reads an i64 that must be a safe integer (timestamps). */
export const readI64 = (b: Uint8Array, o: number): number => {
  const hi = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!
  const v = hi * TWO_32 + readU32(b, o + 4)
  if (!Number.isSafeInteger(v)) {
    throw new DataError({ message: `i64 value at byte ${o} is outside the safe integer range` })
  }
  return v
}

export const writeU16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 8
  b[o + 1] = v
}

export const writeU32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}

/** Writes a non-negative safe integer as u64. */
export const writeU64 = (b: Uint8Array, o: number, v: number): void => {
  const hi = Math.floor(v / TWO_32)
  writeU32(b, o, hi)
  writeU32(b, o + 4, v - hi * TWO_32)
}

/** Writes a safe integer (possibly negative) as two's-complement i64. */
export const writeI64 = (b: Uint8Array, o: number, v: number): void => {
  const hi = Math.floor(v / TWO_32)
  writeU32(b, o, hi | 0)
  writeU32(b, o + 4, v - hi * TWO_32)
}

/** The 8-byte big-endian encoding of a u64 (WAL index keys and `first_entry`). */
export const u64Bytes = (v: number): Uint8Array => {
  const out = new Uint8Array(8)
  writeU64(out, 0, v)
  return out
}
