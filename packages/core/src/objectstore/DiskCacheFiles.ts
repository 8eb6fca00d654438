/**
 * The disk cache's folder: the part files of cached objects, their index in memory, and eviction (Node
 * only). `CachedObjectStore` decides what to cache; this module keeps files and never returns a byte it has
 * not checked.
 *
 * Layout: the object at path `p` owns the directory `<root>/p/`, holding `_part<partSize>-<9-digit index>`
 * files (bytes `[index * partSize, (index + 1) * partSize)` of the object, `CachedPartFile`'s format) and
 * `_head` (the object's metadata as JSON, in the same format). A file is written to a temp name
 * (`<name>.tmp-<pid>-<n>`) and renamed into place, so a reader never sees a half-written file under a
 * final name; it is not fsynced: a file torn by a crash fails its checksums and is fetched again.
 *
 * Guarantees:
 * - `read` returns the requested bytes of a part only after checking the header (magic, version, header
 *   checksum, part size and index matching the name) and the checksum of every chunk it reads. A file that
 *   fails (truncated, corrupt, foreign) is deleted and reported as a miss; its bytes are never returned.
 *   I/O errors are misses too: a broken cache costs requests, never correctness.
 * - The bytes of all files stay at or below `maxBytes` once a write returns: the index orders files by last
 *   use (a read hit or a write makes a file the most recent) and a write evicts the least recently used
 *   files (exact LRU within a process). A file larger than `maxBytes` alone is not written.
 * - Reopening reuses the folder: `open` lists it, deletes temp files left by a crash, and indexes every
 *   other file in the order of its last access or modification time on disk, oldest first, evicting down to
 *   `maxBytes` (the limit may have shrunk). Files of another part size stay indexed but never match a
 *   lookup, so they age out first.
 * - One process per folder: the index is this process's view; another process writing the folder would
 *   go unnoticed by eviction (as SlateDB's disk cache).
 */
import { Effect } from "effect"
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises"
import { dirname, join, relative, sep } from "node:path"
import { chunkSpan, decodeHeader, encodePart, HEAD_PART, headerSize, verifySpan } from "./CachedPartFile.ts"

/** The bytes of part `index` that a read asked for, and the part's whole length (< part size: the last part). */
export interface PartSlice {
  readonly bytes: Uint8Array
  readonly length: number
}

const TEMP = ".tmp-"
const HEAD_NAME = "_head"

export class DiskCacheFiles {
  readonly root: string
  readonly partSize: number
  readonly maxBytes: number
  /** Relative file name → bytes on disk; Map order is recency (first: least recently used). */
  readonly #lru = new Map<string, number>()
  #bytes = 0
  #temps = 0
  evictions = 0
  evictedBytes = 0
  corrupt = 0

  private constructor(root: string, partSize: number, maxBytes: number) {
    this.root = root
    this.partSize = partSize
    this.maxBytes = maxBytes
  }

  /**
   * Opens (creating) the folder and indexes what an earlier process left (see the module comment). A folder
   * that cannot be created or listed is a defect: the configuration is wrong, and it should say so at once.
   */
  static open(root: string, partSize: number, maxBytes: number): Effect.Effect<DiskCacheFiles> {
    const files = new DiskCacheFiles(root, partSize, maxBytes)
    return Effect.gen(function*() {
      yield* Effect.promise(() => mkdir(root, { recursive: true }))
      const entries = yield* Effect.promise(() => readdir(root, { recursive: true, withFileTypes: true }))
      const found: Array<{ name: string; size: number; used: number }> = []
      for (const e of entries) {
        if (!e.isFile()) continue
        const full = join(e.parentPath, e.name)
        if (e.name.includes(TEMP)) {
          yield* quietly(() => unlink(full))
          continue
        }
        const s = yield* Effect.option(io(() => stat(full)))
        if (s._tag === "Some") {
          found.push({ name: relative(root, full).split(sep).join("/"), size: s.value.size, used: Math.max(s.value.atimeMs, s.value.mtimeMs) })
        }
      }
      found.sort((a, b) => a.used - b.used)
      for (const f of found) files.#register(f.name, f.size)
      yield* files.#unlinkAll(files.#evict())
      return files
    })
  }

  /** The file of part `index` of the object at `path`. */
  partName(path: string, index: number): string {
    return `${path}/_part${this.partSize}-${String(index).padStart(9, "0")}`
  }

  headName(path: string): string {
    return `${path}/${HEAD_NAME}`
  }

  /** Whether the index holds the file (no I/O: the file may still turn out damaged or gone). */
  has(name: string): boolean {
    return this.#lru.has(name)
  }

  get files(): number {
    return this.#lru.size
  }

  get bytes(): number {
    return this.#bytes
  }

  /**
   * Payload bytes `[start, end)` (clipped to the part) of file `name`, which must hold part `index`
   * (`HEAD_PART` for a head); undefined on a miss, including a damaged file (then deleted).
   */
  read(name: string, index: number, start: number, end: number): Effect.Effect<PartSlice | undefined> {
    if (!this.#lru.has(name)) return Effect.succeed(undefined)
    return Effect.acquireUseRelease(
      io(() => open(join(this.root, name), "r")),
      (fh) => this.#readOpen(fh, index, start, end).pipe(Effect.orElseSucceed(() => "corrupt" as const)),
      (fh) => quietly(() => fh.close())
    ).pipe(
      Effect.orElseSucceed(() => "gone" as const),
      Effect.flatMap((r) => {
        if (r === "gone" || r === "corrupt") {
          if (r === "corrupt") this.corrupt++
          return this.#drop(name).pipe(Effect.as(undefined))
        }
        this.#touch(name)
        return Effect.succeed(r)
      })
    )
  }

  /** The checked slice from an open part file, or "corrupt"; fails on an I/O error. */
  #readOpen(fh: FileHandle, index: number, start: number, end: number): Effect.Effect<PartSlice | "corrupt", unknown> {
    const hs = headerSize(this.partSize)
    const partSize = this.partSize
    return Effect.gen(function*() {
      const head = new Uint8Array(hs)
      if ((yield* io(() => fh.read(head, 0, hs, 0))).bytesRead !== hs) return "corrupt" as const
      const header = decodeHeader(head, partSize, index)
      if (header === undefined) return "corrupt" as const
      const s = Math.min(start, header.length)
      const e = Math.max(s, Math.min(end, header.length))
      const [from, to] = chunkSpan(header, s, e)
      const span = new Uint8Array(to - from)
      if ((yield* io(() => fh.read(span, 0, span.length, hs + from))).bytesRead !== span.length) return "corrupt" as const
      if (!verifySpan(header, from, span)) return "corrupt" as const
      // A small slice of a large span is copied, so that a cached block does not pin the whole span.
      const bytes = 2 * (e - s) < span.length ? span.slice(s - from, e - from) : span.subarray(s - from, e - from)
      return { bytes, length: header.length }
    })
  }

  /** Writes `payload` as part `index` to file `name`, then evicts down to `maxBytes`. Never fails. */
  write(name: string, index: number, payload: Uint8Array): Effect.Effect<void> {
    return Effect.suspend(() => {
      const file = encodePart(this.partSize, index, payload)
      if (file.length > this.maxBytes) return Effect.void
      const full = join(this.root, name)
      const temp = `${full}${TEMP}${process.pid}-${++this.#temps}`
      return io(() => mkdir(dirname(full), { recursive: true })).pipe(
        Effect.andThen(io(() => writeFile(temp, file))),
        Effect.andThen(io(() => rename(temp, full))),
        Effect.matchEffect({
          onFailure: () => quietly(() => unlink(temp)),
          onSuccess: () =>
            Effect.suspend(() => {
              this.#register(name, file.length)
              return this.#unlinkAll(this.#evict())
            })
        })
      )
    })
  }

  /** Writes the head file of `path` (a JSON text). */
  writeHead(path: string, json: string): Effect.Effect<void> {
    const bytes = new TextEncoder().encode(json)
    return bytes.length > this.partSize ? Effect.void : this.write(this.headName(path), HEAD_PART, bytes)
  }

  /** The head file's JSON text, if cached and intact. */
  readHead(path: string): Effect.Effect<string | undefined> {
    return this.read(this.headName(path), HEAD_PART, 0, this.partSize).pipe(
      Effect.map((r) => (r === undefined ? undefined : new TextDecoder().decode(r.bytes)))
    )
  }

  /** Forgets every file of the object at `path` and deletes its directory. */
  deleteObject(path: string): Effect.Effect<void> {
    const prefix = `${path}/`
    return Effect.suspend(() => {
      let found = 0
      for (const [name, size] of this.#lru) {
        if (name.startsWith(prefix)) {
          this.#lru.delete(name)
          this.#bytes -= size
          found++
        }
      }
      // Every file is indexed (from the folder's listing on open, or when written): none, nothing to delete.
      return found === 0 ? Effect.void : quietly(() => rm(join(this.root, path), { recursive: true, force: true }))
    })
  }

  /** Removes a damaged or vanished file from the index and the disk. */
  #drop(name: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      const size = this.#lru.get(name)
      if (size !== undefined) {
        this.#lru.delete(name)
        this.#bytes -= size
      }
      return quietly(() => unlink(join(this.root, name)))
    })
  }

  #register(name: string, size: number): void {
    const old = this.#lru.get(name)
    if (old !== undefined) {
      this.#lru.delete(name)
      this.#bytes -= old
    }
    this.#lru.set(name, size)
    this.#bytes += size
  }

  #touch(name: string): void {
    const size = this.#lru.get(name)
    if (size === undefined) return
    this.#lru.delete(name)
    this.#lru.set(name, size)
  }

  /** Takes least recently used files out of the index until within `maxBytes`; returns their names. */
  #evict(): Array<string> {
    const out: Array<string> = []
    for (const [name, size] of this.#lru) {
      if (this.#bytes <= this.maxBytes) break
      this.#lru.delete(name)
      this.#bytes -= size
      this.evictions++
      this.evictedBytes += size
      out.push(name)
    }
    return out
  }

  #unlinkAll(names: ReadonlyArray<string>): Effect.Effect<void> {
    return Effect.forEach(names, (name) => quietly(() => unlink(join(this.root, name))), { discard: true })
  }
}

/** A file-system call; its failure is a value to decide on (a miss, a damaged file), never a defect. */
const io = <A>(f: () => Promise<A>): Effect.Effect<A, unknown> => Effect.tryPromise({ try: f, catch: (e) => e })

/** A file-system call whose failure does not matter (removing a file that may be gone already). */
const quietly = (f: () => Promise<unknown>): Effect.Effect<void> => Effect.ignore(io(f))
