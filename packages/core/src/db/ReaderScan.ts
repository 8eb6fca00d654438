/**
 * Range scans of the read path (Reader.ts): the sources of a scan (the memtables walked in place, one
 * `SstSource` per L0 SST and per sorted run, iter/SstSource.ts) merged in key order (iter/MergeIterator.ts)
 * and resolved per key (DbIterator.ts: newest visible version, tombstones dropped, merge operands
 * folded), as a stream of `KeyValue`s pulled in chunks that start small.
 */
import { Cause, Channel, Effect, type Pull, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { DataError, type DbError, InvalidError } from "../errors.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import { CursorSource, MergeIterator, type Source } from "../iter/MergeIterator.ts"
import { SstSource } from "../iter/SstSource.ts"
import { type Bounds, clip, overlaps, RunScan } from "../manifest/SstRanges.ts"
import type { ScanOptions as SstScanOptions } from "../sst/SsTableScan.ts"
import type { KeyRange, KeyValue, ScanOptions } from "./DbApi.ts"
import { DbIterator } from "./DbIterator.ts"
import type { DbState } from "./DbState.ts"
import { Manifest } from "../manifest/Manifest.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { tracing } from "../Tracing.ts"

/** What a scan reads (the reader's `ReaderDeps`). */
export interface ScanDeps {
  readonly state: DbState
  readonly manifest: { readonly manifestForReads: Manifest }
  readonly tables: TableStore
  readonly mergeOperator?: MergeOperator | undefined
}

/**
 * Output rows per pull of a scan stream: the first pull emits up to `FIRST_SCAN_CHUNK`, each next one twice
 * as many, up to `SCAN_CHUNK`, so a scan whose consumer stops early (`Stream.take`, a `limit`, a loop that
 * breaks) merges and reads little more than it uses: with 256 from the start, a 100-row scan merged 256
 * rows and read their blocks from every source.
 */
const SCAN_CHUNK = 256
const FIRST_SCAN_CHUNK = 16

/** Requests each SST of a scan keeps in flight by default (`ScanOptions.maxFetchTasks`). */
export const DEFAULT_SCAN_FETCH_TASKS = 4

/**
 * A scan reads each key's newest version; under a value or a tombstone older versions change nothing (a
 * merge operator's fold stops there too), so the merge drops them unbuilt (`MergeOptions.shadows`).
 */
const newestDecides = (row: RowEntry): boolean => row.kind !== RowKind.Merge

type SstFetchOptions = Pick<SstScanOptions, "readAheadBytes" | "maxFetchTasks" | "cacheBlocks">

/**
 * The SST scans' options. A scan is a read whether or not it caches what it fetches: the cached blocks it
 * uses count as hits and stay recent (sst/SsTableBlocks.ts `CacheBlocks`), only a compaction's reads do not.
 */
const fetchOptionsOf = (options: ScanOptions | undefined): SstFetchOptions => ({
  maxFetchTasks: options?.maxFetchTasks ?? DEFAULT_SCAN_FETCH_TASKS,
  ...(options?.readAheadBytes === undefined ? {} : { readAheadBytes: options.readAheadBytes }),
  cacheBlocks: options?.cacheBlocks === true ? true : "uncached"
})

/**
 * The sources whose blocks a scan caches when it does not say (`ScanOptions.cacheBlocks` absent): the
 * manifest's smallest, L0 SSTs and sorted runs alike, smallest first while together they stay within
 * `budget` bytes (a quarter of the block cache). A scan from any key must read a block of every source
 * whose range holds the key: for the one large run that is the block it wants, for each small one (recent
 * data, a few MB) one more request and decode per scan, which caching those few blocks saves (W2's layout
 * after the load: 2.94 → 2.12 store reads per 100-row scan, 1.79 fully compacted; docs/design/db.md).
 * The large sources stay out of the cache, as SlateDB's scans leave it: a long scan cannot flush the
 * blocks point reads keep there, and these few are bounded. Computed once per manifest version.
 */
const smallSources = (manifest: Manifest, budget: number): ReadonlySet<string | number> => {
  let small = smallSourcesOf.get(manifest)
  if (small !== undefined) return small
  const sized: Array<readonly [id: string | number, bytes: number]> = []
  for (const sst of manifest.l0) sized.push([sst.id, Manifest.sstBytes(sst)])
  for (const run of manifest.compacted) sized.push([run.id, Manifest.runBytes(run)])
  sized.sort((x, y) => x[1] - y[1])
  const ids = new Set<string | number>()
  let total = 0
  for (const [id, bytes] of sized) {
    if (total + bytes > budget) break
    total += bytes
    ids.add(id)
  }
  smallSourcesOf.set(manifest, ids)
  return ids
}

const smallSourcesOf = new WeakMap<Manifest, ReadonlySet<string | number>>()

/** Share of the block cache the small sources' blocks may take (`smallSources`). */
const SMALL_SOURCES_SHARE = 1 / 4

const NO_SOURCES: ReadonlySet<string | number> = new Set()

/**
 * `merge.fill`, with a row that does not decode as its `DataError`: pages are decoded a row at a time as
 * the merge reaches them (sst/PageRows.ts), so a corrupt row in a page already fetched is thrown from
 * inside the merge rather than failing the page's fetch.
 */
export const fillChunk = (merge: DbIterator, out: Array<KeyValue>, limit: number): ReturnType<DbIterator["fill"]> | DataError => {
  try {
    return merge.fill(out, limit)
  } catch (e) {
    if (e instanceof DataError) return e
    throw e
  }
}

/**
 * A scan's sources, newest first (the memtable, the immutable memtables, the L0 SSTs that may hold the
 * range, one per sorted run), and each one's bytes: the merge's guess of its share of the rows
 * (`MergeOptions.weights`).
 */
const openSources = (
  deps: ScanDeps,
  bounds: Bounds,
  descending: boolean,
  maxSeq: number,
  scope: Scope.Scope,
  fetch: SstFetchOptions,
  cachesSmall: boolean
): readonly [sources: Array<Source>, weights: Array<number>] => {
  const { state, tables, mergeOperator } = deps
  const range: KeyRange = {
    ...(bounds.start === undefined ? {} : { start: bounds.start, startInclusive: bounds.startInclusive }),
    ...(bounds.end === undefined ? {} : { end: bounds.end, endInclusive: bounds.endInclusive })
  }
  // A fold needs a key's older versions too: with an operator the memtables yield every version.
  const cursorOptions = {
    order: descending ? "desc" : "asc",
    maxSeq,
    versions: mergeOperator === undefined ? "latest" : "all"
  } as const
  const sources: Array<Source> = [new CursorSource(state.memtable.cursor(range, cursorOptions))]
  const weights: Array<number> = [state.memtable.estimatedBytes]
  for (const imm of state.imms) {
    sources.push(new CursorSource(imm.table.cursor(range, cursorOptions)))
    weights.push(imm.table.estimatedBytes)
  }
  const manifest = deps.manifest.manifestForReads
  const cache = tables.blockCache
  const small = cachesSmall && cache !== undefined
    ? smallSources(manifest, cache.maxBytes * SMALL_SOURCES_SHARE)
    : NO_SOURCES
  const cached = small.size === 0 ? fetch : { ...fetch, cacheBlocks: true }
  for (const sst of manifest.l0) {
    if (!overlaps(sst, bounds)) continue
    const options = clip(bounds, sst.visibleRange, descending, small.has(sst.id) ? cached : fetch)
    if (options === undefined) continue
    sources.push(new SstSource(tables, manifest, [[sst, options]], scope, maxSeq))
    weights.push(Manifest.sstBytes(sst))
  }
  for (const run of manifest.compacted) {
    // One source per run: its SSTs in key order (reversed for descending scans), found and opened one by one.
    sources.push(new SstSource(tables, manifest, new RunScan(run, bounds, descending, small.has(run.id) ? cached : fetch), scope, maxSeq))
    weights.push(Manifest.runBytes(run))
  }
  return [sources, weights]
}

/**
 * Scans over the reader's state: `(bounds, options, maxSeqOf)` streams the rows within `bounds` as of the
 * sequence cap `maxSeqOf()` (taken when the stream starts).
 */
export const makeScanStream = (deps: ScanDeps) => {
  const { state, mergeOperator } = deps

  const scanBounds = (bounds: Bounds, options: ScanOptions | undefined, maxSeqOf: () => number): Stream.Stream<KeyValue, DbError> =>
    Stream.fromChannel(Channel.fromTransform((_upstream, scope) =>
      Effect.suspend(() => {
        if (state.closeError !== undefined) return Effect.fail(state.closeError)
        const descending = options?.order === "desc"
        const cachesSmall = options?.cacheBlocks === undefined
        const [sources, weights] = openSources(deps, bounds, descending, maxSeqOf(), scope, fetchOptionsOf(options), cachesSmall)
        const merge = new DbIterator(new MergeIterator(sources, { descending, shadows: newestDecides, weights }), mergeOperator)
        let finished = false
        let chunk = FIRST_SCAN_CHUNK
        const pull: Pull.Pull<NonEmptyReadonlyArray<KeyValue>, DbError, void> = Effect.suspend(() => {
          if (finished) return Cause.done()
          const out: Array<KeyValue> = []
          const limit = chunk
          chunk = Math.min(SCAN_CHUNK, 2 * chunk)
          const loop = (): Effect.Effect<NonEmptyReadonlyArray<KeyValue>, DbError | Cause.Done<void>> => {
            if (state.closeError !== undefined) return Effect.fail(state.closeError)
            const status = fillChunk(merge, out, limit)
            if (status instanceof InvalidError || status instanceof DataError) return Effect.fail(status)
            if (status === "pull") return Effect.flatMap(merge.pull, loop)
            if (status === "done") finished = true
            if (out.length > 0) return Effect.succeed(out as unknown as NonEmptyReadonlyArray<KeyValue>)
            return Cause.done()
          }
          return loop()
        })
        return Effect.succeed(pull)
      })
    ))

  return scanBounds
}

/** A scan in a span `Db.scan` (when `tracing()`), which ends with the number of rows it returned. */
export const tracedScan = (
  stream: Stream.Stream<KeyValue, DbError>,
  options: ScanOptions | undefined,
  prefixSize?: number
): Stream.Stream<KeyValue, DbError> => {
  if (!tracing()) return stream
  let rows = 0
  return stream.pipe(
    Stream.mapArray((chunk) => {
      rows += chunk.length
      return chunk
    }),
    Stream.onEnd(Effect.suspend(() => Effect.annotateCurrentSpan("db.rows", rows))),
    Stream.withSpan("Db.scan", {
      attributes: {
        "db.order": options?.order ?? "asc",
        ...(prefixSize === undefined ? {} : { "db.prefix_size": prefixSize })
      }
    })
  )
}
