/**
 * Reading WAL SSTs back: the ids listed under `<root>/wal`, and the rows of one WAL SST (one GET, decoded
 * in insertion order). Recovery replays with these; tools and readers list and read WALs with them. A
 * read-only view's replay ends quietly at a WAL that does not exist (`readWalRowsIfPresent`).
 */
import { Effect, Stream } from "effect"
import type { DbError } from "../errors.ts"
import { parseWalSstId, walDir, walSstPath } from "../format/Paths.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { ObjectNotFound } from "../objectstore/ObjectStoreError.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { SsTableReader } from "../sst/SsTableReader.ts"

/** WAL ids listed under `<root>/wal`, ascending. */
export const listWalIds = (store: ObjectStore["Service"], root: string): Effect.Effect<Array<number>, DbError> =>
  Stream.runFold(store.list(walDir(root)), () => [] as Array<number>, (ids, o) => {
    const id = parseWalSstId(o.path)
    if (id !== undefined) ids.push(id)
    return ids
  }).pipe(
    Effect.map((ids) => ids.sort((a, b) => a - b)),
    Effect.mapError(toDbError)
  )

/** An `ObjectStore` over one object already in memory, so that an SST handle reads it without I/O. */
const inMemoryObject = (path: string, bytes: Uint8Array): ObjectStore["Service"] => {
  const missing = (op: "get" | "getRange" | "head" | "put" | "delete" | "list", p: string) =>
    new ObjectNotFound({ op, path: p, message: `only ${path} is in memory` })
  return ObjectStore.of({
    get: (p) => (p === path ? Effect.succeed(bytes) : Effect.fail(missing("get", p))),
    getRange: (p, range) => {
      if (p !== path) return Effect.fail(missing("getRange", p))
      if ("suffix" in range) return Effect.succeed(bytes.subarray(Math.max(0, bytes.length - range.suffix)))
      return Effect.succeed(bytes.subarray(Math.min(range.start, bytes.length), Math.min(range.end, bytes.length)))
    },
    head: (p) =>
      p === path
        ? Effect.succeed({ path, size: bytes.length, lastModified: 0, etag: undefined, metadata: {} })
        : Effect.fail(missing("head", p)),
    put: (p) => Effect.fail(missing("put", p)),
    delete: (p) => Effect.fail(missing("delete", p)),
    list: () => Stream.empty
  })
}

/** The rows of the WAL SST `bytes` (the whole object at `path`), in insertion order. */
const decodeWalRows = (path: string, bytes: Uint8Array): Effect.Effect<ReadonlyArray<RowEntry>, DbError> =>
  SsTableReader.open(path, { size: bytes.length, footerReadSize: bytes.length, readAheadBlocks: 1 << 20 }).pipe(
    Effect.flatMap((reader) => Stream.runCollect(reader.scan())),
    Effect.provideService(ObjectStore, inMemoryObject(path, bytes)),
    Effect.mapError(toDbError)
  )

/** Reads WAL `id` (one GET) and decodes its rows in insertion order. */
export const readWalRows = (
  store: ObjectStore["Service"],
  root: string,
  id: number
): Effect.Effect<ReadonlyArray<RowEntry>, DbError> => {
  const path = walSstPath(root, id)
  return store.get(path).pipe(
    Effect.mapError(toDbError),
    Effect.flatMap((bytes) => decodeWalRows(path, bytes))
  )
}

/** As `readWalRows`, but undefined when WAL `id` does not exist (a reader's replay ends there). */
export const readWalRowsIfPresent = (
  store: ObjectStore["Service"],
  root: string,
  id: number
): Effect.Effect<ReadonlyArray<RowEntry> | undefined, DbError> => {
  const path = walSstPath(root, id)
  return store.get(path).pipe(
    Effect.map((bytes): Uint8Array | undefined => bytes),
    Effect.catchTag("ObjectNotFound", () => Effect.succeed(undefined)),
    Effect.mapError(toDbError),
    Effect.flatMap((bytes) => (bytes === undefined ? Effect.succeed(undefined) : decodeWalRows(path, bytes)))
  )
}

