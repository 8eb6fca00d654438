/**
 * The block cache: decoded SST blocks, indexes and bloom filters kept in memory, bounded by bytes, evicted
 * least-recently-used first. SlateDB's `DbCache` (default: an in-memory LRU) in one synchronous class.
 *
 * Guarantees:
 * - `bytes <= maxBytes` after every call. An entry heavier than `maxBytes` is not cached at all (it would
 *   evict everything else and then itself); `maxBytes = 0` disables caching.
 * - `get`, `set`, `delete` are O(1): a `Map` keeps entries in recency order (a hit re-inserts its entry at
 *   the end; eviction takes from the front). `deletePrefix` is O(n) and meant for rare events (an SST
 *   deleted by GC).
 * - Weights are what the caller says (an encoded block's length is a good proxy for its decoded size).
 *
 * Keys are strings chosen by the caller; the SST reader uses `${sstPath}#${offset}` for blocks and
 * `${sstPath}#index` / `#filter` / `#info` for the other parts, so `deletePrefix(`${sstPath}#`)` drops
 * everything of one SST. Values are untyped: the code that stores a key is the code that reads it back.
 *
 * `BlockCache` is also an Effect service (`BlockCache.layer({ maxBytes })`) whose methods are the same
 * synchronous functions: a cache probe is on the read path's hot loop and needs no Effect around it.
 */
import { Context, Effect, Layer } from "effect"

export interface BlockCacheStats {
  readonly hits: number
  readonly misses: number
  /** Entries dropped to make room (not counting replacements, deletions or refused entries). */
  readonly evictions: number
  /** Entries not stored because they alone weigh more than `maxBytes`. */
  readonly rejected: number
  readonly entries: number
  readonly bytes: number
  readonly maxBytes: number
}

class Entry {
  value: unknown
  weight: number
  constructor(value: unknown, weight: number) {
    this.value = value
    this.weight = weight
  }
}

/** The synchronous LRU core. */
export class LruBlockCache {
  readonly maxBytes: number
  private readonly map = new Map<string, Entry>()
  private bytesUsed = 0
  private hits = 0
  private misses = 0
  private evictions = 0
  private rejected = 0

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`BlockCache: bad maxBytes ${maxBytes}`)
    this.maxBytes = maxBytes
  }

  /** The cached value, marking it most recently used; undefined on a miss. */
  get<A = unknown>(key: string): A | undefined {
    const map = this.map
    const e = map.get(key)
    if (e === undefined) {
      this.misses++
      return undefined
    }
    this.hits++
    map.delete(key)
    map.set(key, e)
    return e.value as A
  }

  /** Like `get` without touching recency or stats. */
  peek<A = unknown>(key: string): A | undefined {
    return this.map.get(key)?.value as A | undefined
  }

  has(key: string): boolean {
    return this.map.has(key)
  }

  /** Stores `value` (replacing any entry under `key`) as most recently used, then evicts down to `maxBytes`. */
  set(key: string, value: unknown, weight: number): void {
    if (!(weight >= 0)) throw new RangeError(`BlockCache: bad weight ${weight}`)
    const map = this.map
    const old = map.get(key)
    if (old !== undefined) {
      map.delete(key)
      this.bytesUsed -= old.weight
    }
    if (weight > this.maxBytes || this.maxBytes === 0) {
      this.rejected++
      return
    }
    map.set(key, new Entry(value, weight))
    this.bytesUsed += weight
    if (this.bytesUsed > this.maxBytes) this.evict()
  }

  delete(key: string): boolean {
    const e = this.map.get(key)
    if (e === undefined) return false
    this.map.delete(key)
    this.bytesUsed -= e.weight
    return true
  }

  /** Drops every entry whose key starts with `prefix` (O(n)); returns how many. */
  deletePrefix(prefix: string): number {
    let n = 0
    for (const [key, e] of this.map) {
      if (key.startsWith(prefix)) {
        this.map.delete(key)
        this.bytesUsed -= e.weight
        n++
      }
    }
    return n
  }

  clear(): void {
    this.map.clear()
    this.bytesUsed = 0
  }

  get size(): number {
    return this.map.size
  }

  get bytes(): number {
    return this.bytesUsed
  }

  stats(): BlockCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      rejected: this.rejected,
      entries: this.map.size,
      bytes: this.bytesUsed,
      maxBytes: this.maxBytes
    }
  }

  private evict(): void {
    const map = this.map
    // Map iteration is insertion order: the front is the least recently used.
    for (const [key, e] of map) {
      if (this.bytesUsed <= this.maxBytes) return
      map.delete(key)
      this.bytesUsed -= e.weight
      this.evictions++
    }
  }
}

/** The block cache as a service: `LruBlockCache`'s synchronous operations, plus `stats` as an Effect. */
export class BlockCache extends Context.Service<BlockCache, {
  readonly get: <A = unknown>(key: string) => A | undefined
  readonly set: (key: string, value: unknown, weight: number) => void
  readonly delete: (key: string) => boolean
  readonly deletePrefix: (prefix: string) => number
  readonly clear: () => void
  readonly stats: Effect.Effect<BlockCacheStats>
}>()("shale/BlockCache") {
  /** Wraps an existing core (tests inspect it directly). */
  static readonly fromCore = (core: LruBlockCache): BlockCache["Service"] =>
    BlockCache.of({
      get: (key) => core.get(key),
      set: (key, value, weight) => core.set(key, value, weight),
      delete: (key) => core.delete(key),
      deletePrefix: (prefix) => core.deletePrefix(prefix),
      clear: () => core.clear(),
      stats: Effect.sync(() => core.stats())
    })

  /** A fresh cache holding at most `maxBytes` (use `Settings.blockCacheBytes`; 0 disables caching). */
  static readonly layer = (options: { readonly maxBytes: number }): Layer.Layer<BlockCache> =>
    Layer.sync(BlockCache, () => BlockCache.fromCore(new LruBlockCache(options.maxBytes)))

  /** No caching at all. */
  static readonly layerDisabled: Layer.Layer<BlockCache> = BlockCache.layer({ maxBytes: 0 })
}
