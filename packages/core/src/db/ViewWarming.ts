/**
 * Warming the block cache when a view (the writer's, a `DbReader`'s) moves to a manifest version in which
 * a compaction replaced SSTs (sst/CacheWarming.ts, docs/design/object-store-cache.md §9): the SSTs the
 * version drops whose blocks are cached give the hot key ranges, the SSTs it adds are warmed for them.
 */
import { Effect, type Scope } from "effect"
import type { CompactedSst, Manifest } from "../manifest/Manifest.ts"
import { warmReplacement } from "../sst/CacheWarming.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { sstIdsOf } from "./ViewState.ts"

/** Turns warming on for `tables` (`Settings.compactionWarmupMs`; null: off), finishing late warmings in `scope`. */
export const configureWarming = (tables: TableStore, timeoutMs: number | null, scope: Scope.Scope): void => {
  tables.warming = timeoutMs === null || tables.blockCache === undefined ? undefined : { timeoutMs, scope }
}

/**
 * Warms `tables`' block cache for a switch of the view from `from` to `to` (see the module comment). Never
 * fails. Warming or not, the handles of the SSTs the switch removes are released at the next switch
 * (`TableStore.releaseLater`): a writer whose compactor runs elsewhere would otherwise keep every SST's
 * index and filter it ever read.
 */
export const warmViewSwitch = (tables: TableStore, from: Manifest, to: Manifest): Effect.Effect<void> =>
  Effect.suspend(() => {
    const after = sstIdsOf(to)
    const before = sstIdsOf(from)
    const removed: Array<string> = []
    for (const id of before) if (!after.has(id)) removed.push(id)
    if (tables.warming === undefined) {
      if (removed.length > 0) tables.releaseLater(removed)
      return Effect.void
    }
    if (removed.length === 0) return Effect.void
    const added: Array<CompactedSst> = []
    for (const run of to.compacted) for (const sst of run.ssts) if (!before.has(sst.id)) added.push(sst)
    for (const sst of to.l0) if (!before.has(sst.id)) added.push(sst)
    return warmReplacement(tables, removed, added, to)
  })
