/**
 * The disk cache's settings (`objectStoreCache`, SlateDB's `object_store_cache_options`): a group, off by
 * default (SlateDB's `root_folder = None`), on once a `rootFolder` is given. When on, a writer opened with
 * these settings wraps its store in `CachedObjectStore` (Node only, loaded then).
 */
import { Schema } from "effect"
import { byteSize, optionalGroup, withDefault } from "./Fields.ts"

const MiB = 1024 * 1024
const GiB = 1024 * MiB

export const ObjectStoreCacheSettingsSchema = Schema.Struct({
  /** The folder of the cache files (`root_folder`); required to turn the cache on. */
  rootFolder: Schema.String.check(Schema.isMinLength(1)),
  /** The bound on the cache files' bytes (`max_cache_size_bytes`). */
  maxCacheSizeBytes: withDefault(byteSize(0), 16 * GiB),
  /** Bytes per cached part (`part_size_bytes`): a positive multiple of 1024. */
  partSizeBytes: withDefault(
    byteSize(1024).check(Schema.makeFilter((n: number) => n % 1024 === 0 || `Expected a multiple of 1024, got ${n}`)),
    4 * MiB
  ),
  /** Cache the SSTs the writer uploads too (`cache_puts`). */
  cachePuts: withDefault(Schema.Boolean, false),
  /** Fill the cache when the database opens: `"l0"`, `"all"` or null (`preload_disk_cache_on_startup`). */
  preloadOnStartup: withDefault(Schema.NullOr(Schema.Literals(["l0", "all"])), null)
})
export type ObjectStoreCacheSettings = typeof ObjectStoreCacheSettingsSchema.Type
export type ObjectStoreCacheSettingsField = keyof typeof ObjectStoreCacheSettingsSchema.fields

/** `objectStoreCache`: null, false, "none" (off, the default); or an object with at least `rootFolder`. */
export const objectStoreCacheSetting = optionalGroup(ObjectStoreCacheSettingsSchema)
