/**
 * The disk cache of objects as the engine sees it: a service beside the cached `ObjectStore`, for what the
 * store interface cannot say (preloading SSTs when a database opens, the cache's counters). The cache itself
 * (`CachedObjectStore`, Node only: files on disk) provides both; the engine looks this service up as
 * optional, so a database over an uncached store runs as before.
 */
import { Context, type Effect } from "effect"

/** Which SSTs a database preloads into the disk cache when it opens (SlateDB's `PreloadLevel`). */
export type PreloadLevel = "l0" | "all"

export interface ObjectStoreCacheStats {
  /** Parts asked for (each part a range touches counts once). */
  readonly partAccesses: number
  /** Parts served from disk. */
  readonly partHits: number
  /** Ranged GETs (and whole GETs) the cache sent to the store it wraps. */
  readonly innerGets: number
  /** HEADs the cache sent to the store it wraps. */
  readonly innerHeads: number
  /** Cache files found damaged (bad header, checksum or length) and fetched again. */
  readonly corrupt: number
  /** Cache files removed to stay within the size limit, and their bytes. */
  readonly evictions: number
  readonly evictedBytes: number
  /** Files and bytes on disk now. */
  readonly files: number
  readonly bytes: number
  readonly maxBytes: number
}

export class ObjectStoreCache extends Context.Service<ObjectStoreCache, {
  /** What to preload when a database opens (SlateDB's `preload_disk_cache_on_startup`); undefined: nothing. */
  readonly preloadOnStartup: PreloadLevel | undefined
  /**
   * Fetches the objects at `paths` into the cache, in order, while they fit in the cache's size limit
   * (SlateDB stops at the first that does not). Best effort: a failure is logged and the object skipped.
   */
  readonly preload: (paths: ReadonlyArray<string>) => Effect.Effect<void>
  readonly stats: Effect.Effect<ObjectStoreCacheStats>
  /** `stats`, read synchronously (the metrics registry reads it when asked for a snapshot). */
  readonly statsUnsafe: () => ObjectStoreCacheStats
}>()("shale/ObjectStoreCache") {}
