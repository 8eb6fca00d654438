/**
 * An `ObjectStore` on a local directory, built on Effect's `FileSystem`.
 *
 * Layout: the object at path `a/b/c` is the plain file `<root>/a/b/c` holding exactly the object's bytes,
 * the layout of the Rust `object_store` crate's `LocalFileSystem`, so a directory written by SlateDB
 * through a `file://` store can be read here and the other way round.
 *
 * Guarantees (beyond the `ObjectStore` contract):
 * - Crash safety. An object is written to a temp file in its own directory, fsynced, and only then
 *   published: `rename(temp, final)` to overwrite, `link(temp, final)` to create (the kernel refuses to link
 *   over an existing name with `EEXIST`, so of any number of racing creators, in this process or in
 *   others, exactly one wins). The directory is fsynced after publishing, and a new directory's parent is
 *   fsynced after it is created. After a crash an object is either wholly there or not there.
 * - Hidden names. Temp files and metadata files are named `#<digits>`, and listing skips every file whose
 *   name ends in `#<digits>` (as `object_store` does for its own staged uploads), so a killed writer's
 *   leftover temp file never shows up as an object. In exchange this store rejects (with `InvalidPath`)
 *   object paths with a segment ending in `#<digits>`; no other backend reserves those names.
 * - Leftovers of killed writers are removed when a store is opened: temp files are named after the
 *   process that writes them (`#2<pid><random>`), and those of processes no longer running on this
 *   machine (with their metadata sidecars) are deleted; unnamed ones (an older format, or another
 *   machine's) only once they are an hour old.
 * - User metadata lives in a sidecar file `#0<inode>` next to the object, keyed by the inode number of
 *   the object's file. The sidecar is written (and fsynced) before the object is published, and an inode
 *   number belongs to exactly one live file, so:
 *   - an object is never visible without its metadata, even after a crash;
 *   - racing creators never see each other's metadata: each one's sidecar names its own inode, and the
 *     loser removes only its own (SlateDB's `slatedbputid` check relies on this);
 *   - stale sidecars (a crash after an overwrite, before the old sidecar was removed) are never read
 *     for a new object, because a writer always replaces or removes the sidecar of its fresh inode before
 *     publishing. Within one store instance, publishing and deleting hold a lock so that an inode freed by
 *     one operation cannot be recycled while another removes that inode's sidecar.
 * - Deleting an object removes its sidecar and then every directory left empty up to the root, so that a
 *   path that once was a "directory" can later hold an object (as on S3).
 * - `getRange` reads only the requested bytes; `list` walks the directory tree, sorts all paths (JS string
 *   order, like the other backends) and then stats each file lazily as the stream is pulled (only those
 *   after `startAfter`).
 *
 * Errors: `ENOENT`/`ENOTDIR`/`EISDIR` on a read are `ObjectNotFound`; `EEXIST` on a create is
 * `ObjectAlreadyExists`; `EAGAIN`, `EBUSY`, `EMFILE`, `ENFILE`, `EINTR` and `ETIMEDOUT` are
 * `StoreUnavailable`; everything else is `StoreFailure`. Each carries the operation, the object path and
 * the system's own words for the failure (`ENOSPC: no space left on device, write`).
 */
import { Effect, FileSystem, Layer, Option, Semaphore, Stream } from "effect"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { spanned } from "../Tracing.ts"
import { LocalDirectory } from "./LocalDirectory.ts"
import {
  type Body,
  dirOf,
  etagOf,
  lastModifiedOf,
  mapPlatformError,
  rootDirOf,
  UNSIZED_READ_MAX,
  validateLocalPath,
  validateLocalPrefix
} from "./LocalFiles.ts"
import { withReadHandles } from "./LocalReadHandles.ts"
import { sweepTempFiles } from "./LocalSweep.ts"
import {
  clipRange,
  type ByteRange,
  type ListOptions,
  ObjectStore,
  type ObjectMeta,
  type ObjectSummary,
  type PutOptions
} from "./ObjectStore.ts"
import {
  ObjectNotFound,
  StoreFailure,
  type ObjectStoreError,
  type StoreOp
} from "./ObjectStoreError.ts"

export interface LocalObjectStoreOptions {
  /** The directory that holds the objects; created (with its parents) if missing. */
  readonly root: string
  /** Remove the leftovers of killed writers on opening (default true; a store rebuilt from a recipe skips it). */
  readonly sweepTempFiles?: boolean
  /**
   * Ranged reads of an SST file already open, up to this many bytes (default 64 KiB), are one `pread` on
   * the calling thread (~5 µs from the page cache) instead of a trip through libuv's thread pool (~40 µs);
   * a read the page cache cannot serve then blocks the event loop until the disk answers. 0: every read
   * through the thread pool (slow disks, network file systems). See LocalReadHandles.ts.
   */
  readonly syncReadMaxBytes?: number
}

const notFound = (op: StoreOp, path: string) => new ObjectNotFound({ op, path, message: `no object at ${path}` })

/** The bytes of `range` of the object at `path` (clipped to the object; only the bytes asked for are read). */
const readRange = (fs: FileSystem.FileSystem, disk: LocalDirectory, path: string, range: ByteRange) =>
  Effect.scoped(Effect.gen(function*() {
    const handle = yield* fs.open(disk.fileOf(path), { flag: "r" })
    let start: number
    let end: number
    if (!("suffix" in range) && range.end > range.start && range.end - range.start <= UNSIZED_READ_MAX) {
      // A bounded range (an SST block, say) needs no size: read it, and what the file lacks is clipped
      // off by the read itself (one request fewer; a directory fails the read with EISDIR: not found).
      start = Math.max(0, range.start)
      end = Math.max(start, range.end)
    } else {
      const info = yield* handle.stat
      if (info.type !== "File") return yield* Effect.fail(notFound("getRange", path))
      const clipped = clipRange(Number(info.size), range)
      start = clipped[0]
      end = clipped[1]
    }
    const out = new Uint8Array(end - start)
    let filled = 0
    while (filled < out.length) {
      const n = yield* handle.read(out.subarray(filled), { position: BigInt(start + filled) })
      if (n === 0) break // end of file: the range runs past it
      filled += n
    }
    return filled === out.length ? out : out.subarray(0, filled)
  }))

/** The object's size, times, etag and user metadata (its sidecar), all of one version of it. */
const headOf = (disk: LocalDirectory, path: string) =>
  Effect.gen(function*() {
    const file = disk.fileOf(path)
    const dir = dirOf(file)
    // A sidecar can vanish between the stat and its read only if the object was replaced or deleted
    // meanwhile; then look again, so that the answer describes one version of the object.
    for (;;) {
      const info = yield* disk.statFile(file)
      if (Option.isNone(info)) return yield* Effect.fail(notFound("head", path))
      const ino = yield* disk.inoOf(info.value)
      const metadata = yield* disk.readSidecar("head", path, dir, ino)
      const again = Option.isSome(metadata) ? info : yield* disk.statFile(file)
      if (Option.isSome(again) && (yield* disk.inoOf(again.value)) === ino) {
        const meta: ObjectMeta = {
          path,
          size: Number(info.value.size),
          lastModified: lastModifiedOf(info.value),
          etag: etagOf(info.value),
          metadata: Option.getOrElse(metadata, () => ({}))
        }
        return meta
      }
    }
  })

/** The objects under `prefix` in path order, each stat-ed as the stream is pulled. */
const listOf = (disk: LocalDirectory, prefix: string, options?: ListOptions): Stream.Stream<ObjectSummary, ObjectStoreError> =>
  Stream.unwrap(Effect.gen(function*() {
    yield* validateLocalPrefix(prefix)
    const walked = yield* disk.walk(prefix).pipe(mapPlatformError("list", prefix))
    const after = options?.startAfter
    // Only the paths wanted are stat-ed: a poll for new versions costs one directory read.
    const paths = after === undefined ? walked : walked.filter((path) => path > after)
    return Stream.fromIterable(paths).pipe(
      Stream.mapEffect((path) =>
        disk.statFile(disk.fileOf(path)).pipe(
          Effect.map(Option.map((info): ObjectSummary => ({
            path,
            size: Number(info.size),
            lastModified: lastModifiedOf(info),
            etag: etagOf(info)
          }))),
          mapPlatformError("list", prefix)
        ), { concurrency: 16 }),
      // An object deleted between the walk and its stat is simply not listed.
      Stream.filter(Option.isSome),
      Stream.map((o) => o.value)
    )
  }))

/** The store on the directory `options.root` (see the module comment). */
export const makeLocal = Effect.fn("LocalObjectStore.make")(function*(options: LocalObjectStoreOptions) {
  const fs = yield* FileSystem.FileSystem
  const root = rootDirOf(options.root)
  yield* fs.makeDirectory(root === "" ? "/" : root, { recursive: true }).pipe(
    Effect.catchTag("PlatformError", (e) =>
      Effect.fail(new StoreFailure({ op: "put", path: "", message: `cannot create ${options.root}: ${e.message}`, cause: e })))
  )
  const disk = new LocalDirectory(fs, root, yield* Semaphore.make(1))

  const swept = options.sweepTempFiles === false ? 0 : yield* sweepTempFiles(fs, root)
  if (swept > 0) yield* Effect.logDebug(`LocalObjectStore: removed ${swept} files left by killed writers under ${options.root}`)

  const put = spanned("LocalObjectStore.put", Effect.fnUntraced(function*(path: string, bytes: Body, options?: PutOptions) {
    yield* validateLocalPath("put", path)
    return yield* disk.publish(path, disk.fileOf(path), bytes, options).pipe(mapPlatformError("put", path))
  }))

  const get = spanned("LocalObjectStore.get", Effect.fnUntraced(function*(path: string) {
    yield* validateLocalPath("get", path)
    return yield* fs.readFile(disk.fileOf(path)).pipe(mapPlatformError("get", path))
  }))

  const getRange = spanned("LocalObjectStore.getRange", Effect.fnUntraced(function*(path: string, range: ByteRange) {
    yield* validateLocalPath("getRange", path)
    return yield* readRange(fs, disk, path, range).pipe(mapPlatformError("getRange", path))
  }))

  const head = spanned("LocalObjectStore.head", Effect.fnUntraced(function*(path: string) {
    yield* validateLocalPath("head", path)
    return yield* headOf(disk, path).pipe(mapPlatformError("head", path))
  }))

  const del = spanned("LocalObjectStore.delete", Effect.fnUntraced(function*(path: string) {
    yield* validateLocalPath("delete", path)
    return yield* disk.remove(disk.fileOf(path)).pipe(mapPlatformError("delete", path))
  }))

  const list = (prefix: string, options?: ListOptions) => listOf(disk, prefix, options)

  return ObjectStore.of({ put, putChunks: put, putStream: put, get, getRange, head, delete: del, list })
})

/**
 * The store on Node's file system, with its recipe (objectstore/StoreRecipe.ts): another thread rebuilds
 * it with `rebuildLocal` (without sweeping again). Ranged reads of SSTs go through kept files
 * (LocalReadHandles.ts).
 */
export const makeLocalNode = (options: LocalObjectStoreOptions): Effect.Effect<ObjectStore["Service"], ObjectStoreError> =>
  makeLocal(options).pipe(
    Effect.map((store) =>
      ObjectStore.of({
        ...withReadHandles(store, options.root, options.syncReadMaxBytes),
        recipe: { module: import.meta.url, export: "rebuildLocal", options: { ...options, sweepTempFiles: false } }
      })
    ),
    Effect.provide(NodeFileSystem.layer)
  )

/** The recipe's constructor (see `makeLocalNode`). */
export const rebuildLocal = (options: LocalObjectStoreOptions): Effect.Effect<ObjectStore["Service"], ObjectStoreError> =>
  makeLocalNode(options)

/** Constructors for the local-directory store. */
export const LocalObjectStore = {
  /** The store on Node's file system. */
  layer: (options: LocalObjectStoreOptions): Layer.Layer<ObjectStore, ObjectStoreError> =>
    Layer.effect(ObjectStore, makeLocalNode(options)),
  /** The store on the `FileSystem` in context. */
  layerWithFileSystem: (options: LocalObjectStoreOptions): Layer.Layer<ObjectStore, ObjectStoreError, FileSystem.FileSystem> =>
    Layer.effect(ObjectStore, makeLocal(options)),
  make: makeLocal
} as const
