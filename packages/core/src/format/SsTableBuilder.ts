/**
 * Streaming SST writers, byte-compatible with SlateDB 0.12.1 (docs/format.md §2.3):
 *
 * ```
 * [data block][crc] … [filter][crc]? [index][crc] [stats][crc]? [SsTableInfo][crc] u64 BE info_offset u16 BE version
 * ```
 * Every section except the info is `compress(raw) ++ u32 BE crc32(compressed)`; the info is never
 * compressed.
 *
 * - `SsTableBuilder` (compacted / L0 / sorted-run SSTs): rows in key-ascending, seq-descending order;
 *   V2 blocks (format version 2) by default, V1 blocks (version 1) on request; index first keys are
 *   separators (block 0: empty; block i: shortest prefix of its first key greater than the previous
 *   block's last key); a legacy bloom filter over every row's key when rows ≥ `minFilterKeys`; stats; info
 *   with first/last key. Zero rows give the "empty" SST SlateDB uses as the WAL fence.
 * - `WalSsTableBuilder` (WAL SSTs): rows in insertion order, V2 blocks, index keys = 8-byte BE seq of each
 *   block's first row, no filter, no stats, `sst_type = Wal`, `first_entry` = BE seq of the first row.
 *
 * Guarantees:
 * - For the same rows and options the output is byte-identical to SlateDB 0.12.1's, whole files included,
 *   with no compression, snappy, lz4 and zstd (verified against engine-written WAL and L0 SSTs). With zlib
 *   only the deflate bytes differ (miniz_oxide vs zlib): block boundaries and uncompressed contents agree.
 * - `add` validates each row (key 1..65535 bytes, safe-integer seq/timestamps, value < 2^32) and, for
 *   compacted SSTs, the sort order; violations throw `InvalidError` and leave the builder unchanged.
 * - Finished blocks can be drained while building (`takeFinishedChunks`) for streaming uploads; the
 *   concatenation of every drained chunk and `finish().chunks` is the SST.
 */
import { InvalidError } from "../errors.ts"
import { writeU16, writeU64, u64Bytes } from "./BigEndian.ts"
import { type BlockVersion, BlockBuilder, DEFAULT_BLOCK_SIZE } from "./Block.ts"
import { type BloomFilter, BloomFilterBuilder, DEFAULT_BITS_PER_KEY, encodeBloomFilter, estimateFilterEncodedSize } from "./BloomFilter.ts"
import { concatBytes } from "./Bytes.ts"
import { compareKeys } from "./KeyComparator.ts"
import { CHECKSUM_SIZE, crc32 } from "./Checksum.ts"
import { compress } from "./Compression.ts"
import { type RowEntry, RowKind } from "./RowEntry.ts"
import {
  type BlockMeta,
  type BlockStats,
  CompressionFormat,
  FilterFormat,
  type SsTableInfo,
  type SstStats,
  SstType
} from "./SstMetadata.ts"
import { encodeSsTableIndex, encodeSsTableInfo, encodeSstStats } from "./SstMetadataCodec.ts"

/** 8-byte info offset + 2-byte version. */
export const FOOTER_SIZE = 10
/** The SST format version SlateDB 0.12.1 writes (V2 blocks). */
export const SST_FORMAT_VERSION = 2
export const DEFAULT_MIN_FILTER_KEYS = 1000

export interface SsTableBuilderOptions {
  /** Target block size in bytes (SlateDB: 1, 2, 4 (default), 8, 16, 32 or 64 KiB). */
  readonly blockSize?: number
  /** One codec for every section (default None). */
  readonly compression?: CompressionFormat
  /** Build a bloom filter when at least this many rows are added (default 1000). */
  readonly minFilterKeys?: number
  readonly filterBitsPerKey?: number
  /** 2 (default; V2 blocks) or 1 (V1 blocks; only for compatibility tests). */
  readonly formatVersion?: BlockVersion
}

export interface WalSsTableBuilderOptions {
  readonly blockSize?: number
  readonly compression?: CompressionFormat
}

/** A finished SST. `chunks` (blocks not yet drained, then the footer) concatenate to the rest of the file. */
export interface EncodedSsTable {
  readonly formatVersion: BlockVersion
  readonly info: SsTableInfo
  readonly blockMeta: ReadonlyArray<BlockMeta>
  readonly filter: BloomFilter | undefined
  readonly stats: SstStats | undefined
  readonly chunks: ReadonlyArray<Uint8Array>
  /** Total size of the SST in bytes (including drained chunks). */
  readonly size: number
  readonly numRows: number
}

const EMPTY = new Uint8Array(0)
const MAX_KEY = 65535
const MAX_VALUE = 0xffffffff

/**
 * `stored ++ crc32(stored)`. With `inPlace`, `stored` must be a view we own with 4 spare bytes after it
 * (an uncompressed block fresh from `BlockBuilder.build`), and the CRC is written there without a copy.
 */
const frame = (stored: Uint8Array, inPlace = false): Uint8Array => {
  const len = stored.length
  let out: Uint8Array
  if (inPlace && stored.byteOffset + len + CHECKSUM_SIZE <= stored.buffer.byteLength) {
    out = new Uint8Array(stored.buffer, stored.byteOffset, len + CHECKSUM_SIZE)
  } else {
    out = new Uint8Array(len + CHECKSUM_SIZE)
    out.set(stored, 0)
  }
  const crc = crc32(stored)
  out[len] = crc >>> 24
  out[len + 1] = crc >>> 16
  out[len + 2] = crc >>> 8
  out[len + 3] = crc
  return out
}

const validateRow = (row: RowEntry): void => {
  const keyLen = row.key.length
  if (keyLen === 0) throw new InvalidError({ message: "key cannot be empty" })
  if (keyLen > MAX_KEY) throw new InvalidError({ message: "key size must be <= u16::MAX" })
  if (row.value.length > MAX_VALUE) throw new InvalidError({ message: "value size must be <= u32::MAX" })
  if (!Number.isSafeInteger(row.seq) || row.seq < 0) {
    throw new InvalidError({ message: `seq ${row.seq} is not a non-negative safe integer` })
  }
  if (row.createTs !== undefined && !Number.isSafeInteger(row.createTs)) {
    throw new InvalidError({ message: `create_ts ${row.createTs} is not a safe integer` })
  }
  if (row.expireTs !== undefined && !Number.isSafeInteger(row.expireTs)) {
    throw new InvalidError({ message: `expire_ts ${row.expireTs} is not a safe integer` })
  }
}

/**
 * SlateDB's index separator: the shortest prefix of `first` (a block's first key) that is greater than
 * `prevLast` (the previous block's last key); the full key when both are equal.
 */
export const computeIndexKey = (prevLast: Uint8Array | undefined, first: Uint8Array): Uint8Array => {
  if (prevLast === undefined) return EMPTY
  const n = prevLast.length
  for (let i = 0; i < n; i++) {
    if (prevLast[i] !== first[i]) return first.slice(0, i + 1)
  }
  if (n === first.length) return first.slice()
  return first.slice(0, n + 1)
}

/** Shared machinery: the current block, the finished chunks, the running data length. */
abstract class SstWriter {
  protected readonly blockSize: number
  protected readonly compression: CompressionFormat
  protected readonly version: BlockVersion
  protected block: BlockBuilder
  protected readonly blockMeta: Array<BlockMeta> = []
  /** First key of the block being built (for its BlockMeta), set when its first row arrives. */
  protected pendingFirstKey: Uint8Array = EMPTY
  protected chunks: Array<Uint8Array> = []
  protected dataLen = 0
  protected drainedLen = 0
  protected rows = 0

  constructor(blockSize: number, compression: CompressionFormat, version: BlockVersion) {
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 65536) {
      throw new InvalidError({ message: `block size ${blockSize} must be an integer in 1..65536` })
    }
    this.blockSize = blockSize
    this.compression = compression
    this.version = version
    this.block = new BlockBuilder(blockSize, version)
  }

  /** Rows added so far. */
  get numRows(): number {
    return this.rows
  }

  /** Bytes of finished data blocks so far (compressed, with CRCs). */
  get dataSize(): number {
    return this.dataLen
  }

  /** Bytes of finished data blocks not yet taken (`takeFinishedChunks`). */
  get untakenSize(): number {
    return this.dataLen - this.drainedLen
  }

  /** Hands over the finished (framed) data blocks not yet taken, for a streaming upload. */
  takeFinishedChunks(): Array<Uint8Array> {
    const out = this.chunks
    this.chunks = []
    for (const c of out) this.drainedLen += c.length
    return out
  }

  /** Finishes the current block (if any): frames it, records its BlockMeta. */
  protected finishBlock(): void {
    if (this.block.isEmpty) return
    this.onBlockFinished()
    const raw = this.block.build()
    const chunk = this.compression === CompressionFormat.None ? frame(raw, true) : frame(compress(this.compression, raw))
    this.blockMeta.push({ offset: this.dataLen, firstKey: this.pendingFirstKey })
    this.chunks.push(chunk)
    this.dataLen += chunk.length
  }

  protected onBlockFinished(): void {}

  /** Frames a metadata section into `parts`, returning its framed length. */
  protected section(parts: Array<Uint8Array>, raw: Uint8Array): number {
    const framed = frame(compress(this.compression, raw))
    parts.push(framed)
    return framed.length
  }

  protected writeFooter(
    filter: BloomFilter | undefined,
    stats: SstStats | undefined,
    firstEntry: Uint8Array | undefined,
    lastEntry: Uint8Array | undefined,
    sstType: SstType
  ): EncodedSsTable {
    this.finishBlock()
    const parts: Array<Uint8Array> = []
    let pos = this.dataLen
    const filterOffset = pos
    const filterLen = filter === undefined ? 0 : this.section(parts, encodeBloomFilter(filter))
    pos += filterLen
    const indexOffset = pos
    const indexLen = this.section(parts, encodeSsTableIndex(this.blockMeta))
    pos += indexLen
    let statsOffset = 0
    let statsLen = 0
    if (stats !== undefined) {
      statsOffset = pos
      statsLen = this.section(parts, encodeSstStats(stats))
      pos += statsLen
    }
    const info: SsTableInfo = {
      firstEntry,
      lastEntry,
      indexOffset,
      indexLen,
      filterOffset,
      filterLen,
      compressionFormat: this.compression,
      sstType,
      statsOffset,
      statsLen,
      filterFormat: FilterFormat.Legacy
    }
    const infoOffset = pos
    const infoFramed = frame(encodeSsTableInfo(info))
    parts.push(infoFramed)
    pos += infoFramed.length
    const trailer = new Uint8Array(FOOTER_SIZE)
    writeU64(trailer, 0, infoOffset)
    writeU16(trailer, 8, this.version)
    parts.push(trailer)
    pos += FOOTER_SIZE
    const chunks = this.chunks
    this.chunks = []
    for (const p of parts) chunks.push(p)
    return {
      formatVersion: this.version,
      info,
      blockMeta: this.blockMeta,
      filter,
      stats,
      chunks,
      size: pos,
      numRows: this.rows
    }
  }
}

/** Builds a compacted (L0 / sorted-run) SST. */
export class SsTableBuilder extends SstWriter {
  private readonly minFilterKeys: number
  private readonly filterBuilder: BloomFilterBuilder
  private firstKey: Uint8Array | undefined = undefined
  private lastKey: Uint8Array | undefined = undefined
  private lastSeq = 0
  private numPuts = 0
  private numDeletes = 0
  private numMerges = 0
  private rawKeySize = 0
  private rawValSize = 0
  private blockPuts = 0
  private blockDeletes = 0
  private blockMerges = 0
  private readonly blockStats: Array<BlockStats> = []

  constructor(options: SsTableBuilderOptions = {}) {
    super(options.blockSize ?? DEFAULT_BLOCK_SIZE, options.compression ?? CompressionFormat.None, options.formatVersion ?? 2)
    this.minFilterKeys = options.minFilterKeys ?? DEFAULT_MIN_FILTER_KEYS
    this.filterBuilder = new BloomFilterBuilder(options.filterBitsPerKey ?? DEFAULT_BITS_PER_KEY)
  }

  /** Adds the next row: key greater than the previous row's, or equal with a lower (or equal) seq. */
  add(row: RowEntry): void {
    validateRow(row)
    const last = this.lastKey
    if (last !== undefined) {
      const c = compareKeys(last, row.key)
      if (c > 0 || (c === 0 && row.seq > this.lastSeq)) {
        throw new InvalidError({ message: "rows must be added in key-ascending, seq-descending order" })
      }
    }
    if (!this.block.add(row)) {
      this.finishBlock()
      this.pendingFirstKey = computeIndexKey(last, row.key)
      this.block.add(row)
    } else if (last === undefined) {
      this.pendingFirstKey = EMPTY
    }
    if (this.firstKey === undefined) this.firstKey = row.key
    this.lastKey = row.key
    this.lastSeq = row.seq
    this.filterBuilder.addKey(row.key)
    this.rawKeySize += row.key.length
    this.rawValSize += row.kind === RowKind.Tombstone ? 0 : row.value.length
    if (row.kind === RowKind.Value) this.blockPuts++
    else if (row.kind === RowKind.Tombstone) this.blockDeletes++
    else this.blockMerges++
    this.rows++
  }

  protected override onBlockFinished(): void {
    this.blockStats.push({ numPuts: this.blockPuts, numDeletes: this.blockDeletes, numMerges: this.blockMerges })
    this.numPuts += this.blockPuts
    this.numDeletes += this.blockDeletes
    this.numMerges += this.blockMerges
    this.blockPuts = 0
    this.blockDeletes = 0
    this.blockMerges = 0
  }

  /** Finishes the SST. The builder must not be used afterwards. */
  finish(): EncodedSsTable {
    this.finishBlock()
    const filter = this.rows >= this.minFilterKeys ? this.filterBuilder.build() : undefined
    const stats: SstStats = {
      numPuts: this.numPuts,
      numDeletes: this.numDeletes,
      numMerges: this.numMerges,
      rawKeySize: this.rawKeySize,
      rawValSize: this.rawValSize,
      blockStats: this.blockStats
    }
    return this.writeFooter(
      filter,
      stats,
      this.firstKey?.slice(),
      this.lastKey?.slice(),
      SstType.Compacted
    )
  }
}

/** Builds a WAL SST. */
export class WalSsTableBuilder extends SstWriter {
  private firstSeq: number | undefined = undefined

  constructor(options: WalSsTableBuilderOptions = {}) {
    super(options.blockSize ?? DEFAULT_BLOCK_SIZE, options.compression ?? CompressionFormat.None, 2)
  }

  /** Appends the next row in insertion (seq) order. */
  add(row: RowEntry): void {
    validateRow(row)
    if (!this.block.add(row)) {
      this.finishBlock()
      this.pendingFirstKey = u64Bytes(row.seq)
      this.block.add(row)
    } else if (this.firstSeq === undefined) {
      this.pendingFirstKey = u64Bytes(row.seq)
    }
    if (this.firstSeq === undefined) this.firstSeq = row.seq
    this.rows++
  }

  finish(): EncodedSsTable {
    return this.writeFooter(
      undefined,
      undefined,
      this.firstSeq === undefined ? undefined : u64Bytes(this.firstSeq),
      undefined,
      SstType.Wal
    )
  }
}

/** Concatenates chunks into one array. */
export const concatChunks = concatBytes

/** Builds a whole compacted SST from sorted rows and returns its bytes. */
export const buildSsTable = (
  rows: Iterable<RowEntry>,
  options: SsTableBuilderOptions = {}
): { readonly bytes: Uint8Array; readonly table: EncodedSsTable } => {
  const b = new SsTableBuilder(options)
  for (const r of rows) b.add(r)
  const table = b.finish()
  return { bytes: concatChunks(table.chunks), table }
}

/** Builds a whole WAL SST from rows in insertion order and returns its bytes. */
export const buildWalSsTable = (
  rows: Iterable<RowEntry>,
  options: WalSsTableBuilderOptions = {}
): { readonly bytes: Uint8Array; readonly table: EncodedSsTable } => {
  const b = new WalSsTableBuilder(options)
  for (const r of rows) b.add(r)
  const table = b.finish()
  return { bytes: concatChunks(table.chunks), table }
}

// ---------------------------------------------------------------------------------------------------------
// Size estimates (SlateDB `estimate_encoded_size_*`, used for flush triggers and backpressure only)

export interface SizeEstimateOptions {
  readonly blockSize?: number
  readonly minFilterKeys?: number
  readonly filterBitsPerKey?: number
}

/**
 * The settings the estimates depend on, all given: what the engine passes (a subset of `Settings`). The
 * memtable, the writer and the flusher use it to decide when to freeze a memtable and what counts against
 * backpressure, never the bytes on disk.
 */
export interface SstSizeOptions {
  readonly blockSize: number
  readonly minFilterKeys: number
  readonly filterBitsPerKey: number
}

const estimateDataIndexMetadata = (
  numEntries: number,
  entriesSize: number,
  blockSize: number,
  firstKeyGuess: number
): number => {
  // SstRowCodecV0::estimate_encoded_size: + (2 + 2 + 4 + 1) per entry
  const encoded = entriesSize + 9 * numEntries
  const blocks = Math.ceil(encoded / blockSize)
  // Block::estimate_encoded_size: + 2 per entry (offset) + 4 per block (crc)
  let size = encoded + 2 * numEntries + 4 * blocks
  // index: a first key per block + 2, + crc
  size += blocks * firstKeyGuess + 2 + 4
  // info: first key guess + 4 u64 + u16
  size += firstKeyGuess + 4 * 8 + 2
  // footer
  size += FOOTER_SIZE
  return size
}

/**
 * SlateDB's estimate of a WAL SST's size for `numEntries` rows whose `estimatedSize`s sum to `entriesSize`
 * (0 for no rows).
 */
export const estimateWalSstSize = (numEntries: number, entriesSize: number, options: SizeEstimateOptions = {}): number =>
  numEntries === 0 ? 0 : estimateDataIndexMetadata(numEntries, entriesSize, options.blockSize ?? DEFAULT_BLOCK_SIZE, 8)

/**
 * SlateDB's estimate of a compacted SST's size (adds the filter, CRC included, when rows ≥ minFilterKeys,
 * and 44 bytes of stats).
 */
export const estimateCompactedSstSize = (
  numEntries: number,
  entriesSize: number,
  options: SizeEstimateOptions = {}
): number => {
  if (numEntries === 0) return 0
  let size = estimateDataIndexMetadata(numEntries, entriesSize, options.blockSize ?? DEFAULT_BLOCK_SIZE, 12)
  if (numEntries >= (options.minFilterKeys ?? DEFAULT_MIN_FILTER_KEYS)) {
    size += estimateFilterEncodedSize(numEntries, options.filterBitsPerKey ?? DEFAULT_BITS_PER_KEY)
  }
  size += 5 * 8 + 4
  return size
}
