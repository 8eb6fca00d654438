/**
 * An opened SST (compacted or WAL, SST format versions 1 and 2): its metadata in memory, data blocks read
 * on demand. The reader is split by concept:
 * - SsTableOpen.ts: opening (footer, info, index, filter; one request, at most two) and the stats section;
 * - SsTableBlocks.ts: loading data blocks, through the block cache (the one block-loading API:
 *   `readBlocks`, `blocksNow`);
 * - SsTableIndex.ts: the index search (which block may hold a key);
 * - this file: point lookups (and the handle);
 * - SsTableScan.ts: scans, as a stream of rows or a synchronous cursor over cached blocks.
 *
 * Point lookups fetch only the data blocks they need: a point lookup checks the key bounds and the bloom
 * filter (`getIfCached` may defer the filter until a block must be read), then searches the blocks from
 * "last block whose separator is < key" through "last block whose separator is ≤ key" (versions of one
 * key may straddle blocks), stopping at the first version ≤ `maxSeq`; a key the SST lacks costs no read.
 * `getIfCached` is the same point lookup, synchronous, for when every block it needs is cached (it says
 * "miss" otherwise).
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
import type { DataError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type Block, type BlockVersion, CONTINUE, findInBlock } from "../format/Block.ts"
import { type BloomFilter, type FilterHash, mightContain, mightContainWith } from "../format/BloomFilter.ts"
import { commonPrefix } from "../format/Bytes.ts"
import { compareKeys, compareKeysFrom, keysEqual, MAX_SEQ } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { type BlockMeta, type SsTableInfo, type SstStats, SstType } from "../format/SstMetadata.ts"
import { FilterStats } from "../Metrics.ts"
import { type CacheBlocks, SstBlocks } from "./SsTableBlocks.ts"
import { decodeWith, inSection, type SsTableError, toDataError } from "./SsTableErrors.ts"
import { SstIndex } from "./SsTableIndex.ts"
import {
  DEFAULT_READ_AHEAD_BLOCKS,
  loadSsTableMetadata,
  readSstStats,
  type SsTableMetadata,
  type SsTableOpenOptions
} from "./SsTableOpen.ts"
import { type ScanOptions, scanSst } from "./SsTableScan.ts"

export type { CacheBlocks, SstBlockCache, SstBlockSlots } from "./SsTableBlocks.ts"
export type { SsTableError } from "./SsTableErrors.ts"
export { DEFAULT_FOOTER_READ_SIZE, DEFAULT_READ_AHEAD_BLOCKS, type SsTableOpenOptions } from "./SsTableOpen.ts"
export type { ScanOptions } from "./SsTableScan.ts"

/** The filter counts of readers opened without a `filterStats` (nobody reads them). */
const UNCOUNTED = new FilterStats()

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
  readonly #store: ObjectStore["Service"]
  readonly #blocks: SstBlocks
  readonly #index: SstIndex
  readonly #readAhead: number
  readonly #filterStats: FilterStats
  /**
   * The length of the prefix the first and the last key share: every key of the SST, and every key within
   * its bounds, starts with it. A lookup checks it once and skips it in every later comparison.
   */
  readonly #keySkip: number

  private constructor(metadata: SsTableMetadata, options: SsTableOpenOptions) {
    const { path, info, blockMeta } = metadata
    this.path = path
    this.size = metadata.size
    this.formatVersion = metadata.formatVersion
    this.info = info
    this.blockMeta = blockMeta
    this.filter = metadata.filter
    this.isWal = info.sstType === SstType.Wal
    this.#store = metadata.store
    this.#blocks = new SstBlocks(path, metadata.store, metadata.formatVersion, info, blockMeta, options.cache)
    this.#index = new SstIndex(blockMeta)
    this.#filterStats = options.filterStats ?? UNCOUNTED
    this.#readAhead = Math.max(1, options.readAheadBlocks ?? DEFAULT_READ_AHEAD_BLOCKS)
    const { firstEntry, lastEntry } = info
    this.#keySkip = firstEntry !== undefined && lastEntry !== undefined ? commonPrefix(firstEntry, lastEntry) : 0
  }

  /** Opens the SST at `path`: footer, info, index and filter (SsTableOpen.ts says which requests). */
  static readonly open = (
    path: string,
    options: SsTableOpenOptions = {}
  ): Effect.Effect<SsTableReader, SsTableError, ObjectStore> =>
    loadSsTableMetadata(path, options).pipe(
      Effect.map((metadata) => new SsTableReader(metadata, options)),
      Effect.withSpan("SsTableReader.open")
    )

  get numBlocks(): number {
    return this.blockMeta.length
  }

  /** The filter's answer for a point read, counted (`FilterStats`). */
  private mightHold(filter: BloomFilter, key: Uint8Array, hash: FilterHash | undefined): boolean {
    const maybe = hash === undefined ? mightContain(filter, key) : mightContainWith(filter, key, hash)
    if (maybe) this.#filterStats.positive++
    else this.#filterStats.negative++
    return maybe
  }

  /** The bloom filter's answer (true when the SST has no filter). */
  mightContain(key: Uint8Array): boolean {
    return this.filter === undefined || mightContain(this.filter, key)
  }

  /** Reads the stats section (undefined when the SST has none, e.g. WAL SSTs). */
  readStats(): Effect.Effect<SstStats | undefined, SsTableError> {
    return readSstStats(this.#store, this.path, this.info)
  }

  /**
   * Puts every data block into the block cache from `bytes`, the whole object already in memory (an SST
   * this process has just written): each one verified, decoded and copied out exactly as a read from the
   * store would be, so the cache does not keep `bytes` alive. Does nothing without a cache.
   */
  cacheBlocksFrom(bytes: Uint8Array): Effect.Effect<void, DataError> {
    return this.#blocks.cacheFrom(bytes, this.size)
  }

  /**
   * Reads data blocks `[start, end)`: cached ones from the cache, the others with a single ranged GET from
   * the first uncached block to the last. Blocks read are added to the cache unless `cacheBlocks` is false
   * (`"unread"`: added as read ahead of any reader, e.g. by cache warming). The one way to load blocks
   * (SsTableBlocks.ts).
   */
  readBlocks(start: number, end: number, cacheBlocks: CacheBlocks = true): Effect.Effect<ReadonlyArray<Block>, SsTableError> {
    return this.#blocks.read(start, end, cacheBlocks)
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
    const known = this.#keySkip
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
    const last = this.#index.find(key, false, known)
    let i = from
    if (i < 0) {
      // Versions of `key` may start in earlier blocks whose separator equals `key` (or in the one before).
      i = last
      if (this.#index.foundExact) {
        const meta = this.blockMeta
        while (i > 0 && compareKeys(meta[i]!.firstKey, key) >= 0) i--
      }
    }
    const slots = this.#blocks.slots
    for (; i <= last; i++) {
      const block = slots?.get(i)
      if (block === undefined) {
        if (!filterFirst && filter !== undefined && !this.mightHold(filter, key, hash)) return undefined
        this.lastCandidate = last
        return i
      }
      let r: RowEntry | undefined | typeof CONTINUE
      try {
        r = findInBlock(block, key, maxSeq, known)
      } catch (e) {
        throw toDataError(this.path, `block ${i}`)(e)
      }
      if (r !== CONTINUE) {
        if (r === undefined && counted) this.#filterStats.falsePositive++
        return r
      }
    }
    if (counted) this.#filterStats.falsePositive++
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
   * The last block that may hold the key `lookup` was looking for when it returned a block to read: the
   * read fetches through it. (Versions of a key may start in the block before the one whose index key
   * equals it, so such a lookup must look at two blocks; SlateDB's index keys equal a block's whole first
   * key whenever it differs from the previous block's last key only in its last byte, so this is common:
   * with 30-40 rows per block, ~2 % of the gets of a compacted database. One request for both blocks
   * instead of two round trips one after the other.)
   */
  private lastCandidate = -1

  /**
   * The end of the blocks a point read that misses block `miss` fetches: that block alone, unless it is
   * the one right after the previous point read's blocks (gets walking the keys in order, as after a
   * reopen). Then twice as many as last time, up to `readAheadBlocks`, in one request, like an OS read-ahead
   * window: a run of in-order gets needs a request per `readAheadBlocks` blocks instead of one per block,
   * and gets in any other order never fetch a block they do not need. At least the next block when it may
   * hold the key as well (`lastCandidate`). Only with a block cache (without one, the extra blocks would be
   * thrown away). Concurrent reads may interleave: this is a heuristic, and whatever it fetches is correct.
   */
  private pointReadEnd(miss: number): number {
    const n = this.blockMeta.length
    if (this.#blocks.slots === undefined) return miss + 1
    this.pointReadAhead = miss === this.nextSequentialBlock ? Math.min(2 * this.pointReadAhead, this.#readAhead) : 1
    // Through the next candidate at most: a key whose versions span many blocks has its newest first.
    const end = Math.min(Math.max(miss + this.pointReadAhead, Math.min(this.lastCandidate + 1, miss + 2)), n)
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
          : miss < this.#index.find(key, false)
          ? this.getFrom(key, maxSeq, miss + 1)
          : Effect.succeed(this.countAbsent(undefined))
      )
    )
  }

  /** A point read that read blocks found `row`: absent after the filter's "maybe" is a false positive. */
  private countAbsent(row: RowEntry | undefined): RowEntry | undefined {
    if (row === undefined && this.filter !== undefined) this.#filterStats.falsePositive++
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
  getIfCached(key: Uint8Array, maxSeq: number = MAX_SEQ, lastSource = false, hash?: FilterHash): RowEntry | undefined | "miss" {
    return this.getSync(key, maxSeq, lastSource, hash, false)
  }

  /**
   * `getIfCached`, reading the blocks it lacks on the calling thread when the store can
   * (`ObjectStore.getRangeNow`, a local directory): "miss" only when it cannot (or a block is corrupt),
   * then `get` runs. The blocks it reads go into the cache, as `get`'s do.
   */
  getNow(key: Uint8Array, maxSeq: number = MAX_SEQ, lastSource = false, hash?: FilterHash): RowEntry | undefined | "miss" {
    return this.getSync(key, maxSeq, lastSource, hash, this.#blocks.canReadNow)
  }

  /** `getIfCached` (`read` false) and `getNow` (`read` true). */
  private getSync(
    key: Uint8Array,
    maxSeq: number,
    lastSource: boolean,
    hash: FilterHash | undefined,
    read: boolean
  ): RowEntry | undefined | "miss" {
    if (this.blockMeta.length === 0) return undefined
    if (this.isWal || this.#blocks.slots === undefined) return "miss"
    try {
      let found = this.lookup(key, maxSeq, -1, !lastSource, hash)
      // As `getFrom` does, without an Effect: the missing block (and its read-ahead), then on from there.
      while (typeof found === "number") {
        if (!read) return "miss"
        const miss = found
        const sequential = this.nextSequentialBlock
        const ahead = this.pointReadAhead
        const blocks = this.#blocks.readNow(miss, this.pointReadEnd(miss))
        if (blocks === undefined) {
          // Not read: `get` will, and its read-ahead must see the state this ask found.
          this.nextSequentialBlock = sequential
          this.pointReadAhead = ahead
          return "miss"
        }
        const r = findInBlock(blocks[0]!, key, maxSeq)
        if (r !== CONTINUE) return this.countAbsent(r)
        if (!(miss < this.#index.find(key, false))) return this.countAbsent(undefined)
        found = this.lookup(key, maxSeq, miss + 1, true, hash)
      }
      return found
    } catch {
      return "miss"
    }
  }

  /**
   * Data blocks `[start, end)` without an Effect: from the cache, and those it lacks read on the calling
   * thread when the store can (`ObjectStore.getRangeNow`), cached as `readBlocks` caches them with the same
   * `cacheBlocks` (no default: a scan's pages are cached only when it asks, `ScanOptions.cacheBlocks`);
   * undefined when the store cannot. Throws `DataError`.
   */
  blocksNow(start: number, end: number, cacheBlocks: CacheBlocks): ReadonlyArray<Block> | undefined {
    return this.#blocks.cachedRange(start, end, cacheBlocks) ?? this.#blocks.readNow(start, end, cacheBlocks)
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
    return this.#readAhead
  }

  /** Bytes of the data section (every block with its checksum). */
  get dataBytes(): number {
    return this.info.filterOffset
  }

  /** For scans: the last block whose first key is < `key` (`strict`) or ≤ `key`. */
  scanBlock(key: Uint8Array, strict: boolean): number {
    return this.#index.find(key, strict)
  }

  /** Runs pure decoding `f`, attributing any failure to `section` of this SST. */
  inSection<A>(section: string, f: () => A): A {
    return inSection(this.path, section, f)
  }
}
