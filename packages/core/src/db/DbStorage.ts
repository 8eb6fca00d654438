/**
 * What an open database reads and writes through (DbEngine.ts's step 2): the store in context, counted
 * (objectstore/InstrumentedObjectStore.ts), wrapped in the disk cache when `Settings.objectStoreCache` asks
 * for one (DiskCache.ts), then in the retrying layer (`withRetries`: every engine I/O retries transient
 * failures; create-only puts are idempotent across retries); the table store over it (SST handles and
 * the block cache, released when the database's scope closes, after everything else); the metrics the
 * components count into (`DbStats`); and the merge operator of each path, counting its operands.
 *
 * Requests are counted below the disk cache, so that its hits are not. The embedded compactor and
 * collector get a store with their own request metrics (`storeOf`), unless a disk cache stands in
 * between: then they share it, and their requests count as the database's.
 */
import { Effect, type Scope } from "effect"
import { compressionFormatOf } from "../format/Compression.ts"
import type { SstSizeOptions } from "../format/SsTableBuilder.ts"
import type { CompressionFormat } from "../format/SstMetadata.ts"
import { countingOperands, type MergeOperator } from "../iter/MergeOperator.ts"
import { DbStats } from "../Metrics.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import type { Settings } from "../Settings.ts"
import { TableStore } from "../sst/TableStore.ts"
import { type DiskCached, withDiskCache } from "./DiskCache.ts"

export interface Storage {
  /** The engine's store: counted, disk-cached (if asked), retrying. */
  readonly store: ObjectStore["Service"]
  /** A background component's store (see the module comment). */
  readonly storeOf: (component: "compactor" | "gc") => Effect.Effect<ObjectStore["Service"]>
  readonly diskCache: DiskCached["cache"]
  readonly tables: TableStore
  readonly stats: DbStats
  readonly compression: CompressionFormat
  readonly sizeOptions: SstSizeOptions
  /** The operator of one path, counting the operands it merges there (`slatedb.merge_operator_operands`). */
  readonly operatorFor: (path: "read" | "flush" | "compact") => MergeOperator | undefined
}

export const openStorage = (options: {
  readonly root: string
  readonly settings: Settings
  readonly storeRetry: RetryOptions | undefined
  readonly mergeOperator: MergeOperator | undefined
}): Effect.Effect<Storage, never, Scope.Scope | ObjectStore> =>
  Effect.gen(function*() {
    const { settings, mergeOperator } = options
    const baseStore = yield* ObjectStore
    const diskCached = yield* withDiskCache(yield* instrumented(baseStore, "db"), settings)
    const store = withRetries(diskCached.store, options.storeRetry)
    const storeOf = (component: "compactor" | "gc") =>
      diskCached.cache === undefined
        ? Effect.map(instrumented(baseStore, component), (s) => withRetries(s, options.storeRetry))
        : Effect.succeed(store)
    const tables = new TableStore(store, options.root, settings.blockCacheBytes)
    // Added first, so it runs last: once nothing reads any more.
    yield* Effect.addFinalizer(() => Effect.sync(() => tables.releaseAll()))
    const stats = new DbStats()
    const operatorFor = (path: "read" | "flush" | "compact") =>
      mergeOperator === undefined ? undefined : countingOperands(mergeOperator, (n) => {
        if (path === "read") stats.mergeOperandsRead += n
        else if (path === "flush") stats.mergeOperandsFlush += n
        else stats.mergeOperandsCompact += n
      })
    return {
      store,
      storeOf,
      diskCache: diskCached.cache,
      tables,
      stats,
      compression: compressionFormatOf(settings.compression),
      sizeOptions: {
        blockSize: settings.blockSize,
        minFilterKeys: settings.minFilterKeys,
        filterBitsPerKey: settings.filterBitsPerKey
      },
      operatorFor
    }
  })
