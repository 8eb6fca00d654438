/**
 * What the compactor knows and the pure rules it changes it by (SlateDB's `compactor_state.rs`,
 * docs/format.md §3.7): its view of the manifest, and its compactions (the `compactions/` file).
 *
 * - A compaction merges a consecutive window of sources — L0 SSTs (newest first) then sorted runs (highest
 *   id first) — into the destination sorted run. On the store its spec keeps only the sources; the
 *   destination is re-derived when read back (the lowest source run, else 0: `compactionDestination`), so
 *   only compactions created by this process carry their real destination (SlateDB's quirk, kept).
 * - The compactions file keeps the active compactions (Submitted, Running) and the finished one with the
 *   highest ULID (`retainActiveAndLastFinished`); the garbage collector relies on that entry.
 * - `mergeRemoteCompactions`: the compactor owns every transition, so local records win; a record only
 *   the remote has is taken if it is Submitted (a manual submission), ignored otherwise.
 * - `mergeRemoteManifest`: the compactor's side of the manifest merge (§3.7.9): the writer owns L0's new
 *   end and its WAL and sequence fields; the compactor owns the sorted runs and the compacted end of L0.
 * - `finishCompaction`: the manifest after a compaction (§3.7.8).
 */
import type { CompactedSst, Manifest, SortedRun, SstHandle } from "../manifest/Manifest.ts"
import {
  type Compaction,
  compactionDestination,
  type Compactions,
  CompactionStatus
} from "../manifest/CompactionsCodec.ts"
import { ulidAfter } from "../Ulid.ts"

export type CompactionSource =
  | { readonly kind: "l0"; readonly id: string }
  | { readonly kind: "sr"; readonly id: number }

export interface CompactionSpec {
  /** L0 SSTs (newest first), then sorted runs (highest id first). */
  readonly sources: ReadonlyArray<CompactionSource>
  readonly destination: number
}

export interface CompactionRecord {
  /** ULID; its time is when the compaction was created. */
  readonly id: string
  readonly spec: CompactionSpec
  readonly status: CompactionStatus
  /** Output SSTs already written (kept by a resumed compaction). */
  readonly outputSsts: ReadonlyArray<SstHandle>
}

export const isActive = (c: CompactionRecord): boolean =>
  c.status === CompactionStatus.Submitted || c.status === CompactionStatus.Running

const isFinished = (c: CompactionRecord): boolean => !isActive(c)

export const hasL0Sources = (spec: CompactionSpec): boolean => spec.sources.some((s) => s.kind === "l0")
export const hasRunSources = (spec: CompactionSpec): boolean => spec.sources.some((s) => s.kind === "sr")

export const describeSpec = (spec: CompactionSpec): string => {
  const l0 = spec.sources.filter((s) => s.kind === "l0").length
  const runs = spec.sources.flatMap((s) => (s.kind === "sr" ? [s.id] : []))
  return `${l0 > 0 ? `${l0} L0 SST${l0 === 1 ? "" : "s"}` : ""}${l0 > 0 && runs.length > 0 ? " + " : ""}${
    runs.length > 0 ? `runs ${runs.join(",")}` : ""
  } -> run ${spec.destination}`
}

// ------------------------------------------------------------------------------------------ stored form

export const fromStored = (c: Compaction): CompactionRecord => ({
  id: c.id,
  spec: {
    sources: [
      ...c.spec.l0ViewIds.map((id): CompactionSource => ({ kind: "l0", id })),
      ...c.spec.sortedRuns.map((id): CompactionSource => ({ kind: "sr", id }))
    ],
    destination: compactionDestination(c.spec)
  },
  status: c.status,
  outputSsts: c.outputSsts
})

export const toStored = (r: CompactionRecord): Compaction => ({
  id: r.id,
  spec: {
    l0ViewIds: r.spec.sources.flatMap((s) => (s.kind === "l0" ? [s.id] : [])),
    sortedRuns: r.spec.sources.flatMap((s) => (s.kind === "sr" ? [s.id] : []))
  },
  status: r.status,
  outputSsts: r.outputSsts
})

export const toCompactions = (epoch: number, records: ReadonlyArray<CompactionRecord>): Compactions => ({
  compactorEpoch: epoch,
  recentCompactions: records.map(toStored)
})

// ------------------------------------------------------------------------------------------ the compactions

const byId = (a: CompactionRecord, b: CompactionRecord) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** The active compactions and the finished one with the highest id, in id order. */
export const retainActiveAndLastFinished = (records: ReadonlyArray<CompactionRecord>): Array<CompactionRecord> => {
  let last: string | undefined
  for (const r of records) if (isFinished(r) && (last === undefined || r.id > last)) last = r.id
  return records.filter((r) => isActive(r) || r.id === last).sort(byId)
}

/**
 * The id of a record registered now: `fresh` (a new ULID), or the ULID right after the newest record's id
 * when `fresh` does not sort after it (made in the same millisecond, whose random bits are not ordered, or
 * a clock behind another compactor's). Records are kept and listed in id order and the newest finished one
 * is kept by id (`retainActiveAndLastFinished`), so ids must sort in the order compactions were registered.
 */
export const nextRecordId = (fresh: string, records: ReadonlyArray<CompactionRecord>): string => {
  let newest: string | undefined
  for (const r of records) if (newest === undefined || r.id > newest) newest = r.id
  return newest === undefined || fresh > newest ? fresh : ulidAfter(newest)
}

/** Local records win; remote-only ones are taken when Submitted (see the module comment). */
export const mergeRemoteCompactions = (
  local: ReadonlyArray<CompactionRecord>,
  remote: ReadonlyArray<CompactionRecord>
): Array<CompactionRecord> => {
  const known = new Set(local.map((r) => r.id))
  const added = remote.filter((r) => !known.has(r.id) && r.status === CompactionStatus.Submitted)
  return retainActiveAndLastFinished([...local, ...added])
}

/** Why `spec` may not be registered beside `records` (SlateDB's `add_compaction`), or undefined. */
export const registrationProblem = (
  manifest: Manifest,
  records: ReadonlyArray<CompactionRecord>,
  spec: CompactionSpec
): string | undefined => {
  if (records.some((r) => isActive(r) && r.spec.destination === spec.destination)) {
    return `a compaction into run ${spec.destination} is already active`
  }
  const exists = manifest.compacted.some((run) => run.id === spec.destination)
  const isSource = spec.sources.some((s) => s.kind === "sr" && s.id === spec.destination)
  if (exists && !isSource) return `run ${spec.destination} exists and is not a source`
  return undefined
}

// ------------------------------------------------------------------------------------------ the manifest

/** The compactor's merge of a remote manifest into its own view (docs/format.md §3.7.9). */
export const mergeRemoteManifest = (local: Manifest, remote: Manifest): Manifest => {
  const last = local.l0LastCompacted
  let l0 = remote.l0
  if (last !== undefined) {
    const cut = l0.findIndex((sst) => sst.id === last)
    if (cut >= 0) l0 = l0.slice(0, cut)
  }
  return {
    ...remote,
    l0,
    compacted: local.compacted,
    l0LastCompacted: local.l0LastCompacted,
    ...(local.walObjectStoreUri === undefined ? {} : { walObjectStoreUri: local.walObjectStoreUri })
  }
}

/**
 * The destination of an L0-only compaction read back from the compactions file. The file does not store
 * destinations, and SlateDB re-derives 0 for one without runs among its sources, which its own validation
 * then refuses once runs exist (the compaction fails, and its output SSTs are left behind). Its real
 * destination was the highest run id + 1 when it was registered, and still is: only an L0 compaction
 * creates a higher run, and one runs at a time. So Shale resumes it there.
 */
export const resolveDestination = (manifest: Manifest, spec: CompactionSpec): CompactionSpec => {
  if (spec.destination !== 0 || hasRunSources(spec) || manifest.compacted.length === 0) return spec
  return { ...spec, destination: manifest.compacted[0]!.id + 1 }
}

/** The L0 entries and sorted runs `spec` names, in spec order (missing ones are skipped). */
export const sourcesOf = (manifest: Manifest, spec: CompactionSpec) => {
  const l0: Array<CompactedSst> = []
  const runs: Array<SortedRun> = []
  for (const s of spec.sources) {
    if (s.kind === "l0") {
      const sst = manifest.l0.find((x) => x.id === s.id)
      if (sst !== undefined) l0.push(sst)
    } else {
      const run = manifest.compacted.find((x) => x.id === s.id)
      if (run !== undefined) runs.push(run)
    }
  }
  return { l0, runs }
}

/**
 * The manifest once `spec` has produced `output` (docs/format.md §3.7.8): the source L0 entries and
 * the source and destination runs leave, the output run takes its place in descending id order, and the
 * first source, when it is an L0 SST (the newest compacted), becomes the last compacted L0.
 */
export const finishCompaction = (manifest: Manifest, spec: CompactionSpec, output: SortedRun): Manifest => {
  const l0Sources = new Set(spec.sources.flatMap((s) => (s.kind === "l0" ? [s.id] : [])))
  const replacedRuns = new Set([...spec.sources.flatMap((s) => (s.kind === "sr" ? [s.id] : [])), spec.destination])
  const compacted: Array<SortedRun> = []
  let inserted = false
  for (const run of manifest.compacted) {
    if (!inserted && output.id >= run.id) {
      compacted.push(output)
      inserted = true
    }
    if (!replacedRuns.has(run.id)) compacted.push(run)
  }
  if (!inserted) compacted.push(output)
  const first = spec.sources[0]
  return {
    ...manifest,
    l0: manifest.l0.filter((sst) => !l0Sources.has(sst.id)),
    compacted,
    l0LastCompacted: first !== undefined && first.kind === "l0" ? first.id : manifest.l0LastCompacted
  }
}

// ------------------------------------------------------------------------------------------ running together

/** The sorted runs a compaction reads or replaces: its source runs and its destination. */
const runsOf = (spec: CompactionSpec): Array<number> => [
  ...spec.sources.flatMap((s) => (s.kind === "sr" ? [s.id] : [])),
  spec.destination
]

/**
 * Why `spec` may not start beside the running compactions: a sorted run one of them reads or replaces.
 * The scheduler never proposes such a pair, but a manual submission may; run together, the one that
 * finishes last drops the run the other one wrote (and the rows it holds).
 */
export const runConflict = (spec: CompactionSpec, running: ReadonlyArray<CompactionSpec>): string | undefined => {
  const busy = new Set(running.flatMap(runsOf))
  const shared = runsOf(spec).find((id) => busy.has(id))
  return shared === undefined ? undefined : `run ${shared} is used by a running compaction`
}

/** The SSTs a compaction takes out of the manifest: its sources' and the destination run's. */
export const replacedSsts = (manifest: Manifest, spec: CompactionSpec): ReadonlyArray<string> => {
  const { l0, runs } = sourcesOf(manifest, spec)
  const destination = manifest.compacted.find((run) => run.id === spec.destination)
  return [...l0, ...runs.flatMap((r) => r.ssts), ...(destination?.ssts ?? [])].map((sst) => sst.id)
}
