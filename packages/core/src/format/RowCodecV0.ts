/**
 * SlateDB's legacy row codec V0 (docs/format.md §2.1), inside V1 blocks (SST format version 1): `u16
 * prefix_len, u16 suffix_len, suffix, u64 seq, u8 flags, [i64 expire_ts], [i64 create_ts], (non-tombstones)
 * u32 value_len, value`. The prefix is shared with the block's FIRST key. The decoder drops `expire_ts` on
 * tombstones (as SlateDB's does). Shale reads V1 blocks and writes them only when asked to (SST format
 * version 1); the flags and the guarantees are RowCodec.ts's, shared with codec V2.
 */
import { DataError } from "../errors.ts"
import { readI64, readU16, readU32, readU64, writeU16, writeU32 } from "./BigEndian.ts"
import { checkFlags, EMPTY, kindOf, restoreKey, RowFlags, truncated, tsBytes, writeTrailer } from "./RowCodec.ts"
import { Row, type RowEntry, RowKind } from "./RowEntry.ts"
import type { Cursor } from "./Varint.ts"

/** Encoded size of `row` with codec V0, sharing `prefixLen` bytes with the block's first key. */
export const encodedSizeV0 = (row: RowEntry, prefixLen: number): number =>
  4 + (row.key.length - prefixLen) + 9 + tsBytes(row) + (row.kind === RowKind.Tombstone ? 0 : 4 + row.value.length)

/** Writes `row` with codec V0 at `pos`; returns the offset after it. `dst` must have room. */
export const writeRowV0 = (dst: Uint8Array, pos: number, row: RowEntry, prefixLen: number): number => {
  const key = row.key
  const suffixLen = key.length - prefixLen
  writeU16(dst, pos, prefixLen)
  writeU16(dst, pos + 2, suffixLen)
  pos += 4
  if (suffixLen <= 32) for (let i = 0; i < suffixLen; i++) dst[pos + i] = key[prefixLen + i]!
  else dst.set(key.subarray(prefixLen), pos)
  pos += suffixLen
  pos = writeTrailer(dst, pos, row)
  if (row.kind !== RowKind.Tombstone) {
    const value = row.value
    writeU32(dst, pos, value.length)
    pos += 4
    dst.set(value, pos)
    pos += value.length
  }
  return pos
}

/** Encodes one V0 row into a fresh array (tests, goldens). */
export const encodeRowV0 = (row: RowEntry, prefixLen: number): Uint8Array => {
  const out = new Uint8Array(encodedSizeV0(row, prefixLen))
  writeRowV0(out, 0, row, prefixLen)
  return out
}

/** The prefix length a V0 row at `pos` declares (for block seeks). */
export const peekPrefixV0 = (bytes: Uint8Array, pos: number): number => readU16(bytes, pos)

/**
 * Decodes a V0 row at `cursor.pos` (advancing it); the key prefix comes from `firstKey` (the block's first
 * key; ignored when the row's prefix length is 0).
 */
export const decodeRowV0 = (bytes: Uint8Array, cursor: Cursor, end: number, firstKey: Uint8Array): RowEntry => {
  let pos = cursor.pos
  if (pos + 4 > end) truncated("key lengths")
  const prefixLen = readU16(bytes, pos)
  const suffixLen = readU16(bytes, pos + 2)
  pos += 4
  if (prefixLen > firstKey.length) {
    throw new DataError({ message: `row key prefix ${prefixLen} is longer than the block's first key` })
  }
  if (prefixLen + suffixLen > 65535) throw new DataError({ message: "row key longer than 65535 bytes" })
  if (pos + suffixLen + 9 > end) truncated("key suffix")
  const key = restoreKey(firstKey, prefixLen, bytes, pos, suffixLen)
  pos += suffixLen
  const seq = readU64(bytes, pos)
  const flags = bytes[pos + 8]!
  pos += 9
  checkFlags(flags)
  let expireTs: number | undefined
  let createTs: number | undefined
  if ((flags & RowFlags.HasExpireTs) !== 0) {
    if (pos + 8 > end) truncated("expire_ts")
    expireTs = readI64(bytes, pos)
    pos += 8
  }
  if ((flags & RowFlags.HasCreateTs) !== 0) {
    if (pos + 8 > end) truncated("create_ts")
    createTs = readI64(bytes, pos)
    pos += 8
  }
  if ((flags & RowFlags.Tombstone) !== 0) {
    cursor.pos = pos
    return new Row(key, RowKind.Tombstone, EMPTY, seq, createTs, undefined)
  }
  if (pos + 4 > end) truncated("value length")
  const valueLen = readU32(bytes, pos)
  pos += 4
  if (pos + valueLen > end) truncated("value")
  const value = bytes.subarray(pos, pos + valueLen)
  cursor.pos = pos + valueLen
  return new Row(key, kindOf(flags), value, seq, createTs, expireTs)
}
