/**
 * The shape of the `Db` service (Db.ts): what an open database offers. Kept apart from the service tag so
 * that the engine (DbEngine.ts), which builds it, does not import the tag that imports the engine.
 */
import type { Effect, Scope, Stream } from "effect"
import type { ChangesGapError, DbError, TransactionError } from "../errors.ts"
import type { Change, ChangesOptions } from "../wal/ChangeStream.ts"
import type {
  CheckpointCreated,
  CheckpointOptions,
  DbStatus,
  FlushType,
  KeyRange,
  KeyValue,
  MergeOptions,
  PutOptions,
  ReadOptions,
  ScanOptions,
  WriteBatch,
  WriteHandle,
  WriteOptions
} from "./DbApi.ts"
import type { ReadNow, ReadNowHooks } from "./Reader.ts"
import type { RunTransactionOptions, Snapshot, Transaction, TransactionOptions } from "./Transaction.ts"

export interface DbService {
  readonly put: (key: Uint8Array, value: Uint8Array, options?: PutOptions) => Effect.Effect<WriteHandle, DbError>
  readonly delete: (key: Uint8Array, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  readonly write: (batch: WriteBatch, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  /** Writes a merge operand for `key` (SlateDB's `merge_with_options`; docs/design/merge.md). */
  readonly merge: (key: Uint8Array, operand: Uint8Array, options?: MergeOptions) => Effect.Effect<WriteHandle, DbError>
  readonly get: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<Uint8Array | undefined, DbError>
  readonly getKeyValue: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  readonly scan: (range: KeyRange, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly scanPrefix: (prefix: Uint8Array, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly flush: (options?: { readonly type?: FlushType }) => Effect.Effect<void, DbError>
  readonly status: Effect.Effect<DbStatus>
  /** Pins the database's current state in a checkpoint (see `CheckpointOptions`). */
  readonly createCheckpoint: (options?: CheckpointOptions) => Effect.Effect<CheckpointCreated, DbError>
  /**
   * Beyond SlateDB: the committed (durable) rows in seq order from `options.fromSeq` (default: from now
   * on), following the WAL as it grows (wal/ChangeStream.ts; fails with `ChangesGapError` naming the seq to
   * resume from when the WAL it needs was collected). It ends after the database closes cleanly.
   */
  readonly changes: (options?: ChangesOptions) => Stream.Stream<Change, DbError | ChangesGapError>
  /**
   * Reads at the last committed seq for as long as the scope is open; meanwhile flushes and compaction
   * keep the versions it reads (Transaction.ts).
   */
  readonly snapshot: () => Effect.Effect<Snapshot, DbError, Scope.Scope>
  /** A transaction at the last committed seq, rolled back if the scope closes before it commits. */
  readonly begin: (options?: TransactionOptions) => Effect.Effect<Transaction, DbError, Scope.Scope>
  /** Runs `body` in a transaction and commits it, again on a conflict under `options.retry`. */
  readonly transaction: <A, E, R>(
    body: (txn: Transaction) => Effect.Effect<A, E, R>,
    options?: RunTransactionOptions
  ) => Effect.Effect<A, E | DbError | TransactionError, R>
  /** Closes cleanly: flushes the WAL, stops background work. Later calls fail with `ClosedError("clean")`. */
  readonly close: Effect.Effect<void, DbError>
  /** Internal: the synchronous read hooks of the Promise API (Reader.ts's `ReadNow`). */
  readonly [ReadNow]?: ReadNowHooks
}
