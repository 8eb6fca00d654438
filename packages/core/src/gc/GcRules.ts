/**
 * What the garbage collector may delete: SlateDB 0.12.1's rules (docs/format.md §3.8), as pure functions
 * of what the store lists, the manifests that are live, the compactions file and the time.
 *
 * - Manifests: every version but the latest, unless a checkpoint in the latest pins it, once older than
 *   the minimum age.
 * - WAL SSTs: ids below the latest manifest's `replay_after_wal_id` (that id itself stays), older than the
 *   minimum age, that no live manifest (the latest and every pinned one) still replays: a manifest
 *   replays `replay_after_wal_id < id < next_wal_sst_id`.
 * - Compacted SSTs: not in L0 or a sorted run of any live manifest, and created (ULID time) before the
 *   cutoff = min(now − minimum age, the oldest compaction in the compactions file, the newest L0 SST of
 *   the latest manifest). The second bound protects the outputs of a compaction that has not reached the
 *   manifest yet, the third an L0 SST written but not yet recorded. Where a bound is unknown (no
 *   compactions file, no compaction in it, no L0 ever) it is the Unix epoch: nothing is deleted.
 * - Compactions files: every version but the latest, once older than the minimum age.
 *
 * Ages compare with `>` (an object exactly `minAge` old stays), ULID times with `<`, as SlateDB does.
 */
import { parseUlid, ulidTimeMs } from "../Ulid.ts"
import type { Manifest } from "../manifest/Manifest.ts"

/** How often one kind of object is collected, and how old it must be. */
export interface GcResourceOptions {
  readonly intervalMs: number
  readonly minAgeMs: number
}

/** The four kinds of objects the collector deletes; `null` leaves a kind alone. */
export interface GcOptions {
  readonly manifests: GcResourceOptions | null
  readonly wal: GcResourceOptions | null
  readonly compacted: GcResourceOptions | null
  readonly compactions: GcResourceOptions | null
}

export type GcResource = keyof GcOptions

export const GC_RESOURCES: ReadonlyArray<GcResource> = ["manifests", "wal", "compacted", "compactions"]

/** SlateDB's defaults: every kind, each minute, objects older than five minutes. */
export const DEFAULT_GC_RESOURCE: GcResourceOptions = { intervalMs: 60_000, minAgeMs: 300_000 }

export const defaultGcOptions: GcOptions = {
  manifests: DEFAULT_GC_RESOURCE,
  wal: DEFAULT_GC_RESOURCE,
  compacted: DEFAULT_GC_RESOURCE,
  compactions: DEFAULT_GC_RESOURCE
}

/** `options` with every enabled kind's minimum age replaced (`shale gc --min-age 0s`). */
export const withMinAge = (options: GcOptions, minAgeMs: number): GcOptions => {
  const set = (r: GcResourceOptions | null) => (r === null ? null : { ...r, minAgeMs })
  return {
    manifests: set(options.manifests),
    wal: set(options.wal),
    compacted: set(options.compacted),
    compactions: set(options.compactions)
  }
}

/** A listed object with a numeric id (manifest, WAL SST, compactions file). */
export interface AgedObject {
  readonly id: number
  readonly lastModified: number
}

const olderThan = (o: { readonly lastModified: number }, nowMs: number, minAgeMs: number): boolean =>
  nowMs - o.lastModified > minAgeMs

/** Manifest ids to delete; `listed` ascending, its last entry being the latest version. */
export const manifestsToDelete = (
  listed: ReadonlyArray<AgedObject>,
  latest: Manifest,
  nowMs: number,
  minAgeMs: number
): Array<number> => {
  const pinned = new Set(latest.checkpoints.map((c) => c.manifestId))
  return listed.slice(0, -1).filter((m) => !pinned.has(m.id) && olderThan(m, nowMs, minAgeMs)).map((m) => m.id)
}

/** Whether manifest `m` still replays WAL SST `id`. */
export const replaysWal = (m: Manifest, id: number): boolean => id > m.replayAfterWalId && id < m.nextWalSstId

/** WAL ids to delete; `live` is the latest manifest first, then every manifest a checkpoint pins. */
export const walsToDelete = (
  listed: ReadonlyArray<AgedObject>,
  live: ReadonlyArray<Manifest>,
  nowMs: number,
  minAgeMs: number
): Array<number> => {
  const latest = live[0]
  if (latest === undefined) return []
  return listed
    .filter((w) => w.id < latest.replayAfterWalId && olderThan(w, nowMs, minAgeMs) && !live.some((m) => replaysWal(m, w.id)))
    .map((w) => w.id)
}

/**
 * The newest creation time a deletable compacted SST may have: see the module comment. `compactionIds`
 * is undefined without a compactions file.
 */
export const compactedCutoffMs = (
  nowMs: number,
  minAgeMs: number,
  compactionIds: ReadonlyArray<string> | undefined,
  latest: Manifest
): number => {
  let oldestCompaction = 0
  if (compactionIds !== undefined && compactionIds.length > 0) {
    oldestCompaction = Math.min(...compactionIds.map(ulidTimeMs))
  }
  let newestL0 = 0
  if (latest.l0.length > 0) newestL0 = Math.max(...latest.l0.map((s) => ulidTimeMs(s.id)))
  else if (latest.l0LastCompacted !== undefined) newestL0 = ulidTimeMs(latest.l0LastCompacted)
  return Math.min(nowMs - minAgeMs, oldestCompaction, newestL0)
}

/** Every SST id in L0 or a sorted run of the `live` manifests. */
export const liveSstIds = (live: ReadonlyArray<Manifest>): Set<string> => {
  const ids = new Set<string>()
  for (const m of live) {
    for (const s of m.l0) ids.add(s.id)
    for (const run of m.compacted) for (const s of run.ssts) ids.add(s.id)
  }
  return ids
}

/** Compacted SST ids (ULIDs) to delete. */
export const compactedToDelete = (listed: Iterable<string>, live: ReadonlySet<string>, cutoffMs: number): Array<string> => {
  const out: Array<string> = []
  for (const id of listed) {
    const time = parseUlid(id)?.timeMs
    if (time !== undefined && time < cutoffMs && !live.has(id)) out.push(id)
  }
  return out
}

/** Compactions file ids to delete; `listed` ascending, the last being the latest. */
export const compactionsToDelete = (listed: ReadonlyArray<AgedObject>, nowMs: number, minAgeMs: number): Array<number> =>
  listed.slice(0, -1).filter((c) => olderThan(c, nowMs, minAgeMs)).map((c) => c.id)
