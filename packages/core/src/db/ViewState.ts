/**
 * The replayed state of a reader: one manifest version, and memtables holding the rows of the WAL SSTs
 * after it (docs/format.md §3.10). Shared by the fixed read-only view (ReadOnlyDb.ts) and the `DbReader`
 * that follows a writer (DbReader.ts); the rows are applied by WalReplay.ts, as the writer's recovery does.
 *
 * Guarantees:
 * - `replayWalRange` reads WALs `first..last` in id order up to the first that does not exist (a quiet
 *   end, as SlateDB's reader), then applies the rows above `skipAtOrBelow` and raises the visible seq
 *   (committed = durable = the highest seq applied). Reading is done before anything is applied, and the
 *   application is synchronous, so reads see every row of the WALs replayed or none of them; rows enter
 *   the memtable above the visible seq and become visible together.
 * - `adoptManifest` (synchronous) makes the state read a newer version of the same database: the
 *   memtables keep only their rows above the version's `last_l0_seq` (SlateDB's `filter_after_seq`; the
 *   rest is in its L0 SSTs or sorted runs), and the visible seq never moves backwards.
 * - `lastListedWalId` lists only the WAL ids after a given one (a listing from there, not from the start).
 */
import { type Clock, Deferred, Effect, Stream } from "effect"
import type { DbError } from "../errors.ts"
import { parseWalSstId, walDir, walSstPath } from "../format/Paths.ts"
import type { Manifest } from "../manifest/Manifest.ts"
import { SequenceTracker } from "../manifest/SequenceTracker.ts"
import { MemTable, type MemTableReader } from "../memtable/MemTable.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { DbState, EngineClock, type ImmutableMemtable, SeqWatermarks } from "./DbState.ts"
import { finishReplay, readWalsUntilMissing, replayWal, type ReplayTotals } from "./WalReplay.ts"
import type { MemtableLimit } from "./MemtableLimit.ts"

/** Where the read path (Reader.ts) finds the manifest of a view: replaced when the view follows a newer one. */
export interface ViewManifest {
  manifestForReads: Manifest
}

/** A state for reading `m`: empty memtables, the visible seq at its `last_l0_seq`. */
export const newViewState = (clock: Clock.Clock, m: Manifest): DbState =>
  new DbState(new SeqWatermarks(m.lastL0Seq), new EngineClock(clock, m.lastL0ClockTick), m.replayAfterWalId)

/** What to replay: WALs `first..last`, rows above `skipAtOrBelow`, freezing the memtable when full (`freezeAt`, MemtableLimit.ts). */
export interface WalRange {
  readonly first: number
  readonly last: number
  readonly skipAtOrBelow: number
  readonly freezeAt: MemtableLimit
}

/** What a replay did: the last WAL applied (`first − 1` when none) and the rows applied. */
export interface RangeReplayed {
  readonly lastWalId: number
  readonly rows: number
}

/** Replays `range` into `state` (see the module comment). */
export const replayWalRange = (
  store: ObjectStore["Service"],
  root: string,
  state: DbState,
  range: WalRange
): Effect.Effect<RangeReplayed, DbError> =>
  Effect.map(readWalsUntilMissing(store, root, range.first, range.last), (wals) => {
    const totals: ReplayTotals = { maxSeq: state.seqs.committed, maxTick: state.clock.lastTick, rows: 0 }
    const options = { lastL0Seq: range.skipAtOrBelow, freezeAt: range.freezeAt }
    for (const [id, rows] of wals) replayWal(state, id, rows, options, totals)
    finishReplay(state, totals)
    return { lastWalId: wals.length === 0 ? range.first - 1 : wals[wals.length - 1]![0], rows: totals.rows }
  })

/** The rows of `table` above `seq`, as a new frozen table (undefined: none). */
const rowsAbove = (table: MemTableReader, seq: number): MemTable | undefined => {
  if (table.lastSeq === undefined || table.lastSeq <= seq) return undefined
  const kept = new MemTable()
  for (const row of table.cursor()) if (row.seq > seq) kept.put(row)
  return kept
}

const frozen = (table: MemTable, recentFlushedWalId: number): ImmutableMemtable => ({
  table: table.freeze(),
  recentFlushedWalId,
  memoryBytes: table.memoryBytes,
  tracker: SequenceTracker.empty,
  flushed: Deferred.makeUnsafe<void, DbError>()
})

/**
 * Makes `state` (and `view`) read `m`, a newer version of the same database (see the module comment).
 * Synchronous. Every memtable becomes a frozen one; a table whose rows are all above `last_l0_seq` is kept
 * as it is, one whose rows are all at or below it is dropped, others are copied without those rows.
 */
export const adoptManifest = (state: DbState, view: ViewManifest, m: Manifest): void => {
  state.freezeMemtable()
  const lastL0Seq = m.lastL0Seq
  const imms: Array<ImmutableMemtable> = []
  for (const imm of state.imms) {
    const first = imm.table.firstSeq
    if (first !== undefined && first > lastL0Seq) {
      imms.push(imm)
      continue
    }
    const kept = rowsAbove(imm.table, lastL0Seq)
    if (kept !== undefined) imms.push(frozen(kept, imm.recentFlushedWalId))
  }
  state.imms = imms
  state.immBytes = imms.reduce((n, imm) => n + imm.memoryBytes, 0)
  const seqs = state.seqs
  const seq = Math.max(seqs.committed, lastL0Seq)
  seqs.lastSeq = seq
  seqs.committed = seq
  seqs.durable = seq
  if (m.lastL0ClockTick > state.clock.lastTick) {
    state.clock.lastTick = m.lastL0ClockTick
    state.clock.lastDurableTick = m.lastL0ClockTick
  }
  if (m.replayAfterWalId > state.recentFlushedWalId) state.recentFlushedWalId = m.replayAfterWalId
  view.manifestForReads = m
}

/** The highest WAL id listed after `after` (undefined: none), listing from there only. */
export const lastListedWalId = (
  store: ObjectStore["Service"],
  root: string,
  after: number
): Effect.Effect<number | undefined, DbError> =>
  Stream.runFold(
    store.list(walDir(root), after >= 1 ? { startAfter: walSstPath(root, after) } : undefined),
    (): number | undefined => undefined,
    (last, o) => {
      const id = parseWalSstId(o.path)
      return id !== undefined && id > after && (last === undefined || id > last) ? id : last
    }
  ).pipe(Effect.mapError(toDbError))

/** Ids of the SSTs `m` reads (L0 and sorted runs). */
export const sstIdsOf = (m: Manifest): Set<string> => {
  const ids = new Set<string>()
  for (const sst of m.l0) ids.add(sst.id)
  for (const run of m.compacted) for (const sst of run.ssts) ids.add(sst.id)
  return ids
}
