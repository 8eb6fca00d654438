/**
 * Backpressure (db/Backpressure.ts): waiting writers queue in FIFO order at O(1) cost each, a wake admits
 * writers while the total stays below the limit (each admitted writer reserving its bytes), one wake-up
 * per admitted writer, no overtaking, and closing fails every waiter. Then the same through the Db: many
 * fire-and-forget writers against a store that is slow to accept PUTs all complete, with memory bounded.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Backpressure } from "../../src/db/Backpressure.ts"
import { ClosedError } from "../../src/errors.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, ND, openOn } from "./fixtures.ts"

/** A gate over a settable total; counts how often the total was asked for. */
const gate = (initialLimit: number) => {
  const state = { unflushed: 0, asked: 0, limit: initialLimit }
  const bp = new Backpressure(() => state.limit, () => {
    state.asked++
    return state.unflushed
  })
  return { bp, state }
}

describe("Backpressure", () => {
  it.effect("below the limit the gate is open; at the limit writers queue and are admitted in order", () =>
    Effect.gen(function*() {
      const { bp, state } = gate(100)
      assert.isTrue(bp.isOpen)
      state.unflushed = 100
      assert.isFalse(bp.isOpen)
      const order: Array<number> = []
      const writers = yield* Effect.forEach([0, 1, 2, 3], (i) =>
        Effect.forkChild(Effect.andThen(bp.admit(30), Effect.sync(() => order.push(i)))))
      yield* Effect.yieldNow
      assert.strictEqual(bp.waiting, 4)
      state.unflushed = 50 // room for two writers of 30 (50 + 30 < 100, 50 + 60 < 100, 50 + 90 ≥ 100)
      bp.wake()
      yield* Effect.yieldNow
      assert.deepStrictEqual(order, [0, 1])
      assert.strictEqual(bp.waiting, 2)
      // The admitted writers' rows are now counted by the total: their reservations end.
      state.unflushed = 110
      bp.release(30)
      bp.release(30)
      assert.deepStrictEqual(order, [0, 1])
      state.unflushed = 0
      bp.wake()
      yield* Effect.forEach(writers, Fiber.join)
      assert.deepStrictEqual(order, [0, 1, 2, 3])
      assert.isFalse(bp.hasWaiters)
    }))

  it.effect("the limit is read at each check: lowered, writers queue below the old one; raised, a wake admits them", () =>
    Effect.gen(function*() {
      const { bp, state } = gate(100)
      state.unflushed = 40
      assert.isTrue(bp.isOpen)
      state.limit = 30 // as while memtable uploads wait on a full L0
      assert.isFalse(bp.isOpen)
      const admitted: Array<number> = []
      const writers = yield* Effect.forEach([0, 1], (i) => Effect.forkChild(Effect.andThen(bp.admit(10), Effect.sync(() => admitted.push(i)))))
      yield* Effect.yieldNow
      assert.deepStrictEqual(admitted, [])
      state.limit = 100
      bp.wake()
      yield* Effect.forEach(writers, Fiber.join)
      assert.deepStrictEqual(admitted, [0, 1])
    }))

  it.effect("a new writer never overtakes queued ones, even when the total would let it in", () =>
    Effect.gen(function*() {
      const { bp, state } = gate(100)
      state.unflushed = 100
      const first = yield* Effect.forkChild(bp.admit(10))
      yield* Effect.yieldNow
      state.unflushed = 0
      assert.isFalse(bp.isOpen, "writers are queued: a new one must queue too")
      const second = yield* Effect.forkChild(bp.admit(10))
      yield* Effect.yieldNow
      // `admit` itself wakes: both go, the first first.
      yield* Fiber.join(first)
      yield* Fiber.join(second)
    }))

  it.effect("100,000 waiters: admitting them all asks for the total O(n) times, one wake-up each", () =>
    Effect.gen(function*() {
      const { bp, state } = gate(1_000_000)
      state.unflushed = 1_000_000
      const n = 100_000
      let resumed = 0
      const fibers = yield* Effect.forEach(Array.from({ length: n }, () => 0), () =>
        Effect.forkChild(Effect.andThen(bp.admit(1), Effect.sync(() => resumed++))))
      yield* Effect.yieldNow
      state.asked = 0
      // Progress in 100 steps; each step admits 1,000 writers.
      for (let step = 0; step < 100; step++) {
        state.unflushed = 1_000_000 - 1000 * (step + 1)
        bp.wake()
        yield* Effect.yieldNow
        bp.release(1000) // their rows are in: the total above already counts them
      }
      yield* Effect.forEach(fibers, Fiber.join)
      assert.strictEqual(resumed, n)
      assert.isAtMost(state.asked, 2 * n + 200)
    }))

  it.effect("interrupted waiters leave the queue; failAll fails the rest and every later admit", () =>
    Effect.gen(function*() {
      const { bp, state } = gate(10)
      state.unflushed = 10
      const a = yield* Effect.forkChild(bp.admit(1))
      const c = yield* Effect.forkChild(Effect.exit(bp.admit(1)))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(a)
      const error = new ClosedError({ reason: "clean", message: "db is closed" })
      bp.failAll(error)
      const exit = yield* Fiber.join(c)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* Effect.flip(exit), error)
      assert.strictEqual(yield* Effect.flip(bp.admit(1)), error)
    }))
})

describe("Db backpressure", () => {
  it.effect("fire-and-forget writers over a slow store all complete; frozen memtables stay bounded by the limit", () =>
    Effect.gen(function*() {
      const base = makeMemory()
      const latency = { on: false }
      const slow = ObjectStore.of({
        ...base,
        put: (p, bytes, o) => latency.on ? Effect.andThen(Effect.sleep(200), base.put(p, bytes, o)) : base.put(p, bytes, o)
      })
      const { db } = yield* openOn(slow, {
        settings: { flushIntervalMs: 100, durableFlush: "interval", l0SstSizeBytes: 64 * 1024, maxUnflushedBytes: 256 * 1024 }
      })
      latency.on = true // every PUT from now on takes 200 ms
      const n = 3000
      const seqs: Array<number> = []
      const writers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
        Effect.forkChild(Effect.map(db.put(b(`k${String(i).padStart(6, "0")}`), b("v".repeat(40)), ND), (h) => void (seqs[i] = h.seq))))
      let peakImms = 0
      for (let t = 0; t < 600 && seqs.filter((x) => x !== undefined).length < n; t++) {
        yield* TestClock.adjust("50 millis")
        peakImms = Math.max(peakImms, (yield* db.status).immutableMemtables)
      }
      yield* Effect.forEach(writers, Fiber.join)
      // The close at the end of the test waits for the flushes in flight, and writes too.
      latency.on = false
      yield* TestClock.adjust("10 seconds")
      // Every write committed exactly once (the queue's order is the unit tests' business: a writer may
      // also yield to the event loop before it reaches the queue).
      assert.deepStrictEqual([...seqs].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i + 1))
      // 3,000 rows of ~350 bytes in memory each: about 16 memtables of 64 KiB; the 256 KiB limit keeps at
      // most a handful frozen at once.
      assert.isAtMost(peakImms, 5)
    }), 60_000)
})
