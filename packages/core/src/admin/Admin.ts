/**
 * Read-only inspection of a database's objects, straight from the `ObjectStore` (SlateDB's `admin`
 * module does the same from Rust): manifest versions, WAL SSTs and compacted SSTs.
 *
 * Guarantees: nothing here opens the database or writes anything, so inspecting never fences a running
 * writer and never creates a database where there is none. Every function takes the database root inside
 * the store (`""` for the top level), as `Db.layer({ path })` does.
 */
import { Effect, Option, Stream } from "effect"
import { DataError, type DbError } from "../errors.ts"
import { compactedDir, manifestDir, parseCompactedSstId, parseManifestId, parseWalSstId, walDir } from "../format/Paths.ts"
import { RowKind } from "../format/RowEntry.ts"
import { SsTableReader } from "../sst/SsTableReader.ts"
import type { Manifest } from "../manifest/Manifest.ts"
import { decodeManifest } from "../manifest/ManifestCodec.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"

/** An object of the database as the store lists it. */
export interface StoredObject {
  readonly path: string
  readonly size: number
  /** Milliseconds since the Unix epoch. */
  readonly lastModified: number
}

/** A manifest version or a WAL SST: an object whose name is a number. */
export interface NumberedObject extends StoredObject {
  readonly id: number
}

/** Objects under `prefix` whose name `parse` accepts, ascending by id. */
const listNumbered = (prefix: string, parse: (path: string) => number | undefined) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    const listed = yield* Stream.runCollect(store.list(prefix))
    const out: Array<NumberedObject> = []
    for (const o of listed) {
      const id = parse(o.path)
      if (id !== undefined) out.push({ id, path: o.path, size: o.size, lastModified: o.lastModified })
    }
    return out.sort((a, b) => a.id - b.id)
  })

/** Every manifest version of the database at `root`, oldest first (empty: no database there). */
export const listManifests = (root: string): Effect.Effect<ReadonlyArray<NumberedObject>, ObjectStoreError, ObjectStore> =>
  listNumbered(manifestDir(root), parseManifestId)

/** Every WAL SST of the database at `root`, by id. */
export const listWalSsts = (root: string): Effect.Effect<ReadonlyArray<NumberedObject>, ObjectStoreError, ObjectStore> =>
  listNumbered(walDir(root), parseWalSstId)

/** Compacted (L0 and sorted-run) SSTs of the database at `root`: ULID → object. */
export const listCompactedSsts = (
  root: string
): Effect.Effect<ReadonlyMap<string, StoredObject>, ObjectStoreError, ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    const listed = yield* Stream.runCollect(store.list(compactedDir(root)))
    const out = new Map<string, StoredObject>()
    for (const o of listed) {
      const id = parseCompactedSstId(o.path)
      if (id !== undefined) out.set(id, { path: o.path, size: o.size, lastModified: o.lastModified })
    }
    return out
  })

/** The latest manifest, decoded, with the versions stored beside it. */
export interface LatestManifest {
  readonly id: number
  readonly object: NumberedObject
  readonly manifest: Manifest
  /** All versions present (ids ascending). */
  readonly versions: ReadonlyArray<NumberedObject>
}

/** The latest manifest version, decoded; none when the database has no manifest (no database there). */
export const latestManifest = (
  root: string
): Effect.Effect<Option.Option<LatestManifest>, ObjectStoreError | DbError, ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    const versions = yield* listManifests(root)
    const last = versions[versions.length - 1]
    if (last === undefined) return Option.none()
    const bytes = yield* store.get(last.path)
    const manifest = yield* Effect.try({
      try: () => decodeManifest(bytes),
      catch: (e) =>
        e instanceof DataError
          ? new DataError({ message: e.message, object: last.path, section: e.section ?? "manifest" })
          : new DataError({ message: `cannot decode: ${String(e)}`, object: last.path, section: "manifest", cause: e })
    })
    return Option.some({ id: last.id, object: last, manifest, versions })
  })

/** What one WAL SST holds. */
export interface WalSstSummary extends NumberedObject {
  readonly rows: number
  readonly puts: number
  readonly deletes: number
  readonly merges: number
  /** Lowest and highest seq of the rows; undefined for an empty (fence) SST. */
  readonly minSeq: number | undefined
  readonly maxSeq: number | undefined
}

/** Reads one WAL SST entirely and counts its rows. */
export const summarizeWalSst = (wal: NumberedObject): Effect.Effect<WalSstSummary, ObjectStoreError | DbError, ObjectStore> =>
  Effect.gen(function*() {
    const reader = yield* SsTableReader.open(wal.path, { size: wal.size })
    let rows = 0
    let puts = 0
    let deletes = 0
    let merges = 0
    let minSeq: number | undefined
    let maxSeq: number | undefined
    yield* Stream.runForEach(reader.scan(), (row) =>
      Effect.sync(() => {
        rows++
        if (row.kind === RowKind.Value) puts++
        else if (row.kind === RowKind.Tombstone) deletes++
        else merges++
        minSeq = minSeq === undefined ? row.seq : Math.min(minSeq, row.seq)
        maxSeq = maxSeq === undefined ? row.seq : Math.max(maxSeq, row.seq)
      }))
    return { ...wal, rows, puts, deletes, merges, minSeq, maxSeq }
  })
