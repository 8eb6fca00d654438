/**
 * SlateDB's `WalReader` for programs that do not use Effect (`Shale.walReader(path, { store })`): the same
 * reader as `makeWalReader` (wal/WalReader.ts), each operation returning a Promise that rejects with the
 * same tagged errors, and a file's rows as an async iterable.
 *
 * ```ts
 * await using wal = await Shale.walReader("db", { store: Shale.stores.resolve("./data") })
 * for (const file of await wal.list({ start: 10 })) {
 *   const { sizeBytes, lastModified } = await file.metadata()
 *   for await (const row of file.rows()) console.log(file.id, row.kind, row.key, row.value, row.seq)
 * }
 * const next = wal.get(42)   // no I/O; rows() rejects with DataError if WAL 42 does not exist
 * ```
 *
 * Guarantees: as wal/WalReader.ts (nothing is written, handles do no I/O until used, a missing file is a
 * `DataError`). The store layer is built once, in a scope `close()` releases (a second `close()` does
 * nothing); rows are read when the loop starts, and leaving it early releases the read.
 */
import { type Context, Effect, Exit, type Layer, Scope, Stream } from "effect"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { LoggingOptions } from "../ShaleLogger.ts"
import {
  type WalFile,
  type WalFileMetadata,
  type WalIdRange,
  type WalReader,
  walReaderOver,
  type WalRow
} from "../wal/WalReader.ts"
import { openOnStore } from "./Shale.ts"

export interface ShaleWalReaderOptions<E = unknown> extends LoggingOptions {
  /** Where the database lives (as `Shale.open`'s `store`; a separate WAL store if the writer used one). */
  readonly store: Layer.Layer<ObjectStore, E>
}

/** One WAL file, driven by Promises (SlateDB's `WalFile`). */
export class ShaleWalFile {
  readonly #file: WalFile
  readonly #context: Context.Context<never>

  constructor(file: WalFile, context: Context.Context<never>) {
    this.#file = file
    this.#context = context
  }

  /** The WAL id (`<root>/wal/<id:020>.sst`). */
  get id(): number {
    return this.#file.id
  }

  /** `id + 1`. */
  get nextId(): number {
    return this.#file.nextId
  }

  /** The Effect handle behind this one. */
  get service(): WalFile {
    return this.#file
  }

  /** Size, last-modified time (ms) and location of the file; rejects with `DataError` if it does not exist. */
  metadata(): Promise<WalFileMetadata> {
    return Effect.runPromiseWith(this.#context)(this.#file.metadata)
  }

  /** The file's rows in file order, read lazily; the loop throws `DataError` if the file does not exist. */
  rows(): AsyncIterable<WalRow> {
    return Stream.toAsyncIterableWith(this.#file.rows, this.#context)
  }

  /** The handle of WAL `nextId` (no I/O, no existence check). */
  nextFile(): ShaleWalFile {
    return new ShaleWalFile(this.#file.nextFile(), this.#context)
  }
}

/** The WAL files of one database, driven by Promises (SlateDB's `WalReader`). */
export class ShaleWalReader implements AsyncDisposable {
  readonly #reader: WalReader
  readonly #scope: Scope.Closeable
  readonly #context: Context.Context<never>
  #closed = false

  constructor(reader: WalReader, scope: Scope.Closeable, context: Context.Context<never>) {
    this.#reader = reader
    this.#scope = scope
    this.#context = context
  }

  /** The Effect reader behind this handle. */
  get service(): WalReader {
    return this.#reader
  }

  /** WAL files with ids in `[start, end)` (either bound optional), ascending by id. */
  async list(range?: WalIdRange): Promise<ReadonlyArray<ShaleWalFile>> {
    const files = await Effect.runPromiseWith(this.#context)(this.#reader.list(range))
    return files.map((f) => new ShaleWalFile(f, this.#context))
  }

  /** The handle of WAL `id` (no I/O, no existence check). */
  get(id: number): ShaleWalFile {
    return new ShaleWalFile(this.#reader.get(id), this.#context)
  }

  /** Releases the store layer; a second call does nothing. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    return Effect.runPromise(Scope.close(this.#scope, Exit.void))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/** `Shale.walReader(path, { store })`: the WAL reader of the database at `path`; nothing is opened or written. */
export const openWalReader = <E>(path: string, options: ShaleWalReaderOptions<E>): Promise<ShaleWalReader> =>
  openOnStore(path, options, (store, scope, context) =>
    Effect.succeed(new ShaleWalReader(walReaderOver(store, path), scope, context)))
