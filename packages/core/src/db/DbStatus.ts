/**
 * `Db.status`: one snapshot of what an open database is doing (DbApi.ts's `DbStatus`): its watermarks,
 * manifest, L0 and sorted runs, whether the memtable flush waits for compaction (`l0Stalled`), and the
 * embedded compactor's and garbage collector's counters when they run. Every field is read in place when
 * asked, without a lock.
 *
 * `registerDbSeries`: the same kind of figures as metric series (docs/design/observability.md), read in
 * place when the registry is read, registered for as long as the database is open.
 */
import { Effect, type Scope } from "effect"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import { dbCacheSeries, dbSeries, mergeOperandSeries, objectStoreCacheSeries, registerSeries, warmSeries } from "../Metrics.ts"
import type { CompactorHandle } from "../compactor/CompactorTypes.ts"
import type { GcHandle } from "../gc/GarbageCollector.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import type { DbStatus } from "./DbApi.ts"
import type { DbState } from "./DbState.ts"
import type { Storage } from "./DbStorage.ts"

export const statusOf = (
  state: DbState,
  manifest: ManifestWriter,
  compactor: CompactorHandle | undefined,
  gc: GcHandle | undefined
): Effect.Effect<DbStatus> =>
  Effect.gen(function*() {
    const m = manifest.manifest
    const c = compactor === undefined ? undefined : yield* compactor.status
    const g = gc === undefined ? undefined : yield* gc.status
    return {
      durableSeq: state.seqs.durable,
      lastCommittedSeq: state.seqs.committed,
      manifestId: manifest.id,
      writerEpoch: manifest.epoch,
      nextWalId: manifest.nextWalSstId,
      l0Ssts: m.l0.length,
      sortedRuns: m.compacted.length,
      l0Stalled: state.l0Stalled,
      compactor: c === undefined ? undefined : {
        epoch: c.epoch,
        running: c.running.length,
        completed: c.completed,
        failed: c.failed,
        bytesWritten: c.bytesWritten,
        stopped: c.stopped === undefined || c.stopped.reason === "clean" ? undefined : c.stopped.reason
      },
      garbageCollector: g === undefined ? undefined : {
        passes: g.passes,
        deleted: g.deleted,
        expiredCheckpoints: g.expiredCheckpoints,
        errors: g.errors,
        ...(g.lastPass === undefined ? {} : { lastPass: g.lastPass }),
        requests: g.requests,
        durationMs: g.durationMs,
        maxRequests: g.maxRequests,
        maxDurationMs: g.maxDurationMs
      },
      immutableMemtables: state.imms.length,
      closeReason: state.closeError?.reason
    }
  })

/** Registers the database's metric series in the current scope (see the module comment). */
export const registerDbSeries = (
  storage: Storage,
  manifest: ManifestWriter,
  mergeOperator: MergeOperator | undefined
): Effect.Effect<void, never, Scope.Scope> => {
  const { stats, tables, diskCache } = storage
  return registerSeries([
    ...dbSeries(stats, tables.filterStats, () => manifest.manifest.l0.length),
    ...(tables.blockCache === undefined ? [] : dbCacheSeries(tables.blockCache)),
    ...(tables.warming === undefined ? [] : warmSeries(tables.warmStats)),
    ...(mergeOperator === undefined ? [] : mergeOperandSeries(stats)),
    ...(diskCache === undefined ? [] : objectStoreCacheSeries(diskCache.statsUnsafe))
  ])
}
