/** The WAL buffer manager's operations, options and defaults (WalBufferManager.ts explains the manager). */
import type { Duration, Effect, Option } from "effect"
import { Schedule } from "effect"
import type { ClosedError } from "../errors.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { DurableWatcher } from "./WalBuffer.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"

/**
 * When a writer that awaits durability gets it:
 * - `"interval"` (SlateDB): at the next interval tick, size trigger or explicit flush.
 * - `"eager"`: `awaitDurable` starts a flush at once if none is in flight; otherwise the write rides the
 *   next flush, which starts as soon as the one in flight finishes (group commit).
 */
export type DurableFlushMode = "interval" | "eager"

export interface WalBufferOptions {
  /** Size trigger: estimated encoded bytes of the current WAL (SlateDB: `l0_sst_size_bytes`, 64 MiB). */
  readonly maxWalBytes?: number
  /** Interval flush (SlateDB `flush_interval`, default 100 ms). `"Infinity"` disables the ticker. */
  readonly maxFlushInterval?: Duration.Input
  /** Default `"interval"` (SlateDB's behaviour). */
  readonly durableFlush?: DurableFlushMode
  /** SST block size used in the size estimate (default 4096). */
  readonly blockSize?: number
  /** Highest WAL id already written before this manager started (the manifest's `replay_after_wal_id`). */
  readonly recentFlushedWalId?: number
  /**
   * How `StoreUnavailable` on a WAL put is retried before it is fatal. Default: exponential from 100 ms,
   * capped at 1 s per wait, 20 retries (about 17.5 s). Other store errors are never retried.
   */
  readonly retrySchedule?: Schedule.Schedule<unknown, ObjectStoreError>
}

export const DEFAULT_MAX_WAL_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_FLUSH_INTERVAL: Duration.Input = "100 millis"

/** Exponential backoff from 100 ms, each wait capped at 1 s, at most 20 retries. */
export const defaultWalRetrySchedule: Schedule.Schedule<unknown, ObjectStoreError> = Schedule.min([
  Schedule.exponential("100 millis", 2),
  Schedule.spaced("1 second")
]).pipe(Schedule.upTo({ times: 20 }))

/** What the manager offers (the `WalBufferManager` service). */
export interface WalBufferManagerApi {
  /**
   * Appends the rows of one write batch to the current WAL, in order, and returns that WAL's watcher.
   * Cheap and synchronous underneath: no flush is started here (call `maybeTriggerFlush` next).
   */
  readonly append: (rows: ReadonlyArray<RowEntry>) => Effect.Effect<DurableWatcher, ClosedError>
  /**
   * Sends one flush request if the current WAL's estimated size reached `maxWalBytes` and none was sent
   * for this WAL generation yet; sets the `wal_buffer_estimated_bytes` gauge. Returns the current WAL's
   * watcher. Does not wait for the flush.
   */
  readonly maybeTriggerFlush: () => Effect.Effect<DurableWatcher, ClosedError>
  /** Writes every WAL in memory (freezing the current one) and waits for the outcome. */
  readonly flush: () => Effect.Effect<void, ClosedError>
  /**
   * Waits until `watcher`'s WAL is durable. In `"eager"` mode this also starts a flush if the watcher's
   * WAL is still the current one and no flush was requested for it yet.
   */
  readonly awaitDurable: (watcher: DurableWatcher) => Effect.Effect<void, ClosedError>
  /** The watcher of the oldest WAL not yet written (immutable first, else a non-empty current WAL). */
  readonly watcherForOldestUnflushedWal: () => Effect.Effect<Option.Option<DurableWatcher>>
  /** Highest WAL id known to be written. */
  readonly recentFlushedWalId: Effect.Effect<number>
  /** Raises `recentFlushedWalId` (replay); never lowers it. */
  readonly advanceRecentFlushedWalId: (id: number) => Effect.Effect<void>
  /** Estimated encoded bytes of every WAL in memory (current + immutable), for backpressure. */
  readonly estimatedBytes: Effect.Effect<number>
  /** Records that every write up to `seq` is in the memtable, and releases WALs that may go. */
  readonly trackLastAppliedSeq: (seq: number) => Effect.Effect<void>
  /**
   * Synchronous: whether WAL flushing needs the event loop now. True while a flush runs or is queued, and
   * when the current WAL's first row has waited `maxFlushInterval` by `nowMs` (the engine clock's last
   * tick); then it also requests that flush, as the interval ticker would. A caller that may never return
   * to the event loop (a loop of writes that settle synchronously: the ticker's timer and the store's I/O
   * callbacks would never run) asks this before each write and yields when it says so.
   */
  readonly flushOwed: (nowMs: number) => boolean
  /** Synchronous `estimatedBytes`. */
  readonly estimatedBytesNow: () => number
  /** Immutable WALs still held in memory (written or not). */
  readonly immutableWalCount: Effect.Effect<number>
  /** The error the manager closed with, if it is closed. */
  readonly closed: Effect.Effect<Option.Option<ClosedError>>
  /**
   * Closes the manager with `ClosedError("clean")`: stops the flush fiber (a WAL put in flight is
   * interrupted), answers queued flush requests with the error, freezes the current WAL, and completes
   * every WAL not yet durable with the error. Idempotent. It does not flush: call `flush()` first for a
   * graceful shutdown (the `Db` does). The layer's finalizer calls it.
   */
  readonly close: () => Effect.Effect<void>
  /**
   * Closes the manager with `error` (a newer writer took over, or the database failed) without cutting
   * a WAL write short: appends fail from now on, the WAL being written finishes (its writers learn its
   * real outcome), no other WAL is written, and every WAL not written fails its writers with `error`
   * saying their write was not made durable. Idempotent; waits until the manager is closed.
   */
  readonly stop: (error: ClosedError) => Effect.Effect<void>
}
