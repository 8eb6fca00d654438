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
import { Context, Layer } from "effect"
import type { DbError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type DbOptions, openDb } from "./DbEngine.ts"
import type { DbService } from "./DbService.ts"

export type { DbOptions } from "./DbEngine.ts"
export type { DbService } from "./DbService.ts"

export class Db extends Context.Service<Db, DbService>()("shale/Db") {
  /**
   * Opens the database at `path` in the `ObjectStore` in context (creating it if there is none), as its
   * single writer: older writers are fenced. Closes it cleanly when the layer's scope ends.
   */
  static readonly layer = (options: DbOptions): Layer.Layer<Db, DbError, ObjectStore> =>
    Layer.effect(Db, openDb(options))
}
