/**
 * The table-store seam of the WAL: turns the rows of one frozen WAL buffer into a WAL SST and writes it
 * as `<root>/wal/<id:020>.sst` (docs/format.md §1, §2.3).
 *
 * Guarantees:
 * - `put` is create-only (`mode: "create"`): of two writers racing for one WAL id exactly one succeeds and
 *   the other gets `ObjectAlreadyExists`. That is SlateDB's zombie-writer fence; the WAL buffer turns it
 *   into `ClosedError("fenced")`.
 * - `encode` is pure (no I/O) and deterministic: the same rows give the same bytes. The WAL buffer relies
 *   on that to recognise its own earlier write after an ambiguous failure (see WalBufferManager).
 * - Nothing here retries: retry policy belongs to the WAL buffer, which knows when a failure is fatal.
 *
 * The encoder is the only format dependency. `layer` uses the real one, `format/SsTableBuilder`'s WAL SST
 * builder (version 2 blocks, rows in insertion order, `sst_type = Wal`, no filter, no stats); `layerWith`
 * takes any encoder, so tests can use a stand-in codec and test the WAL buffer's behaviour on its own.
 */
import { Context, Effect, Layer } from "effect"
import { InternalError } from "../errors.ts"
import { walSstPath } from "../format/Paths.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { CompressionFormat } from "../format/SstMetadata.ts"
import { buildWalSsTable } from "../format/SsTableBuilder.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"

/** Encodes the rows of one WAL (in arrival order) as the bytes of a WAL SST. May throw on a bug. */
export type WalSstEncoder = (rows: ReadonlyArray<RowEntry>) => Uint8Array

/** The real encoder: a byte-compatible SlateDB 0.12.1 WAL SST. */
export const encodeWalSst = (options: WalSstFormatOptions = {}): WalSstEncoder => {
  const builderOptions = {
    ...(options.blockSize === undefined ? {} : { blockSize: options.blockSize }),
    ...(options.compression === undefined ? {} : { compression: options.compression })
  }
  return (rows) => buildWalSsTable(rows, builderOptions).bytes
}

export interface WalSstFormatOptions {
  /** Target block size (default 4096, SlateDB's). */
  readonly blockSize?: number
  /** One codec for every section (default none, SlateDB's). */
  readonly compression?: CompressionFormat
}

export interface WalSstWriterOptions {
  /** The database root path in the object store ("" for the store's root). */
  readonly root: string
  /** Encodes the rows of one WAL as a WAL SST. */
  readonly encode: WalSstEncoder
}

export class WalSstWriter extends Context.Service<WalSstWriter, {
  /** Encodes rows as a WAL SST. A throwing encoder is a bug and becomes `InternalError`. */
  readonly encode: (rows: ReadonlyArray<RowEntry>) => Effect.Effect<Uint8Array, InternalError>
  /** Writes encoded bytes as WAL `id`, create-only. */
  readonly put: (id: number, sst: Uint8Array) => Effect.Effect<void, ObjectStoreError>
  /** Reads WAL `id` back (to check whether an ambiguous earlier put of ours landed). */
  readonly get: (id: number) => Effect.Effect<Uint8Array, ObjectStoreError>
}>()("shale/WalSstWriter") {
  /** Writes real WAL SSTs through the `ObjectStore` in context. */
  static readonly layer = (
    options: { readonly root: string } & WalSstFormatOptions
  ): Layer.Layer<WalSstWriter, never, ObjectStore> =>
    WalSstWriter.layerWith({ root: options.root, encode: encodeWalSst(options) })

  /** Writes through the `ObjectStore` in context with the given encoder. */
  static readonly layerWith = (options: WalSstWriterOptions): Layer.Layer<WalSstWriter, never, ObjectStore> =>
    Layer.effect(
      WalSstWriter,
      Effect.gen(function*() {
        return makeWalSstWriter(yield* ObjectStore, options)
      })
    )
}

/** Builds a writer over a given store (for wrappers and benchmarks). */
export const makeWalSstWriter = (
  store: ObjectStore["Service"],
  options: WalSstWriterOptions
): WalSstWriter["Service"] => {
  const { encode, root } = options
  return WalSstWriter.of({
    encode: (rows) =>
      Effect.try({
        try: () => encode(rows),
        catch: (cause) => new InternalError({ message: "failed to encode a WAL SST", cause })
      }),
    put: (id, sst) => Effect.suspend(() => Effect.asVoid(store.put(walSstPath(root, id), sst, { mode: "create" }))),
    get: (id) => Effect.suspend(() => store.get(walSstPath(root, id)))
  })
}
