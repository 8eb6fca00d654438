/**
 * Loading an SST's data blocks: the one block-loading API of an opened SST (`SsTableReader.readBlocks`
 * and `blocksNow` delegate here; point reads, scans and anything warming the cache go through it).
 *
 * - `readBlocks(start, end)`: blocks `[start, end)`, the cached ones from the block cache, the others with
 *   ONE ranged GET from the first uncached block to the last (cached blocks in between are read again as
 *   bytes rather than costing a request per hole); what it reads goes into the cache unless asked not to.
 * - `readNow(start, end)`: the same without an Effect, when the store can read on the calling thread
 *   (`ObjectStore.getRangeNow`: a local directory's open SST files), else undefined.
 * - `cachedRange(start, end)`: blocks the cache holds (synchronous; a read's count as a use).
 * - `cacheFrom(bytes)`: every block from the whole object already in memory.
 * Every block's checksum is verified before it is decompressed and decoded; a cached block never pins a
 * larger buffer (a multi-block GET, the whole object) behind its view.
 */
import { Effect } from "effect"
import type { DataError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type Block, type BlockVersion, decodeBlock } from "../format/Block.ts"
import { CHECKSUM_SIZE, verifyChecksum } from "../format/Checksum.ts"
import { decompress } from "../format/Compression.ts"
import type { BlockMeta, SsTableInfo } from "../format/SstMetadata.ts"
import { dataError, inSection, type SsTableError } from "./SsTableErrors.ts"

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
  /** Whether block `block` is cached, without counting a use (optional; `BlockCache.ts` has it). */
  readonly has?: (block: number) => boolean
}

/**
 * Who loads the blocks, and whether what is fetched goes into the cache:
 * - `true`: a read (point read, caching scan): cached blocks it finds count as hits and become the most
 *   recently used; what it fetches is cached;
 * - `"uncached"`: a read that caches nothing it fetches (a scan that does not cache, `ScanOptions
 *   .cacheBlocks`), its hits counted and refreshed as `true`'s, so that a scan's use of the cache is the same
 *   whether its blocks were found on the calling thread or by an Effect (iter/SstSource.ts);
 * - `false`: not a read (a compaction's sources): cached blocks are only peeked at (no hit, no recency
 *   change), nothing is cached;
 * - `"unread"`: not a read (prepopulation, warming): peeked at, and what is fetched is cached as not yet
 *   read by anyone (`BlockTable.wasRead`).
 */
export type CacheBlocks = boolean | "unread" | "uncached"

/** Whether a load of blocks is a read (`CacheBlocks`): it counts hits and refreshes their recency. */
const isRead = (cacheBlocks: CacheBlocks): boolean => cacheBlocks === true || cacheBlocks === "uncached"

/** What a read of blocks `[start, end)` found cached (`out`), and the range of the others to fetch. */
interface ReadPlan {
  readonly start: number
  readonly out: Array<Block>
  readonly first: number
  readonly last: number
}

export class SstBlocks {
  readonly #path: string
  readonly #store: ObjectStore["Service"]
  readonly #version: BlockVersion
  readonly #info: SsTableInfo
  readonly #meta: ReadonlyArray<BlockMeta>
  /** This SST's slots in the block cache (undefined: no cache). */
  readonly slots: SstBlockSlots | undefined

  constructor(
    path: string,
    store: ObjectStore["Service"],
    version: BlockVersion,
    info: SsTableInfo,
    meta: ReadonlyArray<BlockMeta>,
    cache: SstBlockCache | undefined
  ) {
    this.#path = path
    this.#store = store
    this.#version = version
    this.#info = info
    this.#meta = meta
    this.slots = cache?.table(path, meta.length)
  }

  /**
   * Blocks `[start, end)` if the cache holds every one of them (then each counts as a hit when the load is a
   * read, see `CacheBlocks`), else undefined (and, with a cache that can tell, nothing is counted: `read`
   * will).
   */
  cachedRange(start: number, end: number, cacheBlocks: CacheBlocks): Array<Block> | undefined {
    const slots = this.slots
    if (slots === undefined) return undefined
    if (slots.has !== undefined) {
      for (let i = start; i < end; i++) if (!slots.has(i)) return undefined
    }
    const look = isRead(cacheBlocks) || slots.peek === undefined ? slots.get : slots.peek
    const out = new Array<Block>(end - start)
    for (let i = start; i < end; i++) {
      const block = look.call(slots, i)
      if (block === undefined) return undefined
      out[i - start] = block
    }
    return out
  }

  /** End offset (exclusive, including the CRC) of data block `i`. */
  #end(i: number): number {
    return i + 1 < this.#meta.length ? this.#meta[i + 1]!.offset : this.#info.filterOffset
  }

  /**
   * Verifies and decodes stored block `i` (`framed`: its bytes and CRC), caching it if asked to (`"unread"`:
   * cached ahead of any read, see `BlockTable.wasRead`). Throws.
   */
  #decode(framed: Uint8Array, i: number, cache: CacheBlocks): Block {
    return inSection(this.#path, `block ${i}`, () => {
      let raw = decompress(this.#info.compressionFormat, verifyChecksum(framed, { section: `block ${i}` }))
      const cacheTo = cache === true || cache === "unread" ? this.slots : undefined
      // A cached block must not pin a larger buffer (e.g. a multi-block GET) behind its view; a block read
      // alone keeps its buffer (the CRC is its only other bytes): a second allocation and copy per miss
      // cost more than the miss's read.
      if (cacheTo !== undefined && raw.buffer.byteLength - raw.byteLength > CHECKSUM_SIZE) raw = raw.slice()
      const block = decodeBlock(raw, this.#version)
      cacheTo?.set(i, block, raw.length, cache === true)
      return block
    })
  }

  /** Puts every data block into the cache from `bytes`, the whole object (see the module comment). */
  cacheFrom(bytes: Uint8Array, size: number): Effect.Effect<void, DataError> {
    return Effect.suspend(() => {
      if (this.slots === undefined || this.#meta.length === 0) return Effect.void
      if (bytes.length !== size) {
        return Effect.fail(dataError(this.#path, "block 0", `expected the ${size}-byte object, got ${bytes.length} bytes`))
      }
      return Effect.try({
        try: () => {
          for (let i = 0; i < this.#meta.length; i++) this.#decode(bytes.subarray(this.#meta[i]!.offset, this.#end(i)), i, "unread")
        },
        catch: (e) => e as DataError
      })
    })
  }

  /**
   * Blocks `[start, end)` (see the module comment); what is fetched is cached when `cacheBlocks` is `true` or
   * `"unread"`, and cached blocks count as used when it is a read (`CacheBlocks`).
   */
  read(start: number, end: number, cacheBlocks: CacheBlocks = true): Effect.Effect<ReadonlyArray<Block>, SsTableError> {
    return Effect.suspend(() => {
      const plan = this.#plan(start, end, cacheBlocks)
      if (plan.first > plan.last) return Effect.succeed(plan.out)
      const from = this.#meta[plan.first]!.offset
      const to = this.#end(plan.last)
      return Effect.flatMap(this.#store.getRange(this.#path, { start: from, end: to }), (bytes) =>
        Effect.try({ try: () => this.#fill(plan, bytes, cacheBlocks), catch: (e) => e as DataError }))
    })
  }

  /** Whether the store may read on the calling thread (`readNow` can answer more than the cache). */
  get canReadNow(): boolean {
    return this.#store.getRangeNow !== undefined
  }

  /**
   * `read` without an Effect, when the store can read the missing blocks on the calling thread
   * (`ObjectStore.getRangeNow`): the blocks, or undefined when it cannot (then `read`). Throws `DataError`.
   */
  readNow(start: number, end: number, cacheBlocks: CacheBlocks = true): ReadonlyArray<Block> | undefined {
    const now = this.#store.getRangeNow
    if (now === undefined) return undefined
    const plan = this.#plan(start, end, cacheBlocks)
    if (plan.first > plan.last) return plan.out
    const bytes = now(this.#path, { start: this.#meta[plan.first]!.offset, end: this.#end(plan.last) })
    return bytes === undefined ? undefined : this.#fill(plan, bytes, cacheBlocks)
  }

  /** The cached blocks of `[start, end)`, and the first and last of the others (first > last: none). */
  #plan(start: number, end: number, cacheBlocks: CacheBlocks): ReadPlan {
    const n = this.#meta.length
    if (start < 0 || end > n || start > end) throw new RangeError(`block range [${start}, ${end}) outside 0..${n}`)
    const out = new Array<Block>(end - start)
    const cache = this.slots
    const look = cache === undefined ? undefined : !isRead(cacheBlocks) && cache.peek !== undefined ? cache.peek : cache.get
    let first = end
    let last = start - 1
    for (let i = start; i < end; i++) {
      const hit = look === undefined ? undefined : look.call(cache, i)
      if (hit !== undefined) out[i - start] = hit
      else {
        if (first === end) first = i
        last = i
      }
    }
    return { start, out, first, last }
  }

  /** Decodes the blocks `plan` misses from `bytes` (blocks `first..last`, as stored). Throws `DataError`. */
  #fill(plan: ReadPlan, bytes: Uint8Array, cacheBlocks: CacheBlocks): ReadonlyArray<Block> {
    const { start, out, first, last } = plan
    const from = this.#meta[first]!.offset
    const to = this.#end(last)
    if (bytes.length !== to - from) throw dataError(this.#path, `block ${first}`, `expected ${to - from} bytes, read ${bytes.length}`)
    for (let k = first; k <= last; k++) {
      if (out[k - start] !== undefined) continue
      const framed = bytes.subarray(this.#meta[k]!.offset - from, this.#end(k) - from)
      out[k - start] = this.#decode(framed, k, cacheBlocks)
    }
    return out
  }
}
