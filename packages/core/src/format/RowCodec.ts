/**
 * SlateDB's row codec V2 and what both row codecs share: the flags byte and its checks (docs/format.md
 * §2.1). V2 (inside V2 blocks, SST format version 2, what SlateDB 0.12.1 writes): `varint shared, varint
 * unshared, varint value_len, suffix, value, u64 seq, u8 flags, [i64 expire_ts], [i64 create_ts]`. The
 * prefix is shared with the PREVIOUS key. Tombstones store value_len 0; the decoder keeps `expire_ts`.
 * The legacy codec V0 (V1 blocks) is RowCodecV0.ts.
 *
 * Guarantees (both codecs):
 * - Encoders produce exactly SlateDB's bytes for the same row and prefix length.
 * - Decoders reject, with a `DataError`, unknown flag bits (≥ 0x10), TOMBSTONE together with MERGE,
 *   truncated rows, prefixes longer than the key they refer to, and integers outside the safe range.
 *   They never read past `end`.
 * - Decoded keys are fresh arrays; decoded values are zero-copy views into the input bytes.
 * - No Effect, no per-row allocation beyond the key, the value view and the row object.
 */
import { DataError } from "../errors.ts"
import type { ByteSlab } from "./ByteSlab.ts"
import { readI64, readU64, writeI64, writeU64 } from "./BigEndian.ts"
import { Row, type RowEntry, RowKind } from "./RowEntry.ts"
import { type Cursor, readVarint, varintLength, writeVarint } from "./Varint.ts"

export const RowFlags = {
  Tombstone: 0x01,
  HasExpireTs: 0x02,
  HasCreateTs: 0x04,
  MergeOperand: 0x08
} as const

const KNOWN_FLAGS = 0x0f
/** The value of a row without one (tombstones). */
export const EMPTY = new Uint8Array(0)

/** The flags byte SlateDB writes for a row. */
export const rowFlags = (row: RowEntry): number =>
  (row.kind === RowKind.Tombstone ? RowFlags.Tombstone : row.kind === RowKind.Merge ? RowFlags.MergeOperand : 0) |
  (row.expireTs === undefined ? 0 : RowFlags.HasExpireTs) |
  (row.createTs === undefined ? 0 : RowFlags.HasCreateTs)

/** Validates a flags byte read from disk; throws `DataError` on unknown bits or TOMBSTONE|MERGE. */
export const checkFlags = (flags: number): void => {
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new DataError({
      message: `invalid row flags 0x${flags.toString(16)}: unknown bits (known 0x0f); written by a newer codec?`
    })
  }
  if ((flags & (RowFlags.Tombstone | RowFlags.MergeOperand)) === (RowFlags.Tombstone | RowFlags.MergeOperand)) {
    throw new DataError({ message: `invalid row flags 0x${flags.toString(16)}: tombstone and merge operand together` })
  }
}

/** The row kind a (checked) flags byte says. */
export const kindOf = (flags: number): RowEntry["kind"] =>
  (flags & RowFlags.Tombstone) !== 0 ? RowKind.Tombstone : (flags & RowFlags.MergeOperand) !== 0 ? RowKind.Merge : RowKind.Value

/** Throws the `DataError` of a row that runs past the end of its block. */
export const truncated = (what: string): never => {
  throw new DataError({ message: `truncated row: ${what} runs past the end of the block` })
}

/** Builds `prefixSource[0..shared] ++ bytes[start..start+len]` in a fresh array. */
export const restoreKey = (prefixSource: Uint8Array, shared: number, bytes: Uint8Array, start: number, len: number) => {
  const key = new Uint8Array(shared + len)
  if (shared > 0) {
    if (shared <= 32) for (let i = 0; i < shared; i++) key[i] = prefixSource[i]!
    else key.set(prefixSource.subarray(0, shared), 0)
  }
  if (len <= 32) for (let i = 0; i < len; i++) key[shared + i] = bytes[start + i]!
  else key.set(bytes.subarray(start, start + len), shared)
  return key
}

/**
 * Writes `u64 seq, u8 flags, [i64 expire_ts], [i64 create_ts]` at `pos` (both codecs' order); returns the
 * offset after it.
 */
export const writeTrailer = (dst: Uint8Array, pos: number, row: RowEntry): number => {
  writeU64(dst, pos, row.seq)
  dst[pos + 8] = rowFlags(row)
  pos += 9
  if (row.expireTs !== undefined) {
    writeI64(dst, pos, row.expireTs)
    pos += 8
  }
  if (row.createTs !== undefined) {
    writeI64(dst, pos, row.createTs)
    pos += 8
  }
  return pos
}

/** Bytes of a row's optional timestamps. */
export const tsBytes = (row: RowEntry): number => (row.expireTs === undefined ? 0 : 8) + (row.createTs === undefined ? 0 : 8)

// ---------------------------------------------------------------------------------------------------------
// V2

/** Encoded size of `row` with codec V2, sharing `shared` bytes with the previous key. */
export const encodedSizeV2 = (row: RowEntry, shared: number): number => {
  const unshared = row.key.length - shared
  const valueLen = row.kind === RowKind.Tombstone ? 0 : row.value.length
  return varintLength(shared) + varintLength(unshared) + varintLength(valueLen) + unshared + valueLen + 9 +
    tsBytes(row)
}

/** Writes `row` with codec V2 at `pos`; returns the offset after it. `dst` must have room. */
export const writeRowV2 = (dst: Uint8Array, pos: number, row: RowEntry, shared: number): number => {
  const key = row.key
  const unshared = key.length - shared
  const value = row.kind === RowKind.Tombstone ? EMPTY : row.value
  const valueLen = value.length
  if (shared < 0x80 && unshared < 0x80 && valueLen < 0x80) {
    dst[pos] = shared
    dst[pos + 1] = unshared
    dst[pos + 2] = valueLen
    pos += 3
  } else {
    pos = writeVarint(dst, pos, shared)
    pos = writeVarint(dst, pos, unshared)
    pos = writeVarint(dst, pos, valueLen)
  }
  if (unshared <= 32) for (let i = 0; i < unshared; i++) dst[pos + i] = key[shared + i]!
  else dst.set(key.subarray(shared), pos)
  pos += unshared
  if (valueLen <= 32) for (let i = 0; i < valueLen; i++) dst[pos + i] = value[i]!
  else dst.set(value, pos)
  pos += valueLen
  return writeTrailer(dst, pos, row)
}

/** Encodes one V2 row into a fresh array (tests). */
export const encodeRowV2 = (row: RowEntry, shared: number): Uint8Array => {
  const out = new Uint8Array(encodedSizeV2(row, shared))
  writeRowV2(out, 0, row, shared)
  return out
}

/**
 * The previous row's key while walking a V2 block, kept in one reusable buffer so that skipping rows
 * (seeks) allocates nothing: `buf[0..len)` is the key.
 */
export interface KeyBuffer {
  buf: Uint8Array
  len: number
}

export const makeKeyBuffer = (initial: Uint8Array = EMPTY): KeyBuffer => {
  const buf = new Uint8Array(Math.max(64, initial.length))
  buf.set(initial, 0)
  return { buf, len: initial.length }
}

/** The key lengths of the V2 row header just parsed by `readLengthsV2` (module scratch: no allocation). */
const HEADER = { shared: 0, unshared: 0 }

/**
 * Parses the V2 row header at `cursor.pos` and validates it against `end` and `prevLen` (the previous key's
 * length): leaves the key lengths in `HEADER`, `cursor.pos` at the key suffix, and returns the value length.
 */
const readLengthsV2 = (bytes: Uint8Array, cursor: Cursor, end: number, prevLen: number): number => {
  let pos = cursor.pos
  let shared: number
  let unshared: number
  let valueLen: number
  if (pos + 3 <= end && (bytes[pos]! | bytes[pos + 1]! | bytes[pos + 2]!) < 0x80) {
    shared = bytes[pos]!
    unshared = bytes[pos + 1]!
    valueLen = bytes[pos + 2]!
    pos += 3
  } else {
    shared = readVarint(bytes, cursor, end)
    unshared = readVarint(bytes, cursor, end)
    valueLen = readVarint(bytes, cursor, end)
    pos = cursor.pos
  }
  if (shared > prevLen) {
    throw new DataError({ message: `row shares ${shared} bytes with a previous key of ${prevLen} bytes` })
  }
  if (shared + unshared > 65535) throw new DataError({ message: "row key longer than 65535 bytes" })
  if (pos + unshared + valueLen + 9 > end) truncated("key/value")
  HEADER.shared = shared
  HEADER.unshared = unshared
  cursor.pos = pos
  return valueLen
}

/**
 * Parses the V2 row header at `cursor.pos`, validates it against `end` and `keys` (the previous key), writes
 * the row's key into `keys`, and leaves `cursor.pos` at the row's value. Returns the value length.
 */
const readHeaderV2 = (bytes: Uint8Array, cursor: Cursor, end: number, keys: KeyBuffer): number => {
  const valueLen = readLengthsV2(bytes, cursor, end, keys.len)
  const { shared, unshared } = HEADER
  const pos = cursor.pos
  const keyLen = shared + unshared
  let buf = keys.buf
  if (keyLen > buf.length) {
    const grown = new Uint8Array(Math.max(keyLen, 2 * buf.length))
    grown.set(buf.subarray(0, shared), 0)
    keys.buf = grown
    buf = grown
  }
  if (unshared <= 32) for (let i = 0; i < unshared; i++) buf[shared + i] = bytes[pos + i]!
  else buf.set(bytes.subarray(pos, pos + unshared), shared)
  keys.len = keyLen
  cursor.pos = pos + unshared
  return valueLen
}

/** Reads seq, flags and timestamps at `pos` (after the value); returns the position after the row. */
const readTrailer = (bytes: Uint8Array, pos: number, end: number, out: TrailerOut): number => {
  out.seq = readU64(bytes, pos)
  const flags = bytes[pos + 8]!
  pos += 9
  checkFlags(flags)
  out.flags = flags
  out.expireTs = undefined
  out.createTs = undefined
  if ((flags & RowFlags.HasExpireTs) !== 0) {
    if (pos + 8 > end) truncated("expire_ts")
    out.expireTs = readI64(bytes, pos)
    pos += 8
  }
  if ((flags & RowFlags.HasCreateTs) !== 0) {
    if (pos + 8 > end) truncated("create_ts")
    out.createTs = readI64(bytes, pos)
    pos += 8
  }
  return pos
}

/** Whether the i64 at `o` is surely a safe integer (a few edge values answer false: check those exactly). */
const surelySafeI64 = (b: Uint8Array, o: number): boolean => {
  const hi = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!
  return hi >= -0x1fffff && hi <= 0x1fffff
}

/**
 * Skips the trailer at `pos` (after the value) with `readTrailer`'s validation, without building its
 * numbers: returns the position after the row. Anything unusual goes to `readTrailer`, which decides
 * exactly (and throws the same errors).
 */
const skipTrailer = (bytes: Uint8Array, pos: number, end: number): number => {
  const flags = bytes[pos + 8]!
  // seq ≤ 2^53-1 ⟺ its high u32 ≤ 0x1fffff; known flags, not tombstone and merge together.
  if (bytes[pos]! !== 0 || bytes[pos + 1]! > 0x1f || (flags & ~KNOWN_FLAGS) !== 0 || (flags & 0x09) === 0x09) {
    return readTrailer(bytes, pos, end, TRAILER)
  }
  let p = pos + 9
  if ((flags & RowFlags.HasExpireTs) !== 0) {
    if (p + 8 > end || !surelySafeI64(bytes, p)) return readTrailer(bytes, pos, end, TRAILER)
    p += 8
  }
  if ((flags & RowFlags.HasCreateTs) !== 0) {
    if (p + 8 > end || !surelySafeI64(bytes, p)) return readTrailer(bytes, pos, end, TRAILER)
    p += 8
  }
  return p
}

interface TrailerOut {
  seq: number
  flags: number
  expireTs: number | undefined
  createTs: number | undefined
}

const TRAILER: TrailerOut = { seq: 0, flags: 0, expireTs: undefined, createTs: undefined }

/** Whether `keys` holds exactly the bytes of `key` (compared from the end, where neighbours differ). */
const holds = (keys: KeyBuffer, key: Uint8Array): boolean => {
  const n = keys.len
  if (n !== key.length) return false
  const buf = keys.buf
  for (let i = n - 1; i >= 0; i--) if (buf[i] !== key[i]) return false
  return true
}

/**
 * A V2 row decoded but not built (`decodeHeadV2`): its key is in the `KeyBuffer` it was decoded with, its
 * value at `bytes[valueStart, valueStart + valueLen)`. One per iterator, overwritten by each row.
 */
export interface RowHead {
  valueStart: number
  valueLen: number
  seq: number
  flags: number
  expireTs: number | undefined
  createTs: number | undefined
}

export const makeRowHead = (): RowHead => ({ valueStart: 0, valueLen: 0, seq: 0, flags: 0, expireTs: undefined, createTs: undefined })

/**
 * Decodes the V2 row at `cursor.pos` (advancing it) without building it: on entry `keys` holds the previous
 * row's key, on exit this row's; the rest goes to `head`. Validates as `decodeRowV2Into` does and
 * allocates nothing: a reader that may drop the row (the read path's merge, for versions a newer one
 * shadows) builds it with `rowOfHead` only if it keeps it.
 */
export const decodeHeadV2 = (bytes: Uint8Array, cursor: Cursor, end: number, keys: KeyBuffer, head: RowHead): void => {
  const valueLen = readHeaderV2(bytes, cursor, end, keys)
  const valueStart = cursor.pos
  cursor.pos = readTrailer(bytes, valueStart + valueLen, end, TRAILER)
  head.valueStart = valueStart
  head.valueLen = valueLen
  head.seq = TRAILER.seq
  head.flags = TRAILER.flags
  head.expireTs = TRAILER.expireTs
  head.createTs = TRAILER.createTs
}

/**
 * The row `decodeHeadV2` decoded into `keys` and `head` from `bytes`. Its key is a fresh copy (carved out
 * of `slab` when given), or `same` itself when the row's key has the same bytes; its value a view into
 * `bytes`.
 */
export const rowOfHead = (bytes: Uint8Array, keys: KeyBuffer, head: RowHead, same?: Uint8Array, slab?: ByteSlab): RowEntry => {
  const kind = kindOf(head.flags)
  const valueLen = head.valueLen
  const value = kind === RowKind.Tombstone || valueLen === 0 ? EMPTY : bytes.subarray(head.valueStart, head.valueStart + valueLen)
  const key = same !== undefined && holds(keys, same)
    ? same
    : slab !== undefined
    ? slab.copyPrefix(keys.buf, keys.len)
    : keys.buf.slice(0, keys.len)
  return new Row(key, kind, value, head.seq, head.createTs, head.expireTs)
}

const HEAD: RowHead = makeRowHead()

/**
 * Decodes the V2 row at `cursor.pos` (advancing it). On entry `keys` holds the previous row's key; on exit
 * it holds this row's key. The returned row's key is a fresh copy, or `same` itself when the row's key
 * has the same bytes (point lookups pass the key they look for: no copy for the row they find).
 */
export const decodeRowV2Into = (
  bytes: Uint8Array,
  cursor: Cursor,
  end: number,
  keys: KeyBuffer,
  same?: Uint8Array
): RowEntry => {
  decodeHeadV2(bytes, cursor, end, keys, HEAD)
  return rowOfHead(bytes, keys, HEAD, same)
}

/** Skips the V2 row at `cursor.pos` (validating it); `keys` is updated to its key. Allocates nothing. */
export const skipRowV2 = (bytes: Uint8Array, cursor: Cursor, end: number, keys: KeyBuffer): void => {
  const valueLen = readHeaderV2(bytes, cursor, end, keys)
  cursor.pos = skipTrailer(bytes, cursor.pos + valueLen, end)
}

/**
 * Decodes a V2 row at `cursor.pos` (advancing it); the shared key prefix comes from `prevKey` (the previous
 * row's full key; ignored when `shared` is 0). Convenience form of `decodeRowV2Into`.
 */
export const decodeRowV2 = (bytes: Uint8Array, cursor: Cursor, end: number, prevKey: Uint8Array): RowEntry =>
  decodeRowV2Into(bytes, cursor, end, makeKeyBuffer(prevKey))

/**
 * Seeks within a V2 block: walks the rows from the restart point at `cursor.pos` (a row sharing nothing with
 * its predecessor) to the first row whose key is ≥ `target`, and leaves `cursor.pos` at that row (or at
 * `end` when there is none). Every row walked past is validated as `skipRowV2` validates it.
 *
 * Keys are never rebuilt: with `m` the length of the common prefix of the previous key and `target` (the
 * previous key is < `target`), a row sharing more than `m` bytes with its predecessor is < `target` as well,
 * and any other row equals `target` on its shared prefix, so only its suffix is compared. On return, `keys`
 * (when given) holds the shared prefix of the row at the cursor (a prefix of `target`): enough to decode
 * that row. Returns whether that row's key has exactly the bytes of `target`. `known`: how many leading
 * bytes the caller knows every key of the block shares with `target` (they are not compared).
 */
export const seekRowsV2 = (
  bytes: Uint8Array,
  cursor: Cursor,
  end: number,
  target: Uint8Array,
  keys: KeyBuffer | undefined,
  known = 0
): boolean => {
  const tlen = target.length
  let prevLen = 0
  let m = 0
  while (cursor.pos < end) {
    const rowStart = cursor.pos
    const valueLen = readLengthsV2(bytes, cursor, end, prevLen)
    const shared = HEADER.shared
    const unshared = HEADER.unshared
    const pos = cursor.pos
    if (shared <= m) {
      // The row's key is target[0..shared] ++ suffix.
      const n = unshared < tlen - shared ? unshared : tlen - shared
      let j = shared < known ? known - shared : 0
      if (j > n) j = n
      while (j < n && bytes[pos + j] === target[shared + j]) j++
      if (j < n ? bytes[pos + j]! > target[shared + j]! : shared + unshared >= tlen) {
        cursor.pos = rowStart
        if (keys !== undefined) {
          const buf = keys.buf.length >= shared ? keys.buf : (keys.buf = new Uint8Array(shared))
          for (let i = 0; i < shared; i++) buf[i] = target[i]!
          keys.len = shared
        }
        return j === n && shared + unshared === tlen
      }
      m = shared + j
    }
    cursor.pos = skipTrailer(bytes, pos + unshared + valueLen, end)
    prevLen = shared + unshared
  }
  if (keys !== undefined) keys.len = 0
  return false
}

/**
 * Decodes the V2 row at `cursor.pos` (advancing it) whose key is known to have the bytes of `key` (a seek
 * said so, or the row repeats its predecessor's key): the row gets `key` itself, and no key bytes are
 * read or copied. Validates the row as `decodeRowV2Into` does.
 */
export const decodeRowV2WithKey = (bytes: Uint8Array, cursor: Cursor, end: number, key: Uint8Array): RowEntry => {
  const valueLen = readLengthsV2(bytes, cursor, end, key.length)
  if (HEADER.shared + HEADER.unshared !== key.length) {
    throw new DataError({ message: `row key of ${HEADER.shared + HEADER.unshared} bytes, expected ${key.length}` })
  }
  const valueStart = cursor.pos + HEADER.unshared
  cursor.pos = readTrailer(bytes, valueStart + valueLen, end, TRAILER)
  const kind = kindOf(TRAILER.flags)
  const value = kind === RowKind.Tombstone || valueLen === 0 ? EMPTY : bytes.subarray(valueStart, valueStart + valueLen)
  return new Row(key, kind, value, TRAILER.seq, TRAILER.createTs, TRAILER.expireTs)
}

/**
 * Whether the V2 row at `pos` repeats the key of its predecessor, `keyLen` bytes long: it shares all of
 * it and adds nothing. Validates the row's lengths.
 */
export const repeatsKeyV2 = (bytes: Uint8Array, pos: number, end: number, key: Uint8Array): boolean => {
  const cursor = PEEK_CURSOR
  cursor.pos = pos
  readLengthsV2(bytes, cursor, end, key.length)
  const shared = HEADER.shared
  const unshared = HEADER.unshared
  if (shared + unshared !== key.length) return false
  // A restart point shares nothing with the row before it and spells the key out: compare the bytes.
  for (let i = 0, at = cursor.pos; i < unshared; i++) if (bytes[at + i] !== key[shared + i]) return false
  return true
}

const PEEK_CURSOR: Cursor = { pos: 0 }

const RESTART_CURSOR: Cursor = { pos: 0 }

/**
 * Compares the key of the restart entry at `offset` (which must share nothing with a previous key) with
 * `target`, in place. `known`: how many leading bytes the caller knows the two keys share.
 */
export const compareRestartKeyV2 = (
  bytes: Uint8Array,
  offset: number,
  end: number,
  target: Uint8Array,
  known = 0
): number => {
  let shared: number
  let unshared: number
  let start: number
  if (offset + 3 <= end && (bytes[offset]! | bytes[offset + 1]! | bytes[offset + 2]!) < 0x80) {
    // One-byte varints (keys and values under 128 bytes): the usual case.
    shared = bytes[offset]!
    unshared = bytes[offset + 1]!
    start = offset + 3
  } else {
    const cursor = RESTART_CURSOR
    cursor.pos = offset
    shared = readVarint(bytes, cursor, end)
    unshared = readVarint(bytes, cursor, end)
    readVarint(bytes, cursor, end)
    start = cursor.pos
  }
  if (shared !== 0) throw new DataError({ message: `restart entry at ${offset} shares ${shared} bytes` })
  if (start + unshared > end) truncated("restart key")
  const n = unshared < target.length ? unshared : target.length
  for (let i = known < n ? known : n; i < n; i++) {
    const d = bytes[start + i]! - target[i]!
    if (d !== 0) return d
  }
  return unshared - target.length
}
