/**
 * Assembles an open database from its parts and owns its lifecycle; `Db.layer` is this plus the service
 * tag. docs/design/db.md describes the whole engine.
 *
 * Opening (`openDb`, in the layer's scope):
 * 1. Settings: decoded and validated over SlateDB's defaults (`InvalidError` on a bad value).
 * 2. The store in context is wrapped in the disk cache when `Settings.objectStoreCache` asks for one
 *    (DiskCache.ts), then in the retrying layer (`withRetries`): every engine I/O retries transient
 *    failures, and create-only puts are idempotent across retries (`slatedbputid`).
 * 3. Recovery (Recovery.ts): claim the writer epoch, fence older writers, replay the WAL; then, with a disk
 *    cache that preloads (DiskCache.ts), fill it with the manifest's SSTs.
 * 4. The WAL buffer (`WalBufferManager`) starts with our collaborators: WAL ids from the manifest's
 *    `next_wal_sst_id` (`ManifestWriter.allocateWalId`), the watermarks as its `Oracle`, the engine clock
 *    as its `MonotonicClock`, WAL SSTs in the configured block size and codec.
 * 5. Background fibers: the memtable flusher, a WAL monitor (notices a WAL buffer that stopped — fenced
 *    or fatal — and closes the database at once, so reads fail too; after every WAL flush it lets
 *    backpressure admit waiting writers), a backpressure watchdog (re-checks every 100 ms while writers
 *    wait) and a manifest poller (every `manifestPollIntervalMs`: a newer writer's epoch closes the
 *    database as fenced; compactor changes are merged).
 *
 * Closing (`close`, or the end of the layer's scope): no new operations (they fail with
 * `ClosedError("clean")`), in-flight commits finish, the WAL is flushed, the flusher finishes the memtable
 * it is writing and stops, the current manifest is written once more (persisting `next_wal_sst_id`), the
 * WAL buffer stops. The memtable is NOT flushed to L0 (as SlateDB 0.12.1): its rows replay from the WAL on
 * the next open. A second `close` fails with the `ClosedError` the database closed with.
 *
 * A fenced or fatally failed database closes itself (`closeWith`): every pending and later call fails
 * with that `ClosedError`, and nothing it writes afterwards reaches the manifest. A WAL write in flight
 * finishes first, so its writers learn whether their write is durable (`ClosedError.durable`).
 */
import { Clock, Duration, Effect, Exit, Fiber, Option, Stream } from "effect"
import { ClosedError, type DbError, InvalidError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { compressionFormatOf } from "../format/Compression.ts"
import { MonotonicClock } from "../MonotonicClock.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { Oracle } from "../Oracle.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { checkMergeOperator, countingOperands, type MergeOperator } from "../iter/MergeOperator.ts"
import { makeWalBufferManager } from "../wal/WalBufferManager.ts"
import { WalIdAllocator } from "../wal/WalIdAllocator.ts"
import { encodeWalSst, makeWalSstWriter, WalSstWriter } from "../wal/WalSstWriter.ts"
import type { DbService } from "./DbService.ts"
import type { DbStatus, FlushType } from "./DbApi.ts"
import { Backpressure } from "./Backpressure.ts"
import { immutableLimit } from "./MemtableLimit.ts"
import { asCloseError, makeMemtableFlusher } from "./MemtableFlusher.ts"
import { makeReader, ReadNow } from "./Reader.ts"
import { recover } from "./Recovery.ts"
import { TableStore } from "../sst/TableStore.ts"
import { makeWriter } from "./Writer.ts"
import { configureWarming, warmViewSwitch } from "./ViewWarming.ts"
import { compactorOptionsFrom, startCompactor } from "../compactor/Compactor.ts"
import { startGarbageCollector } from "../gc/GarbageCollector.ts"
import { makeCreateCheckpoint } from "./DbCheckpoints.ts"
import { preloadDiskCache, withDiskCache } from "./DiskCache.ts"
import { dbCacheSeries, dbSeries, DbStats, mergeOperandSeries, objectStoreCacheSeries, registerSeries, warmSeries } from "../Metrics.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
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

/** How often waiting writers re-check the unflushed total when no progress woke them. */
const BACKPRESSURE_RECHECK_MS = 100

/** The WAL buffer's closing error behind the error a writer of an unwritten WAL got (`withDurability`). */
const primaryOf = (error: ClosedError): ClosedError =>
  error.durable !== undefined && error.cause instanceof ClosedError ? error.cause : error

const cleanClose = () => new ClosedError({ reason: "clean", message: "db is closed" })

/** Opens a database in the current scope (the layer's); see the module comment. */
export const openDb = Effect.fnUntraced(function*(options: DbOptions) {
  const settings = yield* decodeSettings(options.settings)
  const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
  const root = normalizeRoot(options.path)
  // Requests that reach the store are counted (objectstore/InstrumentedObjectStore.ts) below the disk cache,
  // so that its hits are not; the compactor and GC then share the cache, their requests counted as the db's.
  const baseStore = yield* ObjectStore
  const diskCached = yield* withDiskCache(yield* instrumented(baseStore, "db"), settings)
  const store = withRetries(diskCached.store, options.storeRetry)
  /** A background component's store: its own request metrics, unless the disk cache stands in between. */
  const storeOf = (component: "compactor" | "gc") =>
    diskCached.cache === undefined
      ? Effect.map(instrumented(baseStore, component), (s) => withRetries(s, options.storeRetry))
      : Effect.succeed(store)
  const compression = compressionFormatOf(settings.compression)
  const sizeOptions = {
    blockSize: settings.blockSize,
    minFilterKeys: settings.minFilterKeys,
    filterBitsPerKey: settings.filterBitsPerKey
  }

  const tables = new TableStore(store, root, settings.blockCacheBytes)
  // Added first, so it runs last: once nothing reads any more.
  yield* Effect.addFinalizer(() => Effect.sync(() => tables.releaseAll()))
  // Metrics (Metrics.ts): counted in place by the components, read by the registry's series.
  const stats = new DbStats()
  /** The operator of one path, counting the operands it merges there (`slatedb.merge_operator_operands`). */
  const operatorFor = (path: "read" | "flush" | "compact") =>
    mergeOperator === undefined ? undefined : countingOperands(mergeOperator, (n) => {
      if (path === "read") stats.mergeOperandsRead += n
      else if (path === "flush") stats.mergeOperandsFlush += n
      else stats.mergeOperandsCompact += n
    })
  const recovered = yield* recover({ root, settings, compression, store, clock: yield* Clock.Clock, tables })
  const { state, writer: manifest } = recovered
  // A compaction's output replaces hot blocks before the read path sees it (db/ViewWarming.ts).
  configureWarming(tables, settings.compactionWarmupMs, yield* Effect.scope)
  manifest.beforeRemoteSwitch = (from, to) => warmViewSwitch(tables, from, to)
  yield* preloadDiskCache(diskCached.cache, tables, manifest.manifest)

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
  let flusherStop: Effect.Effect<void> = Effect.void
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
  flusherStop = flusher.stop
  const reader = makeReader({ state, manifest, tables, mergeOperator: operatorFor("read"), stats })
  yield* registerSeries([
    ...dbSeries(stats, tables.filterStats, () => manifest.manifest.l0.length),
    ...(tables.blockCache === undefined ? [] : dbCacheSeries(tables.blockCache)),
    ...(tables.warming === undefined ? [] : warmSeries(tables.warmStats)),
    ...(mergeOperator === undefined ? [] : mergeOperandSeries(stats)),
    ...(diskCached.cache === undefined ? [] : objectStoreCacheSeries(diskCached.cache.statsUnsafe))
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

  // ---------------------------------------------------------------- the embedded compactor
  // A compactor elsewhere that claims the epoch at the same moment fences this one before it starts: the
  // database opens without one (as when it is fenced later), with a warning.
  const compactor = settings.compactor !== null
    ? yield* startCompactor(
      {
        root,
        store: yield* storeOf("compactor"),
        tables,
        mergeOperator: operatorFor("compact"),
        // Its new sorted runs reach the read path at once, and a stalled L0 upload re-checks.
        onManifestWritten: Effect.andThen(refreshManifest, Effect.sync(() => signalFlusher()))
      },
      compactorOptionsFrom(settings.compactor, settings, true)
    ).pipe(Effect.catchTag("ClosedError", (e) =>
      e.reason === "fenced"
        ? Effect.as(
          Effect.logWarning(`embedded compactor not started: ${e.message} (the database goes on without it)`),
          undefined
        )
        : Effect.fail(e)))
    : undefined
  if (compactor !== undefined) {
    nudgeCompactor = compactor.nudge
    yield* Effect.forkScoped(Effect.catch(compactor.done, (e) =>
      e.reason === "clean" ? Effect.void : Effect.logWarning(`embedded compactor stopped: ${e.message} (the database goes on without it)`)))
  }

  // ---------------------------------------------------------------- the embedded garbage collector
  const gc = settings.garbageCollector === null
    ? undefined
    : yield* startGarbageCollector({
      root,
      store: yield* storeOf("gc"),
      options: settings.garbageCollector,
      manifestUpdateTimeoutMs: settings.manifestUpdateTimeoutMs
    })

  // ---------------------------------------------------------------- background fibers
  /** Follows WAL flushes: keeps the WAL tag fresh, and closes the database when the WAL buffer stops. */
  const monitor = yield* Effect.forkScoped(
    Effect.gen(function*() {
      while (true) {
        const watcher = yield* wal.maybeTriggerFlush()
        yield* watcher.await
        yield* flusher.syncRecentFlushedWalId
        yield* wal.trackLastAppliedSeq(state.seqs.committed)
        backpressure.wake()
      }
    }).pipe(Effect.catch((e: ClosedError) => (e.reason === "clean" ? Effect.void : closeWith(primaryOf(e)))))
  )

  /**
   * Backpressure's safety net: while writers wait, re-report the applied seq (a WAL written after the
   * monitor last reported may not be released yet) and re-check the total, every 100 ms.
   */
  const backpressureWatchdog = yield* Effect.forkScoped(
    Effect.gen(function*() {
      while (state.closeError === undefined) {
        yield* Effect.sleep(BACKPRESSURE_RECHECK_MS)
        if (!backpressure.hasWaiters) continue
        yield* wal.trackLastAppliedSeq(state.seqs.committed)
        backpressure.wake()
      }
    })
  )

  /** Re-reads the manifest every poll interval: detects fencing between writes, merges compactor changes. */
  const poller = yield* Effect.forkScoped(
    Effect.gen(function*() {
      while (state.closeError === undefined) {
        yield* Effect.sleep(Duration.millis(settings.manifestPollIntervalMs))
        yield* refreshManifest
      }
    })
  )

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

  const status: Effect.Effect<DbStatus> = Effect.gen(function*() {
    const m = manifest.manifest
    const c = compactor === undefined ? undefined : yield* compactor.status
    const g = gc === undefined ? undefined : yield* gc.status
    return {
      durableSeq: state.seqs.durable,
      lastCommittedSeq: state.seqs.committed,
      manifestId: manifest.id,
      writerEpoch: manifest.epoch,
      nextWalId: manifest.nextWalSstId,
      l0Ssts: m.l0.length,
      sortedRuns: m.compacted.length,
      l0Stalled: state.l0Stalled,
      compactor: c === undefined ? undefined : {
        epoch: c.epoch,
        running: c.running.length,
        completed: c.completed,
        failed: c.failed,
        bytesWritten: c.bytesWritten,
        stopped: c.stopped === undefined || c.stopped.reason === "clean" ? undefined : c.stopped.reason
      },
      garbageCollector: g === undefined ? undefined : {
        passes: g.passes,
        deleted: g.deleted,
        expiredCheckpoints: g.expiredCheckpoints,
        errors: g.errors,
        ...(g.lastPass === undefined ? {} : { lastPass: g.lastPass }),
        requests: g.requests,
        durationMs: g.durationMs,
        maxRequests: g.maxRequests,
        maxDurationMs: g.maxDurationMs
      },
      immutableMemtables: state.imms.length,
      closeReason: state.closeError?.reason
    }
  })

  let closed = false
  const close = Effect.fn("Db.close")(function*() {
    if (closed || state.closeError !== undefined) return yield* state.closeError ?? cleanClose()
    closed = true
    const clean = cleanClose()
    state.closeError = clean
    backpressure.failAll(clean)
    // Commits already in their critical section finish; later ones see the closed state.
    yield* writer.lock.run(Effect.void)
    // Running compactions stop; they resume from their recorded output next time.
    if (compactor !== undefined) yield* compactor.stop
    let failure: ClosedError | undefined
    const flushed = yield* Effect.exit(wal.flush())
    if (Exit.isFailure(flushed)) failure = Option.getOrUndefined(Exit.findErrorOption(flushed))
    yield* flusherStop
    yield* Fiber.interrupt(poller)
    yield* Fiber.interrupt(monitor)
    yield* Fiber.interrupt(backpressureWatchdog)
    if (failure === undefined) {
      yield* flusher.syncRecentFlushedWalId
      const written = yield* Effect.exit(manifest.update((m) => m))
      const error = Option.getOrUndefined(Exit.findErrorOption(written))
      if (error !== undefined) failure = asCloseError(error, "writing the final manifest")
    }
    yield* wal.close()
    state.failImms(failure ?? clean)
    if (failure !== undefined && failure.reason !== "clean") {
      state.closeError = failure
      return yield* failure
    }
  }, Effect.uninterruptible)

  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => (closed || state.closeError !== undefined ? Effect.void : Effect.ignore(close())))
  )

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
