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
 * go through the same code.
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
import { FilterHash } from "../format/BloomFilter.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import type { CompactedSst, Manifest } from "../manifest/Manifest.ts"
import { type Bounds, firstCandidate, inVisibleRange, nextCandidate, runCandidates } from "../manifest/SstRanges.ts"
import { foldFrom, type MergeOperator } from "../iter/MergeOperator.ts"
import type { MemTableReader } from "../memtable/MemTable.ts"
import type { KeyRange, KeyValue, ReadOptions, ScanOptions } from "./DbApi.ts"
import type { DbState } from "./DbState.ts"
import { readSlab } from "../format/ByteSlab.ts"
import { mergeOperatorMissing, toKeyValue } from "./DbIterator.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { keyProblem, rangeProblem, readOptionsProblem, scanOptionsProblem } from "./Validation.ts"
import { DbStats } from "../Metrics.ts"
import { tracing } from "../Tracing.ts"
import { makeScanStream, tracedScan } from "./ReaderScan.ts"

/** Where the read path finds the manifest it reads: the writer's (`ManifestWriter`), or a read-only view's. */
export interface ManifestSource {
  readonly manifestForReads: Manifest
}

export interface ReaderDeps {
  readonly state: DbState
  readonly manifest: ManifestSource
  readonly tables: TableStore
  /** Folds a key's merge operands when its newest version is one; without it such a read fails. */
  readonly mergeOperator?: MergeOperator | undefined
  /** Where reads are counted (`slatedb.db.request_count`; Metrics.ts). */
  readonly stats?: DbStats
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

// ------------------------------------------------------------------------------------------ the reader

export const makeReader = (deps: ReaderDeps): Reader => {
  const { state, tables, mergeOperator } = deps
  const stats = deps.stats ?? new DbStats()
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
    stats.getRequests++
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
    // The last place the key can be skips its bloom filter when its blocks are cached (`getIfCached`, `getNow`);
    // the others share one hash of the key.
    const lastL0 = runs.length === 0 ? l0.length - 1 : -1
    const hash = keyHash
    hash.reset()
    for (let i = 0; i < l0.length; i++) {
      const sst = l0[i]!
      if (sst.visibleRange !== undefined && !inVisibleRange(key, sst.visibleRange)) continue
      const reader = tables.cached(sst.id)
      const found = reader === undefined ? "miss" : reader.getNow(key, maxSeq, i === lastL0, hash)
      if (found === "miss") return laterFrom(manifest, sst, key, maxSeq)
      if (found !== undefined) return found
    }
    for (let r = 0; r < runs.length; r++) {
      const ssts = runs[r]!.ssts
      let c = firstCandidate(ssts, key)
      while (c >= 0) {
        const sst = ssts[c]!
        // The candidates are consecutive (`firstCandidate`); the next one, if any, decides the last place.
        c = nextCandidate(ssts, c, key)
        if (!inVisibleRange(key, sst.visibleRange)) continue
        const reader = tables.cached(sst.id)
        const found = reader === undefined
          ? "miss"
          : reader.getNow(key, maxSeq, c < 0 && r === runs.length - 1, hash)
        if (found === "miss") return laterFrom(manifest, sst, key, maxSeq)
        if (found !== undefined) return found
      }
    }
    return undefined
  }

  /**
   * A point read whose newest version is a merge operand: with an operator, the key's versions are read
   * and folded as a scan of `[key, key]` does (DbIterator.ts); without one it fails. `cap`: a snapshot's
   * seq (the read sees nothing above it).
   */
  const merged = (key: Uint8Array, options: ReadOptions | undefined, cap: number | undefined): Effect.Effect<KeyValue | undefined, DbError> =>
    mergeOperator === undefined
      ? Effect.fail(mergeOperatorMissing())
      : Stream.runHead(scanBounds({ start: key, startInclusive: true, end: key, endInclusive: true }, options, cap)).pipe(
        Effect.map(Option.getOrUndefined)
      )

  /**
   * A point read whose newest version is an operand, answered from memory when it can be: each source,
   * newest first, is asked for the key's newest version below the last seq found (so every version, once,
   * down to the first value or tombstone), and they are folded (iter/MergeOperator.ts, whatever their
   * expiry). An SST that is not open or whose blocks are not cached hands the read to `merged`. `snapshotSeq`:
   * a snapshot's seq (versions above it are not read).
   */
  const mergedNow = (key: Uint8Array, options: ReadOptions | undefined, snapshotSeq?: number): KeyValue | Later<KeyValue | undefined> => {
    const operator = mergeOperator
    if (operator === undefined) return new Later(Effect.fail(mergeOperatorMissing()))
    const versions: Array<RowEntry> = []
    let cap = maxSeqFor(options, snapshotSeq)
    const fold = (): KeyValue | Later<KeyValue | undefined> => {
      try {
        return toKeyValue(foldFrom(operator, versions, 0, false).row, values)
      } catch (e) {
        if (e instanceof InvalidError) return new Later(Effect.fail(e))
        throw e
      }
    }
    const memtables: Array<MemTableReader> = [state.memtable]
    for (const imm of state.imms) memtables.push(imm.table)
    for (const table of memtables) {
      for (let row = table.get(key, cap); row !== undefined; row = table.get(key, cap)) {
        versions.push(row)
        cap = row.seq - 1
        if (row.kind !== RowKind.Merge) return fold()
      }
    }
    const hash = keyHash
    hash.reset()
    for (const sst of sstCandidates(deps.manifest.manifestForReads, key)) {
      const reader = tables.cached(sst.id)
      if (reader === undefined) return new Later(merged(key, options, snapshotSeq))
      for (;;) {
        const row = reader.getNow(key, cap, false, hash)
        if (row === "miss") return new Later(merged(key, options, snapshotSeq))
        if (row === undefined) break
        versions.push(row)
        cap = row.seq - 1
        if (row.kind !== RowKind.Merge) return fold()
      }
    }
    return fold()
  }

  /** The answer of a read once its row is known: absent for a tombstone, the fold for a merge operand. */
  const answerLater = <A>(
    key: Uint8Array,
    options: ReadOptions | undefined,
    row: RowEntry | undefined,
    f: (row: RowEntry) => A,
    g: (kv: KeyValue | undefined) => A | undefined,
    cap?: number
  ): Effect.Effect<A | undefined, DbError> => {
    if (row === undefined || row.kind === RowKind.Tombstone) return Effect.succeed(undefined)
    if (row.kind === RowKind.Merge) return Effect.map(merged(key, options, cap), g)
    return Effect.succeed(f(row))
  }

  const copyValue = (row: RowEntry): Uint8Array => values.copy(row.value)
  const copyKeyValue = (row: RowEntry): KeyValue => toKeyValue(row, values)
  const valueOf = (kv: KeyValue | undefined): Uint8Array | undefined => kv?.value
  const same = (kv: KeyValue | undefined): KeyValue | undefined => kv

  const getNow = (key: Uint8Array, options?: ReadOptions): Uint8Array | undefined | Later<Uint8Array | undefined> => {
    const found = findNow(key, options, undefined)
    if (found === undefined) return undefined
    if (found instanceof Later) {
      return new Later(Effect.flatMap(found.effect, (row) => answerLater(key, options, row, copyValue, valueOf)))
    }
    if (found.kind === RowKind.Value) return values.copy(found.value)
    if (found.kind === RowKind.Tombstone) return undefined
    const kv = mergedNow(key, options)
    return kv instanceof Later ? new Later(Effect.map(kv.effect, valueOf)) : kv.value
  }

  const getKeyValueNow = (
    key: Uint8Array,
    options?: ReadOptions,
    cap?: number
  ): KeyValue | undefined | Later<KeyValue | undefined> => {
    const found = findNow(key, options, cap)
    if (found === undefined) return undefined
    if (found instanceof Later) {
      return new Later(Effect.flatMap(found.effect, (row) => answerLater(key, options, row, copyKeyValue, same, cap)))
    }
    if (found.kind === RowKind.Value) return toKeyValue(found, values)
    // A snapshot's read (`cap`) folds the versions at or below its seq only.
    return found.kind === RowKind.Tombstone ? undefined : mergedNow(key, options, cap)
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
      if (tracing()) return tracedGet(this.key, this.options)
      const r = getNow(this.key, this.options)
      return r instanceof Later ? r.effect : Effect.succeed(r)
    }
  }

  const get = (key: Uint8Array, options?: ReadOptions): Effect.Effect<Uint8Array | undefined, DbError> =>
    new GetEffect(key, options)

  /** `get` in a span `Db.get` (only when `tracing()`), with the key's and the value's sizes. */
  const tracedGet = (key: Uint8Array, options: ReadOptions | undefined): Effect.Effect<Uint8Array | undefined, DbError> =>
    Effect.withSpan(
      Effect.suspend(() => {
        const r = getNow(key, options)
        return r instanceof Later ? r.effect : Effect.succeed(r)
      }).pipe(Effect.tap((v) => Effect.annotateCurrentSpan({ "db.found": v !== undefined, "db.value_size": v?.length ?? 0 }))),
      "Db.get",
      { attributes: { "db.key_size": key.length } }
    )

  const getKeyValue = (key: Uint8Array, options?: ReadOptions): Effect.Effect<KeyValue | undefined, DbError> =>
    Effect.suspend(() => {
      const r = getKeyValueNow(key, options)
      return r instanceof Later ? r.effect : Effect.succeed(r)
    })

  // ---------------------------------------------------------------- scans

  const scanStream = makeScanStream(deps)
  const scanBounds = (bounds: Bounds, options: ScanOptions | undefined, cap?: number): Stream.Stream<KeyValue, DbError> =>
    scanStream(bounds, options, () => maxSeqFor(options, cap))

  const scanAt = (range: KeyRange, seq: number | undefined, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      const problem = rangeProblem(range) ?? scanOptionsProblem(options)
      if (problem !== undefined) return Stream.fail(new InvalidError({ message: problem }))
      return scanBounds(toBounds(range), options, seq)
    })

  const scan = (range: KeyRange, options?: ScanOptions): Stream.Stream<KeyValue, DbError> =>
    Stream.suspend(() => {
      const problem = rangeProblem(range) ?? scanOptionsProblem(options)
      if (problem !== undefined) return Stream.fail(new InvalidError({ message: problem }))
      stats.scanRequests++
      return tracedScan(scanBounds(toBounds(range), options), options)
    })

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
      stats.scanRequests++
      return tracedScan(scanBounds(toBounds(prefixRange(prefix)), options), options, prefix.length)
    })

  return { get, getKeyValue, scan, scanPrefix, getKeyValueAt, scanAt, getNow, getKeyValueNow }
}
