/**
 * Manifest files: `u16 BE format_version | FlatBuffer` (docs/format.md §2.4-§2.5). No checksum.
 *
 * Writing: always version 1 (`ManifestV1`), as SlateDB 0.12.1 does, byte-identical to its encoder:
 * `manifest_id` 0 (the real id is the file name), `wal_id_last_seen = nextWalSstId - 1`, `l0`,
 * `compacted` and `checkpoints` always present (possibly empty), `external_dbs` only when non-empty,
 * `sequence_tracker` always present, `format_version` always present on each `CompactedSsTable`.
 * Children are created in SlateDB's order (per L0 entry: Ulid, SsTableInfo, visible range, entry; the
 * l0 vector; l0_last_compacted; sorted runs; checkpoints (Uuid, name, table); external dbs; the URI
 * string; the tracker bytes; the root) and each table's fields in Rust's generated order.
 *
 * Reading: versions 1 and 2. V2 (never written by 0.12.1) keeps SSTs in a lookup table that L0 and
 * sorted-run views reference by `sst_id` (an unknown id is a `DataError`); a view becomes a
 * `CompactedSst` carrying the SST's id (Shale has no separate view ids). Missing scalars decode as 0/false;
 * a missing tracker as the empty tracker; a missing `format_version` as 1.
 *
 * Errors: < 2 bytes ⇒ `DataError` "EmptyManifest"; other versions ⇒ `DataError` "InvalidVersion";
 * malformed FlatBuffers, unsafe integers, bad enum values, inconsistent range bounds, a bad tracker, or
 * an L0/sorted-run entry SlateDB would refuse (`compactedSstProblem`: no first entry, a visible range
 * that starts Excluded, is empty or misses the SST) ⇒ `DataError` (section "manifest"). Decoding never
 * throws anything else. `encodeManifest` throws `InvalidError` for values it cannot store, including
 * entries SlateDB would refuse (it panics on them).
 */
import { DataError, InvalidError } from "../errors.ts"
import {
  addU16Always,
  addU64Field,
  Builder,
  createOffsetVector,
  FbBuffer,
  type FbTable,
  finishWithPrefix,
  i64,
  u16,
  u32
} from "../format/FlatBuffers.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import { readSsTableInfo, writeSsTableInfo } from "../format/SstMetadataCodec.ts"
import { readUlid, readUuid, writeUlid, writeUuid } from "./Ids.ts"
import type {
  Checkpoint,
  CompactedSst,
  ExternalDb,
  Manifest,
  RangeBound,
  SortedRun,
  SstHandle,
  VisibleRange
} from "./Manifest.ts"
import { SequenceTracker } from "./SequenceTracker.ts"

export const MANIFEST_FORMAT_VERSION = 1
/** SST format version assumed when a manifest entry has no `format_version`. */
export const ORIGINAL_SST_FORMAT_VERSION = 1

// ---------------------------------------------------------------------------------------------------
// Shared pieces (also used by the compactions codec)

// BytesBound / BytesRange
const BOUND_KEY = 0
const BOUND_TYPE = 1
const BoundType = { Unknown: 0, Unbounded: 1, Included: 2, Excluded: 3 } as const
const RANGE_START = 0
const RANGE_END = 1

const writeBound = (b: Builder, bound: RangeBound): number => {
  const key = bound.kind === "Unbounded" ? 0 : b.createByteVector(bound.key)
  b.startObject(2)
  if (bound.kind !== "Unbounded") b.addFieldOffset(BOUND_KEY, key, 0)
  b.addFieldInt8(BOUND_TYPE, BoundType[bound.kind], BoundType.Unknown)
  return b.endObject()
}

const writeRange = (b: Builder, range: VisibleRange): number => {
  const start = writeBound(b, range.start)
  const end = writeBound(b, range.end)
  b.startObject(2)
  b.addFieldOffset(RANGE_END, end, 0)
  b.addFieldOffset(RANGE_START, start, 0)
  return b.endObject()
}

const readBound = (t: FbTable): RangeBound => {
  const type = t.i8(BOUND_TYPE)
  const key = t.bytes(BOUND_KEY)
  if (type === BoundType.Unbounded && key === undefined) return { kind: "Unbounded" }
  if (type === BoundType.Included && key !== undefined) return { kind: "Included", key }
  if (type === BoundType.Excluded && key !== undefined) return { kind: "Excluded", key }
  return t.buf.fail(`bad range bound: type ${type} with${key === undefined ? "out" : ""} a key`)
}

const readRange = (t: FbTable): VisibleRange => ({
  start: readBound(t.requiredTable(RANGE_START, "BytesRange.start_bound")),
  end: readBound(t.requiredTable(RANGE_END, "BytesRange.end_bound"))
})

// CompactedSsTable { id: Ulid req (0), info: SsTableInfo req (1), visible_range (2), format_version: u16 = null (3) }
const CSST_ID = 0
const CSST_INFO = 1
const CSST_VISIBLE_RANGE = 2
const CSST_FORMAT_VERSION = 3

/**
 * Writes a `CompactedSsTable` (the V1 manifest's L0/sorted-run entry, and a compaction's output SST).
 * `format_version` is always written; `visible_range` when present.
 */
export const writeCompactedSst = (b: Builder, sst: SstHandle & { readonly visibleRange?: VisibleRange }): number => {
  const id = writeUlid(b, sst.id)
  const info = writeSsTableInfo(b, sst.info)
  const range = sst.visibleRange === undefined ? 0 : writeRange(b, sst.visibleRange)
  const formatVersion = u16(sst.formatVersion, "formatVersion")
  b.startObject(4)
  if (range !== 0) b.addFieldOffset(CSST_VISIBLE_RANGE, range, 0)
  b.addFieldOffset(CSST_INFO, info, 0)
  b.addFieldOffset(CSST_ID, id, 0)
  addU16Always(b, CSST_FORMAT_VERSION, formatVersion)
  return b.endObject()
}

/** Reads a `CompactedSsTable`, including its visible range when present. */
export const readCompactedSst = (t: FbTable): CompactedSst => {
  const handle = readSstHandle(t)
  const range = t.table(CSST_VISIBLE_RANGE)
  return range === undefined ? handle : { ...handle, visibleRange: readRange(range) }
}

/** Reads a `CompactedSsTable` ignoring `visible_range` (compaction outputs). */
export const readSstHandle = (t: FbTable): SstHandle => ({
  id: readUlid(t.requiredTable(CSST_ID, "CompactedSsTable.id")),
  info: readSsTableInfo(t.requiredTable(CSST_INFO, "CompactedSsTable.info")),
  formatVersion: t.u16Opt(CSST_FORMAT_VERSION) ?? ORIGINAL_SST_FORMAT_VERSION
})

// ---------------------------------------------------------------------------------------------------
// What SlateDB 0.12.1 requires of an L0 / sorted-run entry (it panics when loading a manifest that breaks
// these, so we refuse to write such a manifest and report reading one as corrupt):
// - the SST has a first entry (its physical range is `[first_entry, ∞)`);
// - a visible range starts Included or Unbounded, is non-empty (`BytesRange::new`), and overlaps the
//   physical range.

/** SlateDB's `BytesRange` non-emptiness rule. */
const nonEmpty = (start: RangeBound, end: RangeBound): boolean => {
  if (start.kind === "Unbounded" || end.kind === "Unbounded") return true
  const c = compareKeys(start.key, end.key)
  return start.kind === "Included" && end.kind === "Included" ? c <= 0 : c < 0
}

/** Why SlateDB would refuse this L0/sorted-run entry, or undefined when it is fine. */
export const compactedSstProblem = (sst: CompactedSst): string | undefined => {
  const first = sst.info.firstEntry
  if (first === undefined) return `SST ${sst.id} has no first entry`
  const range = sst.visibleRange
  if (range === undefined) return undefined
  if (range.start.kind === "Excluded") return `SST ${sst.id}: a visible range must start Included or Unbounded`
  if (!nonEmpty(range.start, range.end)) return `SST ${sst.id}: empty visible range`
  const start: RangeBound = range.start.kind === "Included" && compareKeys(range.start.key, first) > 0
    ? range.start
    : { kind: "Included", key: first }
  if (!nonEmpty(start, range.end)) return `SST ${sst.id}: visible range does not overlap the SST's keys`
  return undefined
}

const checkForWrite = (sst: CompactedSst): CompactedSst => {
  const problem = compactedSstProblem(sst)
  if (problem !== undefined) throw new InvalidError({ message: problem })
  return sst
}

const checkRead = (t: FbTable, sst: CompactedSst): CompactedSst => {
  const problem = compactedSstProblem(sst)
  return problem === undefined ? sst : t.buf.fail(problem)
}

/** Reads the `u16 BE` version prefix; throws `DataError` if the file is too short. */
export const readVersionPrefix = (bytes: Uint8Array, what: string, tooShort: string): number => {
  if (bytes.length < 2) throw new DataError({ message: `${tooShort}: ${what} has ${bytes.length} bytes`, section: what })
  return (bytes[0]! << 8) | bytes[1]!
}

export const versionPrefix = (version: number): Uint8Array => new Uint8Array([version >>> 8, version & 0xff])

// ---------------------------------------------------------------------------------------------------
// Manifest tables

// ManifestV1 slots
const V1_EXTERNAL_DBS = 1
const V1_INITIALIZED = 2
const V1_WRITER_EPOCH = 3
const V1_COMPACTOR_EPOCH = 4
const V1_REPLAY_AFTER_WAL_ID = 5
const V1_WAL_ID_LAST_SEEN = 6
const V1_L0_LAST_COMPACTED = 7
const V1_L0 = 8
const V1_COMPACTED = 9
const V1_LAST_L0_CLOCK_TICK = 10
const V1_CHECKPOINTS = 11
const V1_LAST_L0_SEQ = 12
const V1_WAL_OBJECT_STORE_URI = 13
const V1_RECENT_SNAPSHOT_MIN_SEQ = 14
const V1_SEQUENCE_TRACKER = 15

// ManifestV2 slots (decode only)
const V2_EXTERNAL_DBS = 1
const V2_INITIALIZED = 2
const V2_WRITER_EPOCH = 3
const V2_COMPACTOR_EPOCH = 4
const V2_REPLAY_AFTER_WAL_ID = 5
const V2_WAL_ID_LAST_SEEN = 6
const V2_LAST_COMPACTED_L0_SST_VIEW_ID = 7
const V2_SSTS = 8
const V2_L0 = 9
const V2_COMPACTED = 10
const V2_LAST_L0_CLOCK_TICK = 11
const V2_CHECKPOINTS = 12
const V2_LAST_L0_SEQ = 13
const V2_RECENT_SNAPSHOT_MIN_SEQ = 14
const V2_SEQUENCE_TRACKER = 15

// SortedRun { id: uint32 (0), ssts (1) } (V1 and V2)
const SR_ID = 0
const SR_SSTS = 1

// Checkpoint
const CP_ID = 0
const CP_MANIFEST_ID = 1
const CP_EXPIRE_TIME_S = 2
const CP_CREATE_TIME_S = 3
const CP_NAME = 6

// ExternalDb
const EDB_PATH = 0
const EDB_SOURCE_CHECKPOINT_ID = 1
const EDB_FINAL_CHECKPOINT_ID = 2
const EDB_SST_IDS = 3

// CompactedSsTableV2 { id (0), info (1), format_version (2) }; CompactedSsTableView { id (0), sst_id (1), visible_range (2) }
const CSST2_ID = 0
const CSST2_INFO = 1
const CSST2_FORMAT_VERSION = 2
const VIEW_SST_ID = 1
const VIEW_VISIBLE_RANGE = 2

const writeSortedRun = (b: Builder, run: SortedRun): number => {
  const ssts = createOffsetVector(b, run.ssts.map((s) => writeCompactedSst(b, checkForWrite(s))))
  b.startObject(2)
  b.addFieldOffset(SR_SSTS, ssts, 0)
  b.addFieldInt32(SR_ID, u32(run.id, "sorted run id") | 0, 0)
  return b.endObject()
}

const writeCheckpoint = (b: Builder, cp: Checkpoint): number => {
  const id = writeUuid(b, cp.id)
  const name = cp.name === undefined ? 0 : b.createString(cp.name)
  b.startObject(7)
  addU64Field(b, CP_MANIFEST_ID, cp.manifestId, "checkpoint manifestId")
  if (cp.name !== undefined) b.addFieldOffset(CP_NAME, name, 0)
  b.addFieldInt32(CP_CREATE_TIME_S, u32(cp.createTimeS, "checkpoint createTimeS") | 0, 0)
  b.addFieldInt32(CP_EXPIRE_TIME_S, u32(cp.expireTimeS ?? 0, "checkpoint expireTimeS") | 0, 0)
  b.addFieldOffset(CP_ID, id, 0)
  // metadata_type (slot 4) / metadata (slot 5): never written (NONE).
  return b.endObject()
}

const writeExternalDb = (b: Builder, db: ExternalDb): number => {
  const path = b.createString(db.path)
  const source = writeUuid(b, db.sourceCheckpointId)
  const final = db.finalCheckpointId === undefined ? 0 : writeUuid(b, db.finalCheckpointId)
  const sstIds = createOffsetVector(b, db.sstIds.map((id) => writeUlid(b, id)))
  b.startObject(4)
  b.addFieldOffset(EDB_SST_IDS, sstIds, 0)
  if (final !== 0) b.addFieldOffset(EDB_FINAL_CHECKPOINT_ID, final, 0)
  b.addFieldOffset(EDB_SOURCE_CHECKPOINT_ID, source, 0)
  b.addFieldOffset(EDB_PATH, path, 0)
  return b.endObject()
}

/** Encodes a manifest as SlateDB 0.12.1 does: `00 01` + ManifestV1. */
export const encodeManifest = (m: Manifest): Uint8Array => {
  if (!Number.isSafeInteger(m.nextWalSstId) || m.nextWalSstId < 1) {
    throw new InvalidError({ message: `nextWalSstId must be a safe integer ≥ 1, got ${m.nextWalSstId}` })
  }
  const b = new Builder(1024)
  const l0 = createOffsetVector(b, m.l0.map((s) => writeCompactedSst(b, checkForWrite(s))))
  const l0LastCompacted = m.l0LastCompacted === undefined ? 0 : writeUlid(b, m.l0LastCompacted)
  const compacted = createOffsetVector(b, m.compacted.map((r) => writeSortedRun(b, r)))
  const checkpoints = createOffsetVector(b, m.checkpoints.map((c) => writeCheckpoint(b, c)))
  const externalDbs = m.externalDbs.length === 0
    ? 0
    : createOffsetVector(b, m.externalDbs.map((d) => writeExternalDb(b, d)))
  const uri = m.walObjectStoreUri === undefined ? 0 : b.createString(m.walObjectStoreUri)
  const tracker = b.createByteVector(SequenceTracker.encode(m.sequenceTracker))

  b.startObject(16)
  addU64Field(b, V1_RECENT_SNAPSHOT_MIN_SEQ, m.recentSnapshotMinSeq, "recentSnapshotMinSeq")
  addU64Field(b, V1_LAST_L0_SEQ, m.lastL0Seq, "lastL0Seq")
  b.addFieldInt64(V1_LAST_L0_CLOCK_TICK, i64(m.lastL0ClockTick, "lastL0ClockTick"), 0n)
  addU64Field(b, V1_WAL_ID_LAST_SEEN, m.nextWalSstId - 1, "nextWalSstId - 1")
  addU64Field(b, V1_REPLAY_AFTER_WAL_ID, m.replayAfterWalId, "replayAfterWalId")
  addU64Field(b, V1_COMPACTOR_EPOCH, m.compactorEpoch, "compactorEpoch")
  addU64Field(b, V1_WRITER_EPOCH, m.writerEpoch, "writerEpoch")
  // manifest_id (slot 0) is always 0 (the real id is the file name): the default, so never written.
  b.addFieldOffset(V1_SEQUENCE_TRACKER, tracker, 0)
  if (uri !== 0) b.addFieldOffset(V1_WAL_OBJECT_STORE_URI, uri, 0)
  b.addFieldOffset(V1_CHECKPOINTS, checkpoints, 0)
  b.addFieldOffset(V1_COMPACTED, compacted, 0)
  b.addFieldOffset(V1_L0, l0, 0)
  if (l0LastCompacted !== 0) b.addFieldOffset(V1_L0_LAST_COMPACTED, l0LastCompacted, 0)
  if (externalDbs !== 0) b.addFieldOffset(V1_EXTERNAL_DBS, externalDbs, 0)
  b.addFieldInt8(V1_INITIALIZED, m.initialized ? 1 : 0, 0)
  return finishWithPrefix(b, b.endObject(), versionPrefix(MANIFEST_FORMAT_VERSION))
}

const readCheckpoint = (t: FbTable): Checkpoint => {
  const expire = t.u32(CP_EXPIRE_TIME_S)
  const name = t.string(CP_NAME)
  return {
    id: readUuid(t.requiredTable(CP_ID, "Checkpoint.id")),
    manifestId: t.u64(CP_MANIFEST_ID, "checkpoint manifest_id"),
    ...(expire === 0 ? {} : { expireTimeS: expire }),
    createTimeS: t.u32(CP_CREATE_TIME_S),
    ...(name === undefined ? {} : { name })
  }
}

const readExternalDb = (t: FbTable): ExternalDb => {
  const final = t.table(EDB_FINAL_CHECKPOINT_ID)
  return {
    path: t.requiredString(EDB_PATH, "ExternalDb.path"),
    sourceCheckpointId: readUuid(t.requiredTable(EDB_SOURCE_CHECKPOINT_ID, "ExternalDb.source_checkpoint_id")),
    ...(final === undefined ? {} : { finalCheckpointId: readUuid(final) }),
    sstIds: t.requiredTables(EDB_SST_IDS, "ExternalDb.sst_ids", readUlid)
  }
}

const readTracker = (t: FbTable, slot: number): SequenceTracker => {
  const bytes = t.bytes(slot)
  return bytes === undefined ? SequenceTracker.empty : SequenceTracker.decode(bytes)
}

const nextWalSstIdOf = (t: FbTable, slot: number): number => {
  const last = t.u64(slot, "wal_id_last_seen")
  if (last + 1 > Number.MAX_SAFE_INTEGER) t.buf.fail("wal_id_last_seen does not fit in a safe integer")
  return last + 1
}

const readManifestSst = (t: FbTable): CompactedSst => checkRead(t, readCompactedSst(t))

const decodeV1 = (t: FbTable): Manifest => {
  const uri = t.string(V1_WAL_OBJECT_STORE_URI)
  const l0LastCompacted = t.table(V1_L0_LAST_COMPACTED)
  return {
    initialized: t.bool(V1_INITIALIZED),
    writerEpoch: t.u64(V1_WRITER_EPOCH, "writer_epoch"),
    compactorEpoch: t.u64(V1_COMPACTOR_EPOCH, "compactor_epoch"),
    replayAfterWalId: t.u64(V1_REPLAY_AFTER_WAL_ID, "replay_after_wal_id"),
    nextWalSstId: nextWalSstIdOf(t, V1_WAL_ID_LAST_SEEN),
    l0LastCompacted: l0LastCompacted === undefined ? undefined : readUlid(l0LastCompacted),
    l0: t.requiredTables(V1_L0, "ManifestV1.l0", readManifestSst),
    compacted: t.requiredTables(V1_COMPACTED, "ManifestV1.compacted", (r) => ({
      id: r.u32(SR_ID),
      ssts: r.requiredTables(SR_SSTS, "SortedRun.ssts", readManifestSst)
    })),
    lastL0ClockTick: t.i64(V1_LAST_L0_CLOCK_TICK, "last_l0_clock_tick"),
    lastL0Seq: t.u64(V1_LAST_L0_SEQ, "last_l0_seq"),
    checkpoints: t.requiredTables(V1_CHECKPOINTS, "ManifestV1.checkpoints", readCheckpoint),
    ...(uri === undefined ? {} : { walObjectStoreUri: uri }),
    recentSnapshotMinSeq: t.u64(V1_RECENT_SNAPSHOT_MIN_SEQ, "recent_snapshot_min_seq"),
    sequenceTracker: readTracker(t, V1_SEQUENCE_TRACKER),
    externalDbs: t.tables(V1_EXTERNAL_DBS, readExternalDb) ?? []
  }
}

const decodeV2 = (t: FbTable): Manifest => {
  const lookup = new Map<string, SstHandle>()
  for (
    const h of t.requiredTables(V2_SSTS, "ManifestV2.ssts", (s): SstHandle => ({
      id: readUlid(s.requiredTable(CSST2_ID, "CompactedSsTableV2.id")),
      info: readSsTableInfo(s.requiredTable(CSST2_INFO, "CompactedSsTableV2.info")),
      formatVersion: s.u16Opt(CSST2_FORMAT_VERSION) ?? ORIGINAL_SST_FORMAT_VERSION
    }))
  ) lookup.set(h.id, h)
  const readView = (v: FbTable): CompactedSst => {
    const sstId = readUlid(v.requiredTable(VIEW_SST_ID, "CompactedSsTableView.sst_id"))
    const handle = lookup.get(sstId)
    if (handle === undefined) return v.buf.fail(`CompactedSsTableView references unknown SST id ${sstId}`)
    const range = v.table(VIEW_VISIBLE_RANGE)
    return checkRead(v, range === undefined ? handle : { ...handle, visibleRange: readRange(range) })
  }
  const lastCompacted = t.table(V2_LAST_COMPACTED_L0_SST_VIEW_ID)
  return {
    initialized: t.bool(V2_INITIALIZED),
    writerEpoch: t.u64(V2_WRITER_EPOCH, "writer_epoch"),
    compactorEpoch: t.u64(V2_COMPACTOR_EPOCH, "compactor_epoch"),
    replayAfterWalId: t.u64(V2_REPLAY_AFTER_WAL_ID, "replay_after_wal_id"),
    nextWalSstId: nextWalSstIdOf(t, V2_WAL_ID_LAST_SEEN),
    // A view id; equal to the SST id for everything SlateDB 0.12.1 and Shale produce.
    l0LastCompacted: lastCompacted === undefined ? undefined : readUlid(lastCompacted),
    l0: t.requiredTables(V2_L0, "ManifestV2.l0", readView),
    compacted: t.requiredTables(V2_COMPACTED, "ManifestV2.compacted", (r) => ({
      id: r.u32(SR_ID),
      ssts: r.requiredTables(SR_SSTS, "SortedRunV2.ssts", readView)
    })),
    lastL0ClockTick: t.i64(V2_LAST_L0_CLOCK_TICK, "last_l0_clock_tick"),
    lastL0Seq: t.u64(V2_LAST_L0_SEQ, "last_l0_seq"),
    checkpoints: t.requiredTables(V2_CHECKPOINTS, "ManifestV2.checkpoints", readCheckpoint),
    recentSnapshotMinSeq: t.u64(V2_RECENT_SNAPSHOT_MIN_SEQ, "recent_snapshot_min_seq"),
    sequenceTracker: readTracker(t, V2_SEQUENCE_TRACKER),
    externalDbs: t.tables(V2_EXTERNAL_DBS, readExternalDb) ?? []
  }
}

/** Decodes a manifest file (version 1 or 2). Throws `DataError` on anything malformed. */
export const decodeManifest = (bytes: Uint8Array): Manifest => {
  const version = readVersionPrefix(bytes, "manifest", "EmptyManifest")
  const body = new FbBuffer(bytes.subarray(2), "manifest")
  switch (version) {
    case 1:
      return decodeV1(body.root())
    case 2:
      return decodeV2(body.root())
    default:
      throw new DataError({
        message: `InvalidVersion: manifest format version ${version} (supported: 1, 2)`,
        section: "manifest"
      })
  }
}
