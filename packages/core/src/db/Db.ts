/**
 * The database a user opens: `Db` is a service; `Db.layer({ path, settings })` opens a database over the
 * `ObjectStore` in context and closes it cleanly when the layer's scope ends.
 *
 * (Contract only for now: the engine that implements it lands with the Db issue.)
 */
import { Context, type Effect, type Stream } from "effect"
import type { DbError } from "../errors.ts"
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
}>()("shale/Db") {}
