/**
 * Beyond SlateDB: the change stream of a database, for change data capture. `Changes.stream({ root,
 * fromSeq })` (over the `ObjectStore` in context; no writer needed) and `Db.changes({ fromSeq })` (over an
 * open database's store) are an Effect `Stream` of the committed (durable) rows in seq order: puts,
 * tombstones and merge operands with their seq and timestamps, read from the WAL SSTs and following them
 * as the writer adds more (`follow`, polling every `pollIntervalMs`). When the WAL it needs was collected
 * it fails with `ChangesGapError`, whose `resumeFrom` is the lowest seq a new stream can start from. The
 * Promise forms are `Shale.changes(path, { store, fromSeq })` and `db.changes({ fromSeq })`, async
 * iterables. docs/design/changes.md explains the rules.
 *
 * ```ts
 * const program = Changes.stream({ root: "db", fromSeq: 1 }).pipe(
 *   Stream.runForEach((c) => Effect.log(c.seq, c.kind)),
 *   Effect.catchTag("ChangesGapError", (e) => Effect.log(`resume from ${e.resumeFrom}`))
 * )
 * ```
 */
export {
  type Change,
  type ChangesOptions as Options,
  type ChangesStart as Start,
  type ChangesStreamOptions as StreamOptions,
  changesFrom as fromWalReader,
  DEFAULT_POLL_INTERVAL_MS,
  stream
} from "../wal/ChangeStream.ts"
export { ChangesGapError } from "../errors.ts"
