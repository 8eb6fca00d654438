/**
 * The WAL buffer manager: buffers committed write batches in memory and writes them to the object store
 * as WAL SSTs (`wal/<id>.sst`) from one background flush fiber. It is SlateDB 0.12.1's `WalBufferManager`
 * (docs/format.md §5) as an Effect service; docs/design/wal-buffer.md explains the design.
 *
 * Durability offered. A write is durable once its WAL SST, and every WAL SST before it, is in the object
 * store; the `DurableWatcher` returned by `append` reports exactly that. WALs are written when:
 * - the current WAL's estimated encoded size reaches `maxWalBytes` and a writer calls `maybeTriggerFlush`
 *   (the limit is soft: it is checked after a whole batch, and a batch never spans two WALs);
 * - the interval ticker fires (`maxFlushInterval`, default 100 ms; `"Infinity"` disables it);
 * - someone calls `flush()`, which waits for the result;
 * - in `durableFlush: "eager"` mode, a writer calls `awaitDurable` on the current WAL's watcher (group
 *   commit: at most one WAL PUT in flight, writes arriving meanwhile ride the next one);
 * - a writer asks `flushOwed` and the current WAL's first row has waited `maxFlushInterval`: the interval
 *   flush is requested by the write itself, for callers that keep the event loop (and so the ticker's
 *   timer) from running; `flushOwed` also tells them to yield while a flush runs.
 *
 * Invariants (§5.3):
 * 1. All rows of one `append` are in one WAL SST.
 * 2. WAL ids come from `WalIdAllocator` when a non-empty WAL is frozen, so they increase with freeze order
 *    and an empty WAL is never written.
 * 3. WALs are written one at a time, in id order, by the single flush fiber. `recentFlushedWalId`, the
 *    oracle's durable seq and the clock's durable tick only move forward; watchers complete in id order.
 * 4. A watcher completes at most once (first outcome wins).
 * 5. An immutable WAL leaves memory only when it is written, durable by the oracle's watermark, and
 *    applied to the memtable (`trackLastAppliedSeq`); release is from the front only, in order.
 * 6. A failed write is never reported to watchers while a retry may still succeed: `StoreUnavailable` is
 *    retried with `retrySchedule` (on the Effect `Clock`); only when the failure is fatal do watchers, the
 *    flush requests and all later calls get it.
 * 7. After a clean close or a fatal failure the manager is closed: `append`, `maybeTriggerFlush` and
 *    `flush` fail with the stored `ClosedError`, and every WAL not yet durable has its watcher completed
 *    with it (saying the write was not made durable, or that its outcome is unknown: `withDurability`), so
 *    nothing waits forever. `stop(error)` (a newer writer, a fatal error elsewhere in the database) lets
 *    the WAL write in flight finish first, so that its writers learn its real outcome.
 *
 * Errors: everything fails with `ClosedError`, whose `reason` says why: `"clean"` (the layer was released
 * or `close()` was called), `"fenced"` (a WAL id was taken by a newer writer: `ObjectAlreadyExists` on the
 * create-only put) or `"fatal"` (a non-transient store error, retries exhausted, or an encoder bug; `cause`
 * holds the original error).
 *
 * State. The structural state (current WAL, immutable WALs, flush epoch, recent flushed WAL id, closed
 * error) is an immutable record in a `Ref`; only the flush fiber makes effectful transitions (freeze takes
 * a WAL id), so a `SynchronizedRef` would add a lock with nothing to serialise. Rows are appended to the
 * current `WalBuffer` in place, as SlateDB does under its lock. Three single-word cells live beside the
 * `Ref` and are updated in one synchronous step, like SlateDB's atomics: the last epoch a flush was
 * requested for, the last applied seq, and whether an interval tick is queued (`WalCore`, with the
 * bookkeeping of requests and failures the flush fiber and closing share).
 *
 * Files: this one (the service and its layer), WalBufferApi.ts (operations, options, defaults),
 * WalBufferLive.ts (the writer-side operations and the wiring), WalBufferState.ts (the state, its cells
 * and the request queue), WalFlush.ts (the flush fiber), WalWrite.ts (writing one WAL), WalClosing.ts
 * (closing).
 */
import { Context, Layer } from "effect"
import type { MonotonicClock } from "../MonotonicClock.ts"
import type { Oracle } from "../Oracle.ts"
import type { WalBufferManagerApi, WalBufferOptions } from "./WalBufferApi.ts"
import { makeWalBufferManager } from "./WalBufferLive.ts"
import type { WalIdAllocator } from "./WalIdAllocator.ts"
import type { WalSstWriter } from "./WalSstWriter.ts"

export * from "./WalBufferApi.ts"
export { makeWalBufferManager } from "./WalBufferLive.ts"
export { withDurability } from "./WalWrite.ts"

export class WalBufferManager extends Context.Service<WalBufferManager, WalBufferManagerApi>()("shale/WalBufferManager") {
  static readonly layer = (
    options: WalBufferOptions = {}
  ): Layer.Layer<WalBufferManager, never, WalSstWriter | WalIdAllocator | Oracle | MonotonicClock> =>
    Layer.effect(WalBufferManager, makeWalBufferManager(options))
}
