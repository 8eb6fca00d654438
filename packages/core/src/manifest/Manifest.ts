/**
 * The manifest: the database's durable root of truth, one immutable version per
 * `<root>/manifest/<id>.manifest` object (docs/format.md §2.4-§2.5, §3.1, §3.4).
 *
 * This module holds the decoded manifest as a plain immutable value plus the small pure updates the
 * writer needs; `ManifestCodec.ts` maps it to and from bytes. The manifest id is not part of the value
 * (it is the file name).
 *
 * Invariants (maintained by the engine, not re-checked by the codec):
 * - `l0` is newest first (an L0 flush pushes to the front).
 * - `compacted` sorted runs are in strictly descending id order; the SSTs inside a run are sorted by
 *   key range and do not overlap (except that one boundary key may end one SST and start the next).
 * - `nextWalSstId` ≥ 1 (the file stores `wal_id_last_seen = nextWalSstId - 1`).
 * - `replayAfterWalId`: every WAL id ≤ it is reflected in L0/sorted runs; replay starts after it.
 * - `lastL0Seq` is the highest seq flushed to L0; replay skips rows with seq ≤ it.
 * - `lastL0ClockTick` starts at i64::MIN (−2^63, exact in a double) and only grows.
 *
 * SST views: SlateDB 0.12.1 keeps in-memory "view ids" for L0/sorted-run entries but the V1 format it
 * writes has none (view id = SST id on decode). Shale uses the SST id throughout.
 */
import type { SsTableInfo } from "../format/SstMetadata.ts"
import { SequenceTracker } from "./SequenceTracker.ts"

/** One end of a key range; keys compare as raw bytes. */
export type RangeBound =
  | { readonly kind: "Unbounded" }
  | { readonly kind: "Included"; readonly key: Uint8Array }
  | { readonly kind: "Excluded"; readonly key: Uint8Array }

/** The part of an SST's key space a manifest entry exposes (RFC 0020 projections, clones). */
export interface VisibleRange {
  readonly start: RangeBound
  readonly end: RangeBound
}

/** An SST in `compacted/`: its ULID, its info section and its SST format version. */
export interface SstHandle {
  /** ULID, 26 upper-case Crockford characters: the object is `compacted/<id>.sst`. */
  readonly id: string
  readonly info: SsTableInfo
  /** SST format version (1 or 2; absent in old manifests ⇒ 1). Shale writes 2. */
  readonly formatVersion: number
}

/** An L0 or sorted-run entry of the manifest. */
export interface CompactedSst extends SstHandle {
  /** Only this part of the SST is visible (absent: all of it). */
  readonly visibleRange?: VisibleRange
}

export interface SortedRun {
  /** u32; higher ids are newer. */
  readonly id: number
  readonly ssts: ReadonlyArray<CompactedSst>
}

export interface Checkpoint {
  /** UUID (lower-case hyphenated). */
  readonly id: string
  /** The manifest version this checkpoint pins. */
  readonly manifestId: number
  /** Unix seconds (u32); absent = never expires (stored as 0). */
  readonly expireTimeS?: number
  /** Unix seconds (u32). */
  readonly createTimeS: number
  readonly name?: string
}

/** A parent database whose SSTs a clone references (never written by the clone). */
export interface ExternalDb {
  readonly path: string
  readonly sourceCheckpointId: string
  readonly finalCheckpointId?: string
  readonly sstIds: ReadonlyArray<string>
}

export interface Manifest {
  readonly initialized: boolean
  readonly writerEpoch: number
  readonly compactorEpoch: number
  /** WAL ids ≤ this are in L0/sorted runs; WAL replay starts after it. */
  readonly replayAfterWalId: number
  /** The next WAL id to write (the file stores `wal_id_last_seen = nextWalSstId - 1`). */
  readonly nextWalSstId: number
  /** ULID of the newest L0 SST a compaction consumed, if any. */
  readonly l0LastCompacted: string | undefined
  /** Newest first. */
  readonly l0: ReadonlyArray<CompactedSst>
  /** Highest (newest) id first. */
  readonly compacted: ReadonlyArray<SortedRun>
  /** Milliseconds; −2^63 (i64::MIN) before the first flush. */
  readonly lastL0ClockTick: number
  readonly lastL0Seq: number
  readonly checkpoints: ReadonlyArray<Checkpoint>
  /** `""` when WAL SSTs live in a separate object store (a flag; the URI itself is not recorded). */
  readonly walObjectStoreUri?: string
  readonly recentSnapshotMinSeq: number
  readonly sequenceTracker: SequenceTracker
  readonly externalDbs: ReadonlyArray<ExternalDb>
}

/** i64::MIN: the clock tick of a manifest that has never seen an L0 flush. */
export const INITIAL_CLOCK_TICK = -9223372036854775808

const initial = (): Manifest => ({
  initialized: true,
  writerEpoch: 0,
  compactorEpoch: 0,
  replayAfterWalId: 0,
  nextWalSstId: 1,
  l0LastCompacted: undefined,
  l0: [],
  compacted: [],
  lastL0ClockTick: INITIAL_CLOCK_TICK,
  lastL0Seq: 0,
  checkpoints: [],
  recentSnapshotMinSeq: 0,
  sequenceTracker: SequenceTracker.empty,
  externalDbs: []
})

const withWriterEpoch = (m: Manifest, writerEpoch: number): Manifest => ({ ...m, writerEpoch })

const withCompactorEpoch = (m: Manifest, compactorEpoch: number): Manifest => ({ ...m, compactorEpoch })

const withNextWalSstId = (m: Manifest, nextWalSstId: number): Manifest => ({ ...m, nextWalSstId })

const withReplayAfterWalId = (m: Manifest, replayAfterWalId: number): Manifest => ({ ...m, replayAfterWalId })

/**
 * Records an L0 flush: the SST goes to the front of `l0`; `replayAfterWalId` becomes the last WAL id the
 * flushed memtable covered; `lastL0Seq` the highest flushed seq; the clock tick only moves forward.
 */
const withL0Pushed = (
  m: Manifest,
  sst: CompactedSst,
  replayAfterWalId: number,
  lastL0Seq: number,
  lastL0ClockTick: number
): Manifest => ({
  ...m,
  l0: [sst, ...m.l0],
  replayAfterWalId,
  lastL0Seq,
  lastL0ClockTick: Math.max(m.lastL0ClockTick, lastL0ClockTick)
})

const withRecentSnapshotMinSeq = (m: Manifest, recentSnapshotMinSeq: number): Manifest => ({
  ...m,
  recentSnapshotMinSeq
})

/** Merges a memtable's tracker into the manifest's (at L0 flush). */
const withSequenceTrackerMerged = (m: Manifest, tracker: SequenceTracker): Manifest => ({
  ...m,
  sequenceTracker: SequenceTracker.merge(m.sequenceTracker, tracker)
})

const withCheckpointAdded = (m: Manifest, checkpoint: Checkpoint): Manifest => ({
  ...m,
  checkpoints: [...m.checkpoints, checkpoint]
})

const withCheckpointRemoved = (m: Manifest, id: string): Manifest => ({
  ...m,
  checkpoints: m.checkpoints.filter((c) => c.id !== id)
})

/**
 * An SST's size as the manifest tells it without a request: `index_offset + index_len` (its data, filter
 * and index; SlateDB's estimate, which its size-tiered scheduler compares).
 */
const sstBytes = (sst: { readonly info: { readonly indexOffset: number; readonly indexLen: number } }): number =>
  sst.info.indexOffset + sst.info.indexLen

/**
 * A sorted run's size: the sum of its SSTs' (`sstBytes`). Remembered per run (runs are immutable values):
 * every scan weighs its sources by it (db/ReaderScan.ts), and a run may hold thousands of SSTs.
 */
const runBytes = (run: SortedRun): number => {
  let n = runBytesOf.get(run)
  if (n !== undefined) return n
  n = 0
  for (const sst of run.ssts) n += sstBytes(sst)
  runBytesOf.set(run, n)
  return n
}

const runBytesOf = new WeakMap<SortedRun, number>()

/** Every SST the manifest references (L0 then sorted runs). */
const ssts = (m: Manifest): ReadonlyArray<CompactedSst> => [...m.l0, ...m.compacted.flatMap((r) => r.ssts)]

/** Operations on `Manifest` values (all pure). */
export const Manifest = {
  initial,
  withWriterEpoch,
  withCompactorEpoch,
  withNextWalSstId,
  withReplayAfterWalId,
  withL0Pushed,
  withRecentSnapshotMinSeq,
  withSequenceTrackerMerged,
  withCheckpointAdded,
  withCheckpointRemoved,
  ssts,
  sstBytes,
  runBytes
} as const
