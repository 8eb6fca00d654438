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
 * blocks are cached performs no I/O: `getNow` answers it synchronously (`SsTableReader.getIfCached`), and
 * only the rest of a read that needs the store becomes an Effect (a `Later`). `get` is an Effect that runs
 * `getNow` when evaluated (`GetEffect`); the Promise API calls `getNow` directly, so both go through the
 * same code.
 *
 * Scans: a lazy k-way merge over one cursor per source (memtables are walked in place; SSTs are read a
 * page of blocks at a time when the merge needs their next row), in key order, ascending or descending.
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
 * Merge operands (written by SlateDB's merge operator) cannot be resolved without an operator: reading
 * one fails with `InvalidError` ("merge operator missing"), as SlateDB does when none is configured.
 *
 * Returned keys and values are copies: callers may keep or change them.
 */
import { Cause, Channel, Effectable, Effect, type Pull, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { type DbError, InvalidError } from "../errors.ts"
import { FilterHash } from "../format/BloomFilter.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import type { CompactedSst, Manifest } from "../manifest/Manifest.ts"
import { type Bounds, clip, inVisibleRange, overlaps, runCandidates, runScanParts } from "../manifest/SstRanges.ts"
import { CursorSource, MergeIterator, type Source, StreamSource } from "../iter/MergeIterator.ts"
import type { KeyRange, KeyValue, ReadOptions, ScanOptions } from "./DbApi.ts"
import type { DbState } from "./DbState.ts"
import { readSlab } from "./ByteSlab.ts"
import { DbIterator, mergeOperatorMissing, toKeyValue } from "./DbIterator.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { keyProblem, rangeProblem, readOptionsProblem, scanOptionsProblem } from "./Validation.ts"

/** Where the read path finds the manifest it reads: the writer's (`ManifestWriter`), or a read-only view's. */
export interface ManifestSource {
  readonly manifestForReads: Manifest
}

export interface ReaderDeps {
  readonly state: DbState
  readonly manifest: ManifestSource
  readonly tables: TableStore
}

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
 * The rest of a point read that cannot be answered synchronously: the Effect that completes it (reading an
 * SST's handle or blocks from the store) or fails it (invalid input, closed database, merge operand).
 * `get` runs exactly this Effect when its synchronous part returns a `Later`.
 */
export class Later<A> {
  readonly effect: Effect.Effect<A, DbError>
  constructor(effect: Effect.Effect<A, DbError>) {
    this.effect = effect
  }
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

// ------------------------------------------------------------------------------------------ merge sources

/** Output rows per pull of a scan stream. */
const SCAN_CHUNK = 256

// ------------------------------------------------------------------------------------------ the reader

export const makeReader = (deps: ReaderDeps): Reader => {
  const { state, tables } = deps
  const seqs = state.seqs
  const values = readSlab()

  /** The highest seq a read sees: committed (or assigned, `dirty`), durable (`remote`), and `cap` (a snapshot's). */
  const maxSeqFor = (options: ReadOptions | undefined, cap?: number): number => {
    let max = options?.dirty === true ? seqs.lastSeq : seqs.committed
    if (options?.durability === "remote" && seqs.durable < max) max = seqs.durable
    if (cap !== undefined && cap < max) max = cap
    return max
  }

  // ---------------------------------------------------------------- point reads

  /** The SSTs that may hold `key`, newest first: every L0, then the candidates of each sorted run. */
  const sstCandidates = (manifest: Manifest, key: Uint8Array): Array<CompactedSst> => {
    const out: Array<CompactedSst> = []
    for (const sst of manifest.l0) if (inVisibleRange(key, sst.visibleRange)) out.push(sst)
    for (const run of manifest.compacted) {
      for (const sst of runCandidates(run, key)) if (inVisibleRange(key, sst.visibleRange)) out.push(sst)
    }
    return out
  }

  /** The Effect path over the SSTs from candidate `i` on (opening handles, reading blocks). */
  const getFromSsts = (
    manifest: Manifest,
    candidates: ReadonlyArray<CompactedSst>,
    i: number,
    key: Uint8Array,
    maxSeq: number
  ): Effect.Effect<RowEntry | undefined, DbError> => {
    if (i >= candidates.length) return Effect.succeed(undefined)
    const sst = candidates[i]!
    const open = tables.cached(sst.id)
    const handle = open !== undefined ? Effect.succeed(open) : tables.reader(manifest, sst)
    return handle.pipe(
      Effect.flatMap((r) => r.get(key, maxSeq).pipe(Effect.mapError(toDbError))),
      Effect.flatMap((row) => (row !== undefined ? Effect.succeed(row) : getFromSsts(manifest, candidates, i + 1, key, maxSeq)))
    )
  }

  /** The Effect path from SST `sst` on, once the synchronous part stopped there. */
  const laterFrom = (manifest: Manifest, sst: CompactedSst, key: Uint8Array, maxSeq: number): Later<RowEntry | undefined> => {
    const candidates = sstCandidates(manifest, key)
    return new Later(getFromSsts(manifest, candidates, candidates.indexOf(sst), key, maxSeq))
  }

  /** The filter hash of the key `findNow` is looking up (reset per call; reads are not re-entrant). */
  const keyHash = new FilterHash()

  /**
   * The newest visible version of `key` (see the module comment), found synchronously up to the first SST
   * that is not open or whose blocks are not cached; from there on, a `Later`. (It runs once per point
   * read and is written flat: a function that does more per call is optimized sooner.)
   */
  const findNow = (
    key: Uint8Array,
    options: ReadOptions | undefined,
    cap: number | undefined
  ): RowEntry | undefined | Later<RowEntry | undefined> => {
    const problem = keyProblem(key) ?? (options === undefined ? undefined : readOptionsProblem(options))
    if (problem !== undefined) return new Later(Effect.fail(new InvalidError({ message: problem })))
    if (state.closeError !== undefined) return new Later(Effect.fail(state.closeError))
    const maxSeq = options === undefined && cap === undefined ? seqs.committed : maxSeqFor(options, cap)
    let row = state.memtable.get(key, maxSeq)
    if (row === undefined) {
      const imms = state.imms
      for (let i = 0; i < imms.length && row === undefined; i++) row = imms[i]!.table.get(key, maxSeq)
    }
    if (row !== undefined) return row
    const manifest = deps.manifest.manifestForReads
    const l0 = manifest.l0
    const runs = manifest.compacted
    // The last place the key can be skips its bloom filter when its blocks are cached (`getIfCached`);
    // the others share one hash of the key.
    const lastL0 = runs.length === 0 ? l0.length - 1 : -1
    const hash = keyHash
    hash.reset()
    for (let i = 0; i < l0.length; i++) {
      const sst = l0[i]!
      if (sst.visibleRange !== undefined && !inVisibleRange(key, sst.visibleRange)) continue
      const reader = tables.cached(sst.id)
      const found = reader === undefined ? "miss" : reader.getIfCached(key, maxSeq, i === lastL0, hash)
      if (found === "miss") return laterFrom(manifest, sst, key, maxSeq)
      if (found !== undefined) return found
    }
    for (let r = 0; r < runs.length; r++) {
      const candidates = runCandidates(runs[r]!, key)
      for (let c = 0; c < candidates.length; c++) {
        const sst = candidates[c]!
        if (!inVisibleRange(key, sst.visibleRange)) continue
        const reader = tables.cached(sst.id)
        const found = reader === undefined
          ? "miss"
          : reader.getIfCached(key, maxSeq, r === runs.length - 1 && c === candidates.length - 1, hash)
        if (found === "miss") return laterFrom(manifest, sst, key, maxSeq)
        if (found !== undefined) return found
      }
    }
    return undefined
  }

  /** The answer of a read once its row is known: absent for a tombstone, a failure for a merge operand. */
  const answerLater = <A>(row: RowEntry | undefined, f: (row: RowEntry) => A): Effect.Effect<A | undefined, DbError> => {
    if (row === undefined || row.kind === RowKind.Tombstone) return Effect.succeed(undefined)
    if (row.kind === RowKind.Merge) return Effect.fail(mergeOperatorMissing())
    return Effect.succeed(f(row))
  }

  const copyValue = (row: RowEntry): Uint8Array => values.copy(row.value)
  const copyKeyValue = (row: RowEntry): KeyValue => toKeyValue(row, values)

  const getNow = (key: Uint8Array, options?: ReadOptions): Uint8Array | undefined | Later<Uint8Array | undefined> => {
    const found = findNow(key, options, undefined)
    if (found === undefined) return undefined
    if (found instanceof Later) return new Later(Effect.flatMap(found.effect, (row) => answerLater(row, copyValue)))
    if (found.kind === RowKind.Value) return values.copy(found.value)
    return found.kind === RowKind.Tombstone ? undefined : new Later(Effect.fail(mergeOperatorMissing()))
  }

  const getKeyValueNow = (
    key: Uint8Array,
    options?: ReadOptions,
    cap?: number
  ): KeyValue | undefined | Later<KeyValue | undefined> => {
    const found = findNow(key, options, cap)
    if (found === undefined) return undefined
    if (found instanceof Later) return new Later(Effect.flatMap(found.effect, (row) => answerLater(row, copyKeyValue)))
    if (found.kind === RowKind.Value) return toKeyValue(found, values)
    return found.kind === RowKind.Tombstone ? undefined : new Later(Effect.fail(mergeOperatorMissing()))
  }

  /**
   * `get` as an Effect of its own (`Effectable.Class`): evaluating it runs the synchronous read and
   * answers with its result, or continues with the rest of the read. Same laziness as `Effect.suspend`
   * (nothing is read until the effect runs, and every run reads anew) without a closure per call: a point
   * read is often the whole of an Effect user's step, and this is its per-call overhead.
   */
  class GetEffect extends Effectable.Class<Uint8Array | undefined, DbError> {
    readonly key: Uint8Array
    readonly options: ReadOptions | undefined
    constructor(key: Uint8Array, options: ReadOptions | undefined) {
      super()
      this.key = key
      this.options = options
    }
    asEffect(): Effect.Effect<Uint8Array | undefined, DbError> {
      const r = getNow(this.key, this.options)
      return r instanceof Later ? r.effect : Effect.succeed(r)
    }
  }

  const get = (key: Uint8Array, options?: ReadOptions): Effect.Effect<Uint8Array | undefined, DbError> =>
    new GetEffect(key, options)

  const getKeyValue = (key: Uint8Array, options?: ReadOptions): Effect.Effect<KeyValue | undefined, DbError> =>
    Effect.suspend(() => {
      const r = getKeyValueNow(key, options)
      return r instanceof Later ? r.effect : Effect.succeed(r)
    })

  // ---------------------------------------------------------------- scans

  const openSources = (bounds: Bounds, descending: boolean, maxSeq: number, scope: Scope.Scope): Array<Source> => {
    const range: KeyRange = {
      ...(bounds.start === undefined ? {} : { start: bounds.start, startInclusive: bounds.startInclusive }),
      ...(bounds.end === undefined ? {} : { end: bounds.end, endInclusive: bounds.endInclusive })
    }
    const cursorOptions = { order: descending ? "desc" : "asc", maxSeq, versions: "latest" } as const
    const sources: Array<Source> = [new CursorSource(state.memtable.cursor(range, cursorOptions))]
    for (const imm of state.imms) sources.push(new CursorSource(imm.table.cursor(range, cursorOptions)))
    const manifest = deps.manifest.manifestForReads
    for (const sst of manifest.l0) {
      if (!overlaps(sst, bounds)) continue
      const options = clip(bounds, sst.visibleRange, descending)
      if (options === undefined) continue
      sources.push(new StreamSource(tables.scan(manifest, sst, options), scope, maxSeq))
    }
    for (const run of manifest.compacted) {
      // One source per run: its SSTs in key order (reversed for descending scans), opened one by one.
      const parts = runScanParts(run, bounds, descending)
      if (parts.length === 0) continue
      const stream = Stream.fromIterable(parts).pipe(Stream.flatMap(([sst, options]) => tables.scan(manifest, sst, options)))
      sources.push(new StreamSource(stream, scope, maxSeq))
    }
    return sources
  }

  const scanBounds = (bounds: Bounds, options: ScanOptions | undefined, cap?: number): Stream.Stream<KeyValue, DbError> =>
    Stream.fromChannel(Channel.fromTransform((_upstream, scope) =>
      Effect.suspend(() => {
        if (state.closeError !== undefined) return Effect.fail(state.closeError)
        const descending = options?.order === "desc"
        const merge = new DbIterator(new MergeIterator(openSources(bounds, descending, maxSeqFor(options, cap), scope), descending))
        let finished = false
        const pull: Pull.Pull<NonEmptyReadonlyArray<KeyValue>, DbError, void> = Effect.suspend(() => {
          if (finished) return Cause.done()
          const out: Array<KeyValue> = []
          const loop = (): Effect.Effect<NonEmptyReadonlyArray<KeyValue>, DbError | Cause.Done<void>> => {
            if (state.closeError !== undefined) return Effect.fail(state.closeError)
            const status = merge.fill(out, SCAN_CHUNK)
            if (status instanceof InvalidError) return Effect.fail(status)
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

  const scanAt = (range: KeyRange, seq: number | undefined, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      const problem = rangeProblem(range) ?? scanOptionsProblem(options)
      if (problem !== undefined) return Stream.fail(new InvalidError({ message: problem }))
      return scanBounds(toBounds(range), options, seq)
    })

  const scan = (range: KeyRange, options?: ScanOptions): Stream.Stream<KeyValue, DbError> => scanAt(range, undefined, options)

  const getKeyValueAt = (key: Uint8Array, seq: number, options?: ReadOptions): Effect.Effect<KeyValue | undefined, DbError> =>
    Effect.suspend(() => {
      const r = getKeyValueNow(key, options, seq)
      return r instanceof Later ? r.effect : Effect.succeed(r)
    })

  const scanPrefix = (prefix: Uint8Array, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      if (!(prefix instanceof Uint8Array)) return Stream.fail(new InvalidError({ message: "prefix must be a Uint8Array" }))
      const problem = scanOptionsProblem(options)
      if (problem !== undefined) return Stream.fail(new InvalidError({ message: problem }))
      return scanBounds(toBounds(prefixRange(prefix)), options)
    })

  return { get, getKeyValue, scan, scanPrefix, getKeyValueAt, scanAt, getNow, getKeyValueNow }
}
