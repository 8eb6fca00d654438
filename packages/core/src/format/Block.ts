/**
 * SST data blocks, both versions SlateDB reads (docs/format.md §2.2):
 *
 * ```
 * entries… | u16 BE offset[0] … offset[n-1] | u16 BE n
 * ```
 * - V1 (SST format version 1): one offset per entry; rows use codec V0 (prefix vs the block's first key).
 * - V2 (SST format version 2, SlateDB 0.12.1's writer): one offset per restart point; every 16th entry is
 *   a restart storing its full key; rows use codec V2 (prefix vs the previous key).
 *
 * Guarantees:
 * - `BlockBuilder` reproduces SlateDB's `would_fit` rules exactly, so for the same rows and block size it
 *   cuts blocks at the same places and produces the same bytes. An empty block accepts any first entry
 *   (an oversized entry gets a block of its own).
 * - `decodeBlock` validates the trailer (count, offsets in range and ascending); iterators validate every
 *   row (bounds, flags, prefix lengths, safe integers; V1 also entry offsets) and fail with `DataError`.
 *   They never read outside the block. (Checksums are the SST reader's job: they are checked first.)
 * - `BlockIterator.seek(key)` positions before the first row whose key is ≥ `key`; with several versions
 *   of one key (seq descending) it lands on the newest.
 */
import { DataError } from "../errors.ts"
import { readU16, writeU16 } from "./BigEndian.ts"
import type { ByteSlab } from "./ByteSlab.ts"
import { commonPrefix } from "./Bytes.ts"
import { compareKeys, keysEqual } from "./KeyComparator.ts"
import type { RowEntry } from "./RowEntry.ts"
import {
  compareRestartKeyV2,
  decodeHeadV2,
  decodeRowV2WithKey,
  encodedSizeV2,
  type KeyBuffer,
  makeKeyBuffer,
  makeRowHead,
  repeatsKeyV2,
  type RowHead,
  rowOfHead,
  seekRowsV2,
  writeRowV2
} from "./RowCodec.ts"
import { decodeRowV0, encodedSizeV0, writeRowV0 } from "./RowCodecV0.ts"
import type { Cursor } from "./Varint.ts"

/** Block layout version: 1 = V1 blocks / V0 rows, 2 = V2 blocks / V2 rows (equals the SST format version). */
export type BlockVersion = 1 | 2

export const DEFAULT_BLOCK_SIZE = 4096
export const RESTART_INTERVAL = 16

const EMPTY = new Uint8Array(0)

/**
 * Accumulates rows into one block. `add` returns false (and changes nothing) when the row does not fit;
 * the caller then `build`s this block and starts a new one.
 */
export class BlockBuilder {
  readonly blockSize: number
  readonly version: BlockVersion
  readonly restartInterval: number
  private buf: Uint8Array
  private len = 0
  private offsets: Array<number> = []
  private count = 0
  /** V1: the block's first key. V2: the previous key. */
  private refKey: Uint8Array = EMPTY

  constructor(blockSize: number = DEFAULT_BLOCK_SIZE, version: BlockVersion = 2, restartInterval = RESTART_INTERVAL) {
    this.blockSize = blockSize
    this.version = version
    this.restartInterval = restartInterval
    this.buf = new Uint8Array(Math.max(64, blockSize + 64))
  }

  get isEmpty(): boolean {
    return this.count === 0
  }

  get entryCount(): number {
    return this.count
  }

  /** Size of the block if built now: data + offsets + count. */
  get size(): number {
    return this.len + 2 * this.offsets.length + 2
  }

  /** SlateDB's `would_fit`. */
  wouldFit(row: RowEntry): boolean {
    if (this.count === 0) return true
    if (this.version === 2) {
      const restart = this.count % this.restartInterval === 0
      const shared = restart ? 0 : commonPrefix(this.refKey, row.key)
      return this.size + encodedSizeV2(row, shared) + (restart ? 2 : 0) <= this.blockSize
    }
    return this.size + encodedSizeV0(row, commonPrefix(this.refKey, row.key)) <= this.blockSize
  }

  /** Appends `row` if it fits (see `wouldFit`); returns whether it was added. */
  add(row: RowEntry): boolean {
    if (this.version === 2) {
      const restart = this.count % this.restartInterval === 0
      const shared = restart ? 0 : commonPrefix(this.refKey, row.key)
      const entrySize = encodedSizeV2(row, shared)
      if (this.count > 0 && this.size + entrySize + (restart ? 2 : 0) > this.blockSize) return false
      this.ensure(entrySize)
      if (restart) {
        if (this.len > 0xffff) throw new RangeError(`block data too large for a u16 restart offset: ${this.len}`)
        this.offsets.push(this.len)
      }
      this.len = writeRowV2(this.buf, this.len, row, shared)
      this.refKey = row.key
    } else {
      const prefix = this.count === 0 ? 0 : commonPrefix(this.refKey, row.key)
      const entrySize = encodedSizeV0(row, prefix)
      if (this.count > 0 && this.size + entrySize > this.blockSize) return false
      this.ensure(entrySize)
      // SlateDB stores `data.len() as u16` here; only an oversized first entry can exceed it (offset 0).
      this.offsets.push(this.len & 0xffff)
      this.len = writeRowV0(this.buf, this.len, row, prefix)
      if (this.count === 0) this.refKey = row.key
    }
    this.count++
    return true
  }

  /**
   * Returns the encoded block (`data ++ offsets ++ n`) and resets the builder. The result is a view of a
   * buffer the builder gives up, with at least 4 spare bytes after it. Throws on an empty builder (SlateDB's
   * `EmptyBlock`).
   */
  build(): Uint8Array {
    if (this.count === 0) throw new RangeError("cannot build an empty block")
    const n = this.offsets.length
    // + 4 spare bytes so that the SST writer can append the CRC without copying the block.
    this.ensure(2 * n + 2 + 4)
    let pos = this.len
    for (let i = 0; i < n; i++) {
      writeU16(this.buf, pos, this.offsets[i]!)
      pos += 2
    }
    writeU16(this.buf, pos, n)
    pos += 2
    const out = this.buf.subarray(0, pos)
    this.buf = new Uint8Array(Math.max(64, this.blockSize + 64))
    this.len = 0
    this.offsets = []
    this.count = 0
    this.refKey = EMPTY
    return out
  }

  private ensure(extra: number): void {
    const need = this.len + extra
    if (need <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < need) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.len), 0)
    this.buf = next
  }
}

/** A decoded block trailer over the block's bytes (no copy). */
export interface Block {
  readonly version: BlockVersion
  readonly bytes: Uint8Array
  /** End of the entries region. */
  readonly dataEnd: number
  /** Number of offsets (V1: entries; V2: restart points). */
  readonly numOffsets: number
}

/** Parses and validates the trailer of an encoded block. */
export const decodeBlock = (bytes: Uint8Array, version: BlockVersion): Block => {
  if (bytes.length < 2) throw new DataError({ message: `block of ${bytes.length} bytes has no trailer` })
  const n = readU16(bytes, bytes.length - 2)
  const dataEnd = bytes.length - 2 - 2 * n
  if (dataEnd < 0) throw new DataError({ message: `block declares ${n} offsets but has ${bytes.length} bytes` })
  let prev = -1
  for (let i = 0; i < n; i++) {
    const off = readU16(bytes, dataEnd + 2 * i)
    if (off <= prev || off >= dataEnd || (i === 0 && off !== 0)) {
      throw new DataError({ message: `block offset ${i} (${off}) is out of order or out of range` })
    }
    prev = off
  }
  if (n === 0 && dataEnd !== 0) throw new DataError({ message: "block has data but no offsets" })
  return { version, bytes, dataEnd, numOffsets: n }
}

/** The byte offset stored in slot `i` of the block's trailer. */
export const blockOffset = (block: Block, i: number): number => readU16(block.bytes, block.dataEnd + 2 * i)

/**
 * Iterates a block's rows in stored order. For compacted SSTs that is key ascending, seq descending; for WAL
 * SSTs, insertion order. Seeking allocates nothing: keys are compared in place.
 */
export class BlockIterator {
  #block: Block
  private readonly cursor: Cursor = { pos: 0 }
  /**
   * V2: the previous row's key (right after a seek, the prefix the row at the cursor shares with its
   * predecessor: enough to decode it).
   */
  private readonly keys: KeyBuffer = makeKeyBuffer()
  /** V1: the block's first key. */
  private firstKey: Uint8Array = EMPTY
  /** V1: index of the next entry. */
  private index = 0

  /** Where `row()` copies keys to (`ByteSlab.copyPrefix`); fresh arrays when undefined. */
  readonly #keySlab: ByteSlab | undefined

  constructor(block: Block, keySlab?: ByteSlab) {
    this.#block = block
    this.#keySlab = keySlab
  }

  get block(): Block {
    return this.#block
  }

  /** Starts over on `block` (at its first row), so that one iterator can serve many blocks. */
  reset(block: Block): void {
    this.#block = block
    this.cursor.pos = 0
    this.keys.len = 0
    this.firstKey = EMPTY
    this.index = 0
  }

  /** V2: the row `step` decoded (its key is in `keys`). */
  private readonly head: RowHead = makeRowHead()
  /** V1: the row `step` decoded (V1 blocks are legacy: built at once). */
  private v1Row: RowEntry | undefined = undefined

  /**
   * Decodes the next row without building it (false at the end of the block): then `keyBytes[0..keyLen)`
   * is its key and `seq` its seq, and `row()` builds it, until the next `step`, `next`, `seek` or `reset`.
   */
  step(): boolean {
    const block = this.#block
    const end = block.dataEnd
    const cursor = this.cursor
    if (cursor.pos >= end) return false
    if (block.version === 2) {
      decodeHeadV2(block.bytes, cursor, end, this.keys, this.head)
      return true
    }
    this.v1Row = this.#nextV1()
    return true
  }

  /** The stepped row's key bytes (the first `keyLen`; the array is reused). */
  get keyBytes(): Uint8Array {
    return this.#block.version === 2 ? this.keys.buf : this.v1Row!.key
  }

  get keyLen(): number {
    return this.#block.version === 2 ? this.keys.len : this.v1Row!.key.length
  }

  get seq(): number {
    return this.#block.version === 2 ? this.head.seq : this.v1Row!.seq
  }

  /** The stepped row, built (a fresh key, the value a view into the block). */
  row(): RowEntry {
    return this.#block.version === 2 ? rowOfHead(this.#block.bytes, this.keys, this.head, undefined, this.#keySlab) : this.v1Row!
  }

  /** The next row, built (`step`, then `row`), or undefined at the end of the block. */
  next(): RowEntry | undefined {
    return this.step() ? this.row() : undefined
  }

  #nextV1(): RowEntry {
    const block = this.#block
    const end = block.dataEnd
    const cursor = this.cursor
    if (this.index >= block.numOffsets || blockOffset(block, this.index) !== cursor.pos) {
      throw new DataError({ message: `V1 block entry ${this.index} does not start at its recorded offset` })
    }
    const row = decodeRowV0(block.bytes, cursor, end, this.firstKey)
    if (this.index === 0) this.firstKey = row.key
    this.index++
    if (cursor.pos === end && this.index !== block.numOffsets) {
      throw new DataError({ message: `V1 block has ${block.numOffsets} offsets but ${this.index} entries` })
    }
    return row
  }

  /** Positions the iterator so that `next()` returns the first row whose key is ≥ `key`. */
  seek(key: Uint8Array): void {
    const block = this.#block
    const bytes = block.bytes
    const end = block.dataEnd
    const cursor = this.cursor
    if (block.version === 1) {
      this.cursor.pos = 0
      this.index = 0
      this.firstKey = EMPTY
      while (cursor.pos < end) {
        const pos = cursor.pos
        const index = this.index
        const row = this.next()!
        if (compareKeys(row.key, key) >= 0) {
          cursor.pos = pos
          this.index = index
          return
        }
      }
      return
    }
    cursor.pos = restartBefore(block, key)
    seekRowsV2(bytes, cursor, end, key, this.keys)
  }
}

/**
 * V2 blocks: the offset of the last restart point whose key is < `key` (strictly: older versions of `key`
 * may sit at the end of the previous restart region), or of the first one; where a seek starts walking.
 */
const restartBefore = (block: Block, key: Uint8Array, known = 0): number => {
  const bytes = block.bytes
  const end = block.dataEnd
  let lo = 0
  let hi = block.numOffsets - 1
  let start = 0
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (compareRestartKeyV2(bytes, readU16(bytes, end + 2 * mid), end, key, known) < 0) {
      start = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return block.numOffsets === 0 ? 0 : readU16(bytes, end + 2 * start)
}

/** `findInBlock`'s answer when the block ends before the versions of the key do (look in the next block). */
export const CONTINUE: unique symbol = Symbol("CONTINUE")

/** What `findInBlock` reuses: point lookups are synchronous and never nested. */
const FIND = new BlockIterator({ version: 2, bytes: EMPTY, dataEnd: 0, numOffsets: 0 })
const FIND_CURSOR: Cursor = { pos: 0 }

/**
 * A point lookup in one block of a compacted SST: the first version of `key` with seq ≤ `maxSeq`,
 * undefined when the block shows there is none (a greater key follows), or `CONTINUE` when the block ends
 * first. The row found has `key` itself as its key (V2 blocks; a copy in V1 blocks). Allocates only the
 * returned row. Throws `DataError` on a corrupt row. `known`: how many leading bytes the caller knows every
 * key of the block shares with `key` (an SST's keys all share their first and last keys' common prefix).
 */
export const findInBlock = (
  block: Block,
  key: Uint8Array,
  maxSeq: number,
  known = 0
): RowEntry | undefined | typeof CONTINUE => {
  if (block.version === 2) {
    // A seek and `next()`s, without the iterator: this runs once per point read.
    const bytes = block.bytes
    const end = block.dataEnd
    const cursor = FIND_CURSOR
    cursor.pos = restartBefore(block, key, known)
    if (!seekRowsV2(bytes, cursor, end, key, undefined, known)) return cursor.pos < end ? undefined : CONTINUE
    // The versions of `key`, newest first: the rows that repeat it.
    for (;;) {
      const row = decodeRowV2WithKey(bytes, cursor, end, key)
      if (row.seq <= maxSeq) return row
      if (cursor.pos >= end) return CONTINUE
      if (!repeatsKeyV2(bytes, cursor.pos, end, key)) return undefined
    }
  }
  const it = FIND
  it.reset(block)
  it.seek(key)
  for (let row = it.next(); row !== undefined; row = it.next()) {
    if (!keysEqual(row.key, key)) return undefined
    if (row.seq <= maxSeq) return row
  }
  return CONTINUE
}

/** Decodes every row of a block, in stored order. */
export const decodeBlockRows = (block: Block): Array<RowEntry> => {
  const it = new BlockIterator(block)
  const rows: Array<RowEntry> = []
  for (let row = it.next(); row !== undefined; row = it.next()) rows.push(row)
  return rows
}
