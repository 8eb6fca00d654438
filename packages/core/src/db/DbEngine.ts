/**
 * Assembles an open database from its parts and owns its lifecycle; `Db.layer` is this plus the service
 * tag. docs/design/db.md describes the whole engine.
 *
 * Opening (`openDb`, in the layer's scope):
 * 1. Settings: decoded and validated over SlateDB's defaults (`InvalidError` on a bad value).
 * 2. Storage (DbStorage.ts): the store in context, counted, wrapped in the disk cache when
 *    `Settings.objectStoreCache` asks for one and in the retrying layer; the table store and block cache.
 * 3. Recovery (Recovery.ts): claim the writer epoch, fence older writers, replay the WAL; then, with a disk
 *    cache that preloads (DiskCache.ts), fill it with the manifest's SSTs.
 * 4. The WAL buffer and the backpressure gate in front of it (DbWal.ts); then the write path (Writer.ts),
 *    the memtable flusher (MemtableFlusher.ts), the read path (Reader.ts) and the metric series
 *    (DbStatus.ts).
 * 5. In the background (DbBackground.ts): the embedded compactor and garbage collector, a WAL monitor
 *    (closes the database at once when the WAL buffer stops, fenced or fatal, so reads fail too), a
 *    backpressure watchdog and a manifest poller (a newer writer's epoch closes the database as fenced;
 *    compactor changes are merged).
 * 6. The public operations: the paths' own, `flush` and `changes` (DbOperations.ts), checkpoints
 *    (DbCheckpoints.ts), `status` (DbStatus.ts), snapshots and transactions (Transaction.ts).
 *
 * Closing (`close`, or the end of the layer's scope): DbClose.ts. The memtable is NOT flushed to L0 (as
 * SlateDB 0.12.1): its rows replay from the WAL on the next open.
 *
 * A fenced or fatally failed database closes itself (`closeWith`, DbClose.ts): every pending and later
 * call fails with that `ClosedError`, and nothing it writes afterwards reaches the manifest. A WAL write in
 * flight finishes first, so its writers learn whether their write is durable (`ClosedError.durable`).
 */
import { Clock, Effect } from "effect"
import { normalizeRoot } from "../format/Paths.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { RetryOptions } from "../objectstore/RetryingObjectStore.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { checkMergeOperator, type MergeOperator } from "../iter/MergeOperator.ts"
import type { DbService } from "./DbService.ts"
import { makeMemtableFlusher } from "./MemtableFlusher.ts"
import { makeCloser, makeFailureClose } from "./DbClose.ts"
import { makeReader, ReadNow, type Reader } from "./Reader.ts"
import { recover } from "./Recovery.ts"
import { makeWriter, type Writer } from "./Writer.ts"
import { configureWarming, warmViewSwitch } from "./ViewWarming.ts"
import { type EmbeddedDeps, forkBackground, makeRefreshManifest, startEmbeddedCompactor, startEmbeddedGc } from "./DbBackground.ts"
import { registerDbSeries, statusOf } from "./DbStatus.ts"
import { makeCreateCheckpoint } from "./DbCheckpoints.ts"
import { makeChanges, makeFlush } from "./DbOperations.ts"
import { preloadDiskCache } from "./DiskCache.ts"
import { openStorage } from "./DbStorage.ts"
import { makeBackpressure, startWal } from "./DbWal.ts"
import type { DbState } from "./DbState.ts"
import { retentionFloor, SnapshotRegistry, TransactionManager } from "./TransactionManager.ts"
import { beginTransaction, makeSnapshot, runTransaction, type TxnHost } from "./Transaction.ts"

export interface DbOptions {
  /** The database root inside the object store (`""` for the store's root). */
  readonly path: string
  /** Any subset of the settings; the rest are SlateDB's defaults. Validated on open. */
  readonly settings?: SettingsInput
  /** Retry policy of the engine's store wrapper (default: SlateDB's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
  /**
   * Folds merge operands (`Db.merge`) on writes, L0 flushes, the embedded compactor and reads
   * (docs/design/merge.md). Without one, merges are written as they are and a read that meets one fails.
   */
  readonly mergeOperator?: MergeOperator | undefined
}

/** Validates settings given as (a subset of) `Settings` values, over the defaults. */
export const decodeSettings = Settings.validate

/** What `serviceOf` assembles the public operations from. */
interface ServiceParts {
  readonly writer: Writer
  readonly reader: Reader
  readonly flush: DbService["flush"]
  readonly close: () => DbService["close"]
  readonly checkOpen: TxnHost["checkOpen"]
  readonly manifest: ManifestWriter
  readonly state: DbState
  readonly txns: TransactionManager
  readonly snapshots: SnapshotRegistry
  readonly root: string
  readonly store: ObjectStore["Service"]
  readonly status: DbService["status"]
  readonly readOperator: MergeOperator | undefined
}

/** The public operations (step 6 of the module comment). */
const serviceOf = (parts: ServiceParts): DbService => {
  const { writer, reader, flush, checkOpen, manifest, state } = parts
  const txnHost: TxnHost = {
    checkOpen,
    committedSeq: () => state.seqs.committed,
    getKeyValueAt: reader.getKeyValueAt,
    scanAt: reader.scanAt,
    commit: writer.commitTxn,
    txns: parts.txns,
    snapshots: parts.snapshots,
    mergeOperator: parts.readOperator
  }
  return {
    put: writer.put,
    delete: writer.delete,
    write: writer.write,
    merge: writer.merge,
    get: reader.get,
    getKeyValue: reader.getKeyValue,
    [ReadNow]: { get: reader.getNow, getKeyValue: reader.getKeyValueNow },
    scan: reader.scan,
    scanPrefix: reader.scanPrefix,
    flush,
    status: parts.status,
    createCheckpoint: makeCreateCheckpoint({
      manifest,
      checkOpen,
      flushAll: Effect.andThen(flush({ type: "wal" }), flush({ type: "memtable" }))
    }),
    changes: makeChanges(parts.store, parts.root, state, checkOpen),
    snapshot: () => makeSnapshot(txnHost),
    begin: (options) => beginTransaction(txnHost, options),
    transaction: (body, options) => runTransaction(txnHost, body, options),
    close: parts.close()
  }
}

/** Opens a database in the current scope (the layer's); see the module comment. */
export const openDb = Effect.fnUntraced(function*(options: DbOptions) {
  const settings = yield* decodeSettings(options.settings)
  const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
  const root = normalizeRoot(options.path)
  const storage = yield* openStorage({ root, settings, storeRetry: options.storeRetry, mergeOperator })
  const { store, tables, stats, compression, operatorFor } = storage
  const recovered = yield* recover({ root, settings, compression, store, clock: yield* Clock.Clock, tables })
  const { state, writer: manifest } = recovered
  // A compaction's output replaces hot blocks before the read path sees it (db/ViewWarming.ts).
  configureWarming(tables, settings.compactionWarmupMs, yield* Effect.scope)
  manifest.beforeRemoteSwitch = (from, to) => warmViewSwitch(tables, from, to)
  yield* preloadDiskCache(storage.diskCache, tables, manifest.manifest)

  const wal = yield* startWal({ root, settings, compression, store, recovered })
  const backpressure = makeBackpressure(settings, state, wal, stats)
  // Set once the flusher and the embedded compactor exist (they start after the paths that wake them).
  let signalFlusher: () => void = () => {}
  let nudgeCompactor: () => void = () => {}
  const { closeWith, checkOpen, onWalClosed } = makeFailureClose({ state, backpressure, wal, signalFlusher: () => signalFlusher() })

  // ---------------------------------------------------------------- write path, flusher, read path
  const switches = yield* TestSwitches
  const txns = new TransactionManager({ ignoreConflicts: switches.txnIgnoresConflicts })
  const snapshots = new SnapshotRegistry()
  const writer = makeWriter({
    txns, state, settings, wal, backpressure, onWalClosed, mergeOperator, stats,
    neverYieldForFlush: switches.neverYieldForFlush,
    onFreeze: () => signalFlusher()
  })
  const flusher = yield* makeMemtableFlusher({
    root, settings, compression, store, state, manifest, tables, wal, stats, closeWith, checkOpen,
    sizeOptions: storage.sizeOptions,
    lock: writer.lock,
    onFlushed: () => {
      backpressure.wake()
      nudgeCompactor()
    },
    onL0Full: () => nudgeCompactor(),
    mergeOperator: operatorFor("flush"),
    retentionFloor: switches.flushIgnoresSnapshots ? () => undefined : () => retentionFloor(snapshots, txns)
  })
  signalFlusher = flusher.signal
  const reader = makeReader({ state, manifest, tables, mergeOperator: operatorFor("read"), stats })
  yield* registerDbSeries(storage, manifest, mergeOperator)

  // ---------------------------------------------------------------- background (DbBackground.ts)
  const refreshManifest = makeRefreshManifest(state, manifest, closeWith)
  const embedded: EmbeddedDeps = {
    root,
    settings,
    tables,
    storeOf: storage.storeOf,
    mergeOperator: operatorFor("compact"),
    // Its new sorted runs reach the read path at once, and a stalled L0 upload re-checks.
    onManifestWritten: Effect.andThen(refreshManifest, Effect.sync(() => signalFlusher()))
  }
  const compactor = yield* startEmbeddedCompactor(embedded)
  if (compactor !== undefined) nudgeCompactor = compactor.nudge
  const gc = yield* startEmbeddedGc(embedded)
  const background = yield* forkBackground({ state, settings, wal, flusher, backpressure, closeWith, refreshManifest })

  // ---------------------------------------------------------------- the public operations
  const flush = makeFlush({ checkOpen, stats, wal, flusher, onWalClosed })
  const { close, isClosed } = makeCloser({
    state, backpressure, compactor, wal, flusher, manifest,
    writeLock: writer.lock,
    fibers: background
  })
  yield* Effect.addFinalizer(() => Effect.suspend(() => (isClosed() ? Effect.void : Effect.ignore(close()))))
  return serviceOf({
    writer, reader, flush, close, checkOpen, manifest, state, txns, snapshots, root,
    store,
    status: statusOf(state, manifest, compactor, gc),
    readOperator: operatorFor("read")
  })
}, (effect, options) => Effect.withSpan(effect, "Db.open", { attributes: { "db.path": options.path } }))
