/**
 * Opening an SST: its footer, info, index and bloom filter, in at most two requests, usually one (the
 * object size comes from the caller or a `HEAD`, then ONE ranged GET reads the last `footerReadSize`
 * bytes, which hold the footer and the info and, for WAL SSTs and small compacted SSTs, the index and the
 * filter too; only when those do not fit is a second GET issued, covering both at once). An SST already in
 * memory (`bytes`) opens with no request. Every section is checksum-verified and validated before use.
 */
import { Effect } from "effect"
import { DataError } from "../errors.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { readU16, readU64 } from "../format/BigEndian.ts"
import type { BlockVersion } from "../format/Block.ts"
import { type BloomFilter, decodeBloomFilter, decodeCompositeFilter } from "../format/BloomFilter.ts"
import { CHECKSUM_SIZE, verifyChecksum } from "../format/Checksum.ts"
import { decompress } from "../format/Compression.ts"
import { type BlockMeta, FilterFormat, type SsTableInfo, type SstStats } from "../format/SstMetadata.ts"
import { decodeSsTableIndex, decodeSsTableInfo, decodeSstStats } from "../format/SstMetadataCodec.ts"
import { FOOTER_SIZE } from "../format/SsTableBuilder.ts"
import type { FilterStats } from "../Metrics.ts"
import type { SstBlockCache } from "./SsTableBlocks.ts"
import { dataError, decodeWith, type SsTableError } from "./SsTableErrors.ts"

export interface SsTableOpenOptions {
  /** The object's size if known (from a listing); saves the HEAD request. */
  readonly size?: number
  readonly cache?: SstBlockCache
  /** How many trailing bytes the opening GET reads (default 64 KiB, at least the 10-byte footer). */
  readonly footerReadSize?: number
  /**
   * The whole object, when it is already in memory (an SST this process has just written): opening then
   * reads nothing from the store. Sections are copied out as a GET would return them, so the handle does
   * not keep `bytes` alive.
   */
  readonly bytes?: Uint8Array
  /**
   * The object's last bytes, at least its filter, index, info and footer (with `size`): opening then reads
   * nothing from the store (an SST another thread has just written). Copied out like `bytes`.
   */
  readonly suffix?: Uint8Array
  /** Blocks fetched per GET by scans (default 16). */
  readonly readAheadBlocks?: number
  /** Where point reads count their bloom filter answers (`slatedb.db.sst_filter_*`, Metrics.ts). */
  readonly filterStats?: FilterStats
}

export const DEFAULT_FOOTER_READ_SIZE = 64 * 1024
export const DEFAULT_READ_AHEAD_BLOCKS = 16

/** What opening an SST reads: its metadata, and the store to read its blocks from. */
export interface SsTableMetadata {
  readonly path: string
  readonly size: number
  readonly formatVersion: BlockVersion
  readonly info: SsTableInfo
  readonly blockMeta: ReadonlyArray<BlockMeta>
  readonly filter: BloomFilter | undefined
  readonly store: ObjectStore["Service"]
}

/** Reads the metadata of the SST at `path` (see the module comment for the requests). */
export const loadSsTableMetadata = Effect.fnUntraced(function*(path: string, options: SsTableOpenOptions) {
  const store = yield* ObjectStore
  const whole = options.bytes
  const suffix = options.size === undefined ? undefined : options.suffix
  const size = whole?.length ?? options.size ?? (yield* store.head(path)).size
  const suffixStart = suffix === undefined ? size : size - suffix.length
  // Bytes [from, to) of the object: from `whole` or `suffix` (copied, as a GET returns them) or from the store.
  const read = (from: number, to: number) =>
    whole !== undefined
      ? Effect.sync(() => whole.slice(from, to))
      : suffix !== undefined && from >= suffixStart
      ? Effect.sync(() => suffix.slice(from - suffixStart, to - suffixStart))
      : store.getRange(path, { start: from, end: to })
  if (size <= FOOTER_SIZE) return yield* dataError(path, "footer", `object of ${size} bytes is too small for an SST`)
  const readSize = suffix !== undefined
    ? Math.max(FOOTER_SIZE, Math.min(suffix.length, size))
    : Math.max(FOOTER_SIZE, options.footerReadSize ?? DEFAULT_FOOTER_READ_SIZE)
  const tailStart = Math.max(0, size - readSize)
  const tail = yield* read(tailStart, size)
  if (tail.length !== size - tailStart) {
    return yield* dataError(path, "footer", `expected ${size - tailStart} trailing bytes, read ${tail.length}`)
  }
  const footerAt = tail.length - FOOTER_SIZE
  const { infoOffset, version } = yield* decodeWith(path, "footer", () => {
    const version = readU16(tail, footerAt + 8)
    if (version !== 1 && version !== 2) {
      throw new DataError({ message: `unsupported SST format version ${version} (supported: 1, 2)` })
    }
    const infoOffset = readU64(tail, footerAt)
    if (infoOffset > size - FOOTER_SIZE - CHECKSUM_SIZE - 1) {
      throw new DataError({ message: `info offset ${infoOffset} is outside the object (${size} bytes)` })
    }
    return { infoOffset, version: version as BlockVersion }
  })

  // Bytes [from, to) of the object, from the tail when it covers them.
  const range = (from: number, to: number, section: string) =>
    from >= tailStart
      ? Effect.succeed(tail.subarray(from - tailStart, to - tailStart))
      : read(from, to).pipe(
        Effect.flatMap((bytes) =>
          bytes.length === to - from
            ? Effect.succeed(bytes)
            : Effect.fail(dataError(path, section, `expected ${to - from} bytes, read ${bytes.length}`))
        )
      )

  const infoFramed = yield* range(infoOffset, size - FOOTER_SIZE, "info")
  const info = yield* decodeWith(path, "info", () => decodeSsTableInfo(verifyChecksum(infoFramed, { section: "info" })))
  yield* decodeWith(path, "info", () => validateLayout(info, infoOffset))

  // Filter and index are adjacent (filter first); fetch both with one request when outside the tail.
  const metaStart = info.filterLen > 0 ? Math.min(info.filterOffset, info.indexOffset) : info.indexOffset
  const metaEnd = info.indexOffset + info.indexLen
  const meta = yield* range(metaStart, metaEnd, "index")
  const indexFramed = meta.subarray(info.indexOffset - metaStart, metaEnd - metaStart)
  const blockMeta = yield* decodeWith(path, "index", () => {
    const stored = verifyChecksum(indexFramed, { section: "index" })
    const index = decodeSsTableIndex(decompress(info.compressionFormat, stored))
    validateIndex(index, info)
    return index
  })
  let filter: BloomFilter | undefined
  if (info.filterLen > 0) {
    const filterFramed = meta.subarray(info.filterOffset - metaStart, info.filterOffset - metaStart + info.filterLen)
    filter = yield* decodeWith(path, "filter", () => {
      const raw = decompress(info.compressionFormat, verifyChecksum(filterFramed, { section: "filter" }))
      const f = info.filterFormat === FilterFormat.Composite ? decodeCompositeFilter(raw) : decodeBloomFilter(raw)
      // Copy the bits: the handle lives long and must not pin the opening read's buffer.
      return f === undefined ? undefined : { numProbes: f.numProbes, bits: f.bits.slice() }
    })
  }
  const metadata: SsTableMetadata = { path, size, formatVersion: version, info, blockMeta, filter, store }
  return metadata
})

/** Reads the stats section of an opened SST (undefined when it has none, e.g. WAL SSTs). */
export const readSstStats = (
  store: ObjectStore["Service"],
  path: string,
  info: SsTableInfo
): Effect.Effect<SstStats | undefined, SsTableError> => {
  if (info.statsLen === 0) return Effect.succeed(undefined)
  return store.getRange(path, { start: info.statsOffset, end: info.statsOffset + info.statsLen }).pipe(
    Effect.flatMap((framed) =>
      decodeWith(path, "stats", () => {
        if (framed.length !== info.statsLen) throw new DataError({ message: "stats section truncated" })
        return decodeSstStats(decompress(info.compressionFormat, verifyChecksum(framed, { section: "stats" })))
      })
    )
  )
}

/** Sections must be contiguous-ish and inside the object: data, filter, index, stats, info. */
const validateLayout = (info: SsTableInfo, infoOffset: number): void => {
  const bad = (what: string): never => {
    throw new DataError({ message: `inconsistent SsTableInfo: ${what}` })
  }
  if (info.indexLen < CHECKSUM_SIZE) bad(`index_len ${info.indexLen}`)
  if (info.filterOffset > info.indexOffset) bad("filter_offset after index_offset")
  if (info.filterLen > 0 && info.filterOffset + info.filterLen > info.indexOffset) bad("filter overlaps the index")
  if (info.filterLen > 0 && info.filterLen < CHECKSUM_SIZE + 1) bad(`filter_len ${info.filterLen}`)
  if (info.indexOffset + info.indexLen > infoOffset) bad("index overlaps the info")
  if (info.statsLen > 0) {
    if (info.statsLen < CHECKSUM_SIZE) bad(`stats_len ${info.statsLen}`)
    if (info.statsOffset < info.indexOffset + info.indexLen || info.statsOffset + info.statsLen > infoOffset) {
      bad("stats section outside [index end, info)")
    }
  }
}

const validateIndex = (index: ReadonlyArray<BlockMeta>, info: SsTableInfo): void => {
  let prev = -1
  for (let i = 0; i < index.length; i++) {
    const off = index[i]!.offset
    if (i === 0 ? off !== 0 : off <= prev) {
      throw new DataError({ message: `block ${i} offset ${off} is out of order` })
    }
    prev = off
  }
  if (index.length > 0 && prev + CHECKSUM_SIZE > info.filterOffset) {
    throw new DataError({ message: `last block at ${prev} does not end before the filter offset ${info.filterOffset}` })
  }
}
