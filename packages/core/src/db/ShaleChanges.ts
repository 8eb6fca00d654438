/**
 * The change stream for programs that do not use Effect (`Shale.changes(path, { store, fromSeq })`): the
 * stream of wal/ChangeStream.ts over the given store layer, as an async iterable. `db.changes(...)` on an
 * open `ShaleDb` is the same over the writer's store (Shale.ts).
 *
 * ```ts
 * for await (const change of Shale.changes("db", { store: Shale.stores.resolve("./data"), fromSeq: 1 })) {
 *   console.log(change.seq, change.kind, change.key, change.value)
 * }
 * ```
 *
 * Guarantees: as wal/ChangeStream.ts (seq order, only durable rows, `ChangesGapError` instead of a silent
 * hole, nothing written). Nothing happens until the loop starts; each loop builds the store layer in a
 * scope of its own and releases it when the loop ends (`break` included). A bad argument makes the loop
 * throw `InvalidError` at its first step.
 */
import { Layer, Stream } from "effect"
import { InvalidError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { RetryOptions } from "../objectstore/RetryingObjectStore.ts"
import { loggingContext, type LoggingOptions } from "../ShaleLogger.ts"
import { type Change, type ChangesOptions, stream } from "../wal/ChangeStream.ts"

export interface ShaleChangesOptions<E = unknown> extends ChangesOptions, LoggingOptions {
  /** Where the database lives (as `Shale.open`'s `store`). */
  readonly store: Layer.Layer<ObjectStore, E>
  /** Retry policy of the store wrapper (default: the engine's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
}

/** `Shale.changes(path, { store, fromSeq?, follow?, pollIntervalMs? })`: the changes of the database at `path`. */
export const changes = <E>(path: string, options: ShaleChangesOptions<E>): AsyncIterable<Change> => {
  if (typeof path !== "string") {
    return Stream.toAsyncIterable(Stream.fail(new InvalidError({ message: `path must be a string, got ${typeof path}` })))
  }
  if (typeof options !== "object" || options === null || !Layer.isLayer(options.store)) {
    return Stream.toAsyncIterable(
      Stream.fail(new InvalidError({ message: "options.store must be a store layer (Shale.stores.memory(), ...)" }))
    )
  }
  const { store, ...rest } = options
  return Stream.toAsyncIterableWith(
    Stream.provide(stream({ ...rest, root: path }), store as Layer.Layer<ObjectStore, E>),
    loggingContext(options)
  )
}
