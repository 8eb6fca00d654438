/**
 * Scans of one SST: its rows (within optional key bounds) in stored order or the reverse, read in pages of
 * contiguous blocks, each page one ranged GET (blocks already in the block cache are not fetched again).
 *
 * - Page sizes: the first page is one block, each next one twice as many, up to the read-ahead (`readAheadBlocks`
 *   blocks, or `readAheadBytes` worth of the SST's average block), so a short scan reads and decodes one
 *   block, and a long one reaches full-size requests after a few pages.
 * - Fetching ahead: after the first page, up to `maxFetchTasks` pages are fetched at once, in order of the
 *   scan, while the consumer works through earlier ones (SlateDB's `max_fetch_tasks`), so a long scan is
 *   bounded by the store's bandwidth rather than by one round trip per page. The first page is always
 *   fetched alone: a scan that stops within it (a short range, a `limit`) never pays for pages it does not
 *   read. A scan that stops later leaves at most `maxFetchTasks` pages fetched in vain (they are interrupted).
 * - Bounds prune blocks through the index for compacted SSTs; WAL SSTs (insertion order) are filtered row by
 *   row. Descending scans emit the exact reverse of the stored order.
 */
import { Effect, Stream } from "effect"
import { type Block, BlockIterator, decodeBlockRows } from "../format/Block.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { DataError } from "../errors.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"
import type { CacheBlocks } from "./SsTableBlocks.ts"

type SsTableError = DataError | ObjectStoreError

export interface ScanOptions {
  /** Lower key bound (unbounded if absent). Compacted SSTs only; WAL SSTs filter rows by it. */
  readonly start?: Uint8Array
  /** Default true. */
  readonly startInclusive?: boolean
  /** Upper key bound (unbounded if absent). */
  readonly end?: Uint8Array
  /** Default false. */
  readonly endInclusive?: boolean
  /** Emit rows in the reverse of stored order. */
  readonly descending?: boolean
  /**
   * Whether the scan is a read and caches the blocks it fetches (`CacheBlocks`, SsTableBlocks.ts). Default
   * false: not a read (a compaction's, a tool's) and nothing cached. The read path's scans say `true` or
   * `"uncached"` (SlateDB's `ScanOptions.cache_blocks`, default false).
   */
  readonly cacheBlocks?: CacheBlocks
  /** Blocks fetched per GET by this scan (default: the reader's `readAheadBlocks`). Compactions read more. */
  readonly readAheadBlocks?: number
  /**
   * Bytes fetched per GET (SlateDB's `read_ahead_bytes`): `ceil(readAheadBytes / average block size)`
   * blocks, at least one. Wins over `readAheadBlocks`.
   */
  readonly readAheadBytes?: number
  /** Pages fetched at once (SlateDB's `max_fetch_tasks`; default 1: one page after the other). */
  readonly maxFetchTasks?: number
}

/** What a scan needs of an opened SST (`SsTableReader` provides it). */
export interface ScannableSst {
  readonly path: string
  readonly isWal: boolean
  readonly numBlocks: number
  /** The default blocks per GET. */
  readonly readAheadBlocks: number
  /** Bytes of the data section (all blocks with their checksums). */
  readonly dataBytes: number
  /** The block to start (`strict`: the last whose first key is < `key`) or end (≤ `key`) a bounded scan at. */
  readonly scanBlock: (key: Uint8Array, strict: boolean) => number
  readonly readBlocks: (start: number, end: number, cacheBlocks: CacheBlocks) => Effect.Effect<ReadonlyArray<Block>, SsTableError>
  /** Runs `f` attributing any failure to `section` (a `DataError` naming the object and the section). */
  readonly inSection: <A>(section: string, f: () => A) => A
}

/** A page's rows (after the bounds) and whether the scan is finished after it. */
export type Page = readonly [rows: ReadonlyArray<RowEntry>, done: boolean]

/**
 * How one SST is scanned: its pages (contiguous block ranges, inclusive, in scan order) and what to do with
 * a page's blocks. `scanSst` streams it; the read path's merge walks it synchronously over cached blocks
 * (iter/SstSource.ts). Both fetch the same pages and emit the same rows.
 */
export interface ScanPlan {
  readonly pages: PageRanges
  readonly cacheBlocks: CacheBlocks
  /** Pages in flight at once after the first pages (`maxFetchTasks`, at least 1). */
  readonly tasks: number
  /** The rows of page `p`'s blocks, after the bounds, and whether the scan ends with it. Throws `DataError`. */
  page(p: number, blocks: ReadonlyArray<Block>): Page
}

/** The plan of a scan of `sst` (see `ScanPlan`), or undefined when it reads nothing. */
export const planScan = (sst: ScannableSst, options: ScanOptions = {}): ScanPlan | undefined => {
  const n = sst.numBlocks
  if (n === 0) return undefined
  if (sst.isWal) return new Plan(sst, 0, n - 1, options) // insertion order: bounds filter rows, prune no block
  const { start, end } = options
  const firstBlock = start === undefined ? 0 : sst.scanBlock(start, true)
  const lastBlock = end === undefined ? n - 1 : sst.scanBlock(end, !(options.endInclusive ?? false))
  if (firstBlock > lastBlock) return undefined // an empty or inverted range
  return new Plan(sst, firstBlock, lastBlock, options)
}

/** Page `p`'s blocks of `plan`, from the cache or the store (one request for those not cached). */
export const readPage = (sst: ScannableSst, plan: ScanPlan, p: number): Effect.Effect<ReadonlyArray<Block>, SsTableError> =>
  sst.readBlocks(plan.pages.from(p), plan.pages.to(p) + 1, plan.cacheBlocks)

/** Every row of `sst` (within the bounds, if any) in stored order, or its reverse with `descending`. */
export const scanSst = (sst: ScannableSst, options: ScanOptions = {}): Stream.Stream<RowEntry, SsTableError> => {
  const scan = planScan(sst, options)
  if (scan === undefined) return Stream.empty
  const fetchPage = (p: number): Effect.Effect<Page, SsTableError> =>
    Effect.flatMap(readPage(sst, scan, p), (blocks) => Effect.try({ try: () => scan.page(p, blocks), catch: (e) => e as SsTableError }))
  const tasks = scan.tasks
  const rest = Stream.range(1, scan.pages.count - 1, PAGE_INDEX_CHUNK)
  const later = tasks === 1 ? Stream.mapEffect(rest, fetchPage) : Stream.mapEffect(rest, fetchPage, { concurrency: tasks })
  return Stream.fromEffect(fetchPage(0)).pipe(
    Stream.concat(later),
    Stream.takeUntil(([, done]) => done),
    Stream.map(([rows]) => rows),
    Stream.filter((rows) => rows.length > 0),
    (s) => Stream.flattenArray(s as Stream.Stream<readonly [RowEntry, ...Array<RowEntry>], SsTableError>)
  )
}

/** Page numbers are streamed this many at a time (`Stream.range` makes an array per chunk). */
export const PAGE_INDEX_CHUNK = 16

/** Blocks per GET for this scan (see `ScanOptions`). */
const stepOf = (sst: ScannableSst, options: ScanOptions): number => {
  const bytes = options.readAheadBytes
  if (bytes !== undefined) return Math.max(1, Math.ceil(bytes / Math.max(1, sst.dataBytes / sst.numBlocks)))
  return Math.max(1, options.readAheadBlocks ?? sst.readAheadBlocks)
}

/** 2^n for 0 ≤ n ≤ 52 (a shift below 31, `2 ** n` above). */
const pow2 = (n: number): number => (n < 31 ? 1 << n : 2 ** n)

/**
 * The pages over blocks `first..last` (inclusive) in scan order: 1 block, then twice as many, up to `step`
 * blocks each. Each page's blocks are computed when asked for, not listed up front: a short scan of a large
 * SST reads one or two of its thousands of pages, and every source of every scan made the list.
 */
export class PageRanges {
  /** How many pages. */
  readonly count: number
  readonly #first: number
  readonly #last: number
  readonly #descending: boolean
  readonly #step: number
  /** Pages before the first of `step` blocks (their widths are 1, 2, 4, ...). */
  readonly #doubling: number

  constructor(first: number, last: number, descending: boolean, step: number) {
    this.#first = first
    this.#last = last
    this.#descending = descending
    this.#step = step
    // k: the least with 2^k ≥ step; pages of 1, 2, ..., 2^(k-1) blocks cover 2^k - 1 of them.
    const k = step <= 1 ? 0 : 32 - Math.clz32(step - 1)
    this.#doubling = k
    const blocks = last - first + 1
    if (blocks <= 0) this.count = 0
    else if (blocks <= pow2(k) - 1) this.count = 32 - Math.clz32(blocks) // the least c with 2^c - 1 ≥ blocks
    else this.count = k + Math.ceil((blocks - (pow2(k) - 1)) / step)
  }

  /** Blocks before page `p` in scan order. */
  #offset(p: number): number {
    const k = this.#doubling
    return p <= k ? pow2(p) - 1 : pow2(k) - 1 + (p - k) * this.#step
  }

  /** The lowest block of page `p`. */
  from(p: number): number {
    return this.#descending ? this.#last - this.#lastOffset(p) : this.#first + this.#offset(p)
  }

  /** The highest block of page `p`. */
  to(p: number): number {
    return this.#descending ? this.#last - this.#offset(p) : this.#first + this.#lastOffset(p)
  }

  /** The offset of page `p`'s last block in scan order. */
  #lastOffset(p: number): number {
    return Math.min(this.#last - this.#first + 1, this.#offset(p + 1)) - 1
  }
}

/**
 * The plan over blocks `firstBlock..lastBlock`. An ascending scan of a compacted SST with a `start` seeks
 * within its first block. A class rather than closures over the options: the read path plans a scan of every source per
 * scan, and its pages of compacted SSTs are decoded a row at a time (PageRows.ts), never by `page`.
 */
class Plan implements ScanPlan {
  readonly pages: PageRanges
  readonly cacheBlocks: CacheBlocks
  readonly tasks: number
  readonly #sst: ScannableSst
  readonly #options: ScanOptions

  constructor(sst: ScannableSst, firstBlock: number, lastBlock: number, options: ScanOptions) {
    this.#sst = sst
    this.#options = options
    this.pages = new PageRanges(firstBlock, lastBlock, options.descending === true, stepOf(sst, options))
    this.cacheBlocks = options.cacheBlocks ?? false
    this.tasks = Math.max(1, Math.floor(options.maxFetchTasks ?? 1))
  }

  page(p: number, blocks: ReadonlyArray<Block>): Page {
    const options = this.#options
    const descending = options.descending === true
    // A seek assumes sorted keys: a WAL SST's (insertion order) are filtered only.
    const wal = this.#sst.isWal
    const seekKey = !descending && !wal && p === 0 ? options.start : undefined
    const rows = decodePage(this.#sst, blocks, this.pages.from(p), descending, seekKey)
    return [inRange(rows, options), !wal && passedBound(rows, options)]
  }
}

/**
 * Whether a page's rows of a compacted SST end the scan: its last row is past the bound the scan moves
 * towards (`end` ascending, `start` descending).
 */
const passedBound = (rows: ReadonlyArray<RowEntry>, options: ScanOptions): boolean => {
  const last = rows[rows.length - 1]
  if (last === undefined) return false
  if (options.descending === true) {
    const start = options.start
    if (start === undefined) return false
    const c = compareKeys(last.key, start)
    return (options.startInclusive ?? true) ? c < 0 : c <= 0
  }
  const end = options.end
  if (end === undefined) return false
  const c = compareKeys(last.key, end)
  return (options.endInclusive ?? false) ? c > 0 : c >= 0
}

/** The rows of `blocks` (blocks `from`, `from + 1`, ...) in scan order. Throws `DataError`. */
const decodePage = (
  sst: ScannableSst,
  blocks: ReadonlyArray<Block>,
  from: number,
  descending: boolean,
  seekKey: Uint8Array | undefined
): Array<RowEntry> => {
  const rows: Array<RowEntry> = []
  if (descending) {
    for (let b = blocks.length - 1; b >= 0; b--) {
      const blockRows = sst.inSection(`block ${from + b}`, () => decodeBlockRows(blocks[b]!))
      for (let r = blockRows.length - 1; r >= 0; r--) rows.push(blockRows[r]!)
    }
    return rows
  }
  for (let b = 0; b < blocks.length; b++) {
    sst.inSection(`block ${from + b}`, () => {
      const it = new BlockIterator(blocks[b]!)
      if (b === 0 && seekKey !== undefined) it.seek(seekKey)
      for (let row = it.next(); row !== undefined; row = it.next()) rows.push(row)
    })
  }
  return rows
}

/** The rows within the bounds (all of them without bounds). */
const inRange = (rows: ReadonlyArray<RowEntry>, options: ScanOptions): ReadonlyArray<RowEntry> => {
  const { start, end } = options
  if (start === undefined && end === undefined) return rows
  const startInclusive = options.startInclusive ?? true
  const endInclusive = options.endInclusive ?? false
  return rows.filter((row) => {
    if (start !== undefined) {
      const c = compareKeys(row.key, start)
      if (c < 0 || (c === 0 && !startInclusive)) return false
    }
    if (end !== undefined) {
      const c = compareKeys(row.key, end)
      if (c > 0 || (c === 0 && !endInclusive)) return false
    }
    return true
  })
}
