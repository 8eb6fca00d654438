/**
 * A store's recipe: how another thread (a compaction worker, compactor/CompactionWorker.ts) builds a store
 * equivalent to this one. Stores whose state cannot cross threads (the memory store, the simulation's
 * stores) have none; whoever needs one then runs in this thread.
 *
 * A recipe names a module (a URL or specifier `import()` accepts, usually the defining module's own
 * `import.meta.url`, so it works from the sources and from the built package alike), one of its exports,
 * and JSON options; the export, called with the options, gives an `Effect` of the store that needs
 * nothing from the context. Wrappers (retries, instrumentation, the disk cache) pass their inner store's
 * recipe on: the other thread rebuilds the base store and wraps it as it needs (docs/design/compaction.md §8).
 */
import { Effect } from "effect"
import type { ObjectStore, StoreRecipe } from "./ObjectStore.ts"
import { StoreFailure } from "./ObjectStoreError.ts"

export type { StoreRecipe } from "./ObjectStore.ts"

type StoreFactory = (options: unknown) => Effect.Effect<ObjectStore["Service"], unknown>

/** Builds the store a recipe describes. */
export const rebuildStore = (recipe: StoreRecipe): Effect.Effect<ObjectStore["Service"], StoreFailure> =>
  Effect.tryPromise({
    try: () => import(recipe.module) as Promise<Record<string, unknown>>,
    catch: (cause) => new StoreFailure({ op: "get", path: "", message: `cannot load ${recipe.module}: ${String(cause)}`, cause })
  }).pipe(
    Effect.flatMap((m) => {
      const make = m[recipe.export]
      return typeof make === "function"
        ? (make as StoreFactory)(recipe.options)
        : Effect.fail(new StoreFailure({ op: "get", path: "", message: `${recipe.module} has no export ${recipe.export}` }))
    }),
    Effect.mapError((e) =>
      e instanceof StoreFailure ? e : new StoreFailure({ op: "get", path: "", message: `cannot rebuild the store: ${String(e)}`, cause: e }))
  )
