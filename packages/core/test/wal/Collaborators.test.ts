/**
 * The WAL buffer's collaborators: the sequence oracle, the monotonic clock and the WAL id allocator.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import { InvalidError } from "../../src/internal.ts"
import { makeMonotonicClock, MIN_TICK, MonotonicClock } from "../../src/MonotonicClock.ts"
import { makeOracle, Oracle } from "../../src/Oracle.ts"
import { WalIdAllocator } from "../../src/wal/WalIdAllocator.ts"

describe("Oracle", () => {
  it.effect("starts every watermark at lastSeq unless told otherwise", () =>
    Effect.gen(function*() {
      const oracle = yield* Oracle
      assert.strictEqual(yield* oracle.lastSeq, 7)
      assert.strictEqual(yield* oracle.lastCommittedSeq, 7)
      assert.strictEqual(yield* oracle.lastDurableSeq, 3)
    }).pipe(Effect.provide(Oracle.layer({ lastSeq: 7, lastDurableSeq: 3 }))))

  it.effect("nextSeq hands out lastSeq + 1; watermarks only move forward", () =>
    Effect.gen(function*() {
      const oracle = makeOracle()
      assert.strictEqual(yield* oracle.nextSeq, 1)
      assert.strictEqual(yield* oracle.nextSeq, 2)
      yield* oracle.advanceDurableSeq(2)
      yield* oracle.advanceDurableSeq(1)
      assert.strictEqual(yield* oracle.lastDurableSeq, 2)
      yield* oracle.advanceCommittedSeq(2)
      yield* oracle.advanceCommittedSeq(0)
      assert.strictEqual(yield* oracle.lastCommittedSeq, 2)
      yield* oracle.advanceLastSeq(10)
      yield* oracle.advanceLastSeq(5)
      assert.strictEqual(yield* oracle.nextSeq, 11)
    }))
})

describe("MonotonicClock", () => {
  it.effect("ticks are the Effect clock's milliseconds", () =>
    Effect.gen(function*() {
      const clock = yield* MonotonicClock
      yield* TestClock.setTime(1_700_000_000_000)
      assert.strictEqual(yield* clock.now, 1_700_000_000_000)
      yield* TestClock.adjust("5 millis")
      assert.strictEqual(yield* clock.now, 1_700_000_000_005)
      assert.strictEqual(yield* clock.lastTick, 1_700_000_000_005)
      assert.strictEqual(yield* clock.lastDurableTick, MIN_TICK)
    }).pipe(Effect.provide(MonotonicClock.layer())))

  it.effect("a clock behind the last tick waits 2 × lag, then succeeds if it caught up", () =>
    Effect.gen(function*() {
      const clock = makeMonotonicClock(1_000) // e.g. restored from the manifest
      yield* TestClock.setTime(900)
      const fiber = yield* Effect.forkChild(clock.now)
      yield* TestClock.adjust("199 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis") // slept min(10 s, 2 × 100 ms): now 1100
      assert.strictEqual(yield* Fiber.join(fiber), 1_100)
    }))

  it.effect("a clock still behind after the wait fails with InvalidError", () =>
    Effect.gen(function*() {
      const clock = makeMonotonicClock(1_000_000)
      // the wait is capped at 10 s, so a clock 1000 s behind cannot catch up
      const fiber = yield* Effect.forkChild(Effect.exit(clock.now))
      yield* TestClock.adjust("10 seconds")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.instanceOf(Option.getOrUndefined(Exit.findErrorOption(exit)), InvalidError)
    }))

  it.effect("setLastTick refuses to go back; the durable tick only moves forward", () =>
    Effect.gen(function*() {
      const clock = makeMonotonicClock(0)
      assert.strictEqual(yield* clock.setLastTick(50), 50)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(clock.setLastTick(40))))
      assert.strictEqual(yield* clock.lastTick, 50)
      yield* clock.advanceLastDurableTick(30)
      yield* clock.advanceLastDurableTick(20)
      assert.strictEqual(yield* clock.lastDurableTick, 30)
    }))
})

describe("WalIdAllocator", () => {
  it.effect("a counter hands out increasing ids from the first one", () =>
    Effect.gen(function*() {
      const ids = yield* WalIdAllocator
      assert.deepStrictEqual([yield* ids.nextWalId, yield* ids.nextWalId, yield* ids.nextWalId], [5, 6, 7])
    }).pipe(Effect.provide(WalIdAllocator.layerCounter(5))))
})
