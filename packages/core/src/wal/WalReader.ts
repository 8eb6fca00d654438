/**
 * SlateDB 0.12.1's `WalReader` (`slatedb/src/wal_reader.rs`): read-only access to the WAL SSTs of a
 * database, for change data capture and tools. `makeWalReader(root)` (over the `ObjectStore` in context)
 * gives `list({ start?, end? })` and `get(id)`; each `WalFile` has `id`, `nextId`, `metadata`, `rows` and
 * `nextFile()`.
 *
 * Guarantees (each as SlateDB's):
 * - `list` lists `<root>/wal` once and returns the WAL files whose id is in `[start, end)` (either bound
 *   may be left out), ascending by id. Only objects directly under `wal/` named `<u64>.<anything>` count;
 *   anything else there is ignored. No database (nothing under `wal/`) gives an empty list.
 * - `get(id)`, `nextFile()` and `nextId` do no I/O and do not check that the file exists; `nextId` is
 *   `id + 1` and `nextFile()` is `get(id + 1)`, whether or not that WAL was ever written.
 * - A `WalFile` keeps only its id: `metadata` and `rows` read `<root>/wal/<id:020>.sst` each time they run,
 *   so a file deleted after `list` (by garbage collection) fails then, with a `DataError` naming the object
 *   (SlateDB: `ErrorKind::Data` with the store's `NotFound` as source, here as `cause`).
 * - `rows` yields every row stored in the file, in file order (the order the writer appended them), raw:
 *   values, tombstones (`value` undefined) and merge operands, with their seq and timestamps. Nothing is
 *   merged, filtered or expired.
 * - Nothing here writes to the store, so reading never fences a writer.
 *
 * Store failures other than a missing object map to the engine's kinds (StoreErrors.ts); an id or bound
 * that is not a u64 Shale can represent (a non-negative safe integer) fails with `InvalidError`.
 */
import { Effect, Stream } from "effect"
import { type DbError, InvalidError } from "../errors.ts"
import { parseWalSstId, walDir, walSstPath } from "../format/Paths.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { readWalRows } from "./WalSstReader.ts"

/** What a WAL row holds (SlateDB's `RowEntryKind`: `Value`, `Tombstone`, `Merge`). */
export type WalRowKind = "value" | "tombstone" | "merge"

/** One row of a WAL file, as written (SlateDB's `RowEntry`). */
export interface WalRow {
  readonly kind: WalRowKind
  readonly key: Uint8Array
  /** The value or merge operand; undefined for tombstones. */
  readonly value: Uint8Array | undefined
  readonly seq: number
  /** Milliseconds (the writer's clock tick) when the row was written, if recorded. */
  readonly createTs: number | undefined
  /** Milliseconds after which the row expires, if it has a TTL. */
  readonly expireTs: number | undefined
}

/** What the store says of a WAL file (SlateDB's `WalFileMetadata`). */
export interface WalFileMetadata {
  readonly sizeBytes: number
  /** Milliseconds since the Unix epoch. */
  readonly lastModified: number
  /** The object's path in the store: `<root>/wal/<id:020>.sst`. */
  readonly location: string
}

/** One WAL file: its id, and what reads it (SlateDB's `WalFile`). */
export interface WalFile {
  readonly id: number
  /** `id + 1`, the id of the WAL the writer writes after this one. */
  readonly nextId: number
  /** The store's size and last-modified time of the file; `DataError` if it does not exist. */
  readonly metadata: Effect.Effect<WalFileMetadata, DbError>
  /** The file's rows in file order; fails with `DataError` if the file does not exist or is corrupt. */
  readonly rows: Stream.Stream<WalRow, DbError>
  /** The handle of WAL `nextId` (no I/O, no existence check). */
  readonly nextFile: () => WalFile
}

/** Bounds of `list`: `start` inclusive, `end` exclusive; a missing bound is unbounded. */
export interface WalIdRange {
  readonly start?: number | undefined
  readonly end?: number | undefined
}

/** The WAL files of one database (SlateDB's `WalReader`). */
export interface WalReader {
  /** The database root inside the store. */
  readonly root: string
  /** WAL files with ids in `[start, end)`, ascending by id. */
  readonly list: (range?: WalIdRange) => Effect.Effect<ReadonlyArray<WalFile>, DbError>
  /** The handle of WAL `id` (no I/O, no existence check). */
  readonly get: (id: number) => WalFile
}

const isU64 = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0

const KINDS: Record<RowKind, WalRowKind> = {
  [RowKind.Value]: "value",
  [RowKind.Tombstone]: "tombstone",
  [RowKind.Merge]: "merge"
}

/** A stored row as the WAL reader reports it. */
export const toWalRow = (row: RowEntry): WalRow => ({
  kind: KINDS[row.kind],
  key: row.key,
  value: row.kind === RowKind.Tombstone ? undefined : row.value,
  seq: row.seq,
  createTs: row.createTs,
  expireTs: row.expireTs
})

/** The path of WAL `id`, or `InvalidError` when `id` is not a representable u64. */
const pathOf = (root: string, id: number): Effect.Effect<string, InvalidError> =>
  isU64(id)
    ? Effect.succeed(walSstPath(root, id))
    : Effect.fail(new InvalidError({ message: `WAL id must be a u64 (a non-negative safe integer), got ${id}` }))

const makeWalFile = (store: ObjectStore["Service"], root: string, id: number): WalFile => ({
  id,
  nextId: id + 1,
  metadata: Effect.flatMap(pathOf(root, id), (location) =>
    store.head(location).pipe(
      Effect.map((meta): WalFileMetadata => ({ sizeBytes: meta.size, lastModified: meta.lastModified, location })),
      Effect.mapError(toDbError)
    )),
  rows: Stream.unwrap(
    Effect.flatMap(pathOf(root, id), () => readWalRows(store, root, id)).pipe(
      Effect.map((rows) => Stream.fromIterable(rows).pipe(Stream.map(toWalRow)))
    )
  ),
  nextFile: () => makeWalFile(store, root, id + 1)
})

/** `InvalidError` unless both bounds are absent or u64s. */
const checkRange = (range: WalIdRange): Effect.Effect<void, InvalidError> => {
  for (const name of ["start", "end"] as const) {
    const v = range[name]
    if (v !== undefined && !isU64(v)) {
      return Effect.fail(
        new InvalidError({ message: `WAL id range ${name} must be a u64 (a non-negative safe integer), got ${v}` })
      )
    }
  }
  return Effect.void
}

/**
 * The id of a listed object if it is a WAL SST directly under `dir` (SlateDB looks at the segment after
 * `wal/` only, so deeper objects are not WAL files), else undefined.
 */
const walIdOf = (dir: string, path: string): number | undefined => {
  const rest = dir.length === 0 ? path : path.slice(dir.length + 1)
  return rest.includes("/") ? undefined : parseWalSstId(rest)
}

/** The WAL reader of the database at `root` in `store`. */
export const walReaderOver = (store: ObjectStore["Service"], root: string): WalReader => {
  const dir = walDir(root)
  const list = (range: WalIdRange = {}): Effect.Effect<ReadonlyArray<WalFile>, DbError> =>
    Effect.flatMap(checkRange(range), () =>
      Stream.runFold(store.list(dir), () => [] as Array<number>, (ids, o) => {
        const id = walIdOf(dir, o.path)
        if (id !== undefined && (range.start === undefined || id >= range.start) && (range.end === undefined || id < range.end)) {
          ids.push(id)
        }
        return ids
      }).pipe(
        Effect.mapError(toDbError),
        Effect.map((ids) => ids.sort((a, b) => a - b).map((id) => makeWalFile(store, root, id)))
      ))
  return { root, list, get: (id) => makeWalFile(store, root, id) }
}

/** The WAL reader of the database at `root` in the `ObjectStore` in context (SlateDB's `WalReader::new`). */
export const makeWalReader = (root: string): Effect.Effect<WalReader, never, ObjectStore> =>
  Effect.gen(function*() {
    return walReaderOver(yield* ObjectStore, root)
  })
