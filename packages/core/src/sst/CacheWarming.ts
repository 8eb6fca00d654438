/**
 * Hot blocks stay hot across compactions (docs/design/object-store-cache.md §9): when a compaction replaces
 * SSTs whose data blocks are in the block cache, the blocks of its output SSTs that hold the same keys are
 * put in the cache before (or, past a time bound, as) the reader's view moves to the new manifest.
 *
 * - **Hot ranges.** Hot means read: a block some read asked for (`BlockTable.wasRead`), not one the flush
 *   prepopulated or an earlier warming brought in and nobody read since (else every L0 compaction would
 *   warm the whole output of a write-only load). A read block of a replaced SST covers the keys from its separator up to the next
 *   one (the last block: up to the SST's last key); the replaced SST's index (its handle, open or
 *   retired by `TableStore.forget`) gives them, the block cache says which blocks are cached and what they
 *   weigh. Consecutive cached blocks make one range.
 * - **What is loaded.** The output blocks overlapping a hot range and not cached yet, in key order, while
 *   their stored bytes stay within the hot bytes found plus one block per hot range (a hot block's keys
 *   usually straddle two output blocks: boundaries do not line up), minus the output bytes already cached,
 *   and within half the cache: warming brings in about what was hot, never the whole output, and never
 *   displaces the whole cache.
 * - **How.** At a view switch (`warmReplacement`): contiguous blocks of one output SST are read with ONE
 *   ranged GET (`SsTableReader.readBlocks`, which caches what it reads), up to `RUN_BLOCKS` blocks per GET,
 *   `CONCURRENCY` GETs at a time. The switch waits for this at most `WarmingConfig.timeoutMs`; a warming
 *   still running then goes on in the background (in `WarmingConfig.scope`) while the view switches: the
 *   first reads may miss, later ones hit. Failures are logged and counted, never fail the switch.
 * - **No in-memory path.** Compaction output is streamed to the store as it is built (compactor/
 *   OutputWriter.ts), in a worker thread or not, so no SST's bytes are left to decode from: the embedded
 *   compactor's output is warmed at the switch like any other, reading the store.
 *
 * Works for any compactor (embedded, `shale compactor`, SlateDB's): only the manifests and the cache matter.
 */
import { Effect, Fiber, Option } from "effect"
import type { WarmStats } from "../Metrics.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import type { LruBlockCache } from "./BlockCache.ts"
import { SsTableReader } from "./SsTableReader.ts"
import type { SstLocations, TableStore } from "./TableStore.ts"

/** Blocks per ranged GET at most. */
const RUN_BLOCKS = 64
/** Ranged GETs in flight at once. */
const CONCURRENCY = 16

/** Keys from `start` (inclusive) to `end` (exclusive, or inclusive with `endInclusive`); `end` undefined: to the end. */
interface HotRange {
  readonly start: Uint8Array
  readonly end: Uint8Array | undefined
  readonly endInclusive: boolean
}

interface Hot {
  readonly ranges: Array<HotRange>
  bytes: number
}

const EMPTY_KEY = new Uint8Array(0)

/** Adds the cached blocks of `reader` within blocks `from..to` (inclusive) to `hot`. */
const addHot = (lru: LruBlockCache, reader: SsTableReader, hot: Hot, from = 0, to = reader.numBlocks - 1): void => {
  const table = lru.existingTable(reader.path)
  if (table === undefined || reader.isWal) return
  const meta = reader.blockMeta
  const n = meta.length
  let i = Math.max(0, from)
  const last = Math.min(n - 1, to)
  while (i <= last) {
    if (!table.wasRead(i)) {
      i++
      continue
    }
    const first = i
    while (i <= last && table.wasRead(i)) hot.bytes += table.weight(i++)
    hot.ranges.push({
      start: first === 0 ? reader.info.firstEntry ?? EMPTY_KEY : meta[first]!.firstKey,
      end: i < n ? meta[i]!.firstKey : reader.info.lastEntry,
      endInclusive: i >= n
    })
  }
}

/** Stored bytes of block `i` (with its checksum). */
const storedSize = (reader: SsTableReader, i: number): number =>
  (i + 1 < reader.numBlocks ? reader.blockMeta[i + 1]!.offset : reader.dataBytes) - reader.blockMeta[i]!.offset

/** Blocks of `reader` that hold keys of `range`, as `[first, last]` (undefined: none). */
const overlap = (reader: SsTableReader, range: HotRange): readonly [number, number] | undefined => {
  const { firstEntry, lastEntry } = reader.info
  if (reader.numBlocks === 0) return undefined
  if (range.end !== undefined && firstEntry !== undefined) {
    const c = compareKeys(range.end, firstEntry)
    if (c < 0 || (c === 0 && !range.endInclusive)) return undefined
  }
  if (lastEntry !== undefined && compareKeys(range.start, lastEntry) > 0) return undefined
  const first = reader.scanBlock(range.start, true)
  const last = range.end === undefined ? reader.numBlocks - 1 : reader.scanBlock(range.end, !range.endInclusive)
  return [first, Math.max(first, last)]
}

/** A plan: runs of uncached blocks `[start, end)` per output SST. */
interface Run {
  readonly reader: SsTableReader
  readonly start: number
  readonly end: number
  readonly bytes: number
}

/**
 * The runs of `outputs`' blocks to load for `hot` (see the module comment for the budget). Blocks already
 * cached count against the budget and are not loaded again.
 */
const plan = (lru: LruBlockCache, outputs: ReadonlyArray<SsTableReader>, hot: Hot): Array<Run> => {
  if (hot.ranges.length === 0) return []
  hot.ranges.sort((a, b) => compareKeys(a.start, b.start))
  const marks = outputs.map((reader) => {
    const marked = new Uint8Array(reader.numBlocks)
    for (const range of hot.ranges) {
      const o = overlap(reader, range)
      if (o !== undefined) marked.fill(1, o[0], o[1] + 1)
    }
    return marked
  })
  // A hot block's keys usually straddle two output blocks (block boundaries do not line up): one more
  // block (of the outputs' average size) per hot range.
  let dataBytes = 0
  let blocks = 0
  for (const reader of outputs) {
    dataBytes += reader.dataBytes
    blocks += reader.numBlocks
  }
  const straddle = blocks === 0 ? 0 : hot.ranges.length * (dataBytes / blocks)
  let budget = Math.min(hot.bytes + straddle, lru.maxBytes / 2)
  outputs.forEach((reader, k) => {
    const table = lru.existingTable(reader.path)
    const marked = marks[k]!
    for (let i = 0; i < marked.length; i++) {
      if (marked[i] === 1 && table?.has(i) === true) {
        budget -= table.weight(i)
        marked[i] = 0
      }
    }
  })
  const runs: Array<Run> = []
  outputs.forEach((reader, k) => {
    const marked = marks[k]!
    let i = 0
    while (i < marked.length && budget > 0) {
      if (marked[i] === 0) {
        i++
        continue
      }
      const start = i
      let bytes = 0
      while (i < marked.length && marked[i] === 1 && i - start < RUN_BLOCKS && budget > 0) {
        const size = storedSize(reader, i++)
        bytes += size
        budget -= size
      }
      runs.push({ reader, start, end: i, bytes })
    }
  })
  return runs
}

/** Loads `runs` with ranged GETs (each caches what it reads), counting them. */
const load = (runs: ReadonlyArray<Run>, stats: WarmStats): Effect.Effect<void, unknown> =>
  Effect.forEach(runs, (run) =>
    Effect.tap(run.reader.readBlocks(run.start, run.end, "unread"), () =>
      Effect.sync(() => {
        stats.blocksFromStore += run.end - run.start
        stats.bytesFromStore += run.bytes
      })), { concurrency: CONCURRENCY, discard: true })

/**
 * Warms the cache for a view switch from `removed` to `added` SSTs (see the module comment), waiting at
 * most `tables.warming.timeoutMs`. The removed SSTs' handles are released at the next switch (reads of the
 * current view may still need them). Does nothing with
 * warming off, without a block cache, or when no removed SST has a cached block. Never fails.
 */
export const warmReplacement = (
  tables: TableStore,
  removed: ReadonlyArray<string>,
  added: ReadonlyArray<{ readonly id: string }>,
  locations: SstLocations
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const config = tables.warming
    const lru = tables.blockCache
    if (config === undefined || lru === undefined || removed.length === 0) return Effect.void
    // The hot ranges now, as the cache is at the switch.
    const hot: Hot = { ranges: [], bytes: 0 }
    for (const id of removed) {
      const reader = tables.handle(id)
      if (reader !== undefined) addHot(lru, reader, hot)
    }
    tables.releaseLater(removed)
    if (hot.ranges.length === 0 || added.length === 0) return Effect.void
    const stats = tables.warmStats
    stats.switches++
    const work = Effect.forEach(added, (sst) => tables.reader(locations, sst), { concurrency: CONCURRENCY }).pipe(
      Effect.flatMap((outputs) => load(plan(lru, outputs, hot), stats)),
      Effect.catchCause((cause) =>
        Effect.andThen(
          Effect.sync(() => void stats.failures++),
          Effect.logWarning("warming the block cache after a compaction failed; reads will fetch the blocks", cause)
        )
      )
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkIn(work, config.scope)
      const done = yield* Effect.timeoutOption(Fiber.await(fiber), config.timeoutMs)
      if (Option.isNone(done)) stats.timeouts++
    })
  })
