/**
 * The disk cache of object ranges (Node only), SlateDB's object-store cache: an `ObjectStore` layer that
 * wraps any other and keeps the SSTs it reads (and, with `cachePuts`, writes) in parts on a local disk,
 * bounded in size, reused after a restart, checked on every read. docs/design/object-store-cache.md.
 *
 * ```ts
 * Db.layer({ path: "db" }).pipe(
 *   Layer.provide(CachedObjectStore.layer({ rootFolder: "/var/cache/shale", maxCacheSizeBytes: 8 * 2 ** 30 })),
 *   Layer.provide(S3ObjectStore.layerConfig)
 * )
 * ```
 */
import { CachedObjectStore } from "../objectstore/CachedObjectStore.ts"

export type { CachedObjectStoreOptions as Options } from "../objectstore/CachedObjectStore.ts"
export {
  DEFAULT_MAX_CACHE_SIZE_BYTES,
  DEFAULT_PART_SIZE_BYTES,
  isCacheableSst
} from "../objectstore/CachedObjectStore.ts"
export { ObjectStoreCache, type ObjectStoreCacheStats, type PreloadLevel } from "../objectstore/ObjectStoreCache.ts"

/** Replaces the `ObjectStore` in context with a cached one around it; also provides `ObjectStoreCache`. */
export const layer = CachedObjectStore.layer
/** Builds the cached store and its `ObjectStoreCache` over a store (fetches run in the current scope). */
export const make = CachedObjectStore.make
