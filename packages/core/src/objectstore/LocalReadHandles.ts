/**
 * Open files for ranged reads of SSTs in the local-directory store (LocalObjectStore.ts, `makeLocalNode`).
 *
 * A ranged read through the file system service opens the file, reads and closes it: three trips to
 * libuv's thread pool and a file handle object each time, ~120 µs for a 4 KiB block on our machines,
 * against ~30 µs for one `read` on a file already open (measured). The read path reads one block per
 * cache miss, so this was most of the cost of a get or a short scan over data larger than the block cache.
 *
 * What is kept open: SSTs only (`.sst` objects), which the protocol never overwrites (create-only names,
 * docs/format.md §1): the bytes behind an open file are the object's for as long as the object exists.
 * At most `MAX_OPEN` files per store (least recently used closed first), each closed within 10 s of its
 * last read (two sweeps `SWEEP_MS` apart without a read), so a store that is dropped releases its files
 * within seconds. This store's `delete`
 * closes the file first. An SST deleted by another process (a garbage collector elsewhere) stays readable
 * through a file still open here until it is closed: its bytes cannot have changed, and nothing reads an
 * SST its view no longer lists.
 *
 * A file is closed only once no read is using it; a read whose fiber is interrupted finishes in the thread
 * pool first (its result is dropped), so a file number is never reused under a read.
 *
 * Reads of up to `syncReadMaxBytes` (default `SYNC_READ_MAX`, 64 KiB: a block, a short read-ahead) from a
 * file already open are one `pread` on the calling thread, returned as a synchronous effect: ~5 µs from
 * the page cache, where the trip through libuv's thread pool (submit, wake a pool thread, wake the event
 * loop, callback, resume the fiber) costs ~40 µs of which the block's bytes are a fraction. That trip was
 * most of a get that misses the block cache (W2's layouts: 4-5× more gets per second without it). The
 * price: a read the page cache cannot serve blocks the event loop until the disk answers, as an embedded
 * engine's reads do in their caller's thread; `syncReadMaxBytes: 0` sends every read to the thread pool
 * (slow disks, network file systems). Larger reads (the compactor's pages) and a file's first read
 * (which opens it) always go through the thread pool.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { tracing } from "../Tracing.ts"
import { errnoToStoreError, rootDirOf, validateLocalPath } from "./LocalFiles.ts"
import { ObjectStore } from "./ObjectStore.ts"
import type { ObjectStoreError } from "./ObjectStoreError.ts"

/** Files kept open per store. */
const MAX_OPEN = 128
/**
 * Ranged reads up to this many bytes use a kept file (an array of the range's size is allocated before
 * the read: SST readers ask for exact block ranges, the compactor for pages of 256 blocks, ~1 MiB).
 */
const KEPT_READ_MAX = 16 * 1024 * 1024
/** Reads up to this many bytes from an open file are synchronous by default (see the module comment). */
export const SYNC_READ_MAX = 64 * 1024
/** Open files are swept this often: one not read since the previous sweep is closed. */
const SWEEP_MS = 5_000

interface OpenFile {
  /** -1 while opening. */
  fd: number
  reads: number
  /** Read since the last sweep. */
  used: boolean
  /** Evicted: close once `reads` is 0. */
  evicted: boolean
  /** Reads waiting for the file to open. */
  waiters: Array<(error: NodeJS.ErrnoException | null, file: OpenFile | undefined) => void>
}

/** Whether reads of `path` may use a kept file (see the module comment). */
export const keepsOpen = (path: string): boolean => path.endsWith(".sst")

export class LocalReadHandles {
  /** By object path, least recently used first. */
  readonly #files = new Map<string, OpenFile>()
  readonly #syncReadMax: number
  #sweeper: ReturnType<typeof setInterval> | undefined = undefined

  /** `syncReadMaxBytes`: reads up to this size from an open file are synchronous (0: none). */
  constructor(syncReadMaxBytes: number = SYNC_READ_MAX) {
    this.#syncReadMax = syncReadMaxBytes
  }

  /** How many files are open (or opening). */
  get openFiles(): number {
    return this.#files.size
  }

  /**
   * Bytes `start` to `end` (exclusive; fewer where the file ends first) of the object at `path`, stored in
   * `file`.
   */
  read(path: string, file: string, start: number, end: number): Effect.Effect<Uint8Array, ObjectStoreError> {
    if (end - start <= this.#syncReadMax) {
      const known = this.#files.get(path)
      if (known !== undefined && known.fd >= 0) return this.#readNow(path, known, start, end)
    }
    return Effect.callback<Uint8Array, ObjectStoreError>((resume) => {
      this.#acquire(path, file, (error, open) => {
        if (error !== null) return resume(Effect.fail(errnoToStoreError("getRange", path, error)))
        const out = new Uint8Array(end - start)
        let filled = 0
        const step = (): void => {
          if (filled === out.length) return done(undefined)
          fs.read(open!.fd, out, filled, out.length - filled, start + filled, (e, n) => {
            if (e !== null) return done(e)
            if (n === 0) return done(undefined)
            filled += n
            step()
          })
        }
        const done = (e: NodeJS.ErrnoException | undefined): void => {
          this.#release(open!)
          resume(e !== undefined ? Effect.fail(errnoToStoreError("getRange", path, e)) : Effect.succeed(filled === out.length ? out : out.subarray(0, filled)))
        }
        step()
      })
    })
  }

  /** `read` on the calling thread, from `open`, a file in `#files` with its number. */
  #readNow(path: string, open: OpenFile, start: number, end: number): Effect.Effect<Uint8Array, ObjectStoreError> {
    try {
      return Effect.succeed(this.#pread(path, open, start, end))
    } catch (e) {
      return Effect.fail(errnoToStoreError("getRange", path, e as NodeJS.ErrnoException))
    }
  }

  /**
   * `read` when it can be synchronous (up to `syncReadMaxBytes` from a file already open), without an
   * Effect; undefined otherwise, or when the read fails (`read` then reports the error).
   */
  readIfOpen(path: string, start: number, end: number): Uint8Array | undefined {
    if (end - start > this.#syncReadMax) return undefined
    const known = this.#files.get(path)
    if (known === undefined || known.fd < 0) return undefined
    try {
      return this.#pread(path, known, start, end)
    } catch {
      return undefined
    }
  }

  /** One `pread` loop on the calling thread (throws the errno error). */
  #pread(path: string, open: OpenFile, start: number, end: number): Uint8Array {
    open.used = true
    this.#files.delete(path)
    this.#files.set(path, open)
    const out = new Uint8Array(end - start)
    let filled = 0
    while (filled < out.length) {
      const n = fs.readSync(open.fd, out, filled, out.length - filled, start + filled)
      if (n === 0) break // end of file: the range runs past it
      filled += n
    }
    return filled === out.length ? out : out.subarray(0, filled)
  }

  /** Closes the file of `path`, if open (before the object is deleted). */
  forget(path: string): void {
    const open = this.#files.get(path)
    if (open !== undefined) this.#evict(path, open)
  }

  /** Closes every file (those in use once their reads end). */
  closeAll(): void {
    for (const [path, open] of this.#files) this.#evict(path, open)
  }

  #acquire(path: string, file: string, use: (error: NodeJS.ErrnoException | null, open: OpenFile | undefined) => void): void {
    const known = this.#files.get(path)
    if (known !== undefined) {
      known.reads++
      known.used = true
      // Most recently used last.
      this.#files.delete(path)
      this.#files.set(path, known)
      if (known.fd >= 0) use(null, known)
      else known.waiters.push(use)
      return
    }
    const open: OpenFile = { fd: -1, reads: 1, used: true, evicted: false, waiters: [use] }
    this.#files.set(path, open)
    if (this.#files.size > MAX_OPEN) {
      const [oldest, file] = this.#files.entries().next().value!
      this.#evict(oldest, file)
    }
    this.#startSweeper()
    fs.open(file, "r", (error, fd) => {
      const waiters = open.waiters.splice(0)
      if (error !== null) {
        if (this.#files.get(path) === open) this.#files.delete(path)
        open.reads -= waiters.length
        for (const w of waiters) w(error, undefined)
        return
      }
      // Evicted while opening: the waiting reads still use it, and the last one closes it.
      open.fd = fd
      for (const w of waiters) w(null, open)
    })
  }

  #release(open: OpenFile): void {
    open.reads--
    if (open.evicted && open.reads === 0) this.#close(open)
  }

  #evict(path: string, open: OpenFile): void {
    if (this.#files.get(path) === open) this.#files.delete(path)
    if (open.evicted) return
    open.evicted = true
    if (open.reads === 0 && open.fd >= 0) this.#close(open)
  }

  #close(open: OpenFile): void {
    const fd = open.fd
    open.fd = -1
    if (fd >= 0) fs.close(fd, () => {})
  }

  #startSweeper(): void {
    if (this.#sweeper !== undefined) return
    this.#sweeper = setInterval(() => {
      for (const [path, open] of this.#files) {
        if (open.reads === 0 && !open.used) this.#evict(path, open)
        else open.used = false
      }
      if (this.#files.size === 0) {
        clearInterval(this.#sweeper)
        this.#sweeper = undefined
      }
    }, SWEEP_MS)
    this.#sweeper.unref()
  }
}

/**
 * `store` (the local store on directory `root`) with its bounded ranged reads of SSTs (up to
 * `KEPT_READ_MAX` bytes: blocks, pages, an SST's tail) served from kept files; deleting an object closes
 * its file first.
 */
export const withReadHandles = (store: ObjectStore["Service"], root: string, syncReadMaxBytes?: number): ObjectStore["Service"] => {
  const dir = rootDirOf(root)
  const handles = new LocalReadHandles(syncReadMaxBytes)
  return ObjectStore.of({
    ...store,
    getRange: (path, range) => {
      if (!keepsOpen(path) || "suffix" in range || !(range.end > range.start) || range.end - range.start > KEPT_READ_MAX) {
        return store.getRange(path, range)
      }
      const start = Math.max(0, range.start)
      return Effect.andThen(validateLocalPath("getRange", path), handles.read(path, `${dir}/${path}`, start, Math.max(start, range.end)))
    },
    // Only files already open, whose paths their first read validated; with a tracer, `getRange` (its span).
    getRangeNow: (path, range) => {
      if ("suffix" in range || !(range.end > range.start) || tracing()) return undefined
      const start = Math.max(0, range.start)
      return handles.readIfOpen(path, start, Math.max(start, range.end))
    },
    delete: (path) => Effect.suspend(() => {
      handles.forget(path)
      return store.delete(path)
    })
  })
}
