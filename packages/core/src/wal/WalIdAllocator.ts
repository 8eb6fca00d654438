/**
 * Hands out WAL SST ids (SlateDB's `WalIdStore`). The WAL buffer takes one id each time it freezes a
 * non-empty WAL, so ids are allocated in freeze order.
 *
 * Guarantees every implementation gives: ids are strictly increasing and never handed out twice by one
 * allocator. The `Db` backs this service by the manifest's `next_wal_sst_id` (returning it and bumping it
 * in the in-memory manifest, which the manifest writer later persists); `layerCounter` is a plain counter
 * for tests and tools.
 */
import { Context, Effect, Layer } from "effect"

export class WalIdAllocator extends Context.Service<WalIdAllocator, {
  /** The next unused WAL id. */
  readonly nextWalId: Effect.Effect<number>
}>()("shale/WalIdAllocator") {
  /** A counter whose first id is `firstId` (default 1, SlateDB's first WAL id). */
  static readonly layerCounter = (firstId: number = 1): Layer.Layer<WalIdAllocator> =>
    Layer.sync(WalIdAllocator, () => {
      let next = firstId
      return WalIdAllocator.of({ nextWalId: Effect.sync(() => next++) })
    })
}
