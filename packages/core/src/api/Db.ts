/**
 * The database, for Effect programs: the `Db` service, its layer, the vocabulary its operations speak, and
 * the errors they fail with (SlateDB's kinds); and `openReadOnly`, a view that reads without writing.
 *
 * ```ts
 * import { Db, ObjectStore } from "@shale/core"
 * const program = Effect.gen(function*() {
 *   const db = yield* Db.Db
 *   yield* db.put(key, value)
 * }).pipe(Effect.provide(Db.layer({ path: "db" })), Effect.provide(ObjectStore.layerMemory))
 * ```
 */
import { Db } from "../db/Db.ts"

export { Db } from "../db/Db.ts"
export type { DbOptions as Options } from "../db/Db.ts"

/**
 * Opens the database at `options.path` in the `ObjectStore` in context (creating it if there is none), as
 * its single writer (older writers are fenced), and closes it cleanly when the layer's scope ends.
 */
export const layer = Db.layer

/**
 * A read-only view of the database at `options.root` in the `ObjectStore` in context, in the current scope:
 * the latest manifest version (or a checkpoint's, `options.checkpointId`) and the WAL after it, as SlateDB's
 * `DbReader`. It writes nothing: no epoch, manifest, WAL or fence (a running writer is not disturbed), and
 * it creates no database (none ⇒ `DataError`). Its state is fixed when it opens.
 *
 * ```ts
 * const rows = Effect.scoped(Effect.gen(function*() {
 *   const view = yield* Db.openReadOnly({ root: "db" })
 *   return yield* Stream.runCollect(view.scan({}))
 * }))
 * ```
 */
export { openReadOnly, type ReadOnlyDb, type ReadOnlyOptions } from "../db/ReadOnlyDb.ts"

export {
  type BatchOp,
  type DbStatus as Status,
  type CheckpointCreated,
  type CheckpointOptions,
  type EmbeddedCompactorStatus,
  type EmbeddedGcStatus,
  type DurabilityLevel,
  type FlushType,
  type KeyRange,
  type KeyValue,
  type MergeOperator,
  type MergeOptions,
  type PutOptions,
  type ReadOptions,
  type ScanOptions,
  type Ttl,
  WriteBatch,
  type WriteHandle,
  type WriteOptions
} from "../db/DbApi.ts"

export type { Change, ChangesOptions, ChangesStart } from "../wal/ChangeStream.ts"

/**
 * SlateDB's metrics (`slatedb.*`) in the current context's `Metric.MetricRegistry`, as `{ name, labels,
 * value }`: what the databases, compactors and collectors opened in that context record
 * (docs/design/observability.md). `Metric.snapshot` and the OTLP exporters read the same registry.
 */
export { type HistogramValue, type MetricSample, snapshot as metrics } from "../Metrics.ts"
/**
 * Snapshots and transactions (`db.snapshot()`, `db.begin(options)`, `db.transaction(body, options)`):
 * reads at a fixed seq; transactions with SlateDB's conflict detection at `"snapshot"` or `"serializable"`
 * isolation, failing with `TransactionError` on a conflict (docs/design/transactions.md).
 */
export type {
  IsolationLevel,
  RunTransactionOptions,
  Snapshot,
  Transaction,
  TransactionOptions
} from "../db/Transaction.ts"

export {
  ChangesGapError,
  ClosedError,
  type CloseReason,
  DataError,
  type DbError,
  InternalError,
  InvalidError,
  TransactionError,
  UnavailableError
} from "../errors.ts"
