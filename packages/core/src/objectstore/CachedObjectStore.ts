/**
 * A disk cache of object ranges as an `ObjectStore` decorator (SlateDB's `CachedObjectStore`, Node only):
 * reads of immutable objects (SSTs) are split into fixed-size parts, each part fetched once from the store
 * it wraps and kept in a local folder (`DiskCacheFiles`), so later reads of any range inside it cost no
 * request. docs/design/object-store-cache.md explains the choices.
 *
 * - What is cached: objects for which `cacheable(path)` holds, by default the SSTs (`…/wal/<id>.sst`,
 *   `…/compacted/<id>.sst`), which are written once and never changed. Manifests, the compactions file and
 *   anything else pass straight through, as do `list` and every write.
 * - Reads: `getRange` and `get` read the parts the range touches, in order. A part on disk (checked; see
 *   `DiskCacheFiles`) is read locally. Missing parts are fetched with one ranged GET per run of consecutive
 *   missing parts (aligned to part boundaries), then written to disk. A suffix range needs the object's
 *   size: it comes from `head`, itself cached (`_head`). A part shorter than the part size marks the end of
 *   the object, so `get` needs no size either.
 * - Concurrent reads of one part share one fetch: a fetch registers a `Deferred` per part it will deliver;
 *   later readers of those parts await it. The fetch runs in a fiber of the layer's scope, so a reader that
 *   is interrupted does not fail the others waiting for the same part.
 * - Errors of the wrapped store pass through unchanged (a retrying layer above retries them); the cache's
 *   own I/O errors never fail a read, they only cost a fetch.
 * - `cachePuts`: a successful `put` of a cacheable object also writes its parts (so SSTs the flusher and
 *   the compactor upload are read from disk afterwards). Without it, a `put` drops whatever was cached for
 *   the path; `delete` always does.
 * - Bytes returned may be views of a larger buffer; callers treat them as read-only (the store contract).
 */
import { Context, Deferred, Effect, Layer, Scope } from "effect"
import { DiskCacheFiles, type PartSlice } from "./DiskCacheFiles.ts"
import { validatePath } from "./ObjectPath.ts"
import { type ByteRange, clipRange, ObjectStore, type ObjectMeta, type PutOptions, type PutResult } from "./ObjectStore.ts"
import { ObjectStoreCache, type ObjectStoreCacheStats, type PreloadLevel } from "./ObjectStoreCache.ts"
import { ObjectNotFound, type ObjectStoreError } from "./ObjectStoreError.ts"

/** SlateDB's `ObjectStoreCacheOptions` (the disk cache is enabled by giving a `rootFolder`). */
export interface CachedObjectStoreOptions {
  /** The folder of the cache files (SlateDB's `root_folder`); one process per folder, one store per folder. */
  readonly rootFolder: string
  /** The bound on the files' bytes (SlateDB's `max_cache_size_bytes`; default 16 GiB). */
  readonly maxCacheSizeBytes?: number
  /** Bytes per part (SlateDB's `part_size_bytes`; default 4 MiB; a positive multiple of 1024). */
  readonly partSizeBytes?: number
  /** Cache what `put` writes too (SlateDB's `cache_puts`; default false). */
  readonly cachePuts?: boolean
  /** What a database preloads when it opens (SlateDB's `preload_disk_cache_on_startup`; default none). */
  readonly preloadOnStartup?: PreloadLevel | undefined
  /** Which objects to cache (default `isCacheableSst`). They must never change once written. */
  readonly cacheable?: (path: string) => boolean
}

export const DEFAULT_PART_SIZE_BYTES = 4 * 1024 * 1024
export const DEFAULT_MAX_CACHE_SIZE_BYTES = 16 * 1024 * 1024 * 1024
/** How many objects `preload` fetches at once (SlateDB: 32). */
const PRELOAD_PARALLELISM = 8

/** WAL and compacted SSTs: the objects a database writes once and never changes. */
export const isCacheableSst = (path: string): boolean => SST_PATH.test(path)
const SST_PATH = /(^|\/)(wal|compacted)\/[^/]+\.sst$/

const EMPTY = new Uint8Array(0)

/** What a fetch delivers for each part: its bytes (a view of the response). */
type PartDeferred = Deferred.Deferred<Uint8Array, ObjectStoreError>

interface Counters {
  partAccesses: number
  partHits: number
  innerGets: number
  innerHeads: number
}

/** Builds the cached store over `inner` and its `ObjectStoreCache`; its fetches run in the current scope. */
export const make = Effect.fnUntraced(function*(inner: ObjectStore["Service"], options: CachedObjectStoreOptions) {
  const partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES
  const maxBytes = options.maxCacheSizeBytes ?? DEFAULT_MAX_CACHE_SIZE_BYTES
  if (!Number.isSafeInteger(partSize) || partSize <= 0 || partSize % 1024 !== 0 || partSize > 0xffffffff) {
    return yield* Effect.die(new RangeError(`CachedObjectStore: part size ${partSize} is not a positive multiple of 1024`))
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    return yield* Effect.die(new RangeError(`CachedObjectStore: bad max cache size ${maxBytes}`))
  }
  const files = yield* DiskCacheFiles.open(options.rootFolder, partSize, maxBytes)
  const cached = new CachedStore(inner, files, yield* Scope.Scope, options)
  return { store: cached.service(), cache: cached.cacheService() } as const
})

/** The cached store's state and operations (see the module comment). */
class CachedStore {
  readonly #inner: ObjectStore["Service"]
  readonly #files: DiskCacheFiles
  readonly #scope: Scope.Scope
  readonly #options: CachedObjectStoreOptions
  readonly #partSize: number
  readonly #cacheable: (path: string) => boolean
  /** The fetches in flight, by part file name. */
  readonly #inflight = new Map<string, PartDeferred>()
  readonly #counters: Counters = { partAccesses: 0, partHits: 0, innerGets: 0, innerHeads: 0 }

  constructor(inner: ObjectStore["Service"], files: DiskCacheFiles, scope: Scope.Scope, options: CachedObjectStoreOptions) {
    this.#inner = inner
    this.#files = files
    this.#scope = scope
    this.#options = options
    this.#partSize = files.partSize
    this.#cacheable = options.cacheable ?? isCacheableSst
  }

  /** Writes `bytes` (the object from part `first` on) as parts, up to `last` or the object's end. */
  #writeParts(path: string, first: number, last: number, bytes: Uint8Array) {
    const partSize = this.#partSize
    const n = bytes.length
    const parts: Array<readonly [number, Uint8Array]> = []
    for (let i = first;; i++) {
      const at = (i - first) * partSize
      const part = bytes.subarray(Math.min(at, n), Math.min(at + partSize, n))
      parts.push([i, part])
      // A short part is the object's last; a full one at the end of a bounded request may not be.
      if (part.length < partSize || i === last) break
    }
    const files = this.#files
    return Effect.as(Effect.forEach(parts, ([i, part]) => files.write(files.partName(path, i), i, part), { discard: true }), parts)
  }

  /** Writes the fetched parts to disk, then hands them to the waiting readers (empty past the object's end). */
  #deliver(path: string, first: number, last: number, bytes: Uint8Array, own: Map<number, PartDeferred>) {
    return Effect.map(this.#writeParts(path, first, last, bytes), (parts) => {
      for (const [i, part] of parts) {
        const d = own.get(i)
        if (d !== undefined) Deferred.doneUnsafe(d, Effect.succeed(part))
      }
      for (const d of own.values()) Deferred.doneUnsafe(d, Effect.succeed(EMPTY))
    })
  }

  /**
   * Registers a fetch of part `first` and of the missing parts after it up to `last` (Infinity: the rest of
   * the object, one request); returns part `first`'s deferred and the fetch to fork.
   */
  #planFetch(path: string, first: number, last: number) {
    const files = this.#files
    const inflight = this.#inflight
    const own = new Map<number, PartDeferred>()
    let end = first
    for (let i = first; i <= last; i++) {
      const name = files.partName(path, i)
      if (i > first && (files.has(name) || inflight.has(name))) break
      const d = Deferred.makeUnsafe<Uint8Array, ObjectStoreError>()
      own.set(i, d)
      inflight.set(name, d)
      end = i
      if (last === Infinity) break // open-ended: one request for the rest of the object
    }
    const release = Effect.sync(() => {
      for (const [i, d] of own) if (inflight.get(files.partName(path, i)) === d) inflight.delete(files.partName(path, i))
    })
    const range = { start: first * this.#partSize, end: last === Infinity ? Number.MAX_SAFE_INTEGER : (end + 1) * this.#partSize }
    const fetch = Effect.suspend(() => {
      this.#counters.innerGets++
      return this.#inner.getRange(path, range)
    }).pipe(
      Effect.matchCauseEffect({
        onFailure: (cause) =>
          Effect.sync(() => {
            for (const d of own.values()) Deferred.doneUnsafe(d, Effect.failCause(cause))
          }),
        onSuccess: (bytes) => this.#deliver(path, first, last === Infinity ? Infinity : end, bytes, own)
      }),
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          for (const d of own.values()) Deferred.doneUnsafe(d, Effect.interrupt)
        })
      ),
      Effect.ensuring(release)
    )
    return [own.get(first)!, fetch] as const
  }

  /**
   * The bytes of part `index`: from a fetch in flight, or a new one forked in the layer's scope. Checking,
   * registering and forking are one uninterruptible step, so no reader ever waits for a fetch never started.
   */
  #awaitPart(path: string, name: string, index: number, last: number): Effect.Effect<Uint8Array, ObjectStoreError> {
    return Effect.uninterruptible(Effect.suspend(() => {
      const pending = this.#inflight.get(name)
      if (pending !== undefined) return Effect.succeed(pending)
      const [d, fetch] = this.#planFetch(path, index, last)
      return Effect.as(Effect.forkIn(fetch, this.#scope), d)
    })).pipe(Effect.flatMap(Deferred.await))
  }

  /** Bytes `[start, end)` of part `index` (clipped to the part), from disk or from a (shared) fetch. */
  #readPart(path: string, index: number, start: number, end: number, last: number): Effect.Effect<PartSlice, ObjectStoreError> {
    this.#counters.partAccesses++
    const name = this.#files.partName(path, index)
    return Effect.flatMap(this.#files.read(name, index, start, end), (hit): Effect.Effect<PartSlice, ObjectStoreError> => {
      if (hit !== undefined) {
        this.#counters.partHits++
        return Effect.succeed(hit)
      }
      return Effect.map(this.#awaitPart(path, name, index, last), (part) => {
        const s = Math.min(start, part.length)
        return { bytes: part.subarray(s, Math.max(s, Math.min(end, part.length))), length: part.length }
      })
    })
  }

  /** Object bytes `[start, end)` (`end` may be Infinity: to the object's end), part by part. */
  #readRange(path: string, start: number, end: number): Effect.Effect<Uint8Array, ObjectStoreError> {
    const self = this
    const partSize = this.#partSize
    return Effect.gen(function*() {
      const last = end === Infinity ? Infinity : Math.floor((end - 1) / partSize)
      const pieces: Array<Uint8Array> = []
      for (let k = Math.floor(start / partSize);; k++) {
        const at = k * partSize
        const slice = yield* self.#readPart(path, k, Math.max(0, start - at), Math.min(partSize, end - at), last)
        pieces.push(slice.bytes)
        if (slice.length < partSize || k >= last) break
      }
      return concat(pieces)
    })
  }

  readonly head = (path: string): Effect.Effect<ObjectMeta, ObjectStoreError> => {
    if (!this.#cacheable(path)) return this.#inner.head(path)
    const self = this
    return Effect.gen(function*() {
      yield* validatePath("head", path)
      const cached = parseHead(path, yield* self.#files.readHead(path))
      if (cached !== undefined) return cached
      self.#counters.innerHeads++
      const meta = yield* self.#inner.head(path)
      yield* self.#files.writeHead(path, JSON.stringify(meta))
      return meta
    }).pipe(Effect.withSpan("CachedObjectStore.head"))
  }

  readonly getRange = (path: string, range: ByteRange): Effect.Effect<Uint8Array, ObjectStoreError> => {
    if (!this.#cacheable(path)) return this.#inner.getRange(path, range)
    const self = this
    return Effect.gen(function*() {
      yield* validatePath("getRange", path)
      if ("suffix" in range) {
        const meta = yield* self.head(path).pipe(
          Effect.catchTag("ObjectNotFound", (e) => Effect.fail(new ObjectNotFound({ ...e, op: "getRange" })))
        )
        const [s, e] = clipRange(meta.size, range)
        return yield* self.#readRange(path, s, e)
      }
      const start = Math.max(0, range.start)
      // An empty range still asks the store (which says whether the object exists).
      if (!(range.end > start)) return yield* self.#inner.getRange(path, range)
      return yield* self.#readRange(path, start, range.end)
    }).pipe(Effect.withSpan("CachedObjectStore.getRange"))
  }

  readonly get = (path: string): Effect.Effect<Uint8Array, ObjectStoreError> => {
    if (!this.#cacheable(path)) return this.#inner.get(path)
    const self = this
    return Effect.gen(function*() {
      yield* validatePath("get", path)
      const first = self.#files.partName(path, 0)
      if (self.#files.has(first) || self.#inflight.has(first)) return yield* self.#readRange(path, 0, Infinity)
      // Nothing cached: one plain GET (its errors are a GET's), then every part to disk.
      self.#counters.innerGets++
      const bytes = yield* self.#inner.get(path)
      yield* self.#writeParts(path, 0, Infinity, bytes)
      return bytes
    }).pipe(Effect.withSpan("CachedObjectStore.get"))
  }

  readonly put = (path: string, bytes: Uint8Array, options?: PutOptions): Effect.Effect<PutResult, ObjectStoreError> => {
    const self = this
    return Effect.gen(function*() {
      const result = yield* self.#inner.put(path, bytes, options)
      if (!self.#cacheable(path)) return result
      yield* self.#files.deleteObject(path)
      // The parts are copied into their files: the caller may reuse `bytes` once the put returns.
      if (self.#options.cachePuts === true) yield* self.#writeParts(path, 0, Infinity, bytes)
      return result
    }).pipe(Effect.withSpan("CachedObjectStore.put"))
  }

  readonly delete = (path: string): Effect.Effect<void, ObjectStoreError> =>
    Effect.andThen(
      this.#inner.delete(path),
      Effect.suspend(() => (this.#cacheable(path) ? this.#files.deleteObject(path) : Effect.void))
    )

  /** See `ObjectStoreCache.preload`. */
  readonly preload = (paths: ReadonlyArray<string>): Effect.Effect<void> => {
    const self = this
    return Effect.gen(function*() {
      const chosen: Array<string> = []
      let budget = self.#files.maxBytes
      for (const path of paths) {
        const meta = yield* Effect.result(self.head(path))
        if (meta._tag === "Failure") {
          yield* Effect.logWarning(`disk cache: not preloading ${path}`, meta.failure)
          break
        }
        if (meta.success.size > budget) break
        budget -= meta.success.size
        chosen.push(path)
      }
      yield* Effect.forEach(
        chosen,
        (path) => self.get(path).pipe(Effect.catch((e) => Effect.logWarning(`disk cache: could not preload ${path}`, e))),
        { concurrency: PRELOAD_PARALLELISM, discard: true }
      )
    })
  }

  service(): ObjectStore["Service"] {
    const inner = this.#inner
    return ObjectStore.of({
      put: this.put,
      get: this.get,
      getRange: this.getRange,
      head: this.head,
      delete: this.delete,
      list: (prefix, options) => inner.list(prefix, options),
      // Another thread works on the inner store, without this cache (docs/design/compaction.md §8).
      recipe: inner.recipe
    })
  }

  cacheService(): ObjectStoreCache["Service"] {
    return ObjectStoreCache.of({
      preloadOnStartup: this.#options.preloadOnStartup,
      preload: this.preload,
      stats: Effect.sync(() => this.#stats()),
      statsUnsafe: () => this.#stats()
    })
  }

  #stats(): ObjectStoreCacheStats {
    const files = this.#files
    return {
      ...this.#counters,
      corrupt: files.corrupt,
      evictions: files.evictions,
      evictedBytes: files.evictedBytes,
      files: files.files,
      bytes: files.bytes,
      maxBytes: files.maxBytes
    }
  }
}

/** The cached head, if its JSON is intact and names `path`. */
const parseHead = (path: string, json: string | undefined): ObjectMeta | undefined => {
  if (json === undefined) return undefined
  try {
    const m = JSON.parse(json) as Partial<ObjectMeta>
    const ok = m.path === path && Number.isSafeInteger(m.size) && typeof m.lastModified === "number" &&
      (m.etag === undefined || typeof m.etag === "string") && typeof m.metadata === "object" && m.metadata !== null
    return ok ? (m as ObjectMeta) : undefined
  } catch {
    return undefined
  }
}

/** One piece as it is; several joined (Node's `Buffer.concat`: this module is Node-only anyway). */
const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => (pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces))

/** Constructors for the disk cache. */
export const CachedObjectStore = {
  /**
   * Replaces the `ObjectStore` in context with a cached one around it, and provides the `ObjectStoreCache`
   * (preloading, counters). The cache folder is opened (and indexed) when the layer is built.
   */
  layer: (options: CachedObjectStoreOptions): Layer.Layer<ObjectStore | ObjectStoreCache, never, ObjectStore> =>
    Layer.effectContext(Effect.gen(function*() {
      const { store, cache } = yield* make(yield* ObjectStore, options)
      return Context.make(ObjectStore, store).pipe(Context.add(ObjectStoreCache, cache))
    })),
  make
} as const
