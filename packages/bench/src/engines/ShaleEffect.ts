/**
 * Shale through its Effect API: `Db.layer({ path, settings })` over an `ObjectStore` layer, held open by a
 * `ManagedRuntime` for the whole run. Each phase is one Effect program that `yield*`s one `Db` call per
 * operation, as an Effect user writes it; concurrent durable puts are 256 fibers pulling the next key.
 *
 * The store is the memory store or the local-directory store; for the injected-latency experiment it is
 * the memory store behind `withPutLatency` (see LatencyStore.ts), and the engine reports its PUT count.
 */
import { Effect, Layer, ManagedRuntime, Stream } from "effect"
import { Db, ObjectStore, type Settings } from "@shale/core"
import { LocalObjectStore } from "@shale/core/node"
import type { Engine } from "../Engine.ts"
import { getIndex, valueOf } from "../Workload.ts"
import { type PutCounter, withPutLatency } from "./LatencyStore.ts"

export interface ShaleEffectOptions {
  /** `"memory"`, or the directory of a local store. */
  readonly store: "memory" | { readonly dir: string }
  readonly settings?: Settings.SettingsInput
  /** Injected latency of every PUT, in ms; the store then counts its PUTs. */
  readonly putLatencyMs?: number
}

const NO_DURABLE = { awaitDurable: false } as const

export const makeShaleEffect = async (options: ShaleEffectOptions): Promise<Engine> => {
  const base: Layer.Layer<ObjectStore.ObjectStore, unknown> = options.store === "memory"
    ? ObjectStore.layerMemory
    : LocalObjectStore.layer({ root: options.store.dir })
  const counter: PutCounter = { puts: 0 }
  const store = options.putLatencyMs === undefined ? base : withPutLatency(base, options.putLatencyMs, counter)
  // Settings not given are SlateDB's defaults (Db.layer fills them in).
  const dbLayer = Db.layer(options.settings === undefined ? { path: "bench" } : { path: "bench", settings: options.settings })
  const runtime = ManagedRuntime.make(dbLayer.pipe(Layer.provide(store)))
  // Open the database now, not inside the first timed phase.
  await runtime.runPromise(Db.Db.useSync(() => undefined))

  const run = <A>(effect: Effect.Effect<A, unknown, Db.Db>): Promise<A> => runtime.runPromise(effect)

  const engine: Engine = {
    putNoDurableSeq: (keys, from, to) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        for (let i = from; i < to; i++) yield* db.put(keys[i]!, valueOf(i), NO_DURABLE)
      })),
    putDurableConcurrent: (keys, from, to, inFlight) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        let next = from
        const writer = Effect.gen(function*() {
          while (next < to) {
            const i = next++
            yield* db.put(keys[i]!, valueOf(i))
          }
        })
        yield* Effect.all(Array.from({ length: Math.min(inFlight, to - from) }, () => writer), {
          concurrency: "unbounded",
          discard: true
        })
      })),
    putDurableSeq: (keys, from, to) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        const latencies: Array<number> = []
        for (let i = from; i < to; i++) {
          const t0 = performance.now()
          yield* db.put(keys[i]!, valueOf(i))
          latencies.push(performance.now() - t0)
        }
        return latencies
      })),
    flushMemtable: () => run(Db.Db.use((db) => db.flush({ type: "memtable" }))),
    getSeq: (keys, count) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        let found = 0
        for (let i = 0; i < count; i++) {
          if ((yield* db.get(keys[getIndex(i, keys.length)]!)) !== undefined) found++
        }
        return found
      })),
    scanAll: () => run(Db.Db.use((db) => Stream.runCount(db.scan({})))),
    durableSeq: () => run(Db.Db.use((db) => db.status)).then((s) => s.durableSeq),
    // Releasing the layer closes the database cleanly (Db.ts).
    close: () => runtime.dispose()
  }
  return options.putLatencyMs === undefined ? engine : { ...engine, storePuts: () => counter.puts }
}
