/**
 * The WAL buffer manager's shared state (WalBufferManager.ts, "State"): the structural record in a `Ref`,
 * the single-word cells beside it, and the queue of flush requests, with the small synchronous steps every
 * part of the manager uses (WalBufferLive.ts wires the parts: the writer-side operations, WalFlush.ts's
 * flush fiber, WalClosing.ts's closing).
 */
import { type Context, type Deferred, Effect, type Fiber, Queue, Ref } from "effect"
import type { ClosedError } from "../errors.ts"
import { estimateWalSstSize } from "../format/SsTableBuilder.ts"
import { type DurableWatcher, WalBuffer } from "./WalBuffer.ts"
import type { WalMetricsShape } from "./WalMetrics.ts"
import type { FailedWal, ImmutableWal } from "./WalWrite.ts"

export interface State {
  readonly current: WalBuffer
  /** `Effect.succeed(current.watcher)`, made once per WAL so that `append` allocates no result. */
  readonly currentResult: Effect.Effect<DurableWatcher>
  /** Frozen WALs, oldest first; written ones stay until released. */
  readonly immutables: ReadonlyArray<ImmutableWal>
  /** Σ estimatedSize over `immutables`. */
  readonly immutableBytes: number
  /** Starts at 1, +1 per freeze: the generation of the current WAL. */
  readonly flushEpoch: number
  readonly recentFlushedWalId: number
  readonly closed: ClosedError | undefined
}

export type FlushRequest =
  | { readonly _tag: "Tick" }
  | { readonly _tag: "Trigger" }
  | { readonly _tag: "Flush"; readonly reply: Deferred.Deferred<void, ClosedError> }

export const TICK: FlushRequest = { _tag: "Tick" }
const TRIGGER: FlushRequest = { _tag: "Trigger" }
export const NO_REQUESTS: ReadonlyArray<FlushRequest> = []

/** The state a new manager starts from: an empty current WAL, nothing frozen. */
export const initialState = (recentFlushedWalId: number): State => {
  const firstWal = new WalBuffer()
  return {
    current: firstWal,
    currentResult: Effect.succeed(firstWal.watcher),
    immutables: [],
    immutableBytes: 0,
    flushEpoch: 1,
    recentFlushedWalId,
    closed: undefined
  }
}

/**
 * The state and cells of one manager. The cells are updated in one synchronous step, like SlateDB's
 * atomics; every field but the `Ref`'s record is touched only from the manager's own code.
 */
export class WalCore {
  /** The last WAL generation a flush was requested for (at most one size or eager request per WAL). */
  lastFlushRequestedEpoch = 0
  /** The last seq applied to the memtable (`trackLastAppliedSeq`): WALs up to it may be released. */
  lastAppliedSeq: number | undefined = undefined
  /** An interval tick is queued. */
  tickPending = false
  /** Requests offered and not yet taken by the flush fiber. */
  queued = 0
  /** The batch of requests the flush fiber is serving, so that a close can answer it. */
  inFlight: ReadonlyArray<FlushRequest> = NO_REQUESTS
  /** The WAL whose write failed, and whether an attempt of it may have reached the store. */
  failedWal: FailedWal | undefined = undefined
  /** The interval ticker, if `maxFlushInterval` is finite. */
  tickerFiber: Fiber.Fiber<unknown> | undefined = undefined
  readonly state: Ref.Ref<State>
  readonly requests: Queue.Queue<FlushRequest>
  /** Completed once the closing cleanup has run (whoever ran it). */
  readonly terminated: Deferred.Deferred<void>
  readonly metrics: WalMetricsShape
  /** Metrics are recorded in the context the manager was built in, synchronously (no Effect per update). */
  readonly metricContext: Context.Context<never>
  private readonly estimateOptions: { readonly blockSize: number }

  constructor(parts: {
    readonly state: Ref.Ref<State>
    readonly requests: Queue.Queue<FlushRequest>
    readonly terminated: Deferred.Deferred<void>
    readonly metrics: WalMetricsShape
    readonly metricContext: Context.Context<never>
    readonly blockSize: number
  }) {
    this.state = parts.state
    this.requests = parts.requests
    this.terminated = parts.terminated
    this.metrics = parts.metrics
    this.metricContext = parts.metricContext
    this.estimateOptions = { blockSize: parts.blockSize }
  }

  /** The WAL's estimated encoded size as a WAL SST. */
  estimate(wal: WalBuffer): number {
    return estimateWalSstSize(wal.length, wal.entriesSize, this.estimateOptions)
  }

  isClosed(): boolean {
    return Ref.getUnsafe(this.state).closed !== undefined
  }

  offer(request: FlushRequest): void {
    this.queued++
    Queue.offerUnsafe(this.requests, request)
  }

  /**
   * Queues an interval tick unless one is queued already, or there is nothing for it to do: with the current
   * WAL empty and no immutable WAL left to write or release, a flush would freeze nothing and write nothing,
   * so an idle database's tick wakes only the ticker.
   */
  readonly offerTickNow = (): void => {
    if (this.tickPending || this.isClosed()) return
    const s = Ref.getUnsafe(this.state)
    if (s.current.isEmpty && s.immutables.length === 0) return
    this.tickPending = true
    this.offer(TICK)
  }

  /** Sends one fire-and-forget flush request for WAL generation `epoch`. */
  requestFlush(epoch: number): void {
    this.lastFlushRequestedEpoch = epoch
    this.offer(TRIGGER)
    this.metrics.flushRequests.updateUnsafe(1, this.metricContext)
  }
}
