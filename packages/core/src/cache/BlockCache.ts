/**
 * The block cache: decoded SST blocks, indexes and bloom filters kept in memory, bounded by bytes, evicted
 * least-recently-used first. SlateDB's `DbCache` (default: an in-memory LRU) in one synchronous class.
 *
 * Two ways to address an entry, sharing one recency order and one byte budget:
 * - **Block tables** (`table(name)`): the slots of one SST's data blocks, addressed by block index. The SST
 *   reader asks for its table once, when it opens (`name` = the object path), and then looks blocks up by
 *   index: an array load, no key to build or hash. Two readers of one object share its table.
 * - **String keys** (`get`/`set`): anything else a caller wants to keep.
 *
 * Guarantees:
 * - `bytes <= maxBytes` after every call. An entry heavier than `maxBytes` is not cached at all (it would
 *   evict everything else and then itself); `maxBytes = 0` disables caching.
 * - `get`, `set`, `delete` and the block-table operations are O(1): entries form one doubly linked list in
 *   recency order (a hit moves its entry to the most recent end; eviction takes from the least recent end).
 *   `deletePrefix` is O(entries) and meant for rare events (an SST deleted by GC).
 * - Replacing an entry refreshes it; a replacement too heavy to cache removes the old value.
 * - Weights are what the caller says (a block's decoded length is a good proxy for its size).
 *
 * `deletePrefix(p)` drops the string keys and the blocks of the tables whose name starts with `p`, so
 * `deletePrefix(sstPath)` forgets one SST. Values are untyped: the code that stores an entry reads it back.
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

/** A node of the recency list; owned either by a string key or by a slot of a block table. */
class Entry {
  value: unknown
  weight: number
  prev: Entry
  next: Entry
  readonly key: string | undefined
  readonly table: BlockTable<unknown> | undefined
  readonly index: number
  constructor(value: unknown, weight: number, key: string | undefined, table: BlockTable<unknown> | undefined, index: number) {
    this.value = value
    this.weight = weight
    this.prev = this
    this.next = this
    this.key = key
    this.table = table
    this.index = index
  }
}

/** The cached blocks of one SST, by block index (see the module comment). */
export class BlockTable<A = unknown> {
  readonly name: string
  readonly #cache: LruBlockCache
  /** @internal */
  readonly slots: Array<Entry | undefined> = []

  /** @internal Use `LruBlockCache.table`. */
  constructor(cache: LruBlockCache, name: string) {
    this.#cache = cache
    this.name = name
  }

  /** Makes room for slots `0..n-1` (keeps the slot array dense; optional, `set` grows it too). */
  reserve(n: number): void {
    const slots = this.slots
    while (slots.length < n) slots.push(undefined)
  }

  /** The value in slot `i`, marking it most recently used; undefined on a miss. */
  get(i: number): A | undefined {
    const e = this.slots[i]
    return e === undefined ? this.#cache.miss() : (this.#cache.hit(e) as A)
  }

  /** Whether slot `i` holds a value (no recency change, not counted). */
  has(i: number): boolean {
    return this.slots[i] !== undefined
  }

  /** Stores `value` in slot `i` as most recently used, then evicts down to `maxBytes`. */
  set(i: number, value: A, weight: number): void {
    this.#cache.store(value, weight, undefined, this as BlockTable<unknown>, i)
  }
}

/** The synchronous LRU core. */
export class LruBlockCache {
  readonly maxBytes: number
  private readonly map = new Map<string, Entry>()
  private readonly tables = new Map<string, BlockTable<unknown>>()
  /** The list's sentinel: `head.next` is the least recently used entry, `head.prev` the most recent. */
  private readonly head = new Entry(undefined, 0, undefined, undefined, -1)
  private count = 0
  private bytesUsed = 0
  private hits = 0
  private misses = 0
  private evictions = 0
  private rejected = 0

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`BlockCache: bad maxBytes ${maxBytes}`)
    this.maxBytes = maxBytes
  }

  /**
   * The block table called `name` (created empty on first use; the same table afterwards), with room for
   * `blocks` slots.
   */
  table<A = unknown>(name: string, blocks = 0): BlockTable<A> {
    let t = this.tables.get(name)
    if (t === undefined) {
      t = new BlockTable(this, name)
      this.tables.set(name, t)
    }
    t.reserve(blocks)
    return t as BlockTable<A>
  }

  /** The cached value, marking it most recently used; undefined on a miss. */
  get<A = unknown>(key: string): A | undefined {
    const e = this.map.get(key)
    return e === undefined ? this.miss() : (this.hit(e) as A)
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
    this.store(value, weight, key, undefined, -1)
  }

  delete(key: string): boolean {
    const e = this.map.get(key)
    if (e === undefined) return false
    this.remove(e)
    return true
  }

  /** Drops every string key and every table block whose key or table name starts with `prefix`; returns how many. */
  deletePrefix(prefix: string): number {
    let n = 0
    for (const [key, e] of this.map) {
      if (key.startsWith(prefix)) {
        this.remove(e)
        n++
      }
    }
    for (const [name, t] of this.tables) {
      if (!name.startsWith(prefix)) continue
      for (const e of t.slots) {
        if (e !== undefined) {
          this.remove(e)
          n++
        }
      }
      this.tables.delete(name)
    }
    return n
  }

  clear(): void {
    this.map.clear()
    // Tables stay registered (readers hold them); only their slots empty.
    for (const t of this.tables.values()) t.slots.fill(undefined)
    this.head.next = this.head
    this.head.prev = this.head
    this.count = 0
    this.bytesUsed = 0
  }

  get size(): number {
    return this.count
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
      entries: this.count,
      bytes: this.bytesUsed,
      maxBytes: this.maxBytes
    }
  }

  // ---------------------------------------------------------------- internals (shared with BlockTable)

  /** @internal Counts a miss. */
  miss(): undefined {
    this.misses++
    return undefined
  }

  /** @internal Counts a hit on `e` and makes it the most recently used entry. */
  hit(e: Entry): unknown {
    this.hits++
    const head = this.head
    if (head.prev !== e) {
      e.prev.next = e.next
      e.next.prev = e.prev
      const last = head.prev
      e.prev = last
      e.next = head
      last.next = e
      head.prev = e
    }
    return e.value
  }

  /** @internal Stores an entry under a string key or in a table slot (replacing what was there). */
  store(value: unknown, weight: number, key: string | undefined, table: BlockTable<unknown> | undefined, index: number): void {
    if (!(weight >= 0)) throw new RangeError(`BlockCache: bad weight ${weight}`)
    const old = table === undefined ? this.map.get(key!) : table.slots[index]
    if (old !== undefined) this.remove(old)
    if (weight > this.maxBytes || this.maxBytes === 0) {
      this.rejected++
      return
    }
    const e = new Entry(value, weight, key, table, index)
    if (table === undefined) this.map.set(key!, e)
    else {
      table.reserve(index + 1)
      table.slots[index] = e
    }
    const head = this.head
    const last = head.prev
    e.prev = last
    e.next = head
    last.next = e
    head.prev = e
    this.count++
    this.bytesUsed += weight
    if (this.bytesUsed > this.maxBytes) this.evict()
  }

  /** Unlinks `e` and clears its owner's reference. */
  private remove(e: Entry): void {
    e.prev.next = e.next
    e.next.prev = e.prev
    e.prev = e
    e.next = e
    if (e.table === undefined) this.map.delete(e.key!)
    else if (e.table.slots[e.index] === e) e.table.slots[e.index] = undefined
    this.count--
    this.bytesUsed -= e.weight
  }

  private evict(): void {
    const head = this.head
    while (this.bytesUsed > this.maxBytes && head.next !== head) {
      this.remove(head.next)
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
  /** The block table called `name` (see `LruBlockCache.table`); an SST reader's `cache` option. */
  readonly table: <A = unknown>(name: string, blocks?: number) => BlockTable<A>
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
      table: (name, blocks) => core.table(name, blocks),
      stats: Effect.sync(() => core.stats())
    })

  /** A fresh cache holding at most `maxBytes` (use `Settings.blockCacheBytes`; 0 disables caching). */
  static readonly layer = (options: { readonly maxBytes: number }): Layer.Layer<BlockCache> =>
    Layer.sync(BlockCache, () => BlockCache.fromCore(new LruBlockCache(options.maxBytes)))

  /** No caching at all. */
  static readonly layerDisabled: Layer.Layer<BlockCache> = BlockCache.layer({ maxBytes: 0 })
}
