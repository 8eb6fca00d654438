/**
 * A merge source (MergeIterator.ts) over SSTs read one after the other, as the read path's scans read an
 * L0 SST or a sorted run's SSTs: the same pages and rows as `SsTableReader.scan` (sst/SsTableScan.ts,
 * `planScan`), without a stream per source. Rows above the read's sequence cap are dropped page by page.
 *
 * Synchronous as long as it can be: an SST whose handle is open (`TableStore.cached`) starts without an
 * Effect, and a page whose blocks are all in the block cache, or that the store can read on the calling
 * thread (`ObjectStore.getRangeNow`: a local directory's open SST files), is decoded in place, so such a
 * scan costs no Effect, fiber or queue per source or per page. Only a handle to open or a page the store
 * must fetch makes `advance` say "pull"; the pull then does that one thing and goes on synchronously.
 *
 * Fetching from the store: the first two pages of an SST (1 and 2 blocks) are read on demand, one at a
 * time, so a short scan (a `limit`, a few hundred rows merged from several sources) reads only the blocks
 * it needs. From the third page on, pages are fetched ahead, in scan order (forked into the scan's scope,
 * which interrupts them when the scan ends), while the merge works through earlier ones: one page ahead at
 * the third, one more at each page read, up to `maxFetchTasks`. Ascending pages of compacted SSTs are
 * decoded a row at a time as the merge reaches them (sst/PageRows.ts): a scan that stops decodes only the
 * rows it passed.
 */
import { Effect, Fiber, type Scope } from "effect"
import type { DbError } from "../errors.ts"
import type { Block } from "../format/Block.ts"
import { readSlab } from "../format/ByteSlab.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { PageRows } from "../sst/PageRows.ts"
import type { CacheBlocks, SsTableReader } from "../sst/SsTableReader.ts"
import { type Page, planScan, readPage, type ScanOptions, type ScanPlan } from "../sst/SsTableScan.ts"
import type { SstLocations, TableStore } from "../sst/TableStore.ts"
import type { Source } from "./MergeIterator.ts"

/** One SST of a source, with the options of its scan. */
export type SstPart = readonly [sst: { readonly id: string }, options: ScanOptions]

/** A source's SSTs in scan order, given one at a time (a sorted run's: manifest/SstRanges.ts `RunScan`). */
export interface SstParts {
  /** The next SST and its options, or undefined after the last. */
  next(): SstPart | undefined
}

/**
 * The keys of the rows scans build (shared by every scan): a slab view costs a fraction of a fresh array.
 * A row's key is its own copy, which only the row holds: db/DbIterator.ts returns it as is when the slab
 * made it recently (`ByteSlab.madeRecently`), and copies any other key.
 */
export const SCAN_KEYS = readSlab({ tracksRecent: true })

/** Pages of an SST read on demand, one at a time, before fetching ahead starts. */
const PAGES_ON_DEMAND = 2

export class SstSource implements Source {
  readonly startsPending: boolean
  readonly #tables: TableStore
  readonly #locations: SstLocations
  /** The SSTs: a list (`#listed` the last taken), or given one at a time. */
  readonly #list: ReadonlyArray<SstPart> | undefined
  readonly #parts: SstParts | undefined
  #listed = -1
  readonly #scope: Scope.Scope
  readonly #maxSeq: number
  /**
   * The part being read (undefined before the first and after the last), its handle and plan (undefined:
   * its handle must be opened).
   */
  #part: SstPart | undefined = undefined
  #reader: SsTableReader | undefined = undefined
  #plan: ScanPlan | undefined = undefined
  /** The next page of the plan, and whether the plan ended (its last page, or a page said "done"). */
  #next = 0
  #ended = true
  /** Fetches in flight for pages `#next`, `#next + 1`, ... */
  readonly #inflight: Array<Fiber.Fiber<ReadonlyArray<Block>, DbError>> = []
  #rows: ReadonlyArray<RowEntry> = []
  #index = 0
  /** Whether the current part's pages are decoded a row at a time (`PageRows`): ascending, not a WAL SST. */
  #lazyPages = false
  /** The page being read, decoded a row at a time, or undefined. */
  #lazy: PageRows | undefined = undefined
  /**
   * The head: `#lazy`'s stepped row when `#lazyHead` (built into `#row` only when read: the merge drops
   * shadowed versions unbuilt), else `#row` (undefined at the end).
   */
  #lazyHead = false
  #row: RowEntry | undefined = undefined

  constructor(tables: TableStore, locations: SstLocations, parts: ReadonlyArray<SstPart> | SstParts, scope: Scope.Scope, maxSeq: number) {
    this.#tables = tables
    this.#locations = locations
    this.#list = Array.isArray(parts) ? parts : undefined
    this.#parts = Array.isArray(parts) ? undefined : parts as SstParts
    this.#scope = scope
    this.#maxSeq = maxSeq
    this.startsPending = !this.#settle()
  }

  get head(): RowEntry | undefined {
    return this.#lazyHead ? (this.#row ??= this.#lazy!.row()) : this.#row
  }

  get hasHead(): boolean {
    return this.#lazyHead || this.#row !== undefined
  }

  get keyBytes(): Uint8Array {
    return this.#lazyHead ? this.#lazy!.keyBytes : this.#row!.key
  }

  get keyLen(): number {
    return this.#lazyHead ? this.#lazy!.keyLen : this.#row!.key.length
  }

  get headSeq(): number {
    return this.#lazyHead ? this.#lazy!.seq : this.#row!.seq
  }

  #setRow(row: RowEntry | undefined): void {
    this.#lazyHead = false
    this.#row = row
  }

  advance(): boolean {
    if (this.#lazy !== undefined) return this.#nextLazy() || this.#settle()
    const i = ++this.#index
    if (i < this.#rows.length) {
      this.#row = this.#rows[i]
      return true
    }
    return this.#settle()
  }

  /** The lazy page's next row as the head: false when the page has no more (then it is dropped). */
  #nextLazy(): boolean {
    const page = this.#lazy!
    if (page.step()) {
      this.#lazyHead = true
      this.#row = undefined
      return true
    }
    this.#lazy = undefined
    this.#setRow(undefined)
    if (page.pastEnd && !this.#ended) {
      this.#ended = true
      this.#dropInflight()
    }
    return false
  }

  /**
   * Moves `head` to the next row as far as memory allows: true when `head` is the next row (or undefined at
   * the end), false when a handle must be opened (`#reader` undefined) or a page fetched first.
   */
  #settle(): boolean {
    for (;;) {
      if (!this.#ended) {
        const plan = this.#plan!
        if (this.#inflight.length > 0) return false
        const blocks = this.#blocksNow(plan.pages.from(this.#next), plan.pages.to(this.#next) + 1, plan.cacheBlocks)
        if (blocks === undefined) return false
        if (this.#takeBlocks(blocks)) return true
        continue
      }
      const part = this.#list !== undefined ? this.#list[++this.#listed] : this.#parts!.next()
      this.#part = part
      if (part === undefined) {
        this.#setRow(undefined)
        return true
      }
      const reader = this.#tables.cached(part[0].id)
      if (reader === undefined) {
        this.#reader = undefined
        this.#plan = undefined
        return false
      }
      this.#start(reader)
    }
  }

  /**
   * Blocks `[start, end)` of the current part without an Effect (cached, or read on the calling thread
   * where the store can: `SsTableReader.blocksNow`); undefined otherwise, and when a block read so is
   * corrupt (the Effect path reads it again and fails the scan with its `DataError`).
   */
  #blocksNow(start: number, end: number, cacheBlocks: CacheBlocks): ReadonlyArray<Block> | undefined {
    try {
      return this.#reader!.blocksNow(start, end, cacheBlocks)
    } catch {
      return undefined
    }
  }

  /** Starts the current part's plan with its handle. */
  #start(reader: SsTableReader): void {
    const options = this.#part![1]
    this.#reader = reader
    this.#plan = planScan(reader, options)
    this.#lazyPages = !reader.isWal && options.descending !== true
    this.#next = 0
    this.#ended = this.#plan === undefined
  }

  /** Takes page `#next`'s blocks: true when it holds a row (now `head`). Throws `DataError`. */
  #takeBlocks(blocks: ReadonlyArray<Block>): boolean {
    const plan = this.#plan!
    const p = this.#next
    if (!this.#lazyPages) return this.#take(plan.page(p, blocks))
    const reader = this.#reader!
    this.#lazy = new PageRows(reader.path, blocks, plan.pages.from(p), this.#part![1], p === 0, this.#maxSeq, SCAN_KEYS)
    this.#rows = []
    this.#next++
    this.#ended = this.#next >= plan.pages.count
    if (this.#ended) this.#dropInflight()
    return this.#nextLazy()
  }

  /** Takes page `#next`'s result: true when it holds a row (now `head`). */
  #take([rows, done]: Page): boolean {
    const plan = this.#plan!
    this.#next++
    this.#ended = done || this.#next >= plan.pages.count
    if (this.#ended) this.#dropInflight()
    const maxSeq = this.#maxSeq
    let page = rows
    for (let i = 0; i < rows.length; i++) {
      if (rows[i]!.seq > maxSeq) {
        page = rows.filter((r) => r.seq <= maxSeq)
        break
      }
    }
    this.#rows = page
    this.#index = 0
    this.#setRow(page[0])
    return page.length > 0
  }

  /** Fetches still running for pages the scan will not read are interrupted (not awaited). */
  #dropInflight(): void {
    for (const fiber of this.#inflight.splice(0)) Effect.runFork(Fiber.interrupt(fiber))
  }

  /** Page `p`'s blocks of the current plan from the store (or the cache). */
  #fetch(p: number): Effect.Effect<ReadonlyArray<Block>, DbError> {
    const plan = this.#plan!
    return Effect.mapError(readPage(this.#reader!, plan, p), toDbError)
  }

  /** `#takeBlocks` as an Effect: a page that does not decode fails it with its `DataError`. */
  #takeFetched(blocks: ReadonlyArray<Block>): Effect.Effect<boolean, DbError> {
    return Effect.try({ try: () => this.#takeBlocks(blocks), catch: (e) => e as DbError })
  }

  /**
   * What `#settle` stopped at: the handle to open, or the next page (see the module comment). True when
   * `head` is then the next row.
   */
  #blocked(): Effect.Effect<boolean, DbError> {
    if (this.#reader === undefined) {
      return Effect.map(this.#tables.reader(this.#locations, this.#part![0]), (reader) => {
        this.#start(reader)
        return false
      })
    }
    const plan = this.#plan!
    const p = this.#next
    if (p < PAGES_ON_DEMAND || plan.tasks === 1) return Effect.flatMap(this.#fetch(p), (blocks) => this.#takeFetched(blocks))
    const inflight = this.#inflight
    const forks: Array<Effect.Effect<Fiber.Fiber<ReadonlyArray<Block>, DbError>>> = []
    // The window grows by a page per page read (1, 2, 3, ... up to `maxFetchTasks`): a scan that stops
    // soon after its on-demand pages leaves at most a page or two fetched in vain.
    const window = Math.min(plan.tasks, p - PAGES_ON_DEMAND + 1)
    for (let q = p + inflight.length; q < plan.pages.count && q < p + window; q++) {
      forks.push(Effect.forkIn(this.#fetch(q), this.#scope, { startImmediately: true }))
    }
    return Effect.flatMap(Effect.all(forks), (fibers) => {
      inflight.push(...fibers)
      return Effect.flatMap(Fiber.join(inflight.shift()!), (blocks) => this.#takeFetched(blocks))
    })
  }

  /** Does what `advance` stopped at, then goes on synchronously, until `head` is the next row. */
  readonly pull: Effect.Effect<void, DbError> = Effect.suspend(() => this.#pullLoop())

  #pullLoop(): Effect.Effect<void, DbError> {
    return Effect.flatMap(this.#blocked(), (ready) => (ready || this.#settle() ? Effect.void : this.#pullLoop()))
  }
}
