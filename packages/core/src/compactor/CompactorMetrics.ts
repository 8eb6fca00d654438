/**
 * The compactor's metrics, SlateDB's `slatedb.compactor.*` (Metrics.ts has the mechanism): series read
 * from the compactor loop's state when a snapshot or an exporter asks, registered by `startCompactor` in
 * its context for as long as it runs.
 *
 * - `bytes_compacted` (counter): bytes of output SSTs written, by every attempt (a failed one's too), as
 *   SlateDB counts each SST when written.
 * - `last_compaction_timestamp_sec` (gauge): when the last compaction finished (Unix seconds; 0: none yet).
 * - `running_compactions` (gauge; SlateDB's is an up-down counter): compactions running now.
 * - `total_bytes_being_compacted` (gauge): the running compactions' estimated source bytes (data, filter
 *   and index of their SSTs, as the scheduler sizes them).
 * - `total_throughput_bytes_per_sec` (gauge): bytes the running compactions wrote, divided by the sum of
 *   their run times (SlateDB divides bytes processed by the summed elapsed times the same way).
 *
 * Each compaction job also runs in a span `Compactor.compaction` (`compactionSpan`).
 */
import { Effect } from "effect"
import { COMPACTOR, counter, gauge, type Series } from "../Metrics.ts"
import type { JobResult } from "./CompactionJob.ts"
import type { CompactionRecord } from "./CompactorState.ts"

export interface CompactorMetricsSource {
  readonly counted: { readonly bytesCompacted: number; readonly lastCompactionSec: number }
  readonly jobs: ReadonlyMap<string, {
    readonly sourceBytes: number
    readonly progress: { readonly bytesWritten: number; readonly startedAtMs: number }
  }>
}

export const compactorSeries = (source: CompactorMetricsSource, nowMs: () => number): ReadonlyArray<Series> => [
  counter(COMPACTOR.bytesCompacted, "Bytes of output SSTs written by compactions", () => source.counted.bytesCompacted),
  gauge(COMPACTOR.lastCompactionTimestampSec, "When the last compaction finished (Unix seconds)", () => source.counted.lastCompactionSec),
  gauge(COMPACTOR.runningCompactions, "Compactions running", () => source.jobs.size),
  gauge(COMPACTOR.totalBytesBeingCompacted, "Estimated source bytes of the running compactions", () => {
    let bytes = 0
    for (const j of source.jobs.values()) bytes += j.sourceBytes
    return bytes
  }),
  gauge(COMPACTOR.totalThroughputBytesPerSec, "Bytes written by the running compactions per second of their run time", () => {
    const now = nowMs()
    let bytes = 0
    let seconds = 0
    for (const j of source.jobs.values()) {
      bytes += j.progress.bytesWritten
      seconds += Math.max(0, now - j.progress.startedAtMs) / 1000
    }
    return seconds > 0 ? Math.floor(bytes / seconds) : 0
  })
]

/** A compaction job in a span `Compactor.compaction`: its id, destination, sources; rows and bytes at the end. */
export const compactionSpan = (record: CompactionRecord) => <E, R>(job: Effect.Effect<JobResult, E, R>): Effect.Effect<JobResult, E, R> =>
  job.pipe(
    Effect.tap((r) =>
      Effect.annotateCurrentSpan({
        "compaction.rows_read": r.rowsRead,
        "compaction.rows_written": r.rowsWritten,
        "compaction.bytes_written": r.bytesWritten,
        "compaction.output_ssts": r.run.ssts.length
      })
    ),
    Effect.withSpan("Compactor.compaction", {
      attributes: {
        "compaction.id": record.id,
        "compaction.destination": record.spec.destination,
        "compaction.sources": record.spec.sources.length,
        "compaction.resumed_ssts": record.outputSsts.length
      }
    })
  )
