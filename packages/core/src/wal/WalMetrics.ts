/**
 * The WAL buffer's metrics, as Effect metrics under SlateDB's names (`slatedb.db.wal_buffer_*`; the other
 * metrics are Metrics.ts's):
 *
 * - `wal_buffer_flush_requests` (counter): flush requests put on the flush queue — one per size trigger
 *   (at most one per WAL generation), one per `flush()` call, one per eager durable wait that starts a
 *   flush. Interval ticks are not requests and are not counted.
 * - `wal_buffer_flushes` (counter): WAL SSTs the flush fiber set out to write (one per WAL, however many
 *   retries its put needed).
 * - `wal_buffer_estimated_bytes` (gauge): estimated encoded size of every WAL still in memory (current +
 *   immutable), set by `maybeTriggerFlush` as in SlateDB.
 *
 * A `Context.Reference`: it needs no layer, and a test or an embedding application can provide other
 * metrics (for example with `makeWalMetrics({ db: "orders" })`). The manager records them synchronously in
 * the context it was built in (its `Metric.MetricRegistry` and attributes), not in each caller's, so a
 * test isolates itself by providing a fresh registry around the manager's layer.
 */
import { Context, Metric } from "effect"
import { DB } from "../Metrics.ts"

export interface WalMetricsShape {
  readonly flushRequests: Metric.Counter<number>
  readonly flushes: Metric.Counter<number>
  readonly estimatedBytes: Metric.Gauge<number>
}

/** The three metrics, optionally with constant attributes (e.g. naming the database). */
export const makeWalMetrics = (attributes?: Readonly<Record<string, string>>): WalMetricsShape => ({
  flushRequests: Metric.counter(DB.walBufferFlushRequests, {
    description: "WAL flush requests sent to the flush fiber",
    incremental: true,
    attributes
  }),
  flushes: Metric.counter(DB.walBufferFlushes, {
    description: "WAL SSTs written by the flush fiber",
    incremental: true,
    attributes
  }),
  estimatedBytes: Metric.gauge(DB.walBufferEstimatedBytes, {
    description: "Estimated encoded bytes of the WALs held in memory",
    attributes
  })
})

const defaultWalMetrics = makeWalMetrics()

export const WalMetrics = Context.Reference<WalMetricsShape>("shale/WalMetrics", {
  defaultValue: () => defaultWalMetrics
})
