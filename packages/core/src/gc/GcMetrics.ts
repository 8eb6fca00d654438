/**
 * The garbage collector's metrics, SlateDB's `slatedb.gc.*` (Metrics.ts has the mechanism): series read
 * from the collector's totals, registered by `startGarbageCollector` in its context while it runs.
 *
 * - `deleted_count{resource=manifest|wal|compacted|compactions}` (counter): objects deleted, by kind.
 * - `count` (counter): passes run. SlateDB counts one per `run_gc_once` (every kind in turn); Shale's
 *   collector runs each kind on its own schedule, so a scheduled pass covers one kind and `runOnce` all.
 */
import { counter, GC, type Series } from "../Metrics.ts"
import type { GcRunStats } from "./GcPass.ts"
import type { GcResource } from "./GcRules.ts"

/** SlateDB's `resource` label of each kind. */
const RESOURCE_LABEL: Readonly<Record<GcResource, string>> = {
  manifests: "manifest",
  wal: "wal",
  compacted: "compacted",
  compactions: "compactions"
}

export interface GcCounts {
  readonly passes: number
  readonly deleted: Readonly<Record<GcResource, number>>
}

export const gcSeries = (counts: GcCounts): ReadonlyArray<Series> => [
  ...(Object.keys(RESOURCE_LABEL) as Array<GcResource>).map((kind) =>
    counter(GC.deletedCount, "Objects deleted by the garbage collector", () => counts.deleted[kind], { resource: RESOURCE_LABEL[kind] })
  ),
  counter(GC.count, "Garbage collector passes", () => counts.passes)
]

/** A pass's deletions as span attributes (`gc.deleted.<resource>`). */
export const deletedAttributes = (pass: GcRunStats): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const kind of Object.keys(RESOURCE_LABEL) as Array<GcResource>) out[`gc.deleted.${RESOURCE_LABEL[kind]}`] = pass.deleted[kind]
  return out
}
