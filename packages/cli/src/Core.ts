/**
 * What the `shale` command uses from `@shale/core`, in one place.
 *
 * Most of it comes through the package's public entry point. A few modules are not exported from there
 * (yet): the `Db` service and its vocabulary, and the SST reader; they are imported from their source files, so that
 * this is the only module to touch when the entry point grows.
 */
export {
  ClosedError,
  compareKeys,
  DataError,
  type DbError,
  decodeManifest,
  type CompactedSst,
  type Manifest,
  INITIAL_CLOCK_TICK,
  LocalObjectStore,
  makeMemory,
  manifestDir,
  walDir,
  compactedDir,
  parseManifestId,
  parseWalSstId,
  parseCompactedSstId,
  parseUlid,
  ObjectStore,
  type ObjectStoreError,
  RowKind,
  Settings,
  type SsTableInfo
} from "@shale/core"
export { Db } from "../../core/src/db/Db.ts"
export { type KeyRange, type KeyValue, WriteBatch } from "../../core/src/db/DbApi.ts"
export { SsTableReader } from "../../core/src/sst/SsTableReader.ts"
