/**
 * The compactor's state file `<root>/compactions/<id:020>.compactions`:
 * `u16 BE version = 1 | FlatBuffer CompactionsV1` (docs/format.md §2.4, §2.7). No checksum.
 *
 * Model: `Compactions { compactorEpoch, recentCompactions }`; each `Compaction` has a ULID id, a tiered
 * spec (sources: L0 view ids — SST ids in Shale and in what 0.12.1 writes — and sorted-run ids), a
 * status and the output SSTs written so far. The destination sorted run is not stored: SlateDB
 * re-derives it as `min(sortedRuns)` or 0 (`compactionDestination`), a quirk we keep.
 *
 * Encoding is byte-compatible with SlateDB's: empty source lists are omitted, the deprecated `ssts`
 * list is never written (read as L0 sources when `l0_view_ids` is absent), `output_ssts` is omitted when
 * empty, output SSTs carry `format_version` and no visible range.
 *
 * Errors: < 2 bytes or a spec that is not a TieredCompactionSpec ⇒ `DataError` "InvalidCompaction";
 * other versions ⇒ `DataError` "InvalidVersion"; malformed FlatBuffers ⇒ `DataError`.
 */
import { DataError } from "../errors.ts"
import {
  addU64Field,
  Builder,
  createOffsetVector,
  createU32Vector,
  FbBuffer,
  type FbTable,
  finishWithPrefix
} from "../format/FlatBuffers.ts"
import { readUlid, writeUlid } from "./Ids.ts"
import type { SstHandle } from "./Manifest.ts"
import { readSstHandle, readVersionPrefix, versionPrefix, writeCompactedSst } from "./ManifestCodec.ts"

export const COMPACTIONS_FORMAT_VERSION = 1

export const CompactionStatus = { Submitted: 0, Running: 1, Completed: 2, Failed: 3 } as const
export type CompactionStatus = (typeof CompactionStatus)[keyof typeof CompactionStatus]

/** A size-tiered compaction's sources (newest first, as scheduled). */
export interface TieredCompactionSpec {
  /** L0 sources: view ids, which are SST ULIDs for everything 0.12.1 and Shale write. */
  readonly l0ViewIds: ReadonlyArray<string>
  /** Sorted-run sources (u32 ids). */
  readonly sortedRuns: ReadonlyArray<number>
}

export interface Compaction {
  /** ULID. */
  readonly id: string
  readonly spec: TieredCompactionSpec
  readonly status: CompactionStatus
  /** SSTs written so far (a resumed compaction keeps them). */
  readonly outputSsts: ReadonlyArray<SstHandle>
}

export interface Compactions {
  readonly compactorEpoch: number
  /** Active (Submitted/Running) compactions plus the most recently finished one. */
  readonly recentCompactions: ReadonlyArray<Compaction>
}

/** The destination sorted run, as SlateDB re-derives it on load: the lowest source run id, else 0. */
export const compactionDestination = (spec: TieredCompactionSpec): number =>
  spec.sortedRuns.length === 0 ? 0 : Math.min(...spec.sortedRuns)

// TieredCompactionSpec { ssts (0, deprecated), sorted_runs (1), l0_view_ids (2) }
const SPEC_SSTS = 0
const SPEC_SORTED_RUNS = 1
const SPEC_L0_VIEW_IDS = 2
// union CompactionSpec { TieredCompactionSpec = 1 }
const SPEC_TYPE_TIERED = 1
// Compaction { id (0), spec_type (1), spec (2), status (3), output_ssts (4) }
const C_ID = 0
const C_SPEC_TYPE = 1
const C_SPEC = 2
const C_STATUS = 3
const C_OUTPUT_SSTS = 4
// CompactionsV1 { compactor_epoch (0), recent_compactions (1) }
const CS_COMPACTOR_EPOCH = 0
const CS_RECENT_COMPACTIONS = 1

const writeSpec = (b: Builder, spec: TieredCompactionSpec): number => {
  const l0 = spec.l0ViewIds.length === 0 ? 0 : createOffsetVector(b, spec.l0ViewIds.map((id) => writeUlid(b, id)))
  const runs = spec.sortedRuns.length === 0 ? 0 : createU32Vector(b, spec.sortedRuns)
  b.startObject(3)
  if (l0 !== 0) b.addFieldOffset(SPEC_L0_VIEW_IDS, l0, 0)
  if (runs !== 0) b.addFieldOffset(SPEC_SORTED_RUNS, runs, 0)
  return b.endObject()
}

const writeCompaction = (b: Builder, c: Compaction): number => {
  const id = writeUlid(b, c.id)
  const spec = writeSpec(b, c.spec)
  const outputs = c.outputSsts.length === 0
    ? 0
    : createOffsetVector(b, c.outputSsts.map((s) => writeCompactedSst(b, { id: s.id, info: s.info, formatVersion: s.formatVersion })))
  b.startObject(5)
  if (outputs !== 0) b.addFieldOffset(C_OUTPUT_SSTS, outputs, 0)
  b.addFieldOffset(C_SPEC, spec, 0)
  b.addFieldOffset(C_ID, id, 0)
  b.addFieldInt8(C_STATUS, c.status, CompactionStatus.Submitted)
  b.addFieldInt8(C_SPEC_TYPE, SPEC_TYPE_TIERED, 0)
  return b.endObject()
}

/** Encodes a compactions file: `00 01` + CompactionsV1. */
export const encodeCompactions = (cs: Compactions): Uint8Array => {
  const b = new Builder(1024)
  const recent = createOffsetVector(b, cs.recentCompactions.map((c) => writeCompaction(b, c)))
  b.startObject(2)
  addU64Field(b, CS_COMPACTOR_EPOCH, cs.compactorEpoch, "compactorEpoch")
  b.addFieldOffset(CS_RECENT_COMPACTIONS, recent, 0)
  return finishWithPrefix(b, b.endObject(), versionPrefix(COMPACTIONS_FORMAT_VERSION))
}

const statuses: ReadonlyArray<CompactionStatus> = [0, 1, 2, 3]

const readCompaction = (t: FbTable): Compaction => {
  const id = readUlid(t.requiredTable(C_ID, "Compaction.id"))
  const specType = t.u8(C_SPEC_TYPE)
  const specTable = t.requiredTable(C_SPEC, "Compaction.spec")
  if (specType !== SPEC_TYPE_TIERED) t.buf.fail(`InvalidCompaction: unknown compaction spec type ${specType}`)
  const l0ViewIds = specTable.tables(SPEC_L0_VIEW_IDS, readUlid) ?? specTable.tables(SPEC_SSTS, readUlid) ?? []
  const sortedRuns = specTable.u32s(SPEC_SORTED_RUNS) ?? []
  const s = t.i8(C_STATUS)
  const status = statuses[s]
  if (status === undefined) t.buf.fail(`unknown compaction status ${s}`)
  return {
    id,
    spec: { l0ViewIds, sortedRuns },
    status,
    outputSsts: t.tables(C_OUTPUT_SSTS, readSstHandle) ?? []
  }
}

/** Decodes a compactions file. Throws `DataError` on anything malformed. */
export const decodeCompactions = (bytes: Uint8Array): Compactions => {
  const version = readVersionPrefix(bytes, "compactions", "InvalidCompaction")
  if (version !== COMPACTIONS_FORMAT_VERSION) {
    throw new DataError({
      message: `InvalidVersion: compactions format version ${version} (supported: 1)`,
      section: "compactions"
    })
  }
  const t = new FbBuffer(bytes.subarray(2), "compactions").root()
  return {
    compactorEpoch: t.u64(CS_COMPACTOR_EPOCH, "compactor_epoch"),
    recentCompactions: t.requiredTables(CS_RECENT_COMPACTIONS, "CompactionsV1.recent_compactions", readCompaction)
  }
}
