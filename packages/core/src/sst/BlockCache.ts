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
 *   recency order (a hit moves its entry to the most recent end; eviction takes from the least recent end),
 *   kept in typed-array columns indexed by entry id (see `LruBlockCache`).
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

/** The cached blocks of one SST, by block index (see the module comment). */
export class BlockTable<A = unknown> {
  readonly name: string
  readonly #cache: LruBlockCache
  /** @internal The entry id in each slot (0: empty). */
  slots: Int32Array = EMPTY_SLOTS
  /** @internal How many slots hold an entry. */
  entries = 0

  /** @internal Use `LruBlockCache.table`. */
  constructor(cache: LruBlockCache, name: string) {
    this.#cache = cache
    this.name = name
  }

  /** Makes room for slots `0..n-1` (optional: `set` grows the table too). */
  reserve(n: number): void {
    if (n <= this.slots.length) return
    const grown = new Int32Array(Math.max(n, 2 * this.slots.length))
    grown.set(this.slots)
    this.slots = grown
  }

  /** The value in slot `i`, marking it most recently used; undefined on a miss. */
  get(i: number): A | undefined {
    const slots = this.slots
    const id = i < slots.length ? slots[i]! : 0
    return id === 0 ? this.#cache.miss() : (this.#cache.hit(id) as A)
  }

  /** The value in slot `i` without marking it used or read (not counted); undefined when empty. */
  peek(i: number): A | undefined {
    const id = i < this.slots.length ? this.slots[i]! : 0
    return id === 0 ? undefined : (this.#cache.valueOf(id) as A)
  }

  /** Whether slot `i` holds a value (no recency change, not counted). */
  has(i: number): boolean {
    return i < this.slots.length && this.slots[i] !== 0
  }

  /**
   * Whether slot `i` holds a value that a read asked for: a hit, or a miss that cached it. Blocks cached
   * ahead of any read (prepopulated after a flush, warmed after a compaction) are not, until read.
   */
  wasRead(i: number): boolean {
    return i < this.slots.length && this.slots[i] !== 0 && this.#cache.wasRead(this.slots[i]!)
  }

  /** The weight of the value in slot `i` (0 when empty; no recency change). */
  weight(i: number): number {
    return i < this.slots.length && this.slots[i] !== 0 ? this.#cache.weightOf(this.slots[i]!) : 0
  }

  /**
   * Stores `value` in slot `i` as most recently used, then evicts down to `maxBytes`. `read`: a read asked
   * for it (false: cached ahead of reads; see `wasRead`).
   */
  set(i: number, value: A, weight: number, read = true): void {
    this.#cache.store(value, weight, undefined, this as BlockTable<unknown>, i, read)
  }
}

const EMPTY_SLOTS = new Int32Array(0)

/**
 * The synchronous LRU core. Entries are integer ids whose fields live in columns (typed arrays for the
 * recency links, weights and block indexes; plain arrays for values and owners), and a block table's slots
 * hold ids. A hit then touches a few small contiguous arrays that stay in the CPU cache, instead of an entry
 * object and its two neighbours scattered over the heap: on a point read that is most of the cache's cost.
 * Id 0 is the list's sentinel: `next[0]` is the least recently used entry, `prev[0]` the most recent. Ids
 * of removed entries are reused.
 */
export class LruBlockCache {
  readonly maxBytes: number
  private readonly map = new Map<string, number>()
  private readonly tables = new Map<string, BlockTable<unknown>>()
  private prev = new Int32Array(INITIAL_IDS)
  private next = new Int32Array(INITIAL_IDS)
  private weights = new Float64Array(INITIAL_IDS)
  /** 1 once a read asked for the entry (see `BlockTable.wasRead`). */
  private reads = new Uint8Array(INITIAL_IDS)
  /** The block index of a table entry (-1 for a string key). */
  private indexes = new Int32Array(INITIAL_IDS)
  private readonly values: Array<unknown> = [undefined]
  /** The string key or the block table that holds each entry. */
  private readonly owners: Array<string | BlockTable<unknown> | undefined> = [undefined]
  private readonly freeIds: Array<number> = []
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
    const id = this.map.get(key)
    return id === undefined ? this.miss() : (this.hit(id) as A)
  }

  /** Like `get` without touching recency or stats. */
  peek<A = unknown>(key: string): A | undefined {
    const id = this.map.get(key)
    return id === undefined ? undefined : (this.values[id] as A)
  }

  has(key: string): boolean {
    return this.map.has(key)
  }

  /** Stores `value` (replacing any entry under `key`) as most recently used, then evicts down to `maxBytes`. */
  set(key: string, value: unknown, weight: number): void {
    this.store(value, weight, key, undefined, -1)
  }

  delete(key: string): boolean {
    const id = this.map.get(key)
    if (id === undefined) return false
    this.remove(id)
    return true
  }

  /** Drops every string key and every table block whose key or table name starts with `prefix`; returns how many. */
  deletePrefix(prefix: string): number {
    let n = 0
    for (const [key, id] of this.map) {
      if (key.startsWith(prefix)) {
        this.remove(id)
        n++
      }
    }
    for (const [name, t] of this.tables) {
      if (!name.startsWith(prefix)) continue
      const slots = t.slots
      for (let i = 0; i < slots.length; i++) {
        if (slots[i] !== 0) {
          this.remove(slots[i]!)
          n++
        }
      }
      this.tables.delete(name)
    }
    return n
  }

  clear(): void {
    this.map.clear()
    // Readers hold their tables: emptied, each registers again with its next block (see `store`).
    for (const t of this.tables.values()) {
      t.slots.fill(0)
      t.entries = 0
    }
    this.tables.clear()
    this.values.length = 1
    this.owners.length = 1
    this.freeIds.length = 0
    this.prev[0] = 0
    this.next[0] = 0
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

  /** @internal The value of entry `id`. */
  valueOf(id: number): unknown {
    return this.values[id]
  }

  /** @internal Whether a read asked for entry `id`. */
  wasRead(id: number): boolean {
    return this.reads[id] === 1
  }

  /** @internal The weight of entry `id`. */
  weightOf(id: number): number {
    return this.weights[id]!
  }

  /**
   * Forgets the table called `name` if it holds no block (its reader is gone: TableStore). A table is also
   * forgotten when its last block goes (`remove`); this covers the tables of SSTs whose blocks were never
   * cached (scanned only, or written and not read).
   */
  dropEmptyTable(name: string): void {
    const t = this.tables.get(name)
    if (t !== undefined && t.entries === 0) this.tables.delete(name)
  }

  /** @internal How many tables are registered. */
  get tableCount(): number {
    return this.tables.size
  }

  /** The block table called `name` if one exists (unlike `table`, creates nothing). */
  existingTable<A = unknown>(name: string): BlockTable<A> | undefined {
    return this.tables.get(name) as BlockTable<A> | undefined
  }

  /** @internal Counts a miss. */
  miss(): undefined {
    this.misses++
    return undefined
  }

  /** @internal Counts a hit on entry `id` and makes it the most recently used entry. */
  hit(id: number): unknown {
    this.hits++
    this.reads[id] = 1
    const prev = this.prev
    const next = this.next
    const last = prev[0]!
    if (last !== id) {
      const p = prev[id]!
      const n = next[id]!
      next[p] = n
      prev[n] = p
      prev[id] = last
      next[id] = 0
      next[last] = id
      prev[0] = id
    }
    return this.values[id]
  }

  /** @internal Stores an entry under a string key or in a table slot (replacing what was there). */
  store(
    value: unknown,
    weight: number,
    key: string | undefined,
    table: BlockTable<unknown> | undefined,
    index: number,
    read = true
  ): void {
    if (!(weight >= 0)) throw new RangeError(`BlockCache: bad weight ${weight}`)
    const old = table === undefined ? (this.map.get(key!) ?? 0) : index < table.slots.length ? table.slots[index]! : 0
    if (old !== 0) this.remove(old)
    if (weight > this.maxBytes || this.maxBytes === 0) {
      this.rejected++
      return
    }
    const id = this.newId()
    this.values[id] = value
    this.weights[id] = weight
    this.reads[id] = read ? 1 : 0
    if (table === undefined) {
      this.owners[id] = key!
      this.indexes[id] = -1
      this.map.set(key!, id)
    } else {
      this.owners[id] = table
      this.indexes[id] = index
      table.reserve(index + 1)
      table.slots[index] = id
      // A table is registered while it holds blocks (see `remove`); one a reader kept fills again here.
      if (table.entries++ === 0 && !this.tables.has(table.name)) this.tables.set(table.name, table)
    }
    const prev = this.prev
    const next = this.next
    const last = prev[0]!
    prev[id] = last
    next[id] = 0
    next[last] = id
    prev[0] = id
    this.count++
    this.bytesUsed += weight
    if (this.bytesUsed > this.maxBytes) this.evict()
  }

  /** A free id, growing the columns when every id is in use. */
  private newId(): number {
    const free = this.freeIds.pop()
    if (free !== undefined) return free
    const id = this.values.length
    this.values.push(undefined)
    this.owners.push(undefined)
    if (id >= this.prev.length) {
      const n = 2 * this.prev.length
      this.prev = grow(this.prev, new Int32Array(n))
      this.next = grow(this.next, new Int32Array(n))
      this.indexes = grow(this.indexes, new Int32Array(n))
      this.weights = grow(this.weights, new Float64Array(n))
      this.reads = grow(this.reads, new Uint8Array(n))
    }
    return id
  }

  /** Unlinks entry `id`, clears its owner's reference and frees the id. */
  private remove(id: number): void {
    const prev = this.prev
    const next = this.next
    const p = prev[id]!
    const n = next[id]!
    next[p] = n
    prev[n] = p
    const owner = this.owners[id]
    if (typeof owner === "string") this.map.delete(owner)
    else if (owner !== undefined) {
      const i = this.indexes[id]!
      if (owner.slots[i] === id) owner.slots[i] = 0
      // The last block of a table gone: forget the table (its slots sized for the whole SST), so a process
      // that opens SST after SST over months keeps tables only for what its cache holds.
      if (--owner.entries === 0 && this.tables.get(owner.name) === owner) this.tables.delete(owner.name)
    }
    this.values[id] = undefined
    this.owners[id] = undefined
    this.freeIds.push(id)
    this.count--
    this.bytesUsed -= this.weights[id]!
  }

  private evict(): void {
    while (this.bytesUsed > this.maxBytes && this.next[0] !== 0) {
      this.remove(this.next[0]!)
      this.evictions++
    }
  }
}

const INITIAL_IDS = 64

const grow = <T extends Int32Array | Float64Array | Uint8Array>(from: T, to: T): T => {
  to.set(from)
  return to
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
