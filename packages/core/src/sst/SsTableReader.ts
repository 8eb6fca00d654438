/**
 * Reads SSTs (compacted and WAL, SST format versions 1 and 2) from the `ObjectStore`.
 *
 * Opening costs at most two requests, usually one: the object size comes from the caller or a `HEAD`,
 * then ONE ranged GET reads the last `footerReadSize` bytes (default 64 KiB). That suffix holds the footer
 * and the info section and, for WAL SSTs and small compacted SSTs, also the index, the filter (and often the
 * whole file); only when the index/filter do not fit is a second GET issued, covering both at once. The
 * handle then keeps the info, the index and the bloom filter in memory; stats are read on demand. An SST
 * already in memory (`open(path, { bytes })`, e.g. one this process just wrote) opens with no request.
 *
 * Reads fetch only the data blocks they need: a point lookup checks the key bounds and the bloom filter
 * (`getIfCached` may defer the filter until a block must be read), then searches the blocks from "last
 * block whose separator is < key" through "last block whose separator is ≤ key" (versions of one key may
 * straddle blocks), stopping at the first version ≤ `maxSeq`; a key the SST lacks costs no read. Scans
 * (SsTableScan.ts) fetch contiguous runs of up to `readAheadBlocks` blocks per GET. Decoded blocks go
 * through an optional block cache, addressed by block index (`SstBlockCache`). `getIfCached` is the same
 * point lookup, synchronous, for when every block it needs is cached (it says "miss" otherwise).
 *
 * Guarantees:
 * - Every checksum is verified before bytes are decompressed or parsed. Any corruption or format problem
 *   (bad version, bad CRC, undecodable FlatBuffer, bad offsets, bad rows, unknown flags) fails with a typed
 *   `DataError` naming the object and the section ("footer", "info", "index", "filter", "stats",
 *   "block N"). Wrong rows are never returned. Object-store failures pass through as `ObjectStoreError`s.
 * - Rows come back in stored order: compacted SSTs key ascending then seq descending; descending scans
 *   return the exact reverse (key descending, seq ascending), like SlateDB's descending block iterator;
 *   WAL SSTs in insertion order.
 * - Handles are safe to share between fibers. What they change is scratch of the synchronous lookup and
 *   the point-read read-ahead window (a heuristic: whatever it fetches is correct).
 */
import { Effect, Stream } from "effect"
import { DataError } from "../errors.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"
import { readU16, readU64 } from "../format/BigEndian.ts"
import {
  type Block,
  type BlockVersion,
  CONTINUE,
  decodeBlock,
  findInBlock
} from "../format/Block.ts"
import {
  type BloomFilter,
  decodeBloomFilter,
  decodeCompositeFilter,
  type FilterHash,
  mightContain,
  mightContainWith
} from "../format/BloomFilter.ts"
import { commonPrefix } from "../format/Bytes.ts"
import { CHECKSUM_SIZE, verifyChecksum } from "../format/Checksum.ts"
import { decompress } from "../format/Compression.ts"
import { compareKeys, compareKeysFrom, keysEqual, MAX_SEQ } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { type BlockMeta, FilterFormat, type SsTableInfo, type SstStats, SstType } from "../format/SstMetadata.ts"
import { decodeSsTableIndex, decodeSsTableInfo, decodeSstStats } from "../format/SstMetadataCodec.ts"
import { FOOTER_SIZE } from "../format/SsTableBuilder.ts"
import { type ScanOptions, scanSst } from "./SsTableScan.ts"
import { FilterStats } from "../Metrics.ts"

/** The filter counts of readers opened without a `filterStats` (nobody reads them). */
const UNCOUNTED = new FilterStats()

export type SsTableError = DataError | ObjectStoreError

/**
 * A cache of decoded data blocks. A reader asks once, when it opens, for the slots of its object's blocks
 * (`table(path, numBlocks)`; SST objects are immutable, so the path names the blocks for good), then looks
 * blocks up by index. `bytes` is the block's decoded size, for byte-bounded caches. Implementations must be
 * synchronous and must not throw. `BlockCache.ts`'s `LruBlockCache` (and the `BlockCache` service)
 * satisfy this interface as they are.
 */
export interface SstBlockCache {
  readonly table: (path: string, blocks: number) => SstBlockSlots
}

/** The cached blocks of one SST, by block index. */
export interface SstBlockSlots {
  readonly get: (block: number) => Block | undefined
  /** `get` for readers that are not a read (compaction, warming): no recency change, not marked read. */
  readonly peek?: (block: number) => Block | undefined
  /** `read`: a read asked for the block (false: cached ahead of reads; `BlockTable.wasRead`). */
  readonly set: (block: number, value: Block, bytes: number, read?: boolean) => void
}

/** Whether blocks read are cached: yes, no, or as not yet read by anyone (prepopulation, warming). */
export type CacheBlocks = boolean | "unread"

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

export type { ScanOptions } from "./SsTableScan.ts"

export const DEFAULT_FOOTER_READ_SIZE = 64 * 1024
export const DEFAULT_READ_AHEAD_BLOCKS = 16

/** Attaches the object and the section to a failure thrown by pure decoding code. */
const toDataError = (object: string, section: string) => (e: unknown): DataError => {
  if (e instanceof DataError && e.object !== undefined) return e
  if (e instanceof DataError) {
    return new DataError({
      message: e.message.startsWith(`${section}: `) ? e.message : `${section}: ${e.message}`,
      object,
      section: e.section ?? section,
      ...(e.cause === undefined ? {} : { cause: e.cause })
    })
  }
  return new DataError({
    message: `${section}: unexpected decoding failure: ${e instanceof Error ? e.message : String(e)}`,
    object,
    section,
    cause: e
  })
}

const decodeWith = <A>(object: string, section: string, f: () => A): Effect.Effect<A, DataError> =>
  Effect.try({ try: f, catch: toDataError(object, section) })

const dataError = (object: string, section: string, message: string) =>
  new DataError({ message: `${section}: ${message}`, object, section })

/** Runs pure decoding `f`, attributing any failure to `section` of `object` (for loops over blocks). */
const inSection = <A>(object: string, section: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    throw toDataError(object, section)(e)
  }
}

/** An opened SST: metadata in memory, data blocks read on demand. */
export class SsTableReader {
  readonly path: string
  readonly size: number
  readonly formatVersion: BlockVersion
  readonly info: SsTableInfo
  readonly blockMeta: ReadonlyArray<BlockMeta>
  readonly filter: BloomFilter | undefined
  /** A WAL SST (rows in insertion order, read by scanning). */
  readonly isWal: boolean
  private readonly store: ObjectStore["Service"]
  /** This SST's slots in the block cache. */
  private readonly blocks: SstBlockSlots | undefined
  private readonly readAhead: number
  private readonly filterStats: FilterStats
  /**
   * The index search's shortcut: separators (block first keys) 1..n-1 share their first `indexSkip` bytes
   * (they are sorted, so the second and the last share what all share), and `indexWords[i]` holds the next
   * 6 bytes of separator `i` as a big-endian number (zero-padded; exact in a double), or -1 for a
   * separator 0 without that prefix. For a key with the same prefix, a different word orders the key and
   * the separator like the bytes do; equal words fall back to `compareKeys`. A binary search step is then
   * one load from a small typed array instead of a visit to a separator's bytes somewhere in the heap.
   */
  private readonly indexSkip: number
  private readonly indexWords: Float64Array
  /**
   * The length of the prefix the first and the last key share: every key of the SST, and every key within
   * its bounds, starts with it. A lookup checks it once and skips it in every later comparison.
   */
  private readonly keySkip: number

  private constructor(
    fields: {
      path: string
      size: number
      formatVersion: BlockVersion
      info: SsTableInfo
      blockMeta: ReadonlyArray<BlockMeta>
      filter: BloomFilter | undefined
      store: ObjectStore["Service"]
      cache: SstBlockCache | undefined
      filterStats: FilterStats
      readAhead: number
    }
  ) {
    this.path = fields.path
    this.size = fields.size
    this.formatVersion = fields.formatVersion
    this.info = fields.info
    this.blockMeta = fields.blockMeta
    this.filter = fields.filter
    this.isWal = fields.info.sstType === SstType.Wal
    this.store = fields.store
    this.blocks = fields.cache?.table(fields.path, fields.blockMeta.length)
    this.filterStats = fields.filterStats
    this.readAhead = fields.readAhead
    const { firstEntry, lastEntry } = fields.info
    this.keySkip = firstEntry !== undefined && lastEntry !== undefined ? commonPrefix(firstEntry, lastEntry) : 0
    const meta = fields.blockMeta
    const n = meta.length
    // Separator 0 is often the empty key (SlateDB shortens it): the prefix is that of separators 1..n-1,
    // and separator 0, when it lacks the prefix, is below every key that has it (word -1).
    const skip = n < 2 ? 0 : commonPrefix(meta[1]!.firstKey, meta[n - 1]!.firstKey)
    this.indexSkip = skip
    this.indexWords = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const key = meta[i]!.firstKey
      this.indexWords[i] = i === 0 && n >= 2 && commonPrefix(key, meta[1]!.firstKey) < skip ? -1 : wordAt(key, skip)
    }
  }

  /** Opens the SST at `path`: footer, info, index and filter (see the module comment for the requests). */
  static readonly open: (
    path: string,
    options?: SsTableOpenOptions
  ) => Effect.Effect<SsTableReader, SsTableError, ObjectStore> = Effect.fn("SsTableReader.open")(
    function*(path: string, options: SsTableOpenOptions = {}) {
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
      return new SsTableReader({
        path,
        size,
        formatVersion: version,
        info,
        blockMeta,
        filter,
        store,
        cache: options.cache,
        filterStats: options.filterStats ?? UNCOUNTED,
        readAhead: Math.max(1, options.readAheadBlocks ?? DEFAULT_READ_AHEAD_BLOCKS)
      })
    }
  )

  get numBlocks(): number {
    return this.blockMeta.length
  }

  /** The filter's answer for a point read, counted (`FilterStats`). */
  private mightHold(filter: BloomFilter, key: Uint8Array, hash: FilterHash | undefined): boolean {
    const maybe = hash === undefined ? mightContain(filter, key) : mightContainWith(filter, key, hash)
    if (maybe) this.filterStats.positive++
    else this.filterStats.negative++
    return maybe
  }

  /** The bloom filter's answer (true when the SST has no filter). */
  mightContain(key: Uint8Array): boolean {
    return this.filter === undefined || mightContain(this.filter, key)
  }

  /** Reads the stats section (undefined when the SST has none, e.g. WAL SSTs). */
  readStats(): Effect.Effect<SstStats | undefined, SsTableError> {
    const { path, info } = this
    if (info.statsLen === 0) return Effect.succeed(undefined)
    return this.store.getRange(path, { start: info.statsOffset, end: info.statsOffset + info.statsLen }).pipe(
      Effect.flatMap((framed) =>
        decodeWith(path, "stats", () => {
          if (framed.length !== info.statsLen) throw new DataError({ message: "stats section truncated" })
          return decodeSstStats(decompress(info.compressionFormat, verifyChecksum(framed, { section: "stats" })))
        })
      )
    )
  }

  /** End offset (exclusive, including the CRC) of data block `i`. */
  private blockEnd(i: number): number {
    return i + 1 < this.blockMeta.length ? this.blockMeta[i + 1]!.offset : this.info.filterOffset
  }

  /**
   * Verifies and decodes stored block `i` (`framed`: its bytes and CRC), caching it if asked to (`"unread"`:
   * cached ahead of any read, see `BlockTable.wasRead`). Throws.
   */
  private decodeStoredBlock(framed: Uint8Array, i: number, cache: CacheBlocks): Block {
    return inSection(this.path, `block ${i}`, () => {
      let raw = decompress(this.info.compressionFormat, verifyChecksum(framed, { section: `block ${i}` }))
      const cacheTo = cache !== false ? this.blocks : undefined
      // A cached block must not pin a larger buffer (e.g. a multi-block GET) behind its view.
      if (cacheTo !== undefined && raw.byteLength !== raw.buffer.byteLength) raw = raw.slice()
      const block = decodeBlock(raw, this.formatVersion)
      cacheTo?.set(i, block, raw.length, cache === true)
      return block
    })
  }

  /**
   * Puts every data block into the block cache from `bytes`, the whole object already in memory (an SST
   * this process has just written): each one verified, decoded and copied out exactly as a read from the
   * store would be, so the cache does not keep `bytes` alive. Does nothing without a cache.
   */
  cacheBlocksFrom(bytes: Uint8Array): Effect.Effect<void, DataError> {
    return Effect.suspend(() => {
      if (this.blocks === undefined || this.blockMeta.length === 0) return Effect.void
      if (bytes.length !== this.size) {
        return Effect.fail(dataError(this.path, "block 0", `expected the ${this.size}-byte object, got ${bytes.length} bytes`))
      }
      return Effect.try({
        try: () => {
          for (let i = 0; i < this.blockMeta.length; i++) {
            this.decodeStoredBlock(bytes.subarray(this.blockMeta[i]!.offset, this.blockEnd(i)), i, "unread")
          }
        },
        catch: (e) => e as DataError
      })
    })
  }

  /**
   * Reads data blocks `[start, end)`: cached ones from the cache, the others with a single ranged GET from
   * the first uncached block to the last. Blocks read are added to the cache unless `cacheBlocks` is false
   * (`"unread"`: added as read ahead of any reader, e.g. by cache warming).
   */
  readBlocks(start: number, end: number, cacheBlocks: CacheBlocks = true): Effect.Effect<ReadonlyArray<Block>, SsTableError> {
    const self = this
    return Effect.suspend(() => {
      const n = self.blockMeta.length
      if (start < 0 || end > n || start > end) {
        return Effect.die(new RangeError(`block range [${start}, ${end}) outside 0..${n}`))
      }
      const out = new Array<Block>(end - start)
      const cache = self.blocks
      let missing = false
      const look = cache === undefined ? undefined : cacheBlocks !== true && cache.peek !== undefined ? cache.peek : cache.get
      for (let i = start; i < end; i++) {
        const hit = look === undefined ? undefined : look.call(cache, i)
        if (hit === undefined) missing = true
        else out[i - start] = hit
      }
      if (!missing) return Effect.succeed(out)
      // One request from the first block missing from the cache to the last one: the cached blocks in
      // between are read again (bytes), rather than costing a request (a round trip) per hole.
      let first = start
      while (out[first - start] !== undefined) first++
      let last = end - 1
      while (out[last - start] !== undefined) last--
      const from = self.blockMeta[first]!.offset
      const to = self.blockEnd(last)
      return Effect.gen(function*() {
        const bytes = yield* self.store.getRange(self.path, { start: from, end: to })
        if (bytes.length !== to - from) {
          return yield* dataError(self.path, `block ${first}`, `expected ${to - from} bytes, read ${bytes.length}`)
        }
        for (let k = first; k <= last; k++) {
          if (out[k - start] !== undefined) continue
          const framed = bytes.subarray(self.blockMeta[k]!.offset - from, self.blockEnd(k) - from)
          out[k - start] = yield* Effect.try({
            try: () => self.decodeStoredBlock(framed, k, cacheBlocks),
            catch: (e) => e as DataError
          })
        }
        return out
      })
    })
  }

  /**
   * Whether the separator of the block the last `findBlock` returned equals its key (scratch, set by every
   * call: lookups are synchronous, so nothing runs between the call and the read of it).
   */
  private foundExact = false

  /**
   * Index of the last block whose separator is < `key` (`strict`) or ≤ `key`; 0 if none. `known`: how many
   * leading bytes `key` is known to share with separators 1..n-1.
   */
  private findBlock(key: Uint8Array, strict: boolean, known = 0): number {
    const meta = this.blockMeta
    let lo = 0
    let hi = meta.length - 1
    let found = 0
    let exact = false
    // With the separators' common prefix, compare the next 6 bytes as one number first (see `indexWords`).
    const skip = this.indexSkip
    let words: Float64Array | undefined = undefined
    let w = 0
    if (hi > 0 && key.length >= skip) {
      const first = meta[1]!.firstKey
      let i = known < skip ? known : skip
      while (i < skip && key[i] === first[i]) i++
      if (i === skip) {
        words = this.indexWords
        w = wordAt(key, skip)
      }
    }
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      let c: number
      if (words === undefined) c = compareKeys(meta[mid]!.firstKey, key)
      else {
        const x = words[mid]!
        c = x < w ? -1 : x > w ? 1 : compareKeys(meta[mid]!.firstKey, key)
      }
      if (c < 0 || (!strict && c === 0)) {
        found = mid
        exact = c === 0
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    this.foundExact = exact
    return found
  }

  /**
   * The point lookup in a compacted SST, as far as the block cache allows: the row, undefined when the SST
   * has no visible version of `key`, or the index of the first block that must be read (a number). Key
   * bounds first, then the blocks from the last one whose separator is < `key` through the last one whose
   * separator is ≤ `key` (versions of one key may straddle blocks), starting at block `from` when it is
   * ≥ 0, stopping at the first version ≤ `maxSeq`. The bloom filter is consulted first with `filterFirst`,
   * otherwise only before a block would have to be read (see `getIfCached`). Throws `DataError` (naming the
   * block) on a corrupt block. (One function on purpose: it runs once per point read, and a function that
   * does more per call is optimized sooner.)
   */
  private lookup(
    key: Uint8Array,
    maxSeq: number,
    from: number,
    filterFirst: boolean,
    hash: FilterHash | undefined
  ): RowEntry | undefined | number {
    const { firstEntry, lastEntry } = this.info
    // Within the bounds, `key` starts with the prefix every key of the SST has (`keySkip`).
    const known = this.keySkip
    if (known > 0) {
      if (key.length < known) return undefined
      for (let j = 0; j < known; j++) if (key[j] !== firstEntry![j]) return undefined
    }
    if (firstEntry !== undefined && compareKeysFrom(key, firstEntry, known) < 0) return undefined
    if (lastEntry !== undefined && compareKeysFrom(key, lastEntry, known) > 0) return undefined
    const filter = this.filter
    if (filterFirst && filter !== undefined && !this.mightHold(filter, key, hash)) return undefined
    // From here on a filter (if any, when asked first) said "maybe": an absent key is its false positive.
    const counted = filterFirst && filter !== undefined
    // Separators lie between keys of the SST, so they have the prefix as well.
    const last = this.findBlock(key, false, known)
    let i = from
    if (i < 0) {
      // Versions of `key` may start in earlier blocks whose separator equals `key` (or in the one before).
      i = last
      if (this.foundExact) {
        const meta = this.blockMeta
        while (i > 0 && compareKeys(meta[i]!.firstKey, key) >= 0) i--
      }
    }
    const slots = this.blocks
    for (; i <= last; i++) {
      const block = slots?.get(i)
      if (block === undefined) return !filterFirst && filter !== undefined && !this.mightHold(filter, key, hash) ? undefined : i
      let r: RowEntry | undefined | typeof CONTINUE
      try {
        r = findInBlock(block, key, maxSeq, known)
      } catch (e) {
        throw toDataError(this.path, `block ${i}`)(e)
      }
      if (r !== CONTINUE) {
        if (r === undefined && counted) this.filterStats.falsePositive++
        return r
      }
    }
    if (counted) this.filterStats.falsePositive++
    return undefined
  }

  /**
   * The newest version of `key` with seq ≤ `maxSeq` (any seq by default), tombstones and merge operands
   * included; undefined if the SST holds none. The row's `key` may be `key` itself.
   */
  get(key: Uint8Array, maxSeq: number = MAX_SEQ): Effect.Effect<RowEntry | undefined, SsTableError> {
    return Effect.suspend(() => {
      if (this.blockMeta.length === 0) return Effect.succeed(undefined)
      if (this.isWal) return this.getFromWal(key, maxSeq)
      return this.getFrom(key, maxSeq, -1)
    })
  }

  /**
   * Where the last point read that went to the store stopped reading (the block after its range), and how
   * many blocks it read: see `pointReadEnd`.
   */
  private nextSequentialBlock = -1
  private pointReadAhead = 1

  /**
   * The end of the blocks a point read that misses block `miss` fetches: that block alone, unless it is
   * the one right after the previous point read's blocks (gets walking the keys in order, as after a
   * reopen). Then twice as many as last time, up to `readAheadBlocks`, in one request, like an OS read-ahead
   * window: a run of in-order gets needs a request per `readAheadBlocks` blocks instead of one per block,
   * and gets in any other order never fetch a block they do not need. Only with a block cache (without
   * one, the extra blocks would be thrown away). Concurrent reads may interleave: this is a heuristic, and
   * whatever it fetches is correct.
   */
  private pointReadEnd(miss: number): number {
    const n = this.blockMeta.length
    if (this.blocks === undefined) return miss + 1
    this.pointReadAhead = miss === this.nextSequentialBlock ? Math.min(2 * this.pointReadAhead, this.readAhead) : 1
    const end = Math.min(miss + this.pointReadAhead, n)
    this.nextSequentialBlock = end
    return end
  }

  /** `get` from block `from` on (-1: from the start): cached blocks synchronously, then the blocks it needs. */
  private getFrom(key: Uint8Array, maxSeq: number, from: number): Effect.Effect<RowEntry | undefined, SsTableError> {
    let found: RowEntry | undefined | number
    try {
      found = this.lookup(key, maxSeq, from, true, undefined)
    } catch (e) {
      return Effect.fail(e as DataError)
    }
    if (typeof found !== "number") return Effect.succeed(found)
    const miss = found
    return this.readBlocks(miss, this.pointReadEnd(miss)).pipe(
      Effect.flatMap((blocks) => decodeWith(this.path, `block ${miss}`, () => findInBlock(blocks[0]!, key, maxSeq))),
      Effect.flatMap((r) =>
        r !== CONTINUE
          ? Effect.succeed(this.countAbsent(r))
          : miss < this.findBlock(key, false)
          ? this.getFrom(key, maxSeq, miss + 1)
          : Effect.succeed(this.countAbsent(undefined))
      )
    )
  }

  /** A point read that read blocks found `row`: absent after the filter's "maybe" is a false positive. */
  private countAbsent(row: RowEntry | undefined): RowEntry | undefined {
    if (row === undefined && this.filter !== undefined) this.filterStats.falsePositive++
    return row
  }

  /**
   * `get` without I/O, for callers with a faster path when everything is in memory: the row (as `get`
   * returns it), undefined when the SST has no visible version of `key`, or `"miss"` when `get` must run
   * instead: a block is not cached, the SST is a WAL SST, or a block is corrupt (`get` reports it).
   *
   * `lastSource`: the caller will look nowhere else if this SST lacks the key (the oldest L0 SST and no
   * sorted run, or the last candidate of the last run). The bloom filter is then asked only before a block
   * would have to be read: with the blocks cached, searching them gives the same "absent" as a negative
   * filter, and a key that is present needs the search anyway (RocksDB's `optimize_filters_for_hits`, for
   * the last place a key can be). Elsewhere the filter comes first, as it saves the searches of the SSTs
   * that lack the key. `hash`: the key's filter hash, shared with the other SSTs the read asks.
   */
  getIfCached(
    key: Uint8Array,
    maxSeq: number = MAX_SEQ,
    lastSource = false,
    hash?: FilterHash
  ): RowEntry | undefined | "miss" {
    if (this.blockMeta.length === 0) return undefined
    if (this.isWal || this.blocks === undefined) return "miss"
    try {
      const found = this.lookup(key, maxSeq, -1, !lastSource, hash)
      return typeof found === "number" ? "miss" : found
    } catch {
      return "miss"
    }
  }

  private getFromWal(key: Uint8Array, maxSeq: number): Effect.Effect<RowEntry | undefined, SsTableError> {
    return Stream.runFold(this.scan(), () => undefined as RowEntry | undefined, (best, row) =>
      row.seq <= maxSeq && keysEqual(row.key, key) && (best === undefined || row.seq >= best.seq)
        ? row
        : best)
  }

  /** Every row (within the bounds, if any) in stored order, or its reverse with `descending` (SsTableScan.ts). */
  scan(options: ScanOptions = {}): Stream.Stream<RowEntry, SsTableError> {
    return scanSst(this, options)
  }

  /** The default blocks per GET of scans (`SsTableOpenOptions.readAheadBlocks`). */
  get readAheadBlocks(): number {
    return this.readAhead
  }

  /** Bytes of the data section (every block with its checksum). */
  get dataBytes(): number {
    return this.info.filterOffset
  }

  /** For scans: the last block whose first key is < `key` (`strict`) or ≤ `key`. */
  scanBlock(key: Uint8Array, strict: boolean): number {
    return this.findBlock(key, strict)
  }

  /** Runs pure decoding `f`, attributing any failure to `section` of this SST. */
  inSection<A>(section: string, f: () => A): A {
    return inSection(this.path, section, f)
  }
}

/** The 6 bytes of `b` at `o` as a big-endian number (< 2^48, exact), bytes past the end counting as 0. */
const wordAt = (b: Uint8Array, o: number): number => {
  const n = b.length
  let w = 0
  for (let i = o; i < o + 6; i++) w = w * 256 + (i < n ? b[i]! : 0)
  return w
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
