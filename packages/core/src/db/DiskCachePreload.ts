/**
 * SlateDB's last step of opening a database: when the store has a disk cache (`ObjectStoreCache` in
 * context, from `CachedObjectStore.layer`) set to preload (`preload_disk_cache_on_startup`), the SSTs the
 * manifest names are fetched into it: the L0 SSTs (`"l0"`), or the L0 SSTs and then the sorted runs'
 * (`"all"`), newest first, while they fit in the cache's size limit. Best effort: nothing here fails the
 * open.
 */
import { Effect, Option } from "effect"
import type { Manifest } from "../manifest/Manifest.ts"
import { ObjectStoreCache } from "../objectstore/ObjectStoreCache.ts"
import type { TableStore } from "../sst/TableStore.ts"

export const preloadDiskCache = (tables: TableStore, m: Manifest): Effect.Effect<void> =>
  Effect.gen(function*() {
    const cache = yield* Effect.serviceOption(ObjectStoreCache)
    if (Option.isNone(cache) || cache.value.preloadOnStartup === undefined) return
    const ssts = cache.value.preloadOnStartup === "l0" ? m.l0 : [...m.l0, ...m.compacted.flatMap((run) => run.ssts)]
    yield* cache.value.preload(ssts.map((sst) => tables.path(m, sst.id)))
  })
