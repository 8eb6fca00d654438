/**
 * The read path (SlateDB's `reader.rs` / `db_iter.rs`, docs/format.md §3.5): point reads and range scans.
 *
 * Sources, newest first: the active memtable, the immutable memtables (newest first), the L0 SSTs in
 * manifest order (newest first), then the sorted runs in manifest order (highest id first). Every source
 * is read with its own sequence cap, `maxSeq = min(last committed seq (or last assigned seq when
 * `dirty`), durable seq when durability is "remote")`, applied per source BEFORE merging, so an older
 * visible version is found when a newer one is hidden.
 *
 * Point reads (`get`): the first source holding a version of the key with seq ≤ maxSeq decides; a
 * tombstone means "absent". Memtables answer synchronously; an SST is skipped when its visible range
 * excludes the key or its bloom filter says no (checked synchronously once its handle is open; all the
 * filters a read asks share one hash of the key, and the last place the key can be asks its filter only
 * before reading a block from the store); in a sorted run only the SSTs whose [first, last] key range
 * holds the key are read, in run order (a key's versions may straddle two adjacent SSTs). A get whose
 * blocks are cached, or that the store can read on the calling thread (a local directory's open SST files:
 * `ObjectStore.getRangeNow`), needs no Effect: `getNow` answers it synchronously (`SsTableReader.getNow`),
 * and only the rest of a read that must wait for the store becomes an Effect (a `Later`). `get` is an
 * Effect that runs `getNow` when evaluated (`GetEffect`); the Promise API calls `getNow` directly, so both
 * go through the same code (ReaderGet.ts).
 *
 * Scans (ReaderScan.ts): a lazy k-way merge over one cursor per source (memtables are walked in place;
 * SSTs are read a page of blocks at a time when the merge needs their next row, synchronously when the
 * page's blocks are cached or the store can read them at once: iter/SstSource.ts), in key order, ascending or descending.
 * For each key the merge takes the version with the highest seq among all sources, drops the key when
 * that version is a tombstone, and emits it otherwise. The sources are fixed when the stream starts; rows
 * committed later are not seen. Ranges follow SlateDB: start inclusive / end exclusive by default, any
 * bound may be absent; an inverted or empty range is an `InvalidError`. `scanPrefix(p)` scans
 * `[p, p+1)` where `p+1` increments the last byte that is not 0xff (dropping the 0xff bytes after it);
 * an all-0xff prefix has no upper bound and the empty prefix scans everything.
 *
 * TTL: as SlateDB 0.12.1, reads do not filter expired rows (`expireTs` is returned); expiry only takes
 * effect when a flush rewrites the row (MemtableFlusher.ts).
 *
 * Merge operands: when a key's newest visible version is an operand, the reader's merge operator folds
 * it with the older versions down to the newest value or tombstone (DbIterator.ts; a point read that meets
 * an operand reads the key as a scan of `[key, key]` does: docs/design/merge.md). Without an operator such
 * a read fails with `InvalidError` ("merge operator missing"), as SlateDB does when none is configured.
 *
 * Returned keys and values are copies: callers may keep or change them.
 */
import { Effectable, Effect, Option, Stream } from "effect"
import { type DbError, InvalidError } from "../errors.ts"
import type { Bounds } from "../manifest/SstRanges.ts"
import type { KeyRange, KeyValue, ReadOptions, ScanOptions } from "./DbApi.ts"
import { readSlab } from "../format/ByteSlab.ts"
import { mergeOperatorMissing } from "./DbIterator.ts"
import { rangeProblem, scanOptionsProblem } from "./Validation.ts"
import { tracing } from "../Tracing.ts"
import { makeScanStream, tracedScan } from "./ReaderScan.ts"
import { Later, type PointReadDeps, PointReads } from "./ReaderGet.ts"

export { Later, type ManifestSource } from "./ReaderGet.ts"

/** What the reader reads: the point reads' dependencies (ReaderGet.ts), which cover the scans' too. */
export type ReaderDeps = PointReadDeps

export interface Reader {
  readonly get: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<Uint8Array | undefined, DbError>
  readonly getKeyValue: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  readonly scan: (range: KeyRange, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly scanPrefix: (prefix: Uint8Array, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  /** `getKeyValue` as of `seq` (a snapshot's or a transaction's): versions above it are not seen. */
  readonly getKeyValueAt: (key: Uint8Array, seq: number, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  /** `scan` as of `seq`. */
  readonly scanAt: (range: KeyRange, seq: number, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  /** What `get` does, synchronously: its answer when everything it needs is in memory, else a `Later`. */
  readonly getNow: (key: Uint8Array, options?: ReadOptions) => Uint8Array | undefined | Later<Uint8Array | undefined>
  /** What `getKeyValue` does, synchronously (see `getNow`). */
  readonly getKeyValueNow: (key: Uint8Array, options?: ReadOptions) => KeyValue | undefined | Later<KeyValue | undefined>
}

/**
 * The key of the engine's synchronous read hooks on the `Db` service: the Promise API's fast path (Shale.ts).
 * A `Db` service built by `Db.layer` carries them; one built otherwise may not.
 */
export const ReadNow: unique symbol = Symbol.for("shale/Db/ReadNow")

/** `Reader.getNow` and `Reader.getKeyValueNow`, as the `Db` service carries them. */
export interface ReadNowHooks {
  readonly get: Reader["getNow"]
  readonly getKeyValue: Reader["getKeyValueNow"]
}


// ------------------------------------------------------------------------------------------ ranges

const toBounds = (range: KeyRange): Bounds => ({
  start: range.start,
  startInclusive: range.startInclusive ?? true,
  end: range.end,
  endInclusive: range.endInclusive ?? false
})

/** `[p, p+1)` with carry; the all-0xff prefix has no upper bound, the empty prefix is everything. */
export const prefixRange = (prefix: Uint8Array): KeyRange => {
  if (prefix.length === 0) return {}
  let i = prefix.length - 1
  while (i >= 0 && prefix[i] === 0xff) i--
  if (i < 0) return { start: prefix, startInclusive: true }
  const end = prefix.slice(0, i + 1)
  end[i]! += 1
  return { start: prefix, startInclusive: true, end, endInclusive: false }
}

// ------------------------------------------------------------------------------------------ the reader

/**
 * `get` as an Effect of its own (`Effectable.Class`): evaluating it runs the synchronous read and answers
 * with its result, or continues with the rest of the read. Same laziness as `Effect.suspend` (nothing is
 * read until the effect runs, and every run reads anew) without a closure per call: a point read is often
 * the whole of an Effect user's step, and this is its per-call overhead.
 */
class GetEffect extends Effectable.Class<Uint8Array | undefined, DbError> {
  readonly points: PointReads
  readonly key: Uint8Array
  readonly options: ReadOptions | undefined
  constructor(points: PointReads, key: Uint8Array, options: ReadOptions | undefined) {
    super()
    this.points = points
    this.key = key
    this.options = options
  }
  asEffect(): Effect.Effect<Uint8Array | undefined, DbError> {
    if (tracing()) return tracedGet(this.points, this.key, this.options)
    const r = this.points.getNow(this.key, this.options)
    return r instanceof Later ? r.effect : Effect.succeed(r)
  }
}

/** `get` in a span `Db.get` (only when `tracing()`), with the key's and the value's sizes. */
const tracedGet = (
  points: PointReads,
  key: Uint8Array,
  options: ReadOptions | undefined
): Effect.Effect<Uint8Array | undefined, DbError> =>
  Effect.withSpan(
    Effect.suspend(() => {
      const r = points.getNow(key, options)
      return r instanceof Later ? r.effect : Effect.succeed(r)
    }).pipe(Effect.tap((v) => Effect.annotateCurrentSpan({ "db.found": v !== undefined, "db.value_size": v?.length ?? 0 }))),
    "Db.get",
    { attributes: { "db.key_size": key.length } }
  )

/** The effect of a synchronous read's answer: the answer, or the rest of the read. */
const asEffect = <A>(r: A | Later<A>): Effect.Effect<A, DbError> => r instanceof Later ? r.effect : Effect.succeed(r)

/** Fails a scan whose options or range are invalid before it starts. */
const invalid = (problem: string): Stream.Stream<never, DbError> => Stream.fail(new InvalidError({ message: problem }))

export const makeReader = (deps: ReaderDeps): Reader => {
  // `points.merged` is a scan (below); it is called only once a read runs.
  const points: PointReads = new PointReads(deps, readSlab(), (key, options, cap) =>
    deps.mergeOperator === undefined
      ? Effect.fail(mergeOperatorMissing())
      : Stream.runHead(scanBounds({ start: key, startInclusive: true, end: key, endInclusive: true }, options, cap)).pipe(
        Effect.map(Option.getOrUndefined)
      ))
  const stats = points.stats
  const scanStream = makeScanStream(deps)
  const scanBounds = (bounds: Bounds, options: ScanOptions | undefined, cap?: number): Stream.Stream<KeyValue, DbError> =>
    scanStream(bounds, options, () => points.maxSeqFor(options, cap))

  const scan = (range: KeyRange, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      const problem = rangeProblem(range) ?? scanOptionsProblem(options)
      if (problem !== undefined) return invalid(problem)
      stats.scanRequests++
      return tracedScan(scanBounds(toBounds(range), options), options)
    })

  const scanAt = (range: KeyRange, seq: number, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      const problem = rangeProblem(range) ?? scanOptionsProblem(options)
      return problem !== undefined ? invalid(problem) : scanBounds(toBounds(range), options, seq)
    })

  const scanPrefix = (prefix: Uint8Array, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      if (!(prefix instanceof Uint8Array)) return invalid("prefix must be a Uint8Array")
      const problem = scanOptionsProblem(options)
      if (problem !== undefined) return invalid(problem)
      stats.scanRequests++
      return tracedScan(scanBounds(toBounds(prefixRange(prefix)), options), options, prefix.length)
    })

  return {
    get: (key, options) => new GetEffect(points, key, options),
    getKeyValue: (key, options) => Effect.suspend(() => asEffect(points.getKeyValueNow(key, options))),
    getKeyValueAt: (key, seq, options) => Effect.suspend(() => asEffect(points.getKeyValueNow(key, options, seq))),
    scan,
    scanPrefix,
    scanAt,
    getNow: points.getNow,
    getKeyValueNow: points.getKeyValueNow
  }
}
