/**
 * The local object store's protocol on the file system under its root (LocalObjectStore.ts is the store:
 * path checks, error mapping, spans; its module comment states the guarantees this gives): publishing an
 * object (`publish`: a durable temp file, its metadata sidecar, then `link` or `rename` under the publish
 * lock), deleting one (`remove`), directories created and removed durably (each new or removed name's
 * directory fsynced), metadata sidecars read by inode number, and the sorted walk behind `list`.
 */
import { Cause, Effect, Exit, type FileSystem, Option, Random, type Semaphore, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { rmdir } from "node:fs/promises"
import {
  type Body,
  decodeMetadata,
  dirOf,
  etagOf,
  HIDDEN,
  isCode,
  NOT_FOUND_CODES,
  PID_DIGITS,
  removeFileIfExists,
  sidecarOf,
  TEMP_ATTEMPTS,
  textEncoder,
  writeChunks
} from "./LocalFiles.ts"
import type { PutOptions } from "./ObjectStore.ts"
import { ObjectAlreadyExists, StoreFailure, type StoreOp } from "./ObjectStoreError.ts"

/** A streamed put syncs its file each time this many bytes have been written since the last sync. */
const STREAM_SYNC_BYTES = 2 * 1024 * 1024

/** The steps on the directory `root` (already created) through `fs` (see the module comment). */
export class LocalDirectory {
  readonly #fs: FileSystem.FileSystem
  readonly #root: string
  /**
   * Serialises publishing and deleting (see LocalObjectStore.ts on sidecars); the slow part of a put,
   * writing and fsyncing its temp file, runs outside it.
   */
  readonly #publishLock: Semaphore.Semaphore

  constructor(fs: FileSystem.FileSystem, root: string, publishLock: Semaphore.Semaphore) {
    this.#fs = fs
    this.#root = root
    this.#publishLock = publishLock
  }

  /**
   * Puts `bytes` at `file` (object `path`): a durable temp file, then its metadata sidecar (or the removal
   * of a stale one), then, under the lock, `link` (create) or `rename` (overwrite), then the directory
   * fsynced. What a failed put created is removed, unless the object was published.
   */
  publish(
    path: string,
    file: string,
    bytes: Body,
    options: PutOptions | undefined
  ): Effect.Effect<{ readonly etag: string }, PlatformError | StoreFailure | ObjectAlreadyExists> {
    const self = this
    const fs = this.#fs
    const dir = dirOf(file)
    const create = options?.mode === "create"
    const metadata = options?.metadata ?? {}
    // What to undo if the put fails before the object is published.
    let published = false
    let dataTemp: string | undefined
    let metaTemp: string | undefined
    let sidecar: string | undefined
    return Effect.gen(function*() {
      const temp = yield* self.writeTemp(dir, bytes, (p) => (dataTemp = p))
      const ino = yield* self.inoOf(temp.info)

      // Make the metadata for this inode durable before the object can be seen.
      if (Object.keys(metadata).length > 0) {
        const meta = yield* self.writeTemp(dir, textEncoder.encode(JSON.stringify(metadata)), (p) => (metaTemp = p))
        sidecar = sidecarOf(dir, ino)
        yield* fs.rename(meta.path, sidecar)
        yield* self.syncDirectory(dir)
      } else if (yield* self.removeIfExists(sidecarOf(dir, ino))) {
        yield* self.syncDirectory(dir) // a stale sidecar left by a crash, for an inode number now reused
      }

      const linked = yield* Effect.uninterruptible(self.#publishLock.withPermit(Effect.gen(function*() {
        if (create) {
          const ok = yield* fs.link(temp.path, file).pipe(
            Effect.as(true),
            Effect.catchIf((e) => isCode(e, "EEXIST"), () => Effect.succeed(false))
          )
          if (!ok) return false
          published = true
          yield* self.removeIfExists(temp.path)
          return true
        }
        const old = yield* self.statFile(file)
        yield* fs.rename(temp.path, file)
        published = true
        if (Option.isSome(old)) {
          const oldIno = yield* self.inoOf(old.value)
          if (oldIno !== ino) yield* self.removeIfExists(sidecarOf(dir, oldIno))
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
      yield* self.syncDirectory(dir)
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
      )
    )
  }

  /**
   * Deletes the object at `file` and its sidecar (under the lock), fsyncs the directory and prunes the
   * directories left empty; nothing when there is no object there.
   */
  remove(file: string): Effect.Effect<void, PlatformError> {
    const self = this
    const dir = dirOf(file)
    return Effect.gen(function*() {
      const removed = yield* Effect.uninterruptible(self.#publishLock.withPermit(Effect.gen(function*() {
        const info = yield* self.statFile(file)
        if (Option.isNone(info)) return false // missing, or a "directory": no object to delete
        const ino = yield* self.inoOf(info.value)
        if (!(yield* self.removeIfExists(file))) return false
        yield* self.removeIfExists(sidecarOf(dir, ino))
        return true
      })))
      if (removed) {
        yield* self.syncDirectory(dir)
        yield* self.pruneEmptyDirectories(dir)
      }
    })
  }

  /** The file of object `path`. */
  fileOf(path: string): string {
    return `${this.#root}/${path}`
  }

  /** The inode number of a stat (this store needs them: see LocalObjectStore.ts on sidecars). */
  inoOf(info: FileSystem.File.Info): Effect.Effect<bigint, PlatformError> {
    return Option.match(info.ino, {
      onSome: Effect.succeed,
      onNone: () => Effect.die(new Error("LocalObjectStore needs inode numbers (stat reported none)"))
    })
  }

  /** fsyncs a directory, making the names created or removed in it durable. */
  syncDirectory(dir: string): Effect.Effect<void, PlatformError> {
    return Effect.scoped(this.#fs.open(dir === "" ? "/" : dir, { flag: "r" }).pipe(Effect.flatMap((d) => d.sync))).pipe(
      // Some platforms cannot fsync a directory (Windows: EISDIR/EPERM); there is nothing more to do there.
      Effect.catchIf((e) => isCode(e, "EISDIR", "EINVAL"), () => Effect.void)
    )
  }

  /** Creates `dir` and its missing parents below the root, fsyncing each new directory's parent. */
  ensureDirectory(dir: string): Effect.Effect<void, PlatformError> {
    return this.#fs.makeDirectory(dir).pipe(
      Effect.andThen(this.syncDirectory(dirOf(dir))),
      Effect.catchIf((e) => isCode(e, "EEXIST"), () => Effect.void),
      Effect.catchIf(
        (e) => isCode(e, "ENOENT") && dir.length > this.#root.length,
        () => this.ensureDirectory(dirOf(dir)).pipe(Effect.andThen(Effect.suspend(() => this.ensureDirectory(dir))))
      )
    )
  }

  /** Removes `file`; false when there was none. */
  removeIfExists(file: string): Effect.Effect<boolean, PlatformError> {
    return removeFileIfExists(this.#fs, file)
  }

  /**
   * Writes `bytes` to a new file (`O_EXCL`) and fsyncs it. On any failure but a name clash (the name is
   * another's) and on interruption, even one that lands while the file is being created, what was
   * created is removed.
   */
  writeNewFile(file: string, bytes: Body): Effect.Effect<FileSystem.File.Info, PlatformError> {
    const fs = this.#fs
    return Effect.scoped(Effect.gen(function*() {
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
          : Effect.ignore(this.removeIfExists(file))
      )
    )
  }

  /**
   * Writes a durable temp file in `dir` (creating `dir` if needed); returns its path and stat. `track`
   * learns the name before the file is created (and `undefined` after a clash), so that a caller
   * interrupted at any point knows what to remove.
   */
  writeTemp(
    dir: string,
    bytes: Body,
    track: (path: string | undefined) => void
  ): Effect.Effect<{ readonly path: string; readonly info: FileSystem.File.Info }, PlatformError> {
    const self = this
    return Effect.gen(function*() {
      for (let attempt = 1;; attempt++) {
        const temp = `${dir}/${yield* tempName}`
        track(temp)
        const result = yield* Effect.result(self.writeNewFile(temp, bytes))
        if (result._tag === "Success") return { path: temp, info: result.success }
        const e = result.failure
        if (isCode(e, "EEXIST")) track(undefined)
        if (attempt >= TEMP_ATTEMPTS || !isCode(e, "EEXIST", "ENOENT")) return yield* Effect.fail(e)
        // ENOENT: the directory is missing (new, or pruned by a concurrent delete). EEXIST: name clash.
        if (isCode(e, "ENOENT")) yield* self.ensureDirectory(dir)
      }
    })
  }

  /** Reads the metadata sidecar of the file with inode `ino`, if there is one. */
  readSidecar(
    op: StoreOp,
    path: string,
    dir: string,
    ino: bigint
  ): Effect.Effect<Option.Option<Readonly<Record<string, string>>>, PlatformError | StoreFailure> {
    return this.#fs.readFileString(sidecarOf(dir, ino)).pipe(
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
  }

  /** Stats `file`; `none` if there is no regular file there. */
  statFile(file: string): Effect.Effect<Option.Option<FileSystem.File.Info>, PlatformError> {
    return this.#fs.stat(file).pipe(
      Effect.map((info) => info.type === "File" ? Option.some(info) : Option.none()),
      Effect.catchIf((e) => isCode(e, ...NOT_FOUND_CODES), () => Effect.succeed(Option.none<FileSystem.File.Info>()))
    )
  }

  /** Removes `dir` and then its parents while they are empty, stopping at the root. */
  pruneEmptyDirectories(dir: string): Effect.Effect<void> {
    if (dir.length <= this.#root.length) return Effect.void
    return Effect.tryPromise({
      // FileSystem.remove is `rm`, which would need `recursive` for a directory (and then remove a
      // non-empty one too); `rmdir` removes only an empty directory, which is exactly what is wanted.
      try: () => rmdir(dir),
      catch: (cause) => cause
    }).pipe(
      Effect.andThen(Effect.suspend(() => this.pruneEmptyDirectories(dirOf(dir)))),
      // Not empty (ENOTEMPTY/EEXIST), already gone, or anything else: stop pruning, it is only tidying.
      Effect.ignore
    )
  }

  /** Every object path under `prefix`, sorted. */
  walk(prefix: string): Effect.Effect<Array<string>, PlatformError> {
    const fs = this.#fs
    const root = this.#root
    const fileOf = (path: string) => this.fileOf(path)
    return Effect.gen(function*() {
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
  }
}

/** A fresh temp-file name: `#2`, this process's id and 9 random digits (sidecars are `#0...`). */
const tempName = Effect.gen(function*() {
  const a = yield* Random.nextIntBetween(0, 1e9, { halfOpen: true })
  return `#2${String(process.pid).padStart(PID_DIGITS, "0")}${String(a).padStart(9, "0")}`
})
