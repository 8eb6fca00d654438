/**
 * The store wrapper behind `slatedb.object_store.*`: every attempt counted under SlateDB's labels, its
 * failures too (not an interrupted one), its latency in the histogram.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric } from "effect"
import { instrumentStore } from "../src/objectstore/InstrumentedObjectStore.ts"
import { makeMemory } from "../src/objectstore/ObjectStore.ts"
import { snapshot } from "../src/Metrics.ts"

const bytes = new TextEncoder().encode("x")

describe("InstrumentedObjectStore", () => {
  it.effect("counts requests and errors by component, op and api; records latency", () =>
    Effect.gen(function*() {
      const store = instrumentStore(makeMemory(), "compactor", yield* Effect.context<never>())
      yield* store.put("a", bytes)
      yield* store.get("a")
      yield* Effect.flip(store.get("missing"))
      yield* store.getRange("a", { start: 0, end: 1 })
      yield* store.head("a")
      yield* store.delete("a")
      const samples = yield* snapshot
      const value = (name: string, op: string, api: string) =>
        samples.find((s) => s.name === name && s.labels.op === op && s.labels.api === api && s.labels.component === "compactor" && s.labels.store_type === "main")?.value
      assert.strictEqual(value("slatedb.object_store.request_count", "put", "put"), 1)
      assert.strictEqual(value("slatedb.object_store.request_count", "get", "get"), 2)
      assert.strictEqual(value("slatedb.object_store.error_count", "get", "get"), 1)
      assert.strictEqual(value("slatedb.object_store.error_count", "put", "put"), 0)
      assert.strictEqual(value("slatedb.object_store.request_count", "get", "get_range"), 1)
      assert.strictEqual(value("slatedb.object_store.request_count", "get", "head"), 1)
      assert.strictEqual(value("slatedb.object_store.request_count", "delete", "delete"), 1)
      const latency = value("slatedb.object_store.request_duration_seconds", "get", "get")
      assert.isTrue(typeof latency === "object" && latency.count === 2)
      assert.deepStrictEqual(typeof latency === "object" ? latency.buckets.map(([b]) => b).slice(0, 3) : [], [0.001, 0.005, 0.01])
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("an interrupted request counts as a request, not an error", () =>
    Effect.gen(function*() {
      const slow = { ...makeMemory(), get: () => Effect.never }
      const store = instrumentStore(slow, "db", yield* Effect.context<never>())
      const fiber = yield* Effect.forkChild(store.get("a"))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      const samples = yield* snapshot
      const get = (name: string) => samples.find((s) => s.name === name && s.labels.api === "get")?.value
      assert.strictEqual(get("slatedb.object_store.request_count"), 1)
      assert.strictEqual(get("slatedb.object_store.error_count"), 0)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
