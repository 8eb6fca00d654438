import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { ObjectStore, PUT_ID_METADATA_KEY, RetryingObjectStore, withRetries } from "@shale/core/internal"
import {
  FaultInjectingObjectStore,
  FaultInjector,
  makePrng,
  type FaultInjectingOptions
} from "../src/FaultInjectingObjectStore.ts"
import { objectStoreConformance } from "../src/ObjectStoreConformance.ts"

const bytes = (s: string) => new TextEncoder().encode(s)

const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.sync(() => fiber.pollUnsafe() === undefined)

/** A fixed sequential workload; returns each operation's outcome ("ok" or the error tag). */
const workload = Effect.gen(function*() {
  const store = yield* ObjectStore
  const outcomes: Array<string> = []
  const run = <A, E extends { readonly _tag: string }>(e: Effect.Effect<A, E>) =>
    Effect.result(e).pipe(Effect.map((r) => void outcomes.push(r._tag === "Success" ? "ok" : r.failure._tag)))
  for (let i = 0; i < 100; i++) {
    yield* run(store.put(`w/${i % 10}`, bytes(`${i}`)))
    yield* run(store.get(`w/${i % 10}`))
  }
  return outcomes
})

const runWith = <A, E>(options: FaultInjectingOptions, effect: Effect.Effect<A, E, ObjectStore | FaultInjector>) =>
  effect.pipe(
    Effect.flatMap((result) => Effect.map(FaultInjector.use((f) => Effect.all([f.events, f.stats])), ([events, stats]) => ({ result, events, stats }))),
    Effect.provide(FaultInjectingObjectStore.layer(options))
  )

describe("FaultInjectingObjectStore", () => {
  it("its PRNG is seeded: same seed, same numbers; numbers in [0, 1)", () => {
    const a = makePrng(42)
    const b = makePrng(42)
    const c = makePrng("42")
    const xs = Array.from({ length: 1000 }, () => a())
    assert.deepStrictEqual(Array.from({ length: 1000 }, () => b()), xs)
    assert.notDeepEqual(Array.from({ length: 1000 }, () => c()), xs)
    for (const x of xs) assert.isTrue(x >= 0 && x < 1)
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    assert.isTrue(mean > 0.45 && mean < 0.55, `mean ${mean}`)
  })

  it.effect("the same seed gives the same faults; another seed gives others", () =>
    Effect.gen(function*() {
      const options = { seed: 42, unavailableRate: 0.3, putLostResponseRate: 0.2 }
      const first = yield* runWith(options, workload)
      const second = yield* runWith(options, workload)
      const other = yield* runWith({ ...options, seed: 43 }, workload)
      assert.deepStrictEqual(second.events, first.events)
      assert.deepStrictEqual(second.result, first.result)
      assert.notDeepEqual(other.events.map((e) => e.index), first.events.map((e) => e.index))
      // Plausible rates: about 30% unavailable, and lost responses only on puts.
      assert.strictEqual(first.stats.ops, 200)
      assert.isTrue(first.stats.faults.unavailable > 30 && first.stats.faults.unavailable < 90, `${first.stats.faults.unavailable}`)
      assert.isAbove(first.stats.faults.lostResponse, 0)
      for (const e of first.events) if (e.kind === "lostResponse") assert.strictEqual(e.op, "put")
      assert.strictEqual(first.events.length, first.stats.faults.unavailable + first.stats.faults.lostResponse)
    }))

  it.effect("the fault sequence does not depend on the rest of the configuration", () =>
    Effect.gen(function*() {
      const failing = (r: { readonly events: ReadonlyArray<{ readonly index: number; readonly kind: string }> }) =>
        r.events.filter((e) => e.kind === "unavailable").map((e) => e.index)
      const plain = yield* runWith({ seed: 7, unavailableRate: 0.25 }, workload)
      const slow = yield* runWith({ seed: 7, unavailableRate: 0.25, latency: { min: "0 millis", max: "3 millis" } }, workload.pipe(
        Effect.forkChild,
        Effect.flatMap((f) => TestClock.adjust("1 hour").pipe(Effect.andThen(Fiber.join(f))))
      ))
      assert.deepStrictEqual(failing(slow), failing(plain))
      assert.isAbove(failing(plain).length, 0)
    }))

  it.effect("fixed latency is an Effect.sleep driven by the TestClock", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const fiber = yield* Effect.forkChild(store.put("a", bytes("a")))
      yield* TestClock.adjust("49 millis")
      assert.isTrue((yield* isRunning(fiber)), "still sleeping at 49 ms")
      const inner = (yield* FaultInjector).inner
      assert.strictEqual((yield* Effect.flip(inner.head("a")))._tag, "ObjectNotFound", "nothing lands before the latency")
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* inner.head("a")).size, 1)
    }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed: 1, latency: { put: { fixed: "50 millis" } } }))))

  it.effect("random latency stays in its bounds and repeats under the same seed", () =>
    Effect.gen(function*() {
      // Each operation measures its own duration on the Clock, while the test steps time 1 ms at a time.
      const measure = (seed: number) =>
        Effect.gen(function*() {
          const store = yield* ObjectStore
          const out: Array<number> = []
          for (let i = 0; i < 30; i++) {
            const fiber = yield* Effect.forkChild(Effect.gen(function*() {
              const start = yield* Clock.currentTimeMillis
              yield* Effect.ignore(store.get("missing"))
              return (yield* Clock.currentTimeMillis) - start
            }))
            for (let t = 0; t < 25; t++) yield* TestClock.adjust("1 millis")
            out.push(yield* Fiber.join(fiber))
          }
          return out
        }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed, latency: { min: "10 millis", max: "20 millis" } })))
      const a = yield* measure(9)
      const b = yield* measure(9)
      assert.deepStrictEqual(a, b)
      for (const d of a) assert.isTrue(d >= 10 && d <= 20, `latency ${d}`)
      assert.isAbove(new Set(a).size, 3, "latencies vary")
    }))

  it.effect("fails every operation after the first N with StoreFailure, for good", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const f = yield* FaultInjector
      yield* store.put("a", bytes("a"))
      yield* store.get("a")
      yield* store.head("a")
      for (let i = 0; i < 5; i++) {
        const e = yield* Effect.flip(i % 2 === 0 ? Effect.asVoid(store.get("a")) : Effect.asVoid(store.put("b", bytes("b"))))
        assert.strictEqual(e._tag, "StoreFailure")
      }
      assert.strictEqual((yield* Effect.flip(f.inner.get("b")))._tag, "ObjectNotFound", "failed puts did not land")
      const stats = yield* f.stats
      assert.strictEqual(stats.ops, 8)
      assert.strictEqual(stats.faults.permanent, 5)
      // Invalid paths are rejected before any fault and are not counted.
      assert.strictEqual((yield* Effect.flip(store.get("/bad")))._tag, "InvalidPath")
      assert.strictEqual((yield* f.stats).ops, 8)
    }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed: 3, failAfterOps: 3 }))))

  it.effect("after a crash nothing takes effect or completes; heal lets new operations through", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const f = yield* FaultInjector
      yield* store.put("before", bytes("1"))
      yield* f.crash
      assert.isTrue(yield* f.isCrashed)
      const put = yield* Effect.forkChild(store.put("after", bytes("2")))
      const get = yield* Effect.forkChild(store.get("before"))
      yield* TestClock.adjust("1 hour")
      assert.isTrue((yield* isRunning(put)), "a put after the crash never completes")
      assert.isTrue((yield* isRunning(get)), "a get after the crash never completes")
      assert.strictEqual((yield* Effect.flip(f.inner.head("after")))._tag, "ObjectNotFound")

      yield* f.heal
      yield* store.put("healed", bytes("3"))
      assert.strictEqual((yield* store.get("before")).length, 1)
      yield* TestClock.adjust("1 hour")
      assert.isTrue((yield* isRunning(put)), "stranded operations stay stranded after heal")
      assert.strictEqual((yield* Effect.flip(store.head("after")))._tag, "ObjectNotFound")
      assert.strictEqual((yield* f.stats).faults.crashed, 2)
      yield* Fiber.interrupt(put)
      yield* Fiber.interrupt(get)
    }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed: 4 }))))

  it.effect("a crash loses operations still in flight", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const f = yield* FaultInjector
      const put = yield* Effect.forkChild(store.put("slow", bytes("x")))
      yield* TestClock.adjust("50 millis")
      yield* f.crash
      yield* f.heal
      yield* TestClock.adjust("1 second")
      assert.isTrue((yield* isRunning(put)))
      assert.strictEqual((yield* Effect.flip(f.inner.head("slow")))._tag, "ObjectNotFound")
      // A put started after the heal completes normally.
      const fresh = yield* Effect.forkChild(store.put("fresh", bytes("y")))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(fresh)
      assert.strictEqual((yield* f.inner.head("fresh")).size, 1)
      yield* Fiber.interrupt(put)
    }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed: 5, latency: { fixed: "100 millis" } }))))

  it.effect("a lost put response: the put lands, the caller sees StoreUnavailable", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const f = yield* FaultInjector
      const e = yield* Effect.flip(store.put("p", bytes("landed"), { mode: "create" }))
      assert.strictEqual(e._tag, "StoreUnavailable")
      assert.strictEqual(new TextDecoder().decode(yield* f.inner.get("p")), "landed")
      // Without a put id, the retry of a create-only put would see its own object and be fenced.
      assert.strictEqual((yield* Effect.flip(store.put("p", bytes("landed"), { mode: "create" })))._tag, "ObjectAlreadyExists")
    }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed: 6, putLostResponseRate: 1 }))))

  it.effect("with the retrying store, create-only puts survive lost responses and stay exclusive", () =>
    Effect.gen(function*() {
      const f = yield* FaultInjector
      const store = withRetries(yield* ObjectStore)
      const run = Effect.gen(function*() {
        for (let i = 0; i < 50; i++) yield* store.put(`wal/${i}.sst`, bytes(`${i}`), { mode: "create" })
        return yield* Effect.flip(store.put("wal/0.sst", bytes("zombie"), { mode: "create" }))
      })
      const fiber = yield* Effect.forkChild(run)
      yield* TestClock.adjust("1 hour")
      const fenced = yield* Fiber.join(fiber)
      assert.strictEqual(fenced._tag, "ObjectAlreadyExists")
      const stats = yield* f.stats
      assert.isAbove(stats.faults.lostResponse, 5)
      assert.isAbove(stats.faults.unavailable, 5)
      for (let i = 0; i < 50; i++) {
        const meta = yield* f.inner.head(`wal/${i}.sst`)
        assert.isString(meta.metadata[PUT_ID_METADATA_KEY])
        assert.strictEqual(new TextDecoder().decode(yield* f.inner.get(`wal/${i}.sst`)), `${i}`)
      }
    }).pipe(Effect.provide(FaultInjectingObjectStore.layer({ seed: 8, unavailableRate: 0.2, putLostResponseRate: 0.3 }))))
})

// The whole conformance suite through retries over a store that fails a fifth of all calls and loses a
// fifth of all put responses: the retrying store must hide every injected fault.
objectStoreConformance(
  "retrying store over a fault-injecting store",
  RetryingObjectStore.layer({ baseDelay: "1 millis", maxDelay: "4 millis" }).pipe(
    Layer.provide(FaultInjectingObjectStore.layer({ seed: 11, pageSize: 7, unavailableRate: 0.2, putLostResponseRate: 0.2 }))
  ),
  { manyPagesCount: 600 }
)
