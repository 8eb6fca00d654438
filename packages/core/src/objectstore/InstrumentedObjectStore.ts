/**
 * SlateDB's `InstrumentedObjectStore`: a store wrapper that counts every request and its failures and
 * records its latency, as `slatedb.object_store.request_count`, `slatedb.object_store.error_count` and
 * `slatedb.object_store.request_duration_seconds` (a histogram over SlateDB's `LATENCY_BOUNDARIES`),
 * labelled as SlateDB labels them:
 *
 * - `component`: who asks (`db`, `reader`, `gc`, `compactor`);
 * - `store_type`: which store (`main`; Shale has no separate WAL store);
 * - `op` and `api`: `get`/`get`, `get`/`get_range`, `get`/`head`, `put`/`put`, `delete`/`delete`.
 *
 * Listing is not counted (SlateDB's wrapper passes `list` through uncounted too). It sits beneath the
 * retrying wrapper (RetryingObjectStore.ts), as SlateDB's does, so each attempt counts.
 *
 * The metrics are ordinary Effect metrics, updated per request in the context the wrapper was made in
 * (its registry and `Metric.CurrentMetricAttributes`): a request is milliseconds of I/O, the update is not.
 * Durations come from the Effect `Clock` (under a test clock they are 0).
 */
import { Cause, Clock, Context, Effect, Exit, Metric, type Stream } from "effect"
import { LATENCY_BOUNDARIES, OBJECT_STORE } from "../Metrics.ts"
import type { ByteRange, ObjectStore, PutOptions } from "./ObjectStore.ts"

export type StoreComponent = "db" | "reader" | "gc" | "compactor"

interface RequestMetrics {
  readonly requests: Metric.Counter<number>
  readonly errors: Metric.Counter<number>
  readonly seconds: Metric.Histogram<number>
}

const requestMetrics = (component: StoreComponent, op: string, api: string): RequestMetrics => {
  const attributes = { component, store_type: "main", op, api }
  return {
    requests: Metric.counter(OBJECT_STORE.requestCount, { description: "Object store API requests", incremental: true, attributes }),
    errors: Metric.counter(OBJECT_STORE.errorCount, { description: "Object store API request errors", incremental: true, attributes }),
    seconds: Metric.histogram(OBJECT_STORE.requestDurationSeconds, {
      description: "Object store API request latency in seconds",
      boundaries: LATENCY_BOUNDARIES,
      attributes
    })
  }
}

/** Wraps `store`: every request is counted and timed in `context` (see the module comment). */
export const instrumentStore = (
  store: ObjectStore["Service"],
  component: StoreComponent,
  context: Context.Context<never>
): ObjectStore["Service"] => {
  const clock = Context.get(context, Clock.Clock)
  const measure = (m: RequestMetrics) => {
    // Registered at once with their zeros, as SlateDB registers its series up front.
    m.requests.updateUnsafe(0, context)
    m.errors.updateUnsafe(0, context)
    return <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> => Effect.suspend(() => {
      const start = clock.currentTimeNanosUnsafe()
      return Effect.onExit(effect, (exit) =>
        Effect.sync(() => {
          m.requests.updateUnsafe(1, context)
          // An interrupted request (its caller gave up) is not the store's error.
          if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) m.errors.updateUnsafe(1, context)
          m.seconds.updateUnsafe(Number(clock.currentTimeNanosUnsafe() - start) / 1e9, context)
        }))
    })
  }
  const get = measure(requestMetrics(component, "get", "get"))
  const getRangeMetrics = requestMetrics(component, "get", "get_range")
  const getRange = measure(getRangeMetrics)
  const getRangeNow = store.getRangeNow
  /** A synchronous read counts as a request (with its duration) when it happened. */
  const measuredNow = (path: string, range: ByteRange): Uint8Array | undefined => {
    const start = clock.currentTimeNanosUnsafe()
    const bytes = getRangeNow!(path, range)
    if (bytes !== undefined) {
      getRangeMetrics.requests.updateUnsafe(1, context)
      getRangeMetrics.seconds.updateUnsafe(Number(clock.currentTimeNanosUnsafe() - start) / 1e9, context)
    }
    return bytes
  }
  const head = measure(requestMetrics(component, "get", "head"))
  const put = measure(requestMetrics(component, "put", "put"))
  const del = measure(requestMetrics(component, "delete", "delete"))
  return {
    put: (path, bytes, options) => put(store.put(path, bytes, options)),
    ...(store.putChunks === undefined ? {} : {
      putChunks: (path: string, chunks: ReadonlyArray<Uint8Array>, options?: PutOptions) => put(store.putChunks!(path, chunks, options))
    }),
    ...(store.putStream === undefined ? {} : {
      putStream: (path: string, batches: Stream.Stream<ReadonlyArray<Uint8Array>>, options?: PutOptions) =>
        put(store.putStream!(path, batches, options))
    }),
    get: (path) => get(store.get(path)),
    getRange: (path, range) => getRange(store.getRange(path, range)),
    ...(getRangeNow === undefined ? {} : { getRangeNow: measuredNow }),
    head: (path) => head(store.head(path)),
    delete: (path) => del(store.delete(path)),
    list: (prefix, options) => store.list(prefix, options),
    recipe: store.recipe
  }
}

/** `instrumentStore` in the current context. */
export const instrumented = (store: ObjectStore["Service"], component: StoreComponent): Effect.Effect<ObjectStore["Service"]> =>
  Effect.map(Effect.context<never>(), (context) => instrumentStore(store, component, context))
