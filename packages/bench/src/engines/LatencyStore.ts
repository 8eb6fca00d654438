/**
 * An `ObjectStore` wrapper for the injected-latency experiment: every PUT sleeps `putLatencyMs` (real
 * clock) before it reaches the wrapped store, and is counted, so that a run reports both what a durable
 * writer waits and how many PUTs (what S3 bills) it cost. Other operations pass through untouched.
 */
import { Effect, Layer } from "effect"
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
