/**
 * The writer's disk cache (docs/design/object-store-cache.md), from its settings or from the store layers:
 *
 * - `withDiskCache`: with `Settings.objectStoreCache` on, the store is wrapped in `CachedObjectStore`,
 *   loaded only then (`import()`: it is Node-only, and the engine's entry imports nothing of it), in the
 *   database's scope. Otherwise the store is used as it is, with the `ObjectStoreCache` in context if the
 *   application wrapped its store in `CachedObjectStore.layer` itself (use one way or the other, not both).
 * - `preloadDiskCache`: SlateDB's last step of opening: a cache set to preload
 *   (`preload_disk_cache_on_startup`) is filled with the manifest's L0 SSTs (`"l0"`), or the L0 SSTs and
 *   then the sorted runs' (`"all"`), newest first, while they fit in its size limit. Best effort: nothing
 *   here fails the open.
 */
import { Effect, Option, type Scope } from "effect"
import type { Manifest } from "../manifest/Manifest.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { ObjectStoreCache } from "../objectstore/ObjectStoreCache.ts"
import type { Settings } from "../Settings.ts"
import type { TableStore } from "../sst/TableStore.ts"

export interface DiskCached {
  readonly store: ObjectStore["Service"]
  readonly cache: ObjectStoreCache["Service"] | undefined
}

export const withDiskCache = (
  store: ObjectStore["Service"],
  settings: Settings
): Effect.Effect<DiskCached, never, Scope.Scope> =>
  Effect.gen(function*() {
    const s = settings.objectStoreCache
    if (s === null) return { store, cache: Option.getOrUndefined(yield* Effect.serviceOption(ObjectStoreCache)) }
    const { CachedObjectStore } = yield* Effect.promise(() => import("../objectstore/CachedObjectStore.ts"))
    return yield* CachedObjectStore.make(store, {
      rootFolder: s.rootFolder,
      maxCacheSizeBytes: s.maxCacheSizeBytes,
      partSizeBytes: s.partSizeBytes,
      cachePuts: s.cachePuts,
      preloadOnStartup: s.preloadOnStartup ?? undefined
    })
  })

export const preloadDiskCache = (
  cache: ObjectStoreCache["Service"] | undefined,
  tables: TableStore,
  m: Manifest
): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (cache === undefined || cache.preloadOnStartup === undefined) return Effect.void
    const ssts = cache.preloadOnStartup === "l0" ? m.l0 : [...m.l0, ...m.compacted.flatMap((run) => run.ssts)]
    return cache.preload(ssts.map((sst) => tables.path(m, sst.id)))
  })
