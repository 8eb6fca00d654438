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
import { Cause, Effect, Exit, FileSystem, Layer, Option, Random, Semaphore, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { rmdir } from "node:fs/promises"
import { spanned } from "../Tracing.ts"
import {
  type Body,
  decodeMetadata,
  dirOf,
  etagOf,
  HIDDEN,
  isCode,
  lastModifiedOf,
  mapPlatformError,
  NOT_FOUND_CODES,
  PID_DIGITS,
  removeFileIfExists,
  rootDirOf,
  sidecarOf,
  TEMP_ATTEMPTS,
  textEncoder,
  UNSIZED_READ_MAX,
  validateLocalPath,
  validateLocalPrefix,
  writeChunks
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
  ObjectAlreadyExists,
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

/** A streamed put syncs its file each time this many bytes have been written since the last sync. */
const STREAM_SYNC_BYTES = 2 * 1024 * 1024

/** The store on the directory `options.root` (see the module comment). */
export const makeLocal = Effect.fn("LocalObjectStore.make")(function*(options: LocalObjectStoreOptions) {
  const fs = yield* FileSystem.FileSystem
  const root = rootDirOf(options.root)
  yield* fs.makeDirectory(root === "" ? "/" : root, { recursive: true }).pipe(
    Effect.catchTag("PlatformError", (e) =>
      Effect.fail(new StoreFailure({ op: "put", path: "", message: `cannot create ${options.root}: ${e.message}`, cause: e })))
  )
  // Serialises publishing and deleting (see the module comment on sidecars); the slow part of a put,
  // writing and fsyncing its temp file, runs outside it.
  const publishLock = yield* Semaphore.make(1)

  const fileOf = (path: string): string => `${root}/${path}`

  const inoOf = (info: FileSystem.File.Info): Effect.Effect<bigint, PlatformError> =>
    Option.match(info.ino, {
      onSome: Effect.succeed,
      onNone: () =>
        Effect.die(new Error("LocalObjectStore needs inode numbers (stat reported none)"))
    })

  /** fsyncs a directory, making the names created or removed in it durable. */
  const syncDirectory = (dir: string): Effect.Effect<void, PlatformError> =>
    Effect.scoped(fs.open(dir === "" ? "/" : dir, { flag: "r" }).pipe(Effect.flatMap((d) => d.sync))).pipe(
      // Some platforms cannot fsync a directory (Windows: EISDIR/EPERM); there is nothing more to do there.
      Effect.catchIf((e) => isCode(e, "EISDIR", "EINVAL"), () => Effect.void)
    )

  /** Creates `dir` and its missing parents below the root, fsyncing each new directory's parent. */
  const ensureDirectory = (dir: string): Effect.Effect<void, PlatformError> =>
    fs.makeDirectory(dir).pipe(
      Effect.andThen(syncDirectory(dirOf(dir))),
      Effect.catchIf((e) => isCode(e, "EEXIST"), () => Effect.void),
      Effect.catchIf(
        (e) => isCode(e, "ENOENT") && dir.length > root.length,
        () => ensureDirectory(dirOf(dir)).pipe(Effect.andThen(Effect.suspend(() => ensureDirectory(dir))))
      )
    )

  const removeIfExists = (file: string) => removeFileIfExists(fs, file)

  /** A fresh temp-file name: `#2`, this process's id and 9 random digits (sidecars are `#0...`). */
  const tempName = Effect.gen(function*() {
    const a = yield* Random.nextIntBetween(0, 1e9, { halfOpen: true })
    return `#2${String(process.pid).padStart(PID_DIGITS, "0")}${String(a).padStart(9, "0")}`
  })

  /**
   * Writes `bytes` to a new file (`O_EXCL`) and fsyncs it. On any failure but a name clash (the name is
   * another's) and on interruption, even one that lands while the file is being created, what was
   * created is removed.
   */
  const writeNewFile = (file: string, bytes: Body) =>
    Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(file, { flag: "wx", mode: 0o644 })
      if (bytes instanceof Uint8Array) {
        if (bytes.length > 0) yield* handle.writeAll(bytes)
      } else if (Array.isArray(bytes)) {
        yield* writeChunks(bytes, (b) => handle.writeAll(b))
      } else {
        // A streamed body is long (a compaction's output SST) and comes slowly (as it is built): syncing
        // as it goes lets the disk write it while the rest is built, so the last sync waits only for the
        // tail, not for the whole object (a 7 MiB SST's last sync: 7 ms before, under 2 ms after).
        let unsynced = 0
        yield* Stream.runForEach(bytes as Stream.Stream<ReadonlyArray<Uint8Array>>, (batch) =>
          Effect.andThen(writeChunks(batch, (b) => handle.writeAll(b)), () => {
            for (const b of batch) unsynced += b.length
            if (unsynced < STREAM_SYNC_BYTES) return Effect.void
            unsynced = 0
            return handle.sync
          }))
      }
      yield* handle.sync
      return yield* handle.stat
    })).pipe(
      Effect.onExit((exit) =>
        Exit.isSuccess(exit) || Cause.findErrorOption(exit.cause).pipe(Option.exists((e) => isCode(e, "EEXIST")))
          ? Effect.void
          : Effect.ignore(removeIfExists(file))
      )
    )

  /**
   * Writes a durable temp file in `dir` (creating `dir` if needed); returns its path and stat. `track`
   * learns the name before the file is created (and `undefined` after a clash), so that a caller
   * interrupted at any point knows what to remove.
   */
  const writeTemp = (dir: string, bytes: Body, track: (path: string | undefined) => void) =>
    Effect.gen(function*() {
      for (let attempt = 1;; attempt++) {
        const temp = `${dir}/${yield* tempName}`
        track(temp)
        const result = yield* Effect.result(writeNewFile(temp, bytes))
        if (result._tag === "Success") return { path: temp, info: result.success }
        const e = result.failure
        if (isCode(e, "EEXIST")) track(undefined)
        if (attempt >= TEMP_ATTEMPTS || !isCode(e, "EEXIST", "ENOENT")) return yield* Effect.fail(e)
        // ENOENT: the directory is missing (new, or pruned by a concurrent delete). EEXIST: name clash.
        if (isCode(e, "ENOENT")) yield* ensureDirectory(dir)
      }
    })

  /** Reads the metadata sidecar of the file with inode `ino`, if there is one. */
  const readSidecar = (op: StoreOp, path: string, dir: string, ino: bigint) =>
    fs.readFileString(sidecarOf(dir, ino)).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => isCode(e, "ENOENT"), () => Effect.succeed(Option.none<string>())),
      Effect.flatMap(Option.match({
        onNone: () => Effect.succeed(Option.none<Readonly<Record<string, string>>>()),
        onSome: (text) =>
          decodeMetadata(text).pipe(
            Effect.map(Option.some),
            Effect.mapError((e) => new StoreFailure({ op, path, message: `corrupt metadata for ${path}: ${e.message}`, cause: e }))
          )
      }))
    )

  /** Stats `file`; `none` if there is no regular file there. */
  const statFile = (file: string) =>
    fs.stat(file).pipe(
      Effect.map((info) => info.type === "File" ? Option.some(info) : Option.none()),
      Effect.catchIf((e) => isCode(e, ...NOT_FOUND_CODES), () => Effect.succeed(Option.none<FileSystem.File.Info>()))
    )

  const notFound = (op: StoreOp, path: string) => new ObjectNotFound({ op, path, message: `no object at ${path}` })

  /** Removes `dir` and then its parents while they are empty, stopping at the root. */
  const pruneEmptyDirectories = (dir: string): Effect.Effect<void> =>
    dir.length <= root.length
      ? Effect.void
      : Effect.tryPromise({
        // FileSystem.remove is `rm`, which would need `recursive` for a directory (and then remove a
        // non-empty one too); `rmdir` removes only an empty directory, which is exactly what is wanted.
        try: () => rmdir(dir),
        catch: (cause) => cause
      }).pipe(
        Effect.andThen(Effect.suspend(() => pruneEmptyDirectories(dirOf(dir)))),
        // Not empty (ENOTEMPTY/EEXIST), already gone, or anything else: stop pruning, it is only tidying.
        Effect.ignore
      )

  const swept = options.sweepTempFiles === false ? 0 : yield* sweepTempFiles(fs, root)
  if (swept > 0) yield* Effect.logDebug(`LocalObjectStore: removed ${swept} files left by killed writers under ${options.root}`)

  const put = spanned("LocalObjectStore.put", Effect.fnUntraced(function*(path: string, bytes: Body, options?: PutOptions) {
    yield* validateLocalPath("put", path)
    const file = fileOf(path)
    const dir = dirOf(file)
    const create = options?.mode === "create"
    const metadata = options?.metadata ?? {}
    // What to undo if the put fails before the object is published.
    let published = false
    let dataTemp: string | undefined
    let metaTemp: string | undefined
    let sidecar: string | undefined

    return yield* Effect.gen(function*() {
      const temp = yield* writeTemp(dir, bytes, (p) => (dataTemp = p))
      const ino = yield* inoOf(temp.info)

      // Make the metadata for this inode durable before the object can be seen.
      if (Object.keys(metadata).length > 0) {
        const meta = yield* writeTemp(dir, textEncoder.encode(JSON.stringify(metadata)), (p) => (metaTemp = p))
        sidecar = sidecarOf(dir, ino)
        yield* fs.rename(meta.path, sidecar)
        yield* syncDirectory(dir)
      } else if (yield* removeIfExists(sidecarOf(dir, ino))) {
        yield* syncDirectory(dir) // a stale sidecar left by a crash, for an inode number now reused
      }

      const linked = yield* Effect.uninterruptible(publishLock.withPermit(Effect.gen(function*() {
        if (create) {
          const ok = yield* fs.link(temp.path, file).pipe(
            Effect.as(true),
            Effect.catchIf((e) => isCode(e, "EEXIST"), () => Effect.succeed(false))
          )
          if (!ok) return false
          published = true
          yield* removeIfExists(temp.path)
          return true
        }
        const old = yield* statFile(file)
        yield* fs.rename(temp.path, file)
        published = true
        if (Option.isSome(old)) {
          const oldIno = yield* inoOf(old.value)
          if (oldIno !== ino) yield* removeIfExists(sidecarOf(dir, oldIno))
        }
        return true
      })))

      if (!linked) {
        const existing = yield* fs.stat(file).pipe(Effect.option)
        return yield* Effect.fail(
          Option.isSome(existing) && existing.value.type === "Directory"
            ? new StoreFailure({ op: "put", path, message: `a directory exists at ${path}` })
            : new ObjectAlreadyExists({ op: "put", path, message: `object exists at ${path}` })
        )
      }
      yield* syncDirectory(dir)
      return { etag: etagOf(temp.info) }
    }).pipe(
      Effect.onError(() =>
        published ? Effect.void : Effect.gen(function*() {
          // The sidecar before the data temp file: while that file lives, its inode (which names the
          // sidecar) cannot be reused by another writer.
          for (const leftover of [sidecar, metaTemp, dataTemp]) {
            if (leftover !== undefined) yield* Effect.ignore(fs.remove(leftover))
          }
        })
      ),
      mapPlatformError("put", path)
    )
  }))

  const get = spanned("LocalObjectStore.get", Effect.fnUntraced(function*(path: string) {
    yield* validateLocalPath("get", path)
    return yield* fs.readFile(fileOf(path)).pipe(mapPlatformError("get", path))
  }))

  const getRange = spanned("LocalObjectStore.getRange", Effect.fnUntraced(function*(path: string, range: ByteRange) {
    yield* validateLocalPath("getRange", path)
    return yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* fs.open(fileOf(path), { flag: "r" })
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
    })).pipe(mapPlatformError("getRange", path))
  }))

  const head = spanned("LocalObjectStore.head", Effect.fnUntraced(function*(path: string) {
    yield* validateLocalPath("head", path)
    const file = fileOf(path)
    const dir = dirOf(file)
    return yield* Effect.gen(function*() {
      // A sidecar can vanish between the stat and its read only if the object was replaced or deleted
      // meanwhile; then look again, so that the answer describes one version of the object.
      for (;;) {
        const info = yield* statFile(file)
        if (Option.isNone(info)) return yield* Effect.fail(notFound("head", path))
        const ino = yield* inoOf(info.value)
        const metadata = yield* readSidecar("head", path, dir, ino)
        const again = Option.isSome(metadata) ? info : yield* statFile(file)
        if (Option.isSome(again) && (yield* inoOf(again.value)) === ino) {
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
    }).pipe(mapPlatformError("head", path))
  }))

  const del = spanned("LocalObjectStore.delete", Effect.fnUntraced(function*(path: string) {
    yield* validateLocalPath("delete", path)
    const file = fileOf(path)
    const dir = dirOf(file)
    return yield* Effect.gen(function*() {
      const removed = yield* Effect.uninterruptible(publishLock.withPermit(Effect.gen(function*() {
        const info = yield* statFile(file)
        if (Option.isNone(info)) return false // missing, or a "directory": no object to delete
        const ino = yield* inoOf(info.value)
        if (!(yield* removeIfExists(file))) return false
        yield* removeIfExists(sidecarOf(dir, ino))
        return true
      })))
      if (removed) {
        yield* syncDirectory(dir)
        yield* pruneEmptyDirectories(dir)
      }
    }).pipe(mapPlatformError("delete", path))
  }))

  /** Every object path under `prefix`, sorted. */
  const walk = (prefix: string): Effect.Effect<Array<string>, PlatformError> =>
    Effect.gen(function*() {
      const out: Array<string> = []
      const visit = (rel: string): Effect.Effect<void, PlatformError> =>
        Effect.gen(function*() {
          const dir = rel === "" ? (root === "" ? "/" : root) : fileOf(rel)
          const entries = yield* fs.readDirectoryEntries(dir).pipe(
            // Gone (pruned meanwhile) or not a directory (the prefix names an object): nothing under it.
            Effect.catchIf((e) => isCode(e, "ENOENT", "ENOTDIR"), () => Effect.succeed([]))
          )
          for (const entry of entries) {
            const child = rel === "" ? entry.name : `${rel}/${entry.name}`
            let type = entry.type
            if (type !== "File" && type !== "Directory") {
              const info = yield* fs.stat(fileOf(child)).pipe(Effect.option)
              type = Option.isSome(info) ? info.value.type : "Unknown"
            }
            if (type === "Directory") yield* visit(child)
            else if (type === "File" && !HIDDEN.test(entry.name)) out.push(child)
          }
        })
      yield* visit(prefix)
      return out.sort()
    })

  const list = (prefix: string, options?: ListOptions): Stream.Stream<ObjectSummary, ObjectStoreError> =>
    Stream.unwrap(Effect.gen(function*() {
      yield* validateLocalPrefix(prefix)
      const walked = yield* walk(prefix).pipe(mapPlatformError("list", prefix))
      const after = options?.startAfter
      // Only the paths wanted are stat-ed: a poll for new versions costs one directory read.
      const paths = after === undefined ? walked : walked.filter((path) => path > after)
      return Stream.fromIterable(paths).pipe(
        Stream.mapEffect((path) =>
          statFile(fileOf(path)).pipe(
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
