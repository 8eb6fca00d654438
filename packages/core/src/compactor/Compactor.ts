/**
 * The compactor (SlateDB's `compactor.rs`, docs/format.md §3.7): keeps a database's L0 and sorted runs few
 * and bounded by merging them, in the writer's process (embedded, the default: `Settings.compactor`) or
 * in a process of its own (`Compactor.layer`, `shale compactor`). At most one compactor works on a
 * database: a new one claims the compactor epoch and fences the older one (CompactorStore.ts).
 *
 * How it works: CompactorLoop.ts (the event loop), SizeTieredScheduler.ts (what to compact),
 * CompactionJob.ts (one compaction), CompactorState.ts (the rules of its state), CompactorStore.ts (its
 * objects on the store). Its vocabulary: CompactorTypes.ts.
 */
import { Context, Effect, Layer } from "effect"
import type { DbError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { TableStore } from "../sst/TableStore.ts"
import { checkMergeOperator, type MergeOperator } from "../iter/MergeOperator.ts"
import { startCompactor } from "./CompactorLoop.ts"
import { type CompactorHandle, compactorOptionsFrom } from "./CompactorTypes.ts"

export { startCompactor } from "./CompactorLoop.ts"
export * from "./CompactorTypes.ts"

export interface CompactorLayerOptions {
  /** The database root inside the object store. */
  readonly path: string
  /**
   * The database's settings: `compactor` (its options; here it may not be null) and how SSTs are built;
   * validated.
   */
  readonly settings?: SettingsInput
  /** Retry policy of the compactor's store wrapper (default: SlateDB's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
  /** The database's merge operator (docs/design/merge.md); without one, a compaction meeting an operand fails. */
  readonly mergeOperator?: MergeOperator
}

/**
 * A compactor as a service of its own (a process beside the writer, whose `compactor` setting is then
 * off): `Compactor.layer({ path })` claims the compactor epoch of the database at `path` in the
 * `ObjectStore` in context and compacts until its scope closes (or a newer compactor fences it).
 */
export class Compactor extends Context.Service<Compactor, CompactorHandle>()("shale/Compactor") {
  static readonly layer = (options: CompactorLayerOptions): Layer.Layer<Compactor, DbError, ObjectStore> =>
    Layer.effect(
      Compactor,
      Effect.gen(function*() {
        const settings = yield* Settings.validate({ ...options.settings, compactor: options.settings?.compactor || {} })
        const store = withRetries(yield* instrumented(yield* ObjectStore, "compactor"), options.storeRetry)
        const root = normalizeRoot(options.path)
        const tables = new TableStore(store, root, 0)
        const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
        return yield* startCompactor({ root, store, tables, mergeOperator }, compactorOptionsFrom(settings.compactor!, settings, false))
      })
    )
}
