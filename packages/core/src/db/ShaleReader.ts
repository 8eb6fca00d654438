/**
 * The `DbReader` (DbReader.ts) for programs that do not use Effect: `Shale.openReader(path, { store,
 * checkpointId?, options? })` resolves with a handle whose reads are those of `Shale.openReadOnly`'s view
 * (`get`, `getKeyValue`, `scan`, `scanPrefix`, rejecting with the same tagged errors), which follows the
 * writer in the background (polls every `options.manifestPollIntervalMs`), says where it is
 * (`status()`), and gives the change stream as far as it has followed the WAL (`changes({ fromSeq })`, an
 * async iterable that ends when the reader closes).
 *
 * ```ts
 * await using reader = await Shale.openReader("db", { store: Shale.stores.resolve("./data") })
 * const v = await reader.get(key)              // what the writer had made durable at the last poll
 * console.log((await reader.status()).seq)
 * ```
 *
 * The store layer is built once, in a scope that `close()` releases after the reader closed (its own
 * checkpoint removed); a second `close()` does nothing. Log records (a failed poll is a warning) go where
 * `options.logger` says (ShaleLogger.ts). SlateDB's `merge_operator` option is not offered: Shale has no
 * merge operator yet.
 */
import { type Context, Effect, type Layer, Scope, Stream } from "effect"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { RetryOptions } from "../objectstore/RetryingObjectStore.ts"
import type { SettingsInput } from "../Settings.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import type { LoggingOptions } from "../ShaleLogger.ts"
import type { Change, ChangesOptions } from "../wal/ChangeStream.ts"
import { type DbReaderHandle, type DbReaderOptions, type DbReaderStatus, openDbReader } from "./DbReader.ts"
import { openOnStore, ShaleReadOnlyDb } from "./Shale.ts"

export interface ShaleReaderOptions<E = unknown> extends LoggingOptions {
  /** Where the database lives (as `Shale.open`'s `store`). */
  readonly store: Layer.Layer<ObjectStore, E>
  /** Read at this user checkpoint (a UUID) and never poll; without it, the reader keeps a checkpoint of its own. */
  readonly checkpointId?: string
  /** SlateDB's `DbReaderOptions`: `manifestPollIntervalMs`, `checkpointLifetimeMs`, `maxMemtableBytes`, `skipWalReplay`. */
  readonly options?: DbReaderOptions
  /** Any subset of the settings (the reader uses the block cache size and the manifest update timeout). */
  readonly settings?: SettingsInput
  /** Retry policy of the store wrapper. */
  readonly storeRetry?: RetryOptions
  /** Folds merge operands on reads (docs/design/merge.md); without one, a read that meets an operand fails. */
  readonly mergeOperator?: MergeOperator
}

/** An open `DbReader`, driven by Promises (see the module comment). */
export class ShaleDbReader extends ShaleReadOnlyDb {
  readonly #reader: DbReaderHandle
  readonly #context: Context.Context<never>

  constructor(reader: DbReaderHandle, scope: Scope.Closeable, context: Context.Context<never>) {
    super(reader, scope, context)
    this.#reader = reader
    this.#context = context
  }

  /** The Effect reader behind this handle. */
  override get service(): DbReaderHandle {
    return this.#reader
  }

  /** The checkpoint it reads at: its own (replaced as it follows the writer), or the user's. */
  override get checkpointId(): string {
    return this.#reader.checkpointId
  }

  /** Where the reader is: the manifest version and checkpoint, the last seq and WAL, its polls. */
  status(): Promise<DbReaderStatus> {
    return Effect.runPromiseWith(this.#context)(this.#reader.status)
  }

  /**
   * `DbReaderHandle.changes`: committed rows in seq order from `options.fromSeq`, as far as the reader has
   * followed the WAL; the loop ends when the reader closes.
   */
  changes(options?: ChangesOptions): AsyncIterable<Change> {
    return Stream.toAsyncIterableWith(this.#reader.changes(options), this.#context)
  }

  /**
   * Closes the reader: later reads reject with `ClosedError("clean")`, polling stops, and its own checkpoint
   * is removed from the manifest; then the store layer is released. Later calls do nothing.
   */
  override close(): Promise<void> {
    return super.close()
  }
}

/** `Shale.openReader(path, { store, ... })`: SlateDB's `DbReader` of the database at `path`. */
export const openReader = <E>(path: string, options: ShaleReaderOptions<E>): Promise<ShaleDbReader> =>
  openOnStore(path, options, (store, scope, context) =>
    openDbReader({
      root: path,
      ...(options.checkpointId === undefined ? {} : { checkpointId: options.checkpointId }),
      ...(options.options === undefined ? {} : { options: options.options }),
      ...(options.settings === undefined ? {} : { settings: options.settings }),
      ...(options.storeRetry === undefined ? {} : { storeRetry: options.storeRetry }),
      ...(options.mergeOperator === undefined ? {} : { mergeOperator: options.mergeOperator })
    }).pipe(
      Effect.provideService(ObjectStore, store),
      Scope.provide(scope),
      Effect.map((reader) => new ShaleDbReader(reader, scope, context))
    ))
