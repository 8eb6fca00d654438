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
 * 4. The WAL buffer (`WalBufferManager`) starts with our collaborators: WAL ids from the manifest's
 *    `next_wal_sst_id` (`ManifestWriter.allocateWalId`), the watermarks as its `Oracle`, the engine clock
 *    as its `MonotonicClock`, WAL SSTs in the configured block size and codec. Then the write path, the
 *    memtable flusher and the read path.
 * 5. In the background (DbBackground.ts): the embedded compactor and garbage collector, a WAL monitor
 *    (closes the database at once when the WAL buffer stops, fenced or fatal, so reads fail too), a
 *    backpressure watchdog and a manifest poller (a newer writer's epoch closes the database as fenced;
 *    compactor changes are merged).
 *
 * Closing (`close`, or the end of the layer's scope): DbClose.ts. The memtable is NOT flushed to L0 (as
 * SlateDB 0.12.1): its rows replay from the WAL on the next open.
 *
 * A fenced or fatally failed database closes itself (`closeWith`): every pending and later call fails
 * with that `ClosedError`, and nothing it writes afterwards reaches the manifest. A WAL write in flight
 * finishes first, so its writers learn whether their write is durable (`ClosedError.durable`).
 */
import { Clock, Duration, Effect, Exit, Option, Stream } from "effect"
import { ClosedError, type DbError, InvalidError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { MonotonicClock } from "../MonotonicClock.ts"
import type { RetryOptions } from "../objectstore/RetryingObjectStore.ts"
import { Oracle } from "../Oracle.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { checkMergeOperator, type MergeOperator } from "../iter/MergeOperator.ts"
import { makeWalBufferManager } from "../wal/WalBufferManager.ts"
import { WalIdAllocator } from "../wal/WalIdAllocator.ts"
import { encodeWalSst, makeWalSstWriter, WalSstWriter } from "../wal/WalSstWriter.ts"
import type { DbService } from "./DbService.ts"
import type { FlushType } from "./DbApi.ts"
import { Backpressure } from "./Backpressure.ts"
import { immutableLimit } from "./MemtableLimit.ts"
import { makeMemtableFlusher } from "./MemtableFlusher.ts"
import { makeCloser } from "./DbClose.ts"
import { makeReader, ReadNow } from "./Reader.ts"
import { recover } from "./Recovery.ts"
import { makeWriter } from "./Writer.ts"
import { configureWarming, warmViewSwitch } from "./ViewWarming.ts"
import { forkBackground, primaryOf, startEmbeddedCompactor, startEmbeddedGc } from "./DbBackground.ts"
import { statusOf } from "./DbStatus.ts"
import { makeCreateCheckpoint } from "./DbCheckpoints.ts"
import { preloadDiskCache } from "./DiskCache.ts"
import { openStorage } from "./DbStorage.ts"
import { dbCacheSeries, dbSeries, mergeOperandSeries, objectStoreCacheSeries, registerSeries, warmSeries } from "../Metrics.ts"
import { changesOver, type ChangesOptions, type SourceState } from "../wal/ChangeStream.ts"
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

/** Opens a database in the current scope (the layer's); see the module comment. */
export const openDb = Effect.fnUntraced(function*(options: DbOptions) {
  const settings = yield* decodeSettings(options.settings)
  const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
  const root = normalizeRoot(options.path)
  const { store, storeOf, diskCache, tables, stats, compression, sizeOptions, operatorFor } = yield* openStorage({
    root,
    settings,
    storeRetry: options.storeRetry,
    mergeOperator
  })
  const recovered = yield* recover({ root, settings, compression, store, clock: yield* Clock.Clock, tables })
  const { state, writer: manifest } = recovered
  // A compaction's output replaces hot blocks before the read path sees it (db/ViewWarming.ts).
  configureWarming(tables, settings.compactionWarmupMs, yield* Effect.scope)
  manifest.beforeRemoteSwitch = (from, to) => warmViewSwitch(tables, from, to)
  yield* preloadDiskCache(diskCache, tables, manifest.manifest)

  // ---------------------------------------------------------------- the WAL buffer
  const wal = yield* makeWalBufferManager({
    maxWalBytes: settings.l0SstSizeBytes,
    maxFlushInterval: settings.flushIntervalMs === null ? "Infinity" : Duration.millis(settings.flushIntervalMs),
    durableFlush: settings.durableFlush,
    blockSize: settings.blockSize,
    recentFlushedWalId: recovered.lastWalId
  }).pipe(
    Effect.provideService(WalSstWriter, makeWalSstWriter(store, { root, encode: encodeWalSst({ blockSize: settings.blockSize, compression }) })),
    Effect.provideService(WalIdAllocator, WalIdAllocator.of({ nextWalId: Effect.sync(() => manifest.allocateWalId()) })),
    Effect.provideService(Oracle, state.seqs.oracle),
    Effect.provideService(MonotonicClock, state.clock.service)
  )

  // A full backlog of immutable memtables closes the gate whatever the total (docs/design/compaction.md §6).
  const immutableBytes = immutableLimit(settings)
  const backpressureLimit = () => (state.immBytes >= immutableBytes ? 0 : settings.maxUnflushedBytes)
  const backpressure = new Backpressure(backpressureLimit, () => {
    const total = wal.estimatedBytesNow() + state.immBytes
    stats.totalMemSizeBytes = total
    return total
  })

  // ---------------------------------------------------------------- closing with an error
  let signalFlusher: () => void = () => {}
  /** Asks the embedded compactor (if any) to look for work now. */
  let nudgeCompactor: () => void = () => {}

  /** Closes the database because of `error` (fenced or fatal); idempotent. */
  const closeWith = (error: ClosedError): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (state.closeError !== undefined) return Effect.void
      state.closeError = error
      state.failImms(error)
      backpressure.failAll(error)
      signalFlusher()
      // A WAL write in flight finishes, so its writers learn whether it is durable (WalBufferManager.stop).
      return Effect.andThen(
        error.reason === "clean" ? Effect.void : Effect.logWarning(`database closed: ${error.message}`),
        wal.stop(error)
      )
    })

  const checkOpen: Effect.Effect<void, DbError> = Effect.suspend(() =>
    state.closeError === undefined ? Effect.void : Effect.fail(state.closeError)
  )

  /**
   * A WAL buffer that stopped closes the database with its reason. A write that waited for durability
   * fails with what the WAL buffer said of it (whether it may be durable: `ClosedError.durable`); other
   * calls fail with the database's error.
   */
  const onWalClosed = (error: ClosedError): Effect.Effect<never, DbError> =>
    Effect.andThen(
      closeWith(primaryOf(error)),
      Effect.suspend(() => Effect.fail(error.durable !== undefined ? error : state.closeError ?? error))
    )

  // ---------------------------------------------------------------- write path, flusher, read path
  const txns = new TransactionManager({ ignoreConflicts: (yield* TestSwitches).txnIgnoresConflicts })
  const snapshots = new SnapshotRegistry()
  const switches = yield* TestSwitches
  const writer = makeWriter({
    txns,
    state,
    settings,
    wal,
    backpressure,
    neverYieldForFlush: switches.neverYieldForFlush,
    onFreeze: () => signalFlusher(),
    onWalClosed,
    mergeOperator,
    stats
  })
  const flusher = yield* makeMemtableFlusher({
    root,
    settings,
    compression,
    sizeOptions,
    store,
    state,
    manifest,
    tables,
    wal,
    lock: writer.lock,
    onFlushed: () => {
      backpressure.wake()
      nudgeCompactor()
    },
    onL0Full: () => nudgeCompactor(),
    closeWith,
    checkOpen,
    mergeOperator: operatorFor("flush"),
    stats,
    retentionFloor: switches.flushIgnoresSnapshots ? () => undefined : () => retentionFloor(snapshots, txns)
  })
  signalFlusher = flusher.signal
  const reader = makeReader({ state, manifest, tables, mergeOperator: operatorFor("read"), stats })
  yield* registerSeries([
    ...dbSeries(stats, tables.filterStats, () => manifest.manifest.l0.length),
    ...(tables.blockCache === undefined ? [] : dbCacheSeries(tables.blockCache)),
    ...(tables.warming === undefined ? [] : warmSeries(tables.warmStats)),
    ...(mergeOperator === undefined ? [] : mergeOperandSeries(stats)),
    ...(diskCache === undefined ? [] : objectStoreCacheSeries(diskCache.statsUnsafe))
  ])
  const txnHost: TxnHost = {
    checkOpen,
    committedSeq: () => state.seqs.committed,
    getKeyValueAt: reader.getKeyValueAt,
    scanAt: reader.scanAt,
    commit: writer.commitTxn,
    txns,
    snapshots,
    mergeOperator: operatorFor("read")
  }

  /** Re-reads the manifest: a newer writer's epoch closes the database; other failures are retried later. */
  const refreshManifest = Effect.gen(function*() {
    if (state.closeError !== undefined) return
    const exit = yield* Effect.exit(manifest.refresh)
    if (Exit.isFailure(exit)) {
      const error = Option.getOrUndefined(Exit.findErrorOption(exit))
      if (error?._tag === "ClosedError") return yield* closeWith(error)
      yield* Effect.logWarning("manifest refresh failed (will retry)", exit.cause)
    }
  })

  // ---------------------------------------------------------------- background (DbBackground.ts)
  const embedded = {
    root,
    settings,
    tables,
    storeOf,
    mergeOperator: operatorFor("compact"),
    // Its new sorted runs reach the read path at once, and a stalled L0 upload re-checks.
    onManifestWritten: Effect.andThen(refreshManifest, Effect.sync(() => signalFlusher()))
  }
  const compactor = yield* startEmbeddedCompactor(embedded)
  if (compactor !== undefined) nudgeCompactor = compactor.nudge
  const gc = yield* startEmbeddedGc(embedded)
  const background = yield* forkBackground({
    state,
    settings,
    wal,
    flusher,
    backpressure,
    closeWith,
    refreshManifest
  })

  // ---------------------------------------------------------------- the public operations
  const flush = Effect.fn("Db.flush")(function*(options?: { readonly type?: FlushType }) {
    yield* checkOpen
    stats.flushRequests++
    const type = options?.type ?? "wal"
    yield* Effect.annotateCurrentSpan("db.flush_type", type)
    if (type === "wal") return yield* wal.flush().pipe(Effect.catch(onWalClosed))
    if (type === "memtable") return yield* flusher.flushMemtables
    return yield* new InvalidError({ message: `invalid flush type ${JSON.stringify(type)}` })
  })

  const createCheckpoint = makeCreateCheckpoint({
    manifest,
    checkOpen,
    flushAll: Effect.andThen(flush({ type: "wal" }), flush({ type: "memtable" }))
  })

  const status = statusOf(state, manifest, compactor, gc)

  const { close, isClosed } = makeCloser({
    state,
    backpressure,
    writeLock: writer.lock,
    compactor,
    wal,
    flusher,
    fibers: background,
    manifest
  })
  yield* Effect.addFinalizer(() => Effect.suspend(() => (isClosed() ? Effect.void : Effect.ignore(close()))))

  /** What a change stream sees: closed once a clean close has made every commit durable (its last WAL is listed). */
  const changesState = (): SourceState => {
    const e = state.closeError
    if (e === undefined) return "open"
    if (e.reason !== "clean") return e
    return state.seqs.durable >= state.seqs.committed ? "closed" : "open"
  }
  const changes = (options?: ChangesOptions) => Stream.unwrap(Effect.as(checkOpen, changesOver(store, root, options, { state: changesState })))

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
    status,
    createCheckpoint,
    changes,
    snapshot: () => makeSnapshot(txnHost),
    begin: (options) => beginTransaction(txnHost, options),
    transaction: (body, options) => runTransaction(txnHost, body, options),
    close: close()
  } satisfies DbService
}, (effect, options) => Effect.withSpan(effect, "Db.open", { attributes: { "db.path": options.path } }))
