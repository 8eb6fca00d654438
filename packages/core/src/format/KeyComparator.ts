/**
 * The engine's two orders, and its one implementation of key comparison and equality: memtables, blocks,
 * SST indexes, readers, manifests and the CLI all use `compareKeys` / `keysEqual` (byte strings of any
 * length; `keysEqual` also compares whole WAL SSTs).
 *
 * - Keys compare as unsigned bytes, lexicographically; a proper prefix sorts first (`"ab" < "abc"`).
 *   This is Rust's `[u8]` order, which SlateDB uses everywhere (memtables, blocks, index, manifests).
 * - Rows compare by key ascending, then by sequence number DESCENDING: the newest version of a key comes
 *   first. Memtables, SST blocks and the read path's merge all rely on this order.
 *
 * Performance (measured, docs/design/memtable.md): a JavaScript byte loop costs ~0.7 ns per shared byte;
 * `Buffer.compare` costs ~25-30 ns per call whatever the length (a native call). So keys compare in
 * JavaScript up to 32 bytes and natively beyond: on the memtable benchmark the loop alone was ~35 %
 * slower with 64-byte keys, the native call alone ~25 % slower on sequential 16-byte inserts. The first
 * byte is checked before anything else (random or hashed keys differ there). Comparing 4 bytes at a time
 * did not pay: a DataView per call allocates, and assembling words costs as many loads as the loop.
 */
import { Buffer } from "node:buffer"
import type { RowEntry } from "./RowEntry.ts"

const nativeCompare = Buffer.compare

/** Unsigned lexicographic byte order: negative if `a < b`, 0 if equal, positive if `a > b`. */
export const compareKeys = (a: Uint8Array, b: Uint8Array): number => {
  const x = a[0]
  const y = b[0]
  if (x !== y) {
    if (x === undefined) return -1
    if (y === undefined) return 1
    return x - y
  }
  const la = a.length
  const lb = b.length
  // Computed up front so that optimized code always has type feedback for it (equal keys may be rare).
  const dl = la - lb
  const n = la < lb ? la : lb
  if (n > 32) return nativeCompare(a, b)
  for (let i = 1; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return dl
}

/**
 * `compareKeys` on the first `la` bytes of `a` and the first `lb` bytes of `b` (a reusable key buffer's
 * key, as the read path's merge compares block rows it has not built): the same order, no views made.
 */
export const compareKeyParts = (a: Uint8Array, la: number, b: Uint8Array, lb: number): number => {
  const n = la < lb ? la : lb
  if (n > 32) {
    const c = nativeRangeCompare.call(a, b, 0, n, 0, n)
    return c !== 0 ? c : la - lb
  }
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return la - lb
}

const nativeRangeCompare = Buffer.prototype.compare as (
  this: Uint8Array,
  target: Uint8Array,
  targetStart: number,
  targetEnd: number,
  sourceStart: number,
  sourceEnd: number
) => number

/**
 * `compareKeys` for keys known to share their first `from` bytes (both at least that long): compares the
 * rest only.
 */
export const compareKeysFrom = (a: Uint8Array, b: Uint8Array, from: number): number => {
  const la = a.length
  const lb = b.length
  const n = la < lb ? la : lb
  for (let i = from; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return la - lb
}

/**
 * Byte equality. Compares from the END: keys that share a prefix (the usual case, and always the case
 * for neighbouring rows in a memtable) differ near their end, so unequal keys exit after a byte or two.
 * Long keys go to the native comparison once their last bytes match.
 */
export const keysEqual = (a: Uint8Array, b: Uint8Array): boolean => keyPartsEqual(a, a.length, b)

/** Whether the first `la` bytes of `a` are the bytes of `b` (`keysEqual`'s order of comparison). */
export const keyPartsEqual = (a: Uint8Array, la: number, b: Uint8Array): boolean => {
  if (la !== b.length) return false
  if (la <= 32) {
    for (let i = la - 1; i >= 0; i--) if (a[i] !== b[i]) return false
    return true
  }
  return a[la - 1] === b[la - 1] && nativeRangeCompare.call(a, b, 0, la, 0, la) === 0
}

/** The row order: key ascending, then seq descending (newest first). */
export const compareRows = (a: RowEntry, b: RowEntry): number => {
  const c = compareKeys(a.key, b.key)
  return c !== 0 ? c : b.seq - a.seq
}

/**
 * Compares a row with the position `(key, seq)` in row order without building a probe row: negative if
 * the row sorts before `(key, seq)`. Seeking to `(key, maxSeq)` lands on the newest version of `key` with
 * `seq <= maxSeq`; `(key, -1)` is just past every version of `key`; `(key, MAX_SEQ)` is just before them.
 */
export const compareRowTo = (row: RowEntry, key: Uint8Array, seq: number): number => {
  const c = compareKeys(row.key, key)
  return c !== 0 ? c : seq - row.seq
}

/** Larger than any sequence number (they are safe integers). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER
