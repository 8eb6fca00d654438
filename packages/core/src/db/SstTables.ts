/**
 * The table cache: open `SsTableReader` handles of the L0 and sorted-run SSTs the manifest references
 * (SlateDB's `TableStore` + its SST metadata cache).
 *
 * - A handle (info, index, bloom filter) is opened once per SST, on its first read, and kept while the
 *   database is open; SST objects are immutable, so a handle never goes stale.
 * - Every handle shares the engine's block cache (LRU by bytes, `Settings.blockCacheBytes`), so a point
 *   read whose block is cached needs no I/O at all.
 * - `warm` puts the data blocks of an SST the engine has just written into the block cache (the bytes
 *   are at hand anyway): the first reads after an L0 flush then hit memory, as in RocksDB's
 *   `prepopulate_block_cache`. It changes nothing on disk.
 * - Paths: SSTs live in `<root>/compacted/<ULID>.sst`, except those a clone borrows from a parent
 *   database (`externalDbs`), which are read under the parent's path.
 */
import { Effect } from "effect"
import type { DbError } from "../errors.ts"
import { LruBlockCache } from "../cache/BlockCache.ts"
import { type Block, BlockIterator, type BlockVersion, decodeBlock } from "../format/Block.ts"
import { CHECKSUM_SIZE } from "../format/Checksum.ts"
import { decompress } from "../format/Compression.ts"
import { compactedSstPath } from "../format/Paths.ts"
import type { EncodedSsTable } from "../format/SsTableBuilder.ts"
import { type SstBlockCache, SsTableReader } from "../format/SsTableReader.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { BlockMeta } from "../format/SstMetadata.ts"
import type { CompactedSst, Manifest } from "../manifest/Manifest.ts"
import { compareKeys, keysEqual } from "../memtable/KeyComparator.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "./StoreErrors.ts"

/** `getCached`'s answer when the Effect path must be taken. */
export const MISS: unique symbol = Symbol("MISS")

const CONTINUE: unique symbol = Symbol("CONTINUE")

/** Index of the last block whose separator is < `key` (`strict`) or ≤ `key`; 0 if none. */
const findBlock = (meta: ReadonlyArray<BlockMeta>, key: Uint8Array, strict: boolean): number => {
  // (The reader's own search, which is private to SsTableReader.)
  let lo = 0
  let hi = meta.length - 1
  let found = 0
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const c = compareKeys(meta[mid]!.firstKey, key)
    if (c < 0 || (!strict && c === 0)) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

/** The first version of `key` ≤ maxSeq in `block`, undefined if the key ends here, CONTINUE if it may go on. */
const searchBlock = (block: Block, key: Uint8Array, maxSeq: number): RowEntry | undefined | typeof MISS | typeof CONTINUE => {
  // A corrupt block is reported by the Effect path, which decodes it again.
  let it: BlockIterator
  try {
    it = new BlockIterator(block)
    it.seek(key)
    for (let row = it.next(); row !== undefined; row = it.next()) {
      if (!keysEqual(row.key, key)) return undefined
      if (row.seq <= maxSeq) return row
    }
  } catch {
    return MISS
  }
  return CONTINUE
}

/** Adapts the LRU block cache to the SST reader's cache hook. */
export const sstBlockCache = (core: LruBlockCache): SstBlockCache => ({
  get: (key) => core.get<Block>(key),
  set: (key, block, bytes) => core.set(key, block, bytes)
})

export class SstTables {
  readonly root: string
  readonly store: ObjectStore["Service"]
  readonly blockCache: LruBlockCache | undefined
  readonly #cache: SstBlockCache | undefined
  readonly #open = new Map<string, SsTableReader>()
  readonly #opening = new Map<string, Effect.Effect<SsTableReader, DbError>>()
  readonly #keys = new WeakMap<SsTableReader, Array<string | undefined>>()

  constructor(store: ObjectStore["Service"], root: string, blockCacheBytes: number) {
    this.store = store
    this.root = root
    this.blockCache = blockCacheBytes > 0 ? new LruBlockCache(blockCacheBytes) : undefined
    this.#cache = this.blockCache === undefined ? undefined : sstBlockCache(this.blockCache)
  }

  /** Where the SST lives: under a parent database's path for SSTs a clone borrows, else ours. */
  path(manifest: Manifest, id: string): string {
    for (const db of manifest.externalDbs) {
      if (db.sstIds.includes(id)) return compactedSstPath(db.path, id)
    }
    return compactedSstPath(this.root, id)
  }

  /** The open handle, if the SST was read before (synchronous). */
  cached(id: string): SsTableReader | undefined {
    return this.#open.get(id)
  }

  /** The handle of `sst`, opening it (one or two ranged GETs) on first use. */
  reader(manifest: Manifest, sst: CompactedSst): Effect.Effect<SsTableReader, DbError> {
    const hit = this.#open.get(sst.id)
    if (hit !== undefined) return Effect.succeed(hit)
    const pending = this.#opening.get(sst.id)
    if (pending !== undefined) return pending
    const path = this.path(manifest, sst.id)
    const options = this.#cache === undefined ? {} : { cache: this.#cache }
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

  /**
   * The synchronous point read over an open handle whose blocks are cached: the newest version of `key`
   * with seq ≤ `maxSeq` (undefined if the SST has none), or `MISS` when a block is not cached (or anything
   * looks wrong: the caller then takes the Effect path, `SsTableReader.get`, which reports errors).
   * Same search as `SsTableReader.get`: bloom filter, key bounds, then the blocks from the last one whose
   * separator is < key through the last one whose separator is ≤ key.
   */
  getCached(reader: SsTableReader, key: Uint8Array, maxSeq: number): RowEntry | undefined | typeof MISS {
    const lru = this.blockCache
    const meta = reader.blockMeta
    if (meta.length === 0) return undefined
    if (lru === undefined || reader.isWal) return MISS
    if (!reader.mightContain(key)) return undefined
    const { firstEntry, lastEntry } = reader.info
    if (firstEntry !== undefined && compareKeys(key, firstEntry) < 0) return undefined
    if (lastEntry !== undefined && compareKeys(key, lastEntry) > 0) return undefined
    // Blocks from the last whose separator is < key through the last whose separator is ≤ key.
    const last = findBlock(meta, key, false)
    let first = last
    while (first > 0 && compareKeys(meta[first]!.firstKey, key) >= 0) first--
    const names = this.#blockKeys(reader)
    for (let i = first; i <= last; i++) {
      const block = lru.get<Block>(names[i] ??= `${reader.path}#${i}`)
      if (block === undefined) return MISS
      const found = searchBlock(block, key, maxSeq)
      if (found !== CONTINUE) return found
    }
    return undefined
  }

  /**
   * The block-cache keys of a handle's blocks, made once: a string V8 has hashed before is found in a
   * `Map` without hashing it again.
   */
  #blockKeys(reader: SsTableReader): Array<string | undefined> {
    let names = this.#keys.get(reader)
    if (names === undefined) {
      names = new Array<string | undefined>(reader.blockMeta.length)
      this.#keys.set(reader, names)
    }
    return names
  }

  /** Caches the data blocks of a freshly written SST (see the module comment). */
  warm(path: string, bytes: Uint8Array, table: EncodedSsTable): void {
    const cache = this.#cache
    const lru = this.blockCache
    if (cache === undefined || lru === undefined || bytes.length > lru.maxBytes / 2) return
    const meta = table.blockMeta
    const version: BlockVersion = table.formatVersion
    for (let i = 0; i < meta.length; i++) {
      const start = meta[i]!.offset
      const end = i + 1 < meta.length ? meta[i + 1]!.offset : table.info.filterOffset
      const raw = decompress(table.info.compressionFormat, bytes.subarray(start, end - CHECKSUM_SIZE))
      cache.set(`${path}#${i}`, decodeBlock(raw, version), raw.length)
    }
  }
}
