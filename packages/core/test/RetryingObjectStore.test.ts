import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Random, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  isUlid,
  makeMemory,
  ObjectStore,
  parseUlid,
  PUT_ID_METADATA_KEY,
  RetryingObjectStore,
  StoreFailure,
  StoreUnavailable,
  withRetries,
  type ObjectStoreError,
  retrySchedule,
  type RetryOptions,
  type StoreOp
} from "../src/internal.ts"

/**
 * What one attempt of an operation does: `ok` runs it; `unavailable` and `failure` fail without running it;
 * `lost` runs it and then reports `StoreUnavailable` (a timeout after success); `brokenList` emits the first
 * two objects of a listing and then fails with `StoreUnavailable`.
 */
type Outcome = "ok" | "unavailable" | "failure" | "lost" | "brokenList"

/** A memory store whose operations follow a script, recording when each attempt started. */
const makeScripted = (scripts: Partial<Record<StoreOp, Array<Outcome>>>) => {
  const inner = makeMemory({ pageSize: 2 })
  const attempts: Array<{ readonly op: StoreOp; readonly path: string; readonly at: number }> = []
  const next = (op: StoreOp, path: string) =>
    Clock.currentTimeMillis.pipe(Effect.map((at) => {
      attempts.push({ op, path, at })
      return scripts[op]?.shift() ?? "ok"
    }))
  const step = <A>(op: StoreOp, path: string, run: Effect.Effect<A, ObjectStoreError>) =>
    Effect.flatMap(next(op, path), (outcome): Effect.Effect<A, ObjectStoreError> => {
      switch (outcome) {
        case "unavailable":
          return Effect.fail(new StoreUnavailable({ op, path, message: "scripted: unavailable" }))
        case "failure":
          return Effect.fail(new StoreFailure({ op, path, message: "scripted: failure" }))
        case "lost":
          return Effect.andThen(run, Effect.fail(new StoreUnavailable({ op, path, message: "scripted: lost response" })))
        default:
          return run
      }
    })
  const store = ObjectStore.of({
    put: (path, bytes, options) => step("put", path, inner.put(path, bytes, options)),
    get: (path) => step("get", path, inner.get(path)),
    getRange: (path, range) => step("getRange", path, inner.getRange(path, range)),
    head: (path) => step("head", path, inner.head(path)),
    delete: (path) => step("delete", path, inner.delete(path)),
    list: (prefix) =>
      Stream.unwrap(Effect.map(next("list", prefix), (outcome) =>
        outcome === "brokenList"
          ? inner.list(prefix).pipe(
            Stream.take(2),
            Stream.concat(Stream.fail(new StoreUnavailable({ op: "list", path: prefix, message: "scripted: reset" })))
          )
          : outcome === "unavailable"
          ? Stream.fail(new StoreUnavailable({ op: "list", path: prefix, message: "scripted: unavailable" }))
          : inner.list(prefix)))
  })
  return { inner, store, attempts, count: (op: StoreOp) => attempts.filter((a) => a.op === op).length }
}

/** Runs `effect` in a fiber and lets the TestClock run far enough for every retry. */
const runToEnd = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust("10 minutes")
    return yield* Fiber.await(fiber)
  })

const bytes = (s: string) => new TextEncoder().encode(s)

describe("RetryingObjectStore", () => {
  it.effect("retries StoreUnavailable with exponential backoff and jitter until it succeeds", () =>
    Effect.gen(function*() {
      const s = makeScripted({ get: ["unavailable", "unavailable", "unavailable", "unavailable", "unavailable", "ok"] })
      yield* s.inner.put("x", bytes("hello"))
      const exit = yield* runToEnd(withRetries(s.store).get("x"))
      assert.strictEqual(exit._tag, "Success")
      const times = s.attempts.map((a) => a.at)
      assert.strictEqual(times.length, 6)
      assert.strictEqual(times[0], 0)
      // Retry n waits min(1000, 100 * 2^n) plus a jitter in [0, 100).
      const expected = [100, 200, 400, 800, 1000]
      for (let n = 0; n < expected.length; n++) {
        const gap = times[n + 1]! - times[n]!
        assert.isAtLeast(gap, expected[n]!, `gap ${n}`)
        assert.isBelow(gap, expected[n]! + 100, `gap ${n}`)
      }
    }).pipe(Random.withSeed(1)))

  it.effect("is deterministic under a seed: the same seed retries at the same instants", () =>
    Effect.gen(function*() {
      const timesFor = (seed: number) =>
        Effect.gen(function*() {
          const s = makeScripted({ get: ["unavailable", "unavailable", "unavailable", "ok"] })
          yield* s.inner.put("x", bytes("x"))
          const start = yield* Clock.currentTimeMillis
          yield* runToEnd(withRetries(s.store).get("x"))
          return s.attempts.map((a) => a.at - start)
        }).pipe(Random.withSeed(seed))
      const a = yield* timesFor(5)
      const b = yield* timesFor(5)
      const c = yield* timesFor(6)
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a, c)
    }))

  it.effect("retries at the instants Effect.retry with the same schedule would (its driver is built only after a failure)", () =>
    Effect.gen(function*() {
      const timesWith = (decorate: (store: ObjectStore["Service"]) => ObjectStore["Service"]["get"]) =>
        Effect.gen(function*() {
          const s = makeScripted({ get: ["unavailable", "unavailable", "unavailable", "unavailable", "ok"] })
          yield* s.inner.put("x", bytes("x"))
          const start = yield* Clock.currentTimeMillis
          const exit = yield* runToEnd(decorate(s.store)("x"))
          assert.strictEqual(exit._tag, "Success")
          return s.attempts.map((a) => a.at - start)
        }).pipe(Random.withSeed(7))
      const lazy = yield* timesWith((store) => withRetries(store).get)
      const eager = yield* timesWith((store) => (path) => Effect.retry(store.get(path), retrySchedule()))
      assert.strictEqual(lazy.length, 5)
      assert.deepStrictEqual(lazy, eager)
    }))

  it.effect("caps the delay at maxDelay and honours custom delays", () =>
    Effect.gen(function*() {
      const s = makeScripted({ head: Array.from({ length: 7 }, () => "unavailable" as const) })
      yield* s.inner.put("x", bytes("x"))
      yield* runToEnd(withRetries(s.store, { baseDelay: "10 millis", maxDelay: "50 millis" }).head("x"))
      const gaps = s.attempts.slice(1).map((a, i) => a.at - s.attempts[i]!.at)
      assert.strictEqual(gaps.length, 7)
      const expected = [10, 20, 40, 50, 50, 50, 50]
      gaps.forEach((g, i) => {
        assert.isAtLeast(g, expected[i]!, `gap ${i}`)
        assert.isBelow(g, expected[i]! + 10, `gap ${i}`)
      })
    }).pipe(Random.withSeed(2)))

  it.effect("gives up after maxAttempts with the last StoreUnavailable", () =>
    Effect.gen(function*() {
      const s = makeScripted({ put: Array.from({ length: 10 }, () => "unavailable" as const) })
      const exit = yield* runToEnd(withRetries(s.store, { maxAttempts: 4 }).put("x", bytes("x")))
      assert.strictEqual(exit._tag, "Failure")
      assert.strictEqual(s.count("put"), 4)
      const e = yield* Effect.flip(withRetries(s.store, { maxAttempts: 1 }).put("x", bytes("x")))
      assert.strictEqual(e._tag, "StoreUnavailable")
      assert.strictEqual(s.count("put"), 5)
      assert.isTrue(yield* Effect.map(s.inner.head("x").pipe(Effect.flip), (e) => e._tag === "ObjectNotFound"))
    }))

  it.effect("never retries ObjectAlreadyExists, ObjectNotFound, StoreFailure or InvalidPath", () =>
    Effect.gen(function*() {
      const s = makeScripted({ delete: ["failure", "ok"] })
      const store = withRetries(s.store)
      yield* s.inner.put("taken", bytes("old"))

      const exists = yield* Effect.flip(store.put("taken", bytes("new"), { mode: "create" }))
      assert.strictEqual(exists._tag, "ObjectAlreadyExists")
      assert.strictEqual(s.count("put"), 1)
      assert.strictEqual(s.count("head"), 0, "the first attempt's AlreadyExists is final: no HEAD")

      assert.strictEqual((yield* Effect.flip(store.get("missing")))._tag, "ObjectNotFound")
      assert.strictEqual(s.count("get"), 1)

      assert.strictEqual((yield* Effect.flip(store.delete("taken")))._tag, "StoreFailure")
      assert.strictEqual(s.count("delete"), 1)

      assert.strictEqual((yield* Effect.flip(store.getRange("a//b", { start: 0, end: 1 })))._tag, "InvalidPath")
      assert.strictEqual(s.count("getRange"), 1)
      assert.strictEqual(yield* Clock.currentTimeMillis, 0, "no backoff sleeps happened")
    }))

  it.effect("a create-only put whose response was lost succeeds on retry (its put id matches)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1700000000000)
      const s = makeScripted({ put: ["lost"] })
      const exit = yield* runToEnd(withRetries(s.store).put("wal/00000000000000000002.sst", bytes("wal"), {
        mode: "create",
        metadata: { other: "kept" }
      }))
      assert.strictEqual(exit._tag, "Success")
      assert.strictEqual(s.count("put"), 2)
      assert.strictEqual(s.count("head"), 1)
      const meta = yield* s.inner.head("wal/00000000000000000002.sst")
      assert.strictEqual(meta.metadata["other"], "kept")
      const putId = meta.metadata[PUT_ID_METADATA_KEY]!
      assert.isTrue(isUlid(putId), putId)
      assert.strictEqual(parseUlid(putId)?.timeMs, 1700000000000)
    }).pipe(Random.withSeed(3)))

  it.effect("a retried create-only put that finds another writer's object fails with ObjectAlreadyExists", () =>
    Effect.gen(function*() {
      const s = makeScripted({ put: ["unavailable"] })
      const fiber = yield* Effect.forkChild(withRetries(s.store).put("m/2.manifest", bytes("mine"), { mode: "create" }))
      yield* Effect.yieldNow
      // Another writer creates the object during our backoff.
      yield* s.inner.put("m/2.manifest", bytes("theirs"), { mode: "create", metadata: { [PUT_ID_METADATA_KEY]: "THEIRS" } })
      yield* TestClock.adjust("10 minutes")
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(exit._tag, "Failure")
      const e = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(e._tag, "ObjectAlreadyExists")
      assert.strictEqual(s.count("put"), 2)
      assert.strictEqual(s.count("head"), 1)
      assert.strictEqual(new TextDecoder().decode(yield* s.inner.get("m/2.manifest")), "theirs")
    }))

  it.effect("a create-only put gets a fresh put id each time, and overwrites carry none", () =>
    Effect.gen(function*() {
      const s = makeScripted({})
      const store = withRetries(s.store)
      yield* store.put("a", bytes("a"), { mode: "create" })
      yield* store.put("b", bytes("b"), { mode: "create" })
      yield* store.put("c", bytes("c"))
      const a = (yield* s.inner.head("a")).metadata[PUT_ID_METADATA_KEY]
      const b = (yield* s.inner.head("b")).metadata[PUT_ID_METADATA_KEY]
      assert.isTrue(a !== undefined && b !== undefined && a !== b)
      assert.deepStrictEqual((yield* s.inner.head("c")).metadata, {})
    }))

  it.effect("a listing resumes after a failure without repeating or skipping objects", () =>
    Effect.gen(function*() {
      const s = makeScripted({ list: ["brokenList", "unavailable", "brokenList"] })
      const paths = ["d/1", "d/2", "d/3", "d/4", "d/5"]
      for (const p of paths) yield* s.inner.put(p, bytes(p))
      const exit = yield* runToEnd(Stream.runCollect(withRetries(s.store).list("d")))
      assert.strictEqual(exit._tag, "Success")
      if (exit._tag === "Success") assert.deepStrictEqual(exit.value.map((o) => o.path), paths)
      assert.strictEqual(s.count("list"), 4)
    }))

  it.effect("the layer decorates the ObjectStore in context", () =>
    Effect.gen(function*() {
      const s = makeScripted({ get: ["unavailable", "ok"] })
      yield* s.inner.put("x", bytes("x"))
      const options: RetryOptions = { baseDelay: "1 millis" }
      const layer = RetryingObjectStore.layer(options).pipe(Layer.provide(Layer.succeed(ObjectStore, s.store)))
      const exit = yield* runToEnd(ObjectStore.use((store) => store.get("x")).pipe(Effect.provide(layer)))
      assert.strictEqual(exit._tag, "Success")
      assert.strictEqual(s.count("get"), 2)
    }))
})
