/**
 * FlatBuffer codecs for the three SST metadata sections (docs/format.md §2.3-§2.4):
 * `SsTableInfo` (the info section, also embedded in manifests and compactions files), `SsTableIndex`
 * (the index block) and `SstStats` (the stats block).
 *
 * Encoding rules, chosen so the output is byte-identical to SlateDB 0.12.1 (verified against the fence
 * SST golden and against SSTs written by the real engine):
 * - standalone buffers: root via `finish`, no file identifier, no size prefix;
 * - default-valued scalars are omitted (Rust `force_defaults = false`);
 * - fields are added in the order of Rust's generated `create` (size descending, ties in reverse
 *   declaration order), children (vectors) created before their table in the encoder's order;
 * - `filter_format` Legacy (what we write, and all the released 0.12.1 knows) is never written; it is
 *   read when present, and a Composite value (SSTs from newer SlateDB) is preserved on re-encoding;
 * - `block_stats` is omitted when there are no blocks.
 *
 * Decoders apply schema defaults and throw `DataError` on malformed input (see `FlatBuffers.ts`), never a
 * RangeError/TypeError. The CRC that follows each section on disk is the SST reader's business.
 */
import {
  addU64Field,
  Builder,
  createOffsetVector,
  FbBuffer,
  type FbTable,
  finish,
  u16
} from "./FlatBuffers.ts"
import {
  type BlockMeta,
  type BlockStats,
  CompressionFormat,
  FilterFormat,
  type SsTableInfo,
  type SstStats,
  SstType
} from "./SstMetadata.ts"

// SsTableInfo slots
const INFO_FIRST_ENTRY = 0
const INFO_INDEX_OFFSET = 1
const INFO_INDEX_LEN = 2
const INFO_FILTER_OFFSET = 3
const INFO_FILTER_LEN = 4
const INFO_COMPRESSION_FORMAT = 5
const INFO_SST_TYPE = 6
const INFO_LAST_ENTRY = 7
const INFO_STATS_OFFSET = 8
const INFO_STATS_LEN = 9
const INFO_FILTER_FORMAT = 10

/**
 * Writes an `SsTableInfo` table into `b` (for embedding, e.g. in a manifest's `CompactedSsTable`) and
 * returns its offset. Creates the `first_entry` then `last_entry` vectors, then the table.
 */
export const writeSsTableInfo = (b: Builder, info: SsTableInfo): number => {
  const firstEntry = info.firstEntry === undefined ? 0 : b.createByteVector(info.firstEntry)
  const lastEntry = info.lastEntry === undefined ? 0 : b.createByteVector(info.lastEntry)
  b.startObject(11)
  addU64Field(b, INFO_STATS_LEN, info.statsLen, "statsLen")
  addU64Field(b, INFO_STATS_OFFSET, info.statsOffset, "statsOffset")
  addU64Field(b, INFO_FILTER_LEN, info.filterLen, "filterLen")
  addU64Field(b, INFO_FILTER_OFFSET, info.filterOffset, "filterOffset")
  addU64Field(b, INFO_INDEX_LEN, info.indexLen, "indexLen")
  addU64Field(b, INFO_INDEX_OFFSET, info.indexOffset, "indexOffset")
  if (info.lastEntry !== undefined) b.addFieldOffset(INFO_LAST_ENTRY, lastEntry, 0)
  if (info.firstEntry !== undefined) b.addFieldOffset(INFO_FIRST_ENTRY, firstEntry, 0)
  // filter_format (slot 10): Legacy is the default and is never written (what the released 0.12.1
  // writes). Composite only occurs when re-encoding metadata of an SST written by a newer SlateDB; it is
  // kept so its filter block is not misread as a raw bloom filter.
  b.addFieldInt8(INFO_FILTER_FORMAT, info.filterFormat, FilterFormat.Legacy)
  b.addFieldInt8(INFO_SST_TYPE, info.sstType, SstType.Compacted)
  b.addFieldInt8(INFO_COMPRESSION_FORMAT, info.compressionFormat, CompressionFormat.None)
  return b.endObject()
}

const compressionFormats: ReadonlyArray<CompressionFormat> = [0, 1, 2, 3, 4]
const sstTypes: ReadonlyArray<SstType> = [0, 1]
const filterFormats: ReadonlyArray<FilterFormat> = [0, 1]

/** Reads an `SsTableInfo` table (standalone root or embedded). */
export const readSsTableInfo = (t: FbTable): SsTableInfo => {
  const compression = t.i8(INFO_COMPRESSION_FORMAT)
  const compressionFormat = compressionFormats[compression]
  if (compressionFormat === undefined) t.buf.fail(`unknown compression_format ${compression}`)
  const type = t.i8(INFO_SST_TYPE)
  const sstType = sstTypes[type]
  if (sstType === undefined) t.buf.fail(`unknown sst_type ${type}`)
  const filter = t.i8(INFO_FILTER_FORMAT)
  const filterFormat = filterFormats[filter]
  if (filterFormat === undefined) t.buf.fail(`unknown filter_format ${filter}`)
  return {
    firstEntry: t.bytes(INFO_FIRST_ENTRY),
    lastEntry: t.bytes(INFO_LAST_ENTRY),
    indexOffset: t.u64(INFO_INDEX_OFFSET, "index_offset"),
    indexLen: t.u64(INFO_INDEX_LEN, "index_len"),
    filterOffset: t.u64(INFO_FILTER_OFFSET, "filter_offset"),
    filterLen: t.u64(INFO_FILTER_LEN, "filter_len"),
    compressionFormat,
    sstType,
    statsOffset: t.u64(INFO_STATS_OFFSET, "stats_offset"),
    statsLen: t.u64(INFO_STATS_LEN, "stats_len"),
    filterFormat
  }
}

/** Encodes the info section's FlatBuffer (without the CRC). */
export const encodeSsTableInfo = (info: SsTableInfo): Uint8Array => {
  const b = new Builder(128 + (info.firstEntry?.length ?? 0) + (info.lastEntry?.length ?? 0))
  return finish(b, writeSsTableInfo(b, info))
}

/** Decodes the info section's FlatBuffer (without the CRC). */
export const decodeSsTableInfo = (bytes: Uint8Array): SsTableInfo =>
  readSsTableInfo(new FbBuffer(bytes, "info").root())

// SsTableIndex / BlockMeta
const INDEX_BLOCK_META = 0
const META_OFFSET = 0
const META_FIRST_KEY = 1

/** Encodes the index block's FlatBuffer: one `BlockMeta {offset, first_key}` per data block. */
export const encodeSsTableIndex = (blocks: ReadonlyArray<BlockMeta>): Uint8Array => {
  let size = 64
  for (const m of blocks) size += m.firstKey.length + 32
  const b = new Builder(size)
  const metas = new Array<number>(blocks.length)
  for (let i = 0; i < blocks.length; i++) {
    const m = blocks[i]!
    const firstKey = b.createByteVector(m.firstKey)
    b.startObject(2)
    addU64Field(b, META_OFFSET, m.offset, "block offset")
    b.addFieldOffset(META_FIRST_KEY, firstKey, 0)
    metas[i] = b.endObject()
  }
  const vector = createOffsetVector(b, metas)
  b.startObject(1)
  b.addFieldOffset(INDEX_BLOCK_META, vector, 0)
  return finish(b, b.endObject())
}

const readBlockMeta = (t: FbTable): BlockMeta => ({
  offset: t.u64(META_OFFSET, "block offset"),
  firstKey: t.requiredBytes(META_FIRST_KEY, "BlockMeta.first_key")
})

/** Decodes the index block's FlatBuffer. */
export const decodeSsTableIndex = (bytes: Uint8Array): ReadonlyArray<BlockMeta> =>
  new FbBuffer(bytes, "index").root().requiredTables(INDEX_BLOCK_META, "SsTableIndex.block_meta", readBlockMeta)

// SstStats / BlockStats
const STATS_NUM_PUTS = 0
const STATS_NUM_DELETES = 1
const STATS_NUM_MERGES = 2
const STATS_RAW_KEY_SIZE = 3
const STATS_RAW_VAL_SIZE = 4
const STATS_BLOCK_STATS = 5
const BLOCK_NUM_PUTS = 0
const BLOCK_NUM_DELETES = 1
const BLOCK_NUM_MERGES = 2

/** Encodes the stats block's FlatBuffer (`block_stats` omitted when empty). */
export const encodeSstStats = (stats: SstStats): Uint8Array => {
  const b = new Builder(128 + 16 * stats.blockStats.length)
  let blockStats = 0
  if (stats.blockStats.length > 0) {
    const offsets = new Array<number>(stats.blockStats.length)
    for (let i = 0; i < stats.blockStats.length; i++) {
      const s = stats.blockStats[i]!
      b.startObject(3)
      b.addFieldInt16(BLOCK_NUM_MERGES, u16(s.numMerges, "block numMerges"), 0)
      b.addFieldInt16(BLOCK_NUM_DELETES, u16(s.numDeletes, "block numDeletes"), 0)
      b.addFieldInt16(BLOCK_NUM_PUTS, u16(s.numPuts, "block numPuts"), 0)
      offsets[i] = b.endObject()
    }
    blockStats = createOffsetVector(b, offsets)
  }
  b.startObject(6)
  addU64Field(b, STATS_RAW_VAL_SIZE, stats.rawValSize, "rawValSize")
  addU64Field(b, STATS_RAW_KEY_SIZE, stats.rawKeySize, "rawKeySize")
  addU64Field(b, STATS_NUM_MERGES, stats.numMerges, "numMerges")
  addU64Field(b, STATS_NUM_DELETES, stats.numDeletes, "numDeletes")
  addU64Field(b, STATS_NUM_PUTS, stats.numPuts, "numPuts")
  if (blockStats !== 0) b.addFieldOffset(STATS_BLOCK_STATS, blockStats, 0)
  return finish(b, b.endObject())
}

const readBlockStats = (t: FbTable): BlockStats => ({
  numPuts: t.u16(BLOCK_NUM_PUTS),
  numDeletes: t.u16(BLOCK_NUM_DELETES),
  numMerges: t.u16(BLOCK_NUM_MERGES)
})

/** Decodes the stats block's FlatBuffer (absent `block_stats` ⇒ empty list). */
export const decodeSstStats = (bytes: Uint8Array): SstStats => {
  const t = new FbBuffer(bytes, "stats").root()
  return {
    numPuts: t.u64(STATS_NUM_PUTS, "num_puts"),
    numDeletes: t.u64(STATS_NUM_DELETES, "num_deletes"),
    numMerges: t.u64(STATS_NUM_MERGES, "num_merges"),
    rawKeySize: t.u64(STATS_RAW_KEY_SIZE, "raw_key_size"),
    rawValSize: t.u64(STATS_RAW_VAL_SIZE, "raw_val_size"),
    blockStats: t.tables(STATS_BLOCK_STATS, readBlockStats) ?? []
  }
}
