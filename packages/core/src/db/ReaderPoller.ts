/**
 * How a `DbReader` with a checkpoint of its own follows the writer (SlateDB's `ManifestPoller` in
 * db_reader.rs, docs/format.md §3.10). Every `manifestPollIntervalMs` on the Effect `Clock` (so a
 * `TestClock` drives it), the first one interval after open:
 *
 * 1. Read the latest manifest. If the last compacted L0 SST changed, `last_l0_seq` grew, the sorted runs
 *    changed, or the reader's checkpoint is no longer there (it expired and a collector removed it, or an
 *    operator deleted it), re-establish: write ONE version that removes the reader's checkpoint and adds a
 *    new one pinning that very version (ReaderCheckpoint.ts), then read it: the memtables keep only their
 *    rows above its `last_l0_seq` (ViewState.ts `adoptManifest`), and replay resumes after
 *    max(last WAL replayed, its `replay_after_wal_id`).
 * 2. Replay the WAL SSTs after the last one replayed, up to the last one listed (with `skipWalReplay`, up to
 *    the version's `next_wal_sst_id − 1` only); a missing one ends the replay until the next poll.
 * 3. Refresh the checkpoint once less than half its lifetime is left; if it is gone by then, re-establish.
 *
 * Guarantees:
 * - What reads see only grows, always a prefix of the writer's durable history: the version's SSTs plus
 *   the rows of consecutive WALs after it; the visible seq never moves backwards.
 * - At every manifest version, one of the reader's checkpoints pins the version its reads use, so a
 *   garbage collector (which keeps what checkpoints pin) never deletes an SST a read between polls needs.
 *   A read still running when a re-establishment moves on reads the previous version, which is no longer
 *   pinned (as in SlateDB); the collector's minimum age (5 minutes by default) covers it.
 * - Checkpoint ids the reader wrote, or tried to write, are remembered (`owned`) until a version shows them
 *   gone, so a write cut short (an interrupted or timed-out poll) leaves no checkpoint behind: the next
 *   re-establishment or the close removes them.
 * - A failed poll (store trouble, a timeout) changes nothing it has not finished: it is logged (warning),
 *   counted, and the next interval polls again (in SlateDB a failed poll closes the reader with its error).
 */
import { Clock, Effect } from "effect"
import type { DbError } from "../errors.ts"
import { checkpointMissing, noManifest, refreshCheckpoint } from "../manifest/Checkpoints.ts"
import { makeUuid } from "../manifest/Ids.ts"
import type { Checkpoint, Manifest, SortedRun } from "../manifest/Manifest.ts"
import type { ManifestStore } from "../manifest/ManifestStore.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import type { DbState } from "./DbState.ts"
import { putReaderCheckpoint, refreshDue } from "./ReaderCheckpoint.ts"
import type { ResolvedReaderOptions } from "./ReaderOptions.ts"
import { warmViewSwitch } from "./ViewWarming.ts"
import { adoptManifest, lastListedWalId, replayWalRange, sstIdsOf, type ViewManifest } from "./ViewState.ts"
import { memoryLimit } from "./MemtableLimit.ts"

/** What the reader has done since it opened (its `status`). */
export interface ReaderCounters {
  /** Polls run, failed ones included. */
  polls: number
  pollErrors: number
  lastPollError: string | undefined
  /** Times its checkpoint was replaced by one pinning a newer version. */
  checkpointsReplaced: number
  checkpointRefreshes: number
}

/** The mutable state of an open reader (DbReader.ts builds it; the poller moves it forward). */
export interface ReaderCore {
  readonly store: ObjectStore["Service"]
  readonly root: string
  readonly manifests: ManifestStore
  readonly tables: TableStore
  readonly options: ResolvedReaderOptions
  /** The manifest CAS loops' time limit. */
  readonly timeoutMs: number
  /** The live state the read path reads (Reader.ts), changed in place. */
  readonly state: DbState
  readonly view: ViewManifest
  /** The checkpoint the reader reads at (its own, or the user's: then without `expireTimeS`). */
  checkpoint: Pick<Checkpoint, "id" | "manifestId" | "expireTimeS">
  /** The last WAL id replayed (or covered by the version's `replay_after_wal_id`). */
  lastWalId: number
  /** Its own checkpoint ids that may still be in the manifest (see the module comment); empty for a user's. */
  owned: Set<string>
  readonly counters: ReaderCounters
}

export const newCounters = (): ReaderCounters => ({
  polls: 0,
  pollErrors: 0,
  lastPollError: undefined,
  checkpointsReplaced: 0,
  checkpointRefreshes: 0
})

const sameRuns = (a: ReadonlyArray<SortedRun>, b: ReadonlyArray<SortedRun>): boolean =>
  a.length === b.length && a.every((run, i) => {
    const other = b[i]!
    return run.id === other.id && run.ssts.length === other.ssts.length && run.ssts.every((s, j) => s.id === other.ssts[j]!.id)
  })

/** SlateDB's `should_reestablish_checkpoint`: L0 was compacted or flushed, or the sorted runs changed. */
export const shouldReestablish = (latest: Manifest, current: Manifest): boolean =>
  latest.l0LastCompacted !== current.l0LastCompacted || latest.lastL0Seq > current.lastL0Seq ||
  !sameRuns(latest.compacted, current.compacted)

/** Writes a new checkpoint of the reader (removing its older ones) and reads the version it pins (step 1). */
export const reestablish = (core: ReaderCore): Effect.Effect<void, DbError> =>
  Effect.gen(function*() {
    const id = yield* makeUuid
    core.owned.add(id)
    const remove = new Set([...core.owned].filter((o) => o !== id))
    const put = yield* putReaderCheckpoint(core.manifests, { id, remove, lifetimeMs: core.options.checkpointLifetimeMs }, core.timeoutMs)
    core.owned = new Set([id])
    // Warm the block cache for the SSTs a compaction replaced before reads see them (db/ViewWarming.ts).
    yield* warmViewSwitch(core.tables, core.view.manifestForReads, put.manifest)
    adoptManifest(core.state, core.view, put.manifest)
    core.checkpoint = put.checkpoint
    core.lastWalId = Math.max(core.lastWalId, put.manifest.replayAfterWalId)
    core.tables.retainOnly(sstIdsOf(put.manifest))
    core.counters.checkpointsReplaced++
  })

/** Replays the WAL SSTs after the last one replayed (step 2). */
export const replayNewWals = (core: ReaderCore): Effect.Effect<void, DbError> =>
  Effect.gen(function*() {
    const m = core.view.manifestForReads
    const last = core.options.skipWalReplay ? m.nextWalSstId - 1 : yield* lastListedWalId(core.store, core.root, core.lastWalId)
    if (last === undefined || last <= core.lastWalId) return
    const skip = (yield* TestSwitches).readerSkipsWal && last > core.lastWalId + 1 ? 1 : 0
    const replayed = yield* replayWalRange(core.store, core.root, core.state, {
      first: core.lastWalId + 1 + skip,
      last,
      skipAtOrBelow: core.state.seqs.committed,
      freezeAt: memoryLimit(core.options.maxMemtableBytes)
    })
    core.lastWalId = replayed.lastWalId
  })

/** Refreshes the reader's checkpoint when due; re-establishes if it is gone (step 3). */
const maybeRefresh = (core: ReaderCore): Effect.Effect<void, DbError> =>
  Effect.gen(function*() {
    const lifetimeMs = core.options.checkpointLifetimeMs
    if (!refreshDue(core.checkpoint, lifetimeMs, yield* Clock.currentTimeMillis)) return
    const id = core.checkpoint.id
    const gone = checkpointMissing(id).message
    const refreshed = yield* refreshCheckpoint(core.manifests, id, lifetimeMs, core.timeoutMs).pipe(
      Effect.catchIf((e) => e._tag === "DataError" && e.message === gone, () => Effect.as(reestablish(core), undefined))
    )
    if (refreshed === undefined) return
    core.checkpoint = refreshed
    core.counters.checkpointRefreshes++
  })

/** One poll (steps 1-3 of the module comment). */
export const pollOnce = (core: ReaderCore): Effect.Effect<void, DbError> =>
  Effect.gen(function*() {
    const latest = yield* core.manifests.readLatest
    if (latest === undefined) return yield* noManifest(core.root)
    const mine = latest.manifest.checkpoints.some((c) => c.id === core.checkpoint.id)
    if (!mine) yield* Effect.logInfo(`DbReader: its checkpoint ${core.checkpoint.id} of "${core.root}" is gone; making a new one`)
    if (!mine || shouldReestablish(latest.manifest, core.view.manifestForReads)) yield* reestablish(core)
    yield* replayNewWals(core)
    yield* maybeRefresh(core)
  })

/** Polls every interval until interrupted; a failed poll is logged and counted (see the module comment). */
export const pollForever = (core: ReaderCore): Effect.Effect<never> => {
  const ms = core.options.manifestPollIntervalMs
  const counters = core.counters
  const tick = Effect.sleep(ms).pipe(
    Effect.andThen(pollOnce(core)),
    Effect.tap(() => Effect.sync(() => void counters.polls++)),
    Effect.catch((e) =>
      Effect.sync(() => {
        counters.polls++
        counters.pollErrors++
        counters.lastPollError = e.message
      }).pipe(Effect.andThen(Effect.logWarning(`DbReader: a poll of "${core.root}" failed (again in ${ms} ms): ${e.message}`)))
    )
  )
  return Effect.forever(tick)
}
