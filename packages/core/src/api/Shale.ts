/**
 * The Promise API, for programs that do not use Effect: the same engine and errors as `Db`, driven by
 * Promises.
 *
 * ```ts
 * import { Shale } from "@shale/core"
 * await using db = await Shale.open("db", { store: Shale.stores.resolve("./data") })
 * await db.put(key, value)
 * const value = await db.get(key)
 * for await (const kv of db.scan({ start, end })) console.log(kv.key, kv.value)
 * ```
 */
import { Shale } from "../db/Shale.ts"
import { openAdmin } from "../db/ShaleAdmin.ts"
import { changes as shaleChanges } from "../db/ShaleChanges.ts"
import { openReader as openShaleReader } from "../db/ShaleReader.ts"
import { openWalReader } from "../db/ShaleWalReader.ts"

export {
  ShaleDb,
  type ShaleOpenOptions as OpenOptions,
  ShaleReadOnlyDb,
  type ShaleReadOnlyOptions as ReadOnlyOptions
} from "../db/Shale.ts"
export { ShaleSnapshot, ShaleTransaction } from "../db/ShaleTransaction.ts"
export type { LoggerOption, LoggingOptions, LogLevel, LogRecord } from "../ShaleLogger.ts"

/** Opens (or creates) the database at `path` in `options.store`. */
export const open = Shale.open
/**
 * A read-only view of the database at `path` in `options.store` (`get`, `getKeyValue`, `scan`,
 * `scanPrefix`, `close`): the latest state, or a checkpoint's (`options.checkpointId`), fixed when it opens.
 * It writes nothing, so it never fences a writer; it rejects where there is no database (`DataError`).
 */
export const openReadOnly = Shale.openReadOnly
/**
 * The admin of the database at `path` in `options.store` (SlateDB's `Admin`): checkpoints, one garbage
 * collection pass, clones, manifests. Opens nothing as a writer.
 */
export const admin = openAdmin
export { ShaleAdmin, type ShaleAdminOptions as AdminOptions } from "../db/ShaleAdmin.ts"
/**
 * SlateDB's `DbReader` of the database at `path` in `options.store`: the reads of `openReadOnly`, following
 * the writer (it polls every `options.options.manifestPollIntervalMs`, 10 s) under a checkpoint of its own,
 * removed on `close()`; at `options.checkpointId`, that checkpoint's state, never polling. `status()`.
 */
export const openReader = openShaleReader
export { ShaleDbReader, type ShaleReaderOptions as ReaderOptions } from "../db/ShaleReader.ts"
export type { DbReaderOptions, DbReaderStatus } from "../db/DbReader.ts"
/**
 * SlateDB's `WalReader` for the database at `path` in `options.store`: `list({ start?, end? })`, `get(id)`,
 * and per file `metadata()`, `rows()` (an async iterable of raw rows) and `nextFile()`. Opens nothing.
 */
export const walReader = openWalReader
export {
  ShaleWalFile,
  ShaleWalReader,
  type ShaleWalReaderOptions as WalReaderOptions
} from "../db/ShaleWalReader.ts"
export type { WalFileMetadata, WalIdRange, WalRow, WalRowKind } from "../wal/WalReader.ts"
/**
 * Beyond SlateDB: the changes of the database at `path` in `options.store` as an async iterable: durable
 * rows in seq order from `options.fromSeq` (a seq, `"earliest"`, or `"latest"`, the default), following
 * the WAL (`follow: false` ends at the newest WAL). The loop throws `ChangesGapError` (with `resumeFrom`)
 * when the WAL it needs was collected. `db.changes(...)` is the same on an open database. Opens nothing.
 */
export const changes = shaleChanges
export type { ShaleChangesOptions as ChangesOptions } from "../db/ShaleChanges.ts"
export type { Change, ChangesStart } from "../wal/ChangeStream.ts"
export type { CheckpointOptions as AdminCheckpointOptions } from "../admin/Checkpoints.ts"
export type { GcOptions, GcRunStats } from "../api/GarbageCollector.ts"
/** `Settings.load` without Effect: files, then `SLATEDB_*` and `SHALE_*` variables. */
export const loadSettings = Shale.loadSettings
/** Store layers to pass as `options.store`: `memory()`, `local(dir)`, `resolve(url)`. */
export const stores = Shale.stores

export {
  type DbStatus as Status,
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
export {
  ChangesGapError,
  ClosedError,
  DataError,
  type DbError,
  InternalError,
  InvalidError,
  TransactionError,
  UnavailableError
} from "../errors.ts"
export type { IsolationLevel, TransactionOptions } from "../db/Transaction.ts"
export type { Settings } from "../Settings.ts"
