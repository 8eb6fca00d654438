/**
 * The database a user opens: `Db` is a service; `Db.layer({ path, settings })` opens a database over the
 * `ObjectStore` in context and closes it cleanly when the layer's scope ends.
 *
 * The engine behind it (docs/design/db.md): `DbEngine.ts` assembles recovery (`Recovery.ts`), the write
 * path (`Writer.ts`), the read path (`Reader.ts`), the memtable flusher (`MemtableFlusher.ts`) and the WAL
 * buffer (`wal/WalBufferManager.ts`) over a retrying wrapper of the store in context. The Promise API
 * (`Shale.ts`) is this same service run from Promises.
 *
 * Defaults and errors follow SlateDB 0.12.1: writes await durability unless told otherwise; reads see
 * committed data; every failure is one of `ClosedError` (reason clean / fenced / fatal),
 * `UnavailableError`, `InvalidError`, `DataError`, `InternalError`.
 */
import { Context, type Effect, Layer, type Stream } from "effect"
import type { DbError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type {
  DbStatus,
  FlushType,
  KeyRange,
  KeyValue,
  PutOptions,
  ReadOptions,
  ScanOptions,
  WriteBatch,
  WriteHandle,
  WriteOptions
} from "./DbApi.ts"
import { type DbOptions, openDb } from "./DbEngine.ts"
import { ReadNow, type ReadNowHooks } from "./Reader.ts"

export type { DbOptions } from "./DbEngine.ts"

export class Db extends Context.Service<Db, {
  readonly put: (key: Uint8Array, value: Uint8Array, options?: PutOptions) => Effect.Effect<WriteHandle, DbError>
  readonly delete: (key: Uint8Array, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  readonly write: (batch: WriteBatch, options?: WriteOptions) => Effect.Effect<WriteHandle, DbError>
  readonly get: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<Uint8Array | undefined, DbError>
  readonly getKeyValue: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  readonly scan: (range: KeyRange, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly scanPrefix: (prefix: Uint8Array, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly flush: (options?: { readonly type?: FlushType }) => Effect.Effect<void, DbError>
  readonly status: Effect.Effect<DbStatus>
  /** Closes cleanly: flushes the WAL, stops background work. Later calls fail with `ClosedError("clean")`. */
  readonly close: Effect.Effect<void, DbError>
  /** Internal: the synchronous read hooks of the Promise API (Reader.ts's `ReadNow`). */
  readonly [ReadNow]?: ReadNowHooks
}>()("shale/Db") {
  /**
   * Opens the database at `path` in the `ObjectStore` in context (creating it if there is none), as its
   * single writer: older writers are fenced. Closes it cleanly when the layer's scope ends.
   */
  static readonly layer = (options: DbOptions): Layer.Layer<Db, DbError, ObjectStore> =>
    Layer.effect(Db, openDb(options))
}
