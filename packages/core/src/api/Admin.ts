/**
 * Inspection of a database in its object store: manifest versions, the latest manifest decoded, WAL SSTs
 * and their rows, compacted SSTs, the compactions file. Nothing here opens the database, so it never
 * fences a running writer or compactor; the only write is `submitCompaction` (to the compactions file, for
 * the running compactor to pick up). Also the object layout (where a database keeps what) and ULID parsing.
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
