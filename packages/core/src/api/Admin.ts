/**
 * SlateDB's `Admin`: what an operator does to a database without being its writer. `Admin.Admin` is the
 * service for one database (`Admin.layer({ path })` over the `ObjectStore` in context); the same
 * operations are also functions taking the database root: inspection (manifest versions, the latest
 * manifest decoded, WAL SSTs and their rows, compacted SSTs, the compactions file), checkpoints (create a
 * detached one, refresh, delete, list), one garbage-collection pass, clones, sequence/time lookups, and
 * submitting compactions. Nothing here opens the database as its writer or claims an epoch, so it never
 * fences a running writer or compactor; its writes (checkpoints, compactions, clones, deletions of
 * garbage) are the CAS writes SlateDB's admin makes. Also the object layout and ULID parsing.
 */
export {
  latestManifest,
  type LatestManifest,
  listCompactedSsts,
  listManifests,
  listWalSsts,
  type NumberedObject,
  type StoredObject,
  summarizeWalSst,
  type WalSstSummary
} from "../admin/Admin.ts"
export { Admin, type AdminHandle, makeAdmin } from "../admin/AdminService.ts"
export {
  type CheckpointOptions,
  createCheckpoint,
  deleteCheckpoint,
  listCheckpoints,
  refreshCheckpoint,
  runGcOnce,
  type GcOnceOptions,
  sequenceForTimestamp,
  timestampForSequence
} from "../admin/Checkpoints.ts"
export { type CloneCreated, createClone } from "../admin/Clone.ts"
export {
  awaitCompaction,
  type AwaitOptions,
  type CompactionsFile,
  type CompactionState,
  readCompactions,
  submitCompaction,
  type SubmitOptions
} from "../admin/Compactions.ts"
export {
  type Checkpoint,
  type CompactedSst,
  type ExternalDb,
  INITIAL_CLOCK_TICK,
  type Manifest,
  type SortedRun
} from "../manifest/Manifest.ts"
export {
  compactedDir,
  compactedSstPath,
  manifestDir,
  manifestPath,
  parseCompactedSstId,
  parseManifestId,
  parseWalSstId,
  walDir,
  walSstPath
} from "../format/Paths.ts"
export { parseUlid, type UlidParts } from "../Ulid.ts"
export { compareKeys } from "../format/KeyComparator.ts"

import { Admin as AdminService } from "../admin/AdminService.ts"

/** The `Admin` service for the database at `options.path` in the `ObjectStore` in context. */
export const layer = AdminService.layer
