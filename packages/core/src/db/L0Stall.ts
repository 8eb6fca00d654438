/**
 * The memtable flusher's L0 stall (SlateDB's `l0_max_ssts`; MemtableFlusher.ts): while the manifest holds
 * `l0MaxSsts` L0 SSTs or more, no memtable is uploaded. The flusher tells the compactor (`onL0Full`) and
 * re-reads the manifest whenever it is woken (the embedded compactor wakes it after each compaction) or a
 * manifest poll interval has passed (a compactor in another process). Memtables meanwhile stay in memory,
 * so writes wait through backpressure (once the immutable memtables hold `maxImmutableMemtableBytes`, or the
 * unflushed total `maxUnflushedBytes`: docs/design/compaction.md §6); `DbStatus.l0Stalled` says why.
 *
 * Unlike SlateDB, the wait cannot become a deadlock: with no embedded compactor and none that ever ran on
 * the database (compactor epoch 0) there is no stall at all (a warning says L0 grows), and a stall in which
 * the oldest L0 SST does not change for `L0_STALL_LIMIT_MS` ends with a warning (uploads go on past the
 * limit until compaction moves that SST).
 */
import { Clock, Duration, Effect, Queue } from "effect"
import type { DbError } from "../errors.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import type { Settings } from "../Settings.ts"
import type { DbState } from "./DbState.ts"

/**
 * How long memtable uploads wait for a compaction of L0 that does not come (a compactor that stopped, or
 * is stuck behind long compactions) before going on past `l0MaxSsts`.
 */
export const L0_STALL_LIMIT_MS = 5 * 60_000

export interface L0StallDeps {
  readonly settings: Settings
  readonly state: DbState
  readonly manifest: ManifestWriter
  /** Called when an upload waits because L0 is full (the compactor should look now). */
  readonly onL0Full: () => void
}

/**
 * The wait before each upload (see the module comment); `wakes` is the flusher's signal queue, which the
 * compactor's manifest writes and `close` fill.
 */
export const makeL0Stall = (deps: L0StallDeps, wakes: Queue.Dequeue<void>): Effect.Effect<void, DbError> => {
  const { state, manifest } = deps
  const l0 = () => manifest.manifestForReads.l0
  const oldestL0 = () => l0()[l0().length - 1]?.id
  let warnedNoCompactor = false
  /** The oldest L0 SST when a stall last gave up: no new stall until compaction moves it. */
  let gaveUpAt: string | undefined
  return Effect.gen(function*() {
    const max = deps.settings.l0MaxSsts
    if (l0().length < max) return
    if (gaveUpAt !== undefined && oldestL0() === gaveUpAt) return
    if (deps.settings.compactor === null && manifest.manifestForReads.compactorEpoch === 0) {
      if (!warnedNoCompactor) {
        warnedNoCompactor = true
        yield* Effect.logWarning(
          `L0 holds ${l0().length} SSTs (l0MaxSsts ${max}) and no compactor has ever run on this database: ` +
            `memtable uploads go on (reads slow down as L0 grows); run a compactor`
        )
      }
      return
    }
    state.l0Stalled = true
    deps.onL0Full()
    yield* Effect.logInfo(`L0 holds ${l0().length} SSTs (l0MaxSsts ${max}): memtable uploads wait for compaction`)
    const clock = yield* Clock.Clock
    let progressAt = clock.currentTimeMillisUnsafe()
    let oldest = oldestL0()
    while (state.closeError === undefined && l0().length >= max) {
      yield* Effect.timeoutOption(Queue.take(wakes), Duration.millis(deps.settings.manifestPollIntervalMs))
      if (state.closeError !== undefined) break
      // The store retries transient failures itself: what reaches here fails the flush (fenced, fatal).
      yield* manifest.refresh
      const now = clock.currentTimeMillisUnsafe()
      if (oldestL0() !== oldest) {
        oldest = oldestL0()
        progressAt = now
      } else if (now - progressAt >= L0_STALL_LIMIT_MS) {
        yield* Effect.logWarning(
          `no compaction of L0 for ${Math.round((now - progressAt) / 1000)} s while uploads waited: memtable ` +
            `uploads go on past l0MaxSsts ${max} until compaction moves again (is the compactor running?)`
        )
        gaveUpAt = oldest
        break
      }
    }
    state.l0Stalled = false
  })
}
