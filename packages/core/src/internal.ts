/**
 * `@shale/core/internal`: the engine's building blocks (codecs, the SST reader and builder, the WAL buffer,
 * the manifest store, test switches, ...), for Shale's own packages (`@shale/testing`, tools). No stability
 * promise: anything here may change in any release. Applications use the main entry (`@shale/core`).
 */
export * from "./format/RowEntry.ts"
export * from "./objectstore/ObjectPath.ts"
export * from "./objectstore/ObjectStore.ts"
export * from "./objectstore/ObjectStoreError.ts"
export * from "./objectstore/StoreRecipe.ts"
export * from "./errors.ts"
export * from "./format/SstMetadata.ts"
export * from "./format/SstMetadataCodec.ts"
export * from "./Ulid.ts"
export * from "./objectstore/LocalObjectStore.ts"
export * from "./objectstore/RetryingObjectStore.ts"
export * from "./objectstore/CachedObjectStore.ts"
export * from "./objectstore/ObjectStoreCache.ts"
export * from "./Oracle.ts"
export * from "./MonotonicClock.ts"
export * from "./wal/WalBuffer.ts"
export * from "./wal/WalBufferManager.ts"
export * from "./wal/WalIdAllocator.ts"
export * from "./wal/WalMetrics.ts"
export * from "./wal/WalSstWriter.ts"
export * from "./format/Paths.ts"
export * from "./manifest/Manifest.ts"
export * from "./manifest/SequenceTracker.ts"
export {
  compactedSstProblem,
  decodeManifest,
  encodeManifest,
  MANIFEST_FORMAT_VERSION,
  ORIGINAL_SST_FORMAT_VERSION
} from "./manifest/ManifestCodec.ts"
export {
  type Compaction,
  compactionDestination,
  type Compactions,
  COMPACTIONS_FORMAT_VERSION,
  CompactionStatus,
  decodeCompactions,
  encodeCompactions,
  type TieredCompactionSpec
} from "./manifest/CompactionsCodec.ts"
export * from "./compactor/Compactor.ts"
export * from "./compactor/CompactorState.ts"
export * from "./compactor/CompactorStore.ts"
export * from "./compactor/CompactionJob.ts"
export * from "./compactor/SizeTieredScheduler.ts"
export * from "./admin/Compactions.ts"
export * from "./format/KeyComparator.ts"
export * from "./memtable/MemTable.ts"
export * from "./Settings.ts"
export * from "./sst/BlockCache.ts"
export * from "./format/Checksum.ts"
export * from "./format/RowCodec.ts"
export * from "./format/RowCodecV0.ts"
export * from "./format/Block.ts"
export * from "./format/BloomFilter.ts"
export * from "./format/Compression.ts"
export * from "./format/SsTableBuilder.ts"
export * from "./sst/SsTableReader.ts"
export { Db, type DbOptions } from "./db/Db.ts"
export {
  type BatchOp,
  type DbStatus,
  type EmbeddedCompactorStatus,
  type DurabilityLevel,
  type FlushType,
  type KeyRange,
  type KeyValue,
  type MergeOperator,
  type PutOptions as DbPutOptions,
  type ReadOptions,
  type ScanOptions as DbScanOptions,
  type Ttl,
  WriteBatch,
  type WriteHandle,
  type WriteOptions
} from "./db/DbApi.ts"
export { Shale, ShaleDb, type ShaleOpenOptions } from "./db/Shale.ts"
export { ReadNow, type ReadNowHooks } from "./db/Reader.ts"
export {
  type IsolationLevel,
  keyId,
  type KeySet,
  retentionFloor,
  SnapshotRegistry,
  TransactionManager,
  TxnState
} from "./db/TransactionManager.ts"
export {
  beginTransaction,
  makeSnapshot,
  OWN_WRITE_SEQ,
  runTransaction,
  type RunTransactionOptions,
  type Snapshot,
  type Transaction,
  type TransactionOptions,
  type TxnHost
} from "./db/Transaction.ts"
export * from "./admin/Admin.ts"
export * from "./objectstore/StoreUrl.ts"
export * from "./ShaleLogger.ts"
export {
  claimWriterEpoch,
  fencedError,
  makeManifestStore,
  type ManifestStore,
  ManifestWriter,
  type ManifestWriterOptions,
  mergeRemoteManifest,
  type StoredManifest,
  type WriteOutcome
} from "./manifest/ManifestStore.ts"
export { TestSwitches, type TestSwitchesShape, TestSwitchesOff } from "./testing/TestSwitches.ts"
