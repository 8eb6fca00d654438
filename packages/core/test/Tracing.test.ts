/**
 * `tracing()`: the hot paths make their span only when the running fiber has a tracer of its own; and
 * then a put and a get do make it (Db.put, Db.get), with their attributes. Store requests (`spanned`)
 * likewise: a span per request under a tracer, none without.
 */
import { assert, describe, it } from "@effect/vitest"
import { Db, ObjectStore } from "@shale/core"
import { Context, Effect, Layer, References, Tracer } from "effect"
import { spanned, tracing } from "../src/Tracing.ts"

/** A tracer that keeps the spans it is asked for (names and attributes). */
const recordingTracer = (spans: Array<{ name: string; attributes: ReadonlyMap<string, unknown> }>) =>
  Tracer.make({
    span: (options) => {
      const span = Tracer.nativeTracer.span(options)
      spans.push({ name: options.name, attributes: span.attributes })
      return span
    }
  })

describe("tracing()", () => {
  it.effect("false without a tracer of the fiber's own, or with tracing disabled; true with one", () =>
    Effect.gen(function*() {
      assert.isFalse(yield* Effect.sync(tracing))
      assert.isFalse(yield* Effect.sync(tracing).pipe(Effect.provideService(Tracer.Tracer, Tracer.nativeTracer)))
      const tracer = recordingTracer([])
      assert.isTrue(yield* Effect.sync(tracing).pipe(Effect.provideService(Tracer.Tracer, tracer)))
      assert.isFalse(
        yield* Effect.sync(tracing).pipe(Effect.provideService(Tracer.Tracer, tracer), Effect.provideService(References.TracerEnabled, false))
      )
      assert.isFalse(tracing()) // outside any fiber
    }))

  it.effect("a put and a get make their spans only under a tracer", () =>
    Effect.gen(function*() {
      const spans: Array<{ name: string; attributes: ReadonlyMap<string, unknown> }> = []
      const db = Context.get(yield* Layer.build(Db.layer({ path: "db", settings: { compactor: null } })), Db.Db)
      const k = new Uint8Array([1, 2, 3])
      yield* db.put(k, new Uint8Array(10), { awaitDurable: false })
      yield* db.get(k)
      assert.deepStrictEqual(spans.map((s) => s.name), [])
      yield* Effect.gen(function*() {
        yield* db.put(k, new Uint8Array(10), { awaitDurable: false })
        yield* db.get(k)
      }).pipe(Effect.provideService(Tracer.Tracer, recordingTracer(spans)))
      assert.deepStrictEqual(spans.map((s) => s.name), ["Db.put", "Db.get"])
      assert.strictEqual(spans[0]!.attributes.get("db.key_size"), 3)
      assert.strictEqual(spans[0]!.attributes.get("db.value_size"), 10)
      assert.strictEqual(spans[1]!.attributes.get("db.found"), true)
    }).pipe(Effect.scoped, Effect.provide(ObjectStore.layerMemory)))

  it.effect("a store request makes its span only under a tracer (spanned)", () =>
    Effect.gen(function*() {
      const spans: Array<{ name: string; attributes: ReadonlyMap<string, unknown> }> = []
      const store = ObjectStore.withRetries(ObjectStore.makeMemory())
      yield* store.put("a/x", new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual(yield* store.getRange("a/x", { start: 1, end: 3 }), new Uint8Array([2, 3]))
      assert.deepStrictEqual(spans.map((s) => s.name), [])
      yield* Effect.gen(function*() {
        yield* store.put("a/y", new Uint8Array([4]))
        assert.deepStrictEqual(yield* store.getRange("a/x", { start: 0, end: 1 }), new Uint8Array([1]))
      }).pipe(Effect.provideService(Tracer.Tracer, recordingTracer(spans)))
      assert.deepStrictEqual(spans.map((s) => s.name), ["RetryingObjectStore.put", "RetryingObjectStore.getRange"])
      // Each call checks when it runs: the same effect, run under a tracer and without.
      const spannedOnce = spanned("op", (n: number) => Effect.succeed(n + 1))(1)
      assert.strictEqual(yield* spannedOnce, 2)
      assert.strictEqual(yield* spannedOnce.pipe(Effect.provideService(Tracer.Tracer, recordingTracer(spans))), 2)
      assert.deepStrictEqual(spans.map((s) => s.name).slice(2), ["op"])
    }))
})
