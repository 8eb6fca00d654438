/**
 * An `ObjectStore` wrapper for the injected-latency experiment: every PUT sleeps `putLatencyMs` (real
 * clock) before it reaches the wrapped store, and is counted, so that a run reports both what a durable
 * writer waits and how many PUTs (what S3 bills) it cost. Other operations pass through untouched.
 * `withRequestCounts` (W3) counts every request by operation, and can delay each one as S3 would.
 */
import { Effect, Layer, Stream } from "effect"
import { ObjectStore as Store } from "@shale/core"

const { ObjectStore } = Store
type ObjectStore = Store.ObjectStore

/** Counts the PUTs that reached the store. */
export interface PutCounter {
  puts: number
}

export const withPutLatency = <E>(
  inner: Layer.Layer<ObjectStore, E>,
  putLatencyMs: number,
  counter: PutCounter
): Layer.Layer<ObjectStore, E> =>
  Layer.effect(
    ObjectStore,
    Effect.gen(function*() {
      const store = yield* ObjectStore
      return ObjectStore.of({
        ...store,
        // Every put through the latency below; no other thread works around it (compaction runs inline).
        putChunks: undefined,
        recipe: undefined,
        put: (path, bytes, options) =>
          Effect.sleep(putLatencyMs).pipe(
            Effect.andThen(Effect.sync(() => {
              counter.puts++
            })),
            Effect.andThen(store.put(path, bytes, options))
          )
      })
    })
  ).pipe(Layer.provide(inner))

/** What an S3-like store costs per request: time to the first byte, then the bytes at a bounded rate. */
export interface LatencyProfile {
  readonly firstByteMs: number
  /** Bytes per second of one request's body (sent or received). */
  readonly bytesPerSecond: number
}

/** The store's requests by operation, and the bytes they moved. */
export interface RequestCounts {
  get: number
  getRange: number
  head: number
  put: number
  list: number
  delete: number
  bytesRead: number
  bytesWritten: number
}

export const REQUEST_KINDS = ["get", "getRange", "head", "put", "list", "delete"] as const
export type RequestKind = (typeof REQUEST_KINDS)[number]

export const emptyCounts = (): RequestCounts => ({
  get: 0,
  getRange: 0,
  head: 0,
  put: 0,
  list: 0,
  delete: 0,
  bytesRead: 0,
  bytesWritten: 0
})

/**
 * Counts every request that reaches `inner` (by operation, and the bytes read and written), and, while
 * `profile()` gives one, delays each like S3: `firstByteMs`, then its body at `bytesPerSecond` (a listing:
 * the first byte of its first page only). A request is counted when it is made, whether it succeeds or not.
 */
export const withRequestCounts = <E>(
  inner: Layer.Layer<ObjectStore, E>,
  counts: RequestCounts,
  profile: () => LatencyProfile | undefined = () => undefined
): Layer.Layer<ObjectStore, E> =>
  Layer.effect(
    ObjectStore,
    Effect.gen(function*() {
      const store = yield* ObjectStore
      // No generator: on S3 this wrapper only counts, and it is on every request of the measured phases.
      const delay = <A, E2>(kind: RequestKind, effect: Effect.Effect<A, E2>, size: (a: A) => number) =>
        Effect.suspend(() => {
          counts[kind]++
          return Effect.flatMap(effect, (a) => {
            // The wrapped store answers at once (memory), so one sleep afterwards stands for both waits.
            const p = profile()
            return p === undefined ? Effect.succeed(a) : Effect.as(Effect.sleep(p.firstByteMs + (size(a) / p.bytesPerSecond) * 1000), a)
          })
        })
      const read = (bytes: Uint8Array) => {
        counts.bytesRead += bytes.length
        return bytes.length
      }
      return ObjectStore.of({
        put: (path, bytes, options) => {
          counts.bytesWritten += bytes.length
          return delay("put", store.put(path, bytes, options), () => bytes.length)
        },
        get: (path) => delay("get", store.get(path), read),
        getRange: (path, range) => delay("getRange", store.getRange(path, range), read),
        head: (path) => delay("head", store.head(path), () => 0),
        delete: (path) => delay("delete", store.delete(path), () => 0),
        list: (prefix, options) =>
          Stream.unwrap(delay("list", Effect.succeed(store.list(prefix, options)), () => 0))
      })
    })
  ).pipe(Layer.provide(inner))
