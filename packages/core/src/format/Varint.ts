/**
 * LEB128 varints for u32 values, as used by SlateDB's V2 row codec (7 bits per byte, low group first,
 * 0x80 = more bytes follow). Examples: 0 → `00`, 300 → `ac 02`, 2^32-1 → `ff ff ff ff 0f`.
 *
 * Guarantees: encoding is canonical (shortest form). Decoding rejects, with a `DataError`, varints that
 * run past `end`, are longer than 5 bytes, or exceed 2^32-1. Decoding never allocates: the position after
 * the varint is written to `cursor.pos`.
 */
import { DataError } from "../errors.ts"

export interface Cursor {
  pos: number
}

export const varintLength = (v: number): number =>
  v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5

/** Writes `v` (0..2^32-1) at `o`; returns the offset after it. */
export const writeVarint = (b: Uint8Array, o: number, v: number): number => {
  while (v >= 0x80) {
    b[o++] = (v & 0x7f) | 0x80
    v = v >>> 7
  }
  b[o++] = v
  return o
}

/** Reads a varint starting at `cursor.pos` (which must be < `end` or the read fails); advances the cursor. */
export const readVarint = (b: Uint8Array, cursor: Cursor, end: number): number => {
  let pos = cursor.pos
  if (pos < end) {
    const b0 = b[pos]!
    if (b0 < 0x80) {
      cursor.pos = pos + 1
      return b0
    }
  }
  let result = 0
  let shift = 0
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw new DataError({ message: "truncated varint" })
    const byte = b[pos++]!
    result += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) {
      if (result > 0xffffffff) throw new DataError({ message: "varint exceeds u32" })
      cursor.pos = pos
      return result
    }
    shift += 7
  }
  throw new DataError({ message: "varint longer than 5 bytes" })
}

/** Encodes one varint into a fresh array (tests and cold paths). */
export const encodeVarint = (v: number): Uint8Array => {
  const out = new Uint8Array(varintLength(v))
  writeVarint(out, 0, v)
  return out
}
