/**
 * Read-only inspection of a database in its object store: manifest versions, the latest manifest decoded,
 * WAL SSTs and their rows, compacted SSTs. Nothing here opens the database or writes, so it never fences a
 * running writer. Also the object layout (where a database keeps what) and ULID parsing.
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
