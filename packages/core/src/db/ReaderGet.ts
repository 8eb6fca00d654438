/**
 * Point reads of the read path (Reader.ts's module comment: sources, sequence caps, bloom filters,
 * merge operands): the synchronous `getNow` / `getKeyValueNow`, and the `Later` that carries the rest of a
 * read that must wait for the store.
 */
import { Effect } from "effect"
import { type DbError, InvalidError } from "../errors.ts"
import { FilterHash } from "../format/BloomFilter.ts"
import type { ByteSlab } from "../format/ByteSlab.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import { foldFrom, type MergeOperator } from "../iter/MergeOperator.ts"
import type { CompactedSst, Manifest } from "../manifest/Manifest.ts"
import { firstCandidate, inVisibleRange, nextCandidate, runCandidates } from "../manifest/SstRanges.ts"
import type { MemTableReader } from "../memtable/MemTable.ts"
import { DbStats } from "../Metrics.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import type { TableStore } from "../sst/TableStore.ts"
import type { KeyValue, ReadOptions } from "./DbApi.ts"
import { mergeOperatorMissing, toKeyValue } from "./DbIterator.ts"
import type { DbState } from "./DbState.ts"
import { keyProblem, readOptionsProblem } from "./Validation.ts"

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

/** Where the read path finds the manifest it reads: the writer's (`ManifestWriter`), or a read-only view's. */
export interface ManifestSource {
  readonly manifestForReads: Manifest
}

/** What point reads read; Reader.ts's `ReaderDeps` (the scans read a part of it). */
export interface PointReadDeps {
  readonly state: DbState
  readonly manifest: ManifestSource
  readonly tables: TableStore
  /** Folds a key's merge operands when its newest version is one; without it such a read fails. */
  readonly mergeOperator?: MergeOperator | undefined
  /** Where reads are counted (`slatedb.db.request_count`; Metrics.ts). */
  readonly stats?: DbStats
}

/** A key's read as a scan of `[key, key]` with the merge operator (Reader.ts): the slow path of operands. */
export type MergedRead = (
  key: Uint8Array,
  options: ReadOptions | undefined,
  cap: number | undefined
) => Effect.Effect<KeyValue | undefined, DbError>

/** The SSTs that may hold `key`, newest first: every L0, then the candidates of each sorted run. */
const sstCandidates = (manifest: Manifest, key: Uint8Array): Array<CompactedSst> => {
  const out: Array<CompactedSst> = []
  for (const sst of manifest.l0) if (inVisibleRange(key, sst.visibleRange)) out.push(sst)
  for (const run of manifest.compacted) {
    for (const sst of runCandidates(run, key)) if (inVisibleRange(key, sst.visibleRange)) out.push(sst)
  }
  return out
}

const valueOf = (kv: KeyValue | undefined): Uint8Array | undefined => kv?.value
const same = (kv: KeyValue | undefined): KeyValue | undefined => kv

/** The point reads of one reader. Reads are not re-entrant: they share one filter hash. */
export class PointReads {
  private readonly state: DbState
  private readonly manifest: ManifestSource
  private readonly tables: TableStore
  private readonly mergeOperator: MergeOperator | undefined
  /** Where reads are counted (the scans of the same reader count theirs here too). */
  readonly stats: DbStats
  private readonly values: ByteSlab
  private readonly merged: MergedRead
  /** The filter hash of the key `findNow` is looking up (reset per call). */
  private readonly keyHash = new FilterHash()
  private readonly copyValue = (row: RowEntry): Uint8Array => this.values.copy(row.value)
  private readonly copyKeyValue = (row: RowEntry): KeyValue => toKeyValue(row, this.values)

  constructor(deps: PointReadDeps, values: ByteSlab, merged: MergedRead) {
    this.state = deps.state
    this.manifest = deps.manifest
    this.tables = deps.tables
    this.mergeOperator = deps.mergeOperator
    this.stats = deps.stats ?? new DbStats()
    this.values = values
    this.merged = merged
  }

  /** The highest seq a read sees: committed (or assigned, `dirty`), durable (`remote`), and `cap` (a snapshot's). */
  maxSeqFor(options: ReadOptions | undefined, cap?: number): number {
    const seqs = this.state.seqs
    let max = options?.dirty === true ? seqs.lastSeq : seqs.committed
    if (options?.durability === "remote" && seqs.durable < max) max = seqs.durable
    if (cap !== undefined && cap < max) max = cap
    return max
  }

  /** What `get` does, synchronously: its answer when everything it needs is in memory, else a `Later`. */
  readonly getNow = (key: Uint8Array, options?: ReadOptions): Uint8Array | undefined | Later<Uint8Array | undefined> => {
    const found = this.findNow(key, options, undefined)
    if (found === undefined) return undefined
    if (found instanceof Later) {
      return new Later(Effect.flatMap(found.effect, (row) => this.answerLater(key, options, row, this.copyValue, valueOf)))
    }
    if (found.kind === RowKind.Value) return this.values.copy(found.value)
    if (found.kind === RowKind.Tombstone) return undefined
    const kv = this.mergedNow(key, options)
    return kv instanceof Later ? new Later(Effect.map(kv.effect, valueOf)) : kv.value
  }

  /** What `getKeyValue` does, synchronously (see `getNow`); `cap`: a snapshot's seq. */
  readonly getKeyValueNow = (
    key: Uint8Array,
    options?: ReadOptions,
    cap?: number
  ): KeyValue | undefined | Later<KeyValue | undefined> => {
    const found = this.findNow(key, options, cap)
    if (found === undefined) return undefined
    if (found instanceof Later) {
      return new Later(Effect.flatMap(found.effect, (row) => this.answerLater(key, options, row, this.copyKeyValue, same, cap)))
    }
    if (found.kind === RowKind.Value) return toKeyValue(found, this.values)
    // A snapshot's read (`cap`) folds the versions at or below its seq only.
    return found.kind === RowKind.Tombstone ? undefined : this.mergedNow(key, options, cap)
  }

  /**
   * The newest visible version of `key` (see Reader.ts's module comment), found synchronously up to the
   * first SST that is not open or whose blocks are not cached; from there on, a `Later`. (It runs once per
   * point read and is written flat: a function that does more per call is optimized sooner.)
   */
  private findNow(
    key: Uint8Array,
    options: ReadOptions | undefined,
    cap: number | undefined
  ): RowEntry | undefined | Later<RowEntry | undefined> {
    const problem = keyProblem(key) ?? (options === undefined ? undefined : readOptionsProblem(options))
    if (problem !== undefined) return new Later(Effect.fail(new InvalidError({ message: problem })))
    const state = this.state
    if (state.closeError !== undefined) return new Later(Effect.fail(state.closeError))
    this.stats.getRequests++
    const maxSeq = options === undefined && cap === undefined ? state.seqs.committed : this.maxSeqFor(options, cap)
    let row = state.memtable.get(key, maxSeq)
    if (row === undefined) {
      const imms = state.imms
      for (let i = 0; i < imms.length && row === undefined; i++) row = imms[i]!.table.get(key, maxSeq)
    }
    if (row !== undefined) return row
    const manifest = this.manifest.manifestForReads
    const tables = this.tables
    const l0 = manifest.l0
    const runs = manifest.compacted
    // The last place the key can be skips its bloom filter when its blocks are cached (`getIfCached`, `getNow`);
    // the others share one hash of the key.
    const lastL0 = runs.length === 0 ? l0.length - 1 : -1
    const hash = this.keyHash
    hash.reset()
    for (let i = 0; i < l0.length; i++) {
      const sst = l0[i]!
      if (sst.visibleRange !== undefined && !inVisibleRange(key, sst.visibleRange)) continue
      const reader = tables.cached(sst.id)
      const found = reader === undefined ? "miss" : reader.getNow(key, maxSeq, i === lastL0, hash)
      if (found === "miss") return this.laterFrom(manifest, sst, key, maxSeq)
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
        if (found === "miss") return this.laterFrom(manifest, sst, key, maxSeq)
        if (found !== undefined) return found
      }
    }
    return undefined
  }

  /** The Effect path from SST `sst` on, once the synchronous part stopped there. */
  private laterFrom(manifest: Manifest, sst: CompactedSst, key: Uint8Array, maxSeq: number): Later<RowEntry | undefined> {
    const candidates = sstCandidates(manifest, key)
    return new Later(this.getFromSsts(manifest, candidates, candidates.indexOf(sst), key, maxSeq))
  }

  /** The Effect path over the SSTs from candidate `i` on (opening handles, reading blocks). */
  private getFromSsts(
    manifest: Manifest,
    candidates: ReadonlyArray<CompactedSst>,
    i: number,
    key: Uint8Array,
    maxSeq: number
  ): Effect.Effect<RowEntry | undefined, DbError> {
    if (i >= candidates.length) return Effect.succeed(undefined)
    const sst = candidates[i]!
    const open = this.tables.cached(sst.id)
    const handle = open !== undefined ? Effect.succeed(open) : this.tables.reader(manifest, sst)
    return handle.pipe(
      Effect.flatMap((r) => r.get(key, maxSeq).pipe(Effect.mapError(toDbError))),
      Effect.flatMap((row) => (row !== undefined ? Effect.succeed(row) : this.getFromSsts(manifest, candidates, i + 1, key, maxSeq)))
    )
  }

  /** The answer of a read once its row is known: absent for a tombstone, the fold for a merge operand. */
  private answerLater<A>(
    key: Uint8Array,
    options: ReadOptions | undefined,
    row: RowEntry | undefined,
    f: (row: RowEntry) => A,
    g: (kv: KeyValue | undefined) => A | undefined,
    cap?: number
  ): Effect.Effect<A | undefined, DbError> {
    if (row === undefined || row.kind === RowKind.Tombstone) return Effect.succeed(undefined)
    if (row.kind === RowKind.Merge) return Effect.map(this.merged(key, options, cap), g)
    return Effect.succeed(f(row))
  }

  /**
   * A point read whose newest version is an operand, answered from memory when it can be: each source,
   * newest first, is asked for the key's newest version below the last seq found (so every version, once,
   * down to the first value or tombstone), and they are folded (iter/MergeOperator.ts, whatever their
   * expiry). An SST that is not open or whose blocks are not cached hands the read to `merged`.
   * `snapshotSeq`: a snapshot's seq (versions above it are not read).
   */
  private mergedNow(key: Uint8Array, options: ReadOptions | undefined, snapshotSeq?: number): KeyValue | Later<KeyValue | undefined> {
    const operator = this.mergeOperator
    if (operator === undefined) return new Later(Effect.fail(mergeOperatorMissing()))
    const versions: Array<RowEntry> = []
    let cap = this.maxSeqFor(options, snapshotSeq)
    const fold = (): KeyValue | Later<KeyValue | undefined> => {
      try {
        return toKeyValue(foldFrom(operator, versions, 0, false).row, this.values)
      } catch (e) {
        if (e instanceof InvalidError) return new Later(Effect.fail(e))
        throw e
      }
    }
    const memtables: Array<MemTableReader> = [this.state.memtable]
    for (const imm of this.state.imms) memtables.push(imm.table)
    for (const table of memtables) {
      for (let row = table.get(key, cap); row !== undefined; row = table.get(key, cap)) {
        versions.push(row)
        cap = row.seq - 1
        if (row.kind !== RowKind.Merge) return fold()
      }
    }
    const hash = this.keyHash
    hash.reset()
    for (const sst of sstCandidates(this.manifest.manifestForReads, key)) {
      const reader = this.tables.cached(sst.id)
      if (reader === undefined) return new Later(this.merged(key, options, snapshotSeq))
      for (;;) {
        const row = reader.getNow(key, cap, false, hash)
        if (row === "miss") return new Later(this.merged(key, options, snapshotSeq))
        if (row === undefined) break
        versions.push(row)
        cap = row.seq - 1
        if (row.kind !== RowKind.Merge) return fold()
      }
    }
    return fold()
  }
}
