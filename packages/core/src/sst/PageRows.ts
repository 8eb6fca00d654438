/**
 * Ascending scans of one SST whose pages decode their rows one at a time (`PageRows`): the compactor's
 * (compactor/CompactionJob.ts, through `scanPages`) and the read path's (iter/SstSource.ts). `scanSst` (SsTableScan.ts) decodes a page into an array of rows before the
 * consumer sees the first: with a page of `readAheadBlocks` blocks (thousands of rows) and a page fetched
 * ahead for each of up to 8 sources, tens of thousands of row objects stay alive across the young
 * generation's collections, and copying them was the compaction's largest single cost (a quarter of its
 * time). Here a page holds only its blocks; each row object lives from its decoding to its output. A short
 * scan decodes only the rows it reaches, not the whole of the pages it fetched.
 *
 * The same pages are fetched as by `scanSst` (`planScan`'s pages; `maxFetchTasks` pages at once), and the
 * same rows come out: the first page seeks to `start`, rows outside the bounds are skipped, and a row past
 * `end` ends the page (the index pruned the blocks after it).
 */
import { Effect, Stream } from "effect"
import type { DataError } from "../errors.ts"
import { type Block, BlockIterator } from "../format/Block.ts"
import { type ByteSlab, readSlab } from "../format/ByteSlab.ts"
import { compareKeyParts } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { type SsTableError, toDataError } from "./SsTableErrors.ts"
import { PAGE_INDEX_CHUNK, planScan, readPage, type ScannableSst, type ScanOptions } from "./SsTableScan.ts"

/** A fetched page of blocks, decoded on demand. `next()` throws a `DataError` naming the block. */
export class PageRows {
  readonly #path: string
  readonly #blocks: ReadonlyArray<Block>
  /** The index of the page's first block in the SST (for error messages). */
  readonly #from: number
  readonly #iterator: BlockIterator
  #block = 0
  /** Rows below it are skipped (undefined once a row passed it). */
  #start: Uint8Array | undefined
  readonly #startInclusive: boolean
  readonly #end: Uint8Array | undefined
  readonly #endInclusive: boolean
  readonly #maxSeq: number
  #pastEnd = false

  /**
   * `seek`: the first page of a scan with a `start` (seek to it in the first block). Rows with a seq above
   * `maxSeq` are skipped (a read's sequence cap). `keySlab`: where built rows' keys are copied to (scans and
   * compactions, whose rows live briefly); fresh arrays otherwise.
   */
  constructor(
    path: string,
    blocks: ReadonlyArray<Block>,
    from: number,
    options: ScanOptions,
    seek: boolean,
    maxSeq = Number.MAX_SAFE_INTEGER,
    keySlab?: ByteSlab
  ) {
    this.#path = path
    this.#blocks = blocks
    this.#from = from
    this.#start = options.start
    this.#startInclusive = options.startInclusive ?? true
    this.#end = options.end
    this.#endInclusive = options.endInclusive ?? false
    this.#maxSeq = maxSeq
    this.#iterator = new BlockIterator(blocks[0]!, keySlab)
    if (seek && this.#start !== undefined) {
      try {
        this.#iterator.seek(this.#start)
      } catch (e) {
        throw this.#blockError(e)
      }
    }
  }

  /**
   * Moves to the next row within the bounds without building it (false at the end of the page, or past
   * `end`): then `keyBytes[0..keyLen)` is its key, `seq` its seq, and `row()` builds it (until the next
   * `step` or `next`).
   */
  step(): boolean {
    const blocks = this.#blocks
    const it = this.#iterator
    for (;;) {
      let stepped: boolean
      try {
        stepped = it.step()
      } catch (e) {
        throw this.#blockError(e)
      }
      if (!stepped) {
        if (++this.#block >= blocks.length) return false
        it.reset(blocks[this.#block]!)
        continue
      }
      const start = this.#start
      if (start !== undefined) {
        const c = compareKeyParts(it.keyBytes, it.keyLen, start, start.length)
        if (c < 0 || (c === 0 && !this.#startInclusive)) continue
        this.#start = undefined
      }
      const end = this.#end
      if (end !== undefined) {
        const c = compareKeyParts(it.keyBytes, it.keyLen, end, end.length)
        if (c > 0 || (c === 0 && !this.#endInclusive)) {
          this.#block = blocks.length
          this.#pastEnd = true
          return false
        }
      }
      if (it.seq > this.#maxSeq) continue
      return true
    }
  }

  /** The stepped row's key bytes (the first `keyLen`; the array is reused by the next step). */
  get keyBytes(): Uint8Array {
    return this.#iterator.keyBytes
  }

  get keyLen(): number {
    return this.#iterator.keyLen
  }

  get seq(): number {
    return this.#iterator.seq
  }

  /** The stepped row, built. */
  row(): RowEntry {
    return this.#iterator.row()
  }

  /** Whether the page ended at a row past `end` (the scan is finished). */
  get pastEnd(): boolean {
    return this.#pastEnd
  }

  /** `e`, thrown while decoding the current block, as the `DataError` naming it. */
  #blockError(e: unknown): DataError {
    return toDataError(this.#path, `block ${this.#from + this.#block}`)(e)
  }
}

/**
 * The keys of the rows compactions build (every compaction of this thread): a slab view costs a fraction
 * of a fresh array. A compaction's rows live until they are written (the output builder copies the few
 * keys it keeps: an SST's first and last, its index's separators).
 */
const COMPACTION_KEYS = readSlab()

/**
 * The pages of an ascending scan of the compacted SST `sst` (see the module comment), in order; a WAL SST
 * (insertion order, not a compaction source) is refused.
 */
export const scanPages = (sst: ScannableSst, options: ScanOptions = {}): Stream.Stream<PageRows, SsTableError> => {
  if (sst.isWal || options.descending === true) {
    return Stream.die(new Error("scanPages: ascending scans of compacted SSTs only"))
  }
  const plan = planScan(sst, options)
  if (plan === undefined) return Stream.empty
  const fetchPage = (p: number): Effect.Effect<PageRows, SsTableError> =>
    Effect.flatMap(readPage(sst, plan, p), (blocks) =>
      Effect.try({
        try: () => new PageRows(sst.path, blocks, plan.pages.from(p), options, p === 0, undefined, COMPACTION_KEYS),
        catch: (e) => e as SsTableError
      }))
  const pages = Stream.range(0, plan.pages.count - 1, PAGE_INDEX_CHUNK)
  return plan.tasks === 1 ? Stream.mapEffect(pages, fetchPage) : Stream.mapEffect(pages, fetchPage, { concurrency: plan.tasks })
}
