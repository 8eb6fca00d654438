/**
 * WAL replay, shared by the writer's open (Recovery.ts) and the read-only view (ReadOnlyDb.ts): reading
 * the WAL SSTs after a manifest's `replay_after_wal_id` and applying their rows to a `DbState`'s memtables
 * (docs/format.md §3.1 step 9, §3.10).
 *
 * - Reading: WAL SSTs are fetched four ahead of the one applied (one GET each, SlateDB's prefetch). The
 *   writer insists on a gapless range (`walsToReplay`: a missing id is a `DataError`); a reader stops
 *   quietly at the first WAL that does not exist (`readWalsUntilMissing`), as SlateDB's `DbReader` does.
 * - Applying (`replayWal`, once per WAL in id order): rows with `seq ≤ last_l0_seq` are skipped (already
 *   in L0); the rest go into the active memtable; after each WAL the memtable is frozen (tagged with that
 *   WAL id) once it is full (`freezeAt`, MemtableLimit.ts), so tables are cut at WAL boundaries only.
 * - `finishReplay`: last seq = committed = durable = the highest seq seen (or `last_l0_seq`); the clock's
 *   last tick = the highest `create_ts` seen (or `last_l0_clock_tick`).
 */
import { Effect } from "effect"
import { DataError, type DbError, InvalidError } from "../errors.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { Manifest } from "../manifest/Manifest.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { readWalRows, readWalRowsIfPresent } from "../wal/WalSstReader.ts"
import type { DbState } from "./DbState.ts"
import { isFull, type MemtableLimit } from "./MemtableLimit.ts"

/** How many WAL SSTs replay fetches ahead of the one it applies (SlateDB: 4). */
export const REPLAY_PREFETCH = 4

/** `InvalidError` for a manifest that keeps WAL SSTs in a separate store (SlateDB's `WalStoreReconfigurationError`). */
export const separateWalStoreProblem = (m: Manifest): InvalidError | undefined =>
  m.walObjectStoreUri === undefined ? undefined : new InvalidError({
    message: "the manifest records a separate WAL object store, which Shale does not support (WalStoreReconfigurationError)"
  })

/** The WAL ids after `replayAfter` among `listed`, failing if one is missing in between. */
export const walsToReplay = (listed: ReadonlyArray<number>, replayAfter: number): Effect.Effect<Array<number>, DataError> => {
  const ids = listed.filter((id) => id > replayAfter)
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== replayAfter + 1 + i) {
      return Effect.fail(new DataError({
        message: `WAL ${replayAfter + 1 + i} is missing (replaying WALs ${replayAfter + 1}..${ids[ids.length - 1]})`,
        section: "wal"
      }))
    }
  }
  return Effect.succeed(ids)
}

/** Reads WALs `ids` (four ahead, one GET each) into `into`, skipping those already there. */
export const readWals = (store: ObjectStore["Service"], root: string, ids: ReadonlyArray<number>, into: Map<number, ReadonlyArray<RowEntry>>) =>
  Effect.forEach(
    ids.filter((id) => !into.has(id)),
    (id) => Effect.map(readWalRows(store, root, id), (rows) => void into.set(id, rows)),
    { concurrency: REPLAY_PREFETCH, discard: true }
  )

/** Every row of `ids` in WAL order, with its WAL id. */
export function* rowsOf(ids: ReadonlyArray<number>, rows: ReadonlyMap<number, ReadonlyArray<RowEntry>>): Generator<readonly [number, RowEntry]> {
  for (const id of ids) for (const row of rows.get(id) ?? []) yield [id, row]
}

/**
 * The rows of WALs `first..last` in id order, up to the first WAL that does not exist (a reader's replay
 * ends there quietly). Fetched four at a time.
 */
export const readWalsUntilMissing = (
  store: ObjectStore["Service"],
  root: string,
  first: number,
  last: number
): Effect.Effect<Array<readonly [number, ReadonlyArray<RowEntry>]>, DbError> =>
  Effect.gen(function*() {
    const out: Array<readonly [number, ReadonlyArray<RowEntry>]> = []
    for (let from = first; from <= last; from += REPLAY_PREFETCH) {
      const ids: Array<number> = []
      for (let id = from; id <= last && id < from + REPLAY_PREFETCH; id++) ids.push(id)
      const batch = yield* Effect.forEach(ids, (id) => readWalRowsIfPresent(store, root, id), { concurrency: REPLAY_PREFETCH })
      for (let i = 0; i < ids.length; i++) {
        const rows = batch[i]
        if (rows === undefined) return out
        out.push([ids[i]!, rows])
      }
    }
    return out
  })

/** What replay has seen so far: the highest seq and `create_ts`, and the rows applied. */
export interface ReplayTotals {
  maxSeq: number
  maxTick: number
  rows: number
}

/** Totals before any WAL: the manifest's L0 watermarks. */
export const replayStart = (m: Manifest): ReplayTotals => ({ maxSeq: m.lastL0Seq, maxTick: m.lastL0ClockTick, rows: 0 })

/**
 * Applies the rows of WAL `id` to `state` (see the module comment): rows above `lastL0Seq` into the active
 * memtable, then the WAL id as the state's flushed WAL, then a freeze once the memtable reaches
 * `freezeAt` (MemtableLimit.ts).
 */
export const replayWal = (
  state: DbState,
  id: number,
  rows: ReadonlyArray<RowEntry>,
  options: { readonly lastL0Seq: number; readonly freezeAt: MemtableLimit },
  totals: ReplayTotals
): void => {
  const memtable = state.memtable
  for (const row of rows) {
    if (row.seq <= options.lastL0Seq) continue
    memtable.put(row)
    totals.rows++
    if (row.seq > totals.maxSeq) totals.maxSeq = row.seq
    const ts = row.createTs
    if (ts !== undefined) {
      if (ts > totals.maxTick) totals.maxTick = ts
      state.trackSeq(row.seq, ts)
    }
  }
  state.recentFlushedWalId = id
  if (isFull(memtable, options.freezeAt)) state.freezeMemtable()
}

/** Sets the watermarks and the clock from what replay saw (every replayed row is committed and durable). */
export const finishReplay = (state: DbState, totals: ReplayTotals): void => {
  const { seqs, clock } = state
  seqs.lastSeq = totals.maxSeq
  seqs.committed = totals.maxSeq
  seqs.durable = totals.maxSeq
  clock.lastTick = totals.maxTick
  clock.lastDurableTick = totals.maxTick
}
