/**
 * The table cache: open `SsTableReader` handles of the L0 and sorted-run SSTs the manifest references
 * (SlateDB's `TableStore` + its SST metadata cache).
 *
 * - A handle (info, index, bloom filter) is opened once per SST, on its first read, and kept while the
 *   database is open; SST objects are immutable, so a handle never goes stale.
 * - Every handle shares the engine's block cache (LRU by bytes, `Settings.blockCacheBytes`), so a point
 *   read whose blocks are cached needs no I/O at all (`SsTableReader.getIfCached` answers synchronously).
 * - `adopt` takes an SST the engine has just written (the memtable flusher's L0 SSTs), with its bytes at
 *   hand: the handle is opened from those bytes (no GET) and, when the SST weighs at most half the block
 *   cache, every data block is put in the cache, as RocksDB's `prepopulate_block_cache = kFlushOnly` does.
 *   The first reads after a flush then hit memory. The cache stays bounded by its LRU: prepopulated blocks
 *   are ordinary entries (an SST larger than half the cache is not prepopulated, so that one flush cannot
 *   push out everything else). Nothing changes on disk. The compactor adopts its output SSTs too, without
 *   prepopulating (a compaction rewrites far more than is hot): the first read of a new sorted run then
 *   needs no HEAD and no metadata GET, only its data blocks (which `CachedObjectStore`'s `cachePuts` keeps
 *   on local disk). The blocks that replace hot ones are warmed by CacheWarming.ts (`warming`).
 * - Paths: SSTs live in `<root>/compacted/<ULID>.sst`, except those a clone borrows from a parent
 *   database (`externalDbs`), which are read under the parent's path.
 */
import { Effect, type Scope, Stream } from "effect"
import type { DbError } from "../errors.ts"
import { LruBlockCache } from "./BlockCache.ts"
import { FilterStats, WarmStats } from "../Metrics.ts"
import { compactedDir, compactedSstPath, parseCompactedSstId } from "../format/Paths.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { type ScanOptions, SsTableReader } from "./SsTableReader.ts"
import { type PageRows, scanPages } from "./PageRows.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"

/**
 * Where the SSTs a database reads live: its own `compacted/`, or another database's for the SSTs a clone
 * borrows (the manifest's `externalDbs`; a `Manifest` is one).
 */
export interface SstLocations {
  readonly externalDbs: ReadonlyArray<{ readonly path: string; readonly sstIds: ReadonlyArray<string> }>
}

/**
 * Warming the block cache when a compaction replaces SSTs (sst/CacheWarming.ts): how long a view switch
 * waits for it, and the scope a warming that outlasts that wait finishes in.
 */
export interface WarmingConfig {
  readonly timeoutMs: number
  readonly scope: Scope.Scope
}

/** Forgotten handles kept for warming (see `forget`), at most this many. */
const MAX_RETIRED = 256

export class TableStore {
  readonly root: string
  readonly store: ObjectStore["Service"]
  readonly blockCache: LruBlockCache | undefined
  /** The bloom filter answers of point reads through these handles (Metrics.ts). */
  readonly filterStats = new FilterStats()
  readonly #open = new Map<string, SsTableReader>()
  readonly #opening = new Map<string, Effect.Effect<SsTableReader, DbError>>()
  /** Handles `forget` dropped while their SSTs had cached blocks, until the view switch warms from them. */
  readonly #retired = new Map<string, SsTableReader>()
  /** Set by the process that reads (writer, `DbReader`) to warm the block cache after compactions; off when undefined. */
  warming: WarmingConfig | undefined = undefined
  /** What warming did (Metrics.ts `warmSeries`). */
  readonly warmStats = new WarmStats()

  constructor(store: ObjectStore["Service"], root: string, blockCacheBytes: number) {
    this.store = store
    this.root = root
    this.blockCache = blockCacheBytes > 0 ? new LruBlockCache(blockCacheBytes) : undefined
  }

  /** Where the SST lives: under a parent database's path for SSTs a clone borrows, else ours. */
  path(locations: SstLocations, id: string): string {
    for (const db of locations.externalDbs) {
      if (db.sstIds.includes(id)) return compactedSstPath(db.path, id)
    }
    return compactedSstPath(this.root, id)
  }

  /** The open handle, if the SST was read before (synchronous). */
  cached(id: string): SsTableReader | undefined {
    return this.#open.get(id)
  }

  /** The handle of `sst`, opening it (one or two ranged GETs) on first use. */
  reader(locations: SstLocations, sst: { readonly id: string }): Effect.Effect<SsTableReader, DbError> {
    const hit = this.#open.get(sst.id) ?? this.#retired.get(sst.id)
    if (hit !== undefined) return Effect.succeed(hit)
    const pending = this.#opening.get(sst.id)
    if (pending !== undefined) return pending
    const path = this.path(locations, sst.id)
    const options = this.blockCache === undefined
      ? { filterStats: this.filterStats }
      : { cache: this.blockCache, filterStats: this.filterStats }
    const open = SsTableReader.open(path, options).pipe(
      Effect.provideService(ObjectStore, this.store),
      Effect.mapError(toDbError),
      Effect.tap((reader) => Effect.sync(() => this.#open.set(sst.id, reader))),
      Effect.onExit(() => Effect.sync(() => this.#opening.delete(sst.id)))
    )
    // Concurrent first reads share one opening.
    const shared = Effect.runSync(Effect.cached(open))
    this.#opening.set(sst.id, shared)
    return shared
  }

  /** The open or retired handle of SST `id` (see `forget`), for warming: never opens one. */
  handle(id: string): SsTableReader | undefined {
    return this.#open.get(id) ?? this.#retired.get(id)
  }

  /**
   * Drops the handles of SSTs the manifest no longer references (after a compaction replaced them), so a
   * long-running process does not keep every SST it ever read open. Scans holding a handle finish with it;
   * blocks in the cache age out by LRU. With warming on, a handle whose SST has cached blocks is kept aside
   * (at most 256 of them) until the view switch that replaces the SST has read its index (`release`): the
   * embedded compactor forgets its inputs before the writer's view moves on.
   */
  forget(ids: Iterable<string>): void {
    for (const id of ids) {
      const reader = this.#open.get(id)
      if (reader === undefined) continue
      this.#open.delete(id)
      if (this.warming !== undefined && this.#hasCachedBlocks(reader)) {
        this.#retired.set(id, reader)
        if (this.#retired.size > MAX_RETIRED) this.#drop(this.#retired, this.#retired.keys().next().value!)
      } else {
        this.blockCache?.dropEmptyTable(reader.path)
      }
    }
  }

  /** Drops the handles of `ids`, open or retired. */
  release(ids: Iterable<string>): void {
    for (const id of ids) {
      this.#drop(this.#open, id)
      this.#drop(this.#retired, id)
    }
  }

  /** Removes handle `id` from `handles`; the cache forgets its block table if it holds no block. */
  #drop(handles: Map<string, SsTableReader>, id: string): void {
    const reader = handles.get(id)
    if (reader === undefined) return
    handles.delete(id)
    this.blockCache?.dropEmptyTable(reader.path)
  }

  #releaseNext: ReadonlyArray<string> = []

  /**
   * Drops every handle and every cached block: its owner closed. The memory goes even while something
   * still holds the closed database (a handle an application keeps, a closure).
   */
  releaseAll(): void {
    this.#open.clear()
    this.#opening.clear()
    this.#retired.clear()
    this.#releaseNext = []
    this.blockCache?.clear()
  }

  /**
   * Releases the handles of the SSTs the previous view switch removed, and remembers `ids` for the next one:
   * a warming runs before its switch, while reads of the old view may still use the removed SSTs.
   */
  releaseLater(ids: ReadonlyArray<string>): void {
    this.release(this.#releaseNext)
    this.#releaseNext = ids
  }

  /** Keeps only the handles of `live` SSTs (the ids the current manifest references). */
  retainOnly(live: ReadonlySet<string>): void {
    for (const id of this.#open.keys()) if (!live.has(id)) this.#drop(this.#open, id)
    for (const id of this.#retired.keys()) if (!live.has(id)) this.#drop(this.#retired, id)
  }

  #hasCachedBlocks(reader: SsTableReader): boolean {
    const table = this.blockCache?.existingTable(reader.path)
    if (table === undefined) return false
    for (let i = 0; i < reader.numBlocks; i++) if (table.has(i)) return true
    return false
  }

  /** How many SST handles are open. */
  get openHandles(): number {
    return this.#open.size
  }

  /** The rows of `sst` (see `SsTableReader.scan`), opening its handle first if need be. */
  scan(locations: SstLocations, sst: { readonly id: string }, options: ScanOptions): Stream.Stream<RowEntry, DbError> {
    return Stream.unwrap(Effect.map(this.reader(locations, sst), (r) => r.scan(options))).pipe(Stream.mapError(toDbError))
  }

  /** The pages of an ascending scan of `sst`, decoded a row at a time (PageRows.ts: the compactor's reads). */
  scanPages(locations: SstLocations, sst: { readonly id: string }, options: ScanOptions): Stream.Stream<PageRows, DbError> {
    return Stream.unwrap(Effect.map(this.reader(locations, sst), (r) => scanPages(r, options))).pipe(Stream.mapError(toDbError))
  }

  /**
   * Takes the SST `id` the engine has just written at `path`, `bytes` being the whole object (see the
   * module comment) or its tail (`WrittenSstTail`): opens its handle from `bytes` and, unless `prepopulate`
   * is false or only the tail is at hand, prepopulates the block cache. Does not fail: should the bytes not decode (a bug), a warning is logged and the SST is
   * opened from the store on first read.
   */
  adopt(
    id: string,
    path: string,
    bytes: Uint8Array | WrittenSstTail,
    options: { readonly prepopulate?: boolean } = {}
  ): Effect.Effect<void> {
    const lru = this.blockCache
    const whole = bytes instanceof Uint8Array ? bytes : undefined
    const prepopulate = lru !== undefined && whole !== undefined && options.prepopulate !== false && whole.length <= lru.maxBytes / 2
    const source = whole !== undefined ? { bytes: whole } : { size: (bytes as WrittenSstTail).size, suffix: (bytes as WrittenSstTail).suffix }
    const filterStats = this.filterStats
    const open = SsTableReader.open(path, lru === undefined ? { ...source, filterStats } : { ...source, cache: lru, filterStats }).pipe(
      Effect.tap((reader) => (prepopulate ? reader.cacheBlocksFrom(whole!) : Effect.void)),
      Effect.tap((reader) =>
        Effect.sync(() => {
          if (!this.#open.has(id)) this.#open.set(id, reader)
        })
      ),
      Effect.provideService(ObjectStore, this.store)
    )
    return Effect.catch(
      Effect.asVoid(open),
      (e) => Effect.logWarning(`could not adopt the new SST ${path}; it will be read from the store`, e)
    )
  }
}

/**
 * An SST just written elsewhere (a compaction worker): its size and its last bytes (filter, index, info,
 * footer), enough to open its handle without a request.
 */
export interface WrittenSstTail {
  readonly size: number
  readonly suffix: Uint8Array
}

/** Ids of the SSTs listed under `<root>/compacted`. */
export const listCompactedIds = (store: ObjectStore["Service"], root: string): Effect.Effect<Set<string>, DbError> =>
  Stream.runFold(store.list(compactedDir(root)), () => new Set<string>(), (ids, o) => {
    const id = parseCompactedSstId(o.path)
    if (id !== undefined) ids.add(id)
    return ids
  }).pipe(Effect.mapError(toDbError))
