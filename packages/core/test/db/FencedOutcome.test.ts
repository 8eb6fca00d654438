/**
 * A writer fenced while one of its WAL writes is in flight: that write's outcome is whatever the WAL PUT's
 * outcome is. If the PUT reached the store (a newer writer then replays it), the write is durable and
 * reported so; writes whose WAL was never written fail with `ClosedError(fenced)` saying they were not
 * made durable (`durable: "no"`). Never "fenced" for a write that is durable.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ClosedError } from "../../src/errors.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, ND, openOn, s } from "./fixtures.ts"

/** `base`, except that while `slow.on`, WAL PUTs reach the store at once and answer `ms` later. */
const slowWalAnswers = (base: ObjectStore["Service"], ms: number) => {
  const slow = { on: false }
  const store = ObjectStore.of({
    ...base,
    put: (path, bytes, options) =>
      slow.on && path.includes("/wal/")
        ? Effect.tap(base.put(path, bytes, options), () => Effect.sleep(ms))
        : base.put(path, bytes, options)
  })
  return { store, slow }
}

describe("Db: fenced while a WAL write is in flight", () => {
  it.effect("a write whose WAL reached the store is durable, not fenced; the newer writer sees it", () =>
    Effect.gen(function*() {
      const base = makeMemory()
      const { slow, store } = slowWalAnswers(base, 200)
      const older = yield* openOn(store, { settings: { manifestPollIntervalMs: 50 } })
      yield* older.db.put(b("before"), b("0"))
      slow.on = true
      const put = yield* Effect.forkChild(Effect.exit(older.db.put(b("k"), b("v")))) // eager: the WAL PUT starts
      yield* TestClock.adjust("10 millis")
      const newer = yield* openOn(base) // lists the WAL that just landed, fences after it, replays it
      assert.strictEqual(s(yield* newer.db.get(b("k"))), "v")
      yield* TestClock.adjust("60 millis") // the older writer's manifest poll: a newer writer exists
      assert.strictEqual((yield* older.db.status).closeReason, "fenced")
      yield* TestClock.adjust("200 millis") // its WAL PUT answers
      const outcome = yield* Fiber.join(put)
      assert.isTrue(Exit.isSuccess(outcome), "the write is durable: it must not be reported as fenced")
      const later = yield* Effect.flip(older.db.put(b("x"), b("y"), ND))
      assert.instanceOf(later, ClosedError)
      assert.strictEqual((later as ClosedError).reason, "fenced")
    }))

  it.effect("writes whose WAL was never written fail fenced and say they were not made durable", () =>
    Effect.gen(function*() {
      const base = makeMemory()
      const { slow, store } = slowWalAnswers(base, 200)
      const older = yield* openOn(store, { settings: { manifestPollIntervalMs: 50 } })
      slow.on = true
      const first = yield* Effect.forkChild(Effect.exit(older.db.put(b("k1"), b("v1")))) // WAL in flight
      yield* TestClock.adjust("5 millis")
      const second = yield* Effect.forkChild(Effect.exit(older.db.put(b("k2"), b("v2")))) // next WAL, waiting
      yield* TestClock.adjust("5 millis")
      const newer = yield* openOn(base)
      yield* TestClock.adjust("300 millis")
      assert.isTrue(Exit.isSuccess(yield* Fiber.join(first)))
      const failed = yield* Fiber.join(second)
      assert.isTrue(Exit.isFailure(failed))
      const error = yield* Effect.flip(failed)
      assert.instanceOf(error, ClosedError)
      assert.strictEqual((error as ClosedError).reason, "fenced")
      assert.strictEqual((error as ClosedError).durable, "no")
      assert.include(error.message, "not made durable")
      assert.strictEqual(s(yield* newer.db.get(b("k1"))), "v1")
      assert.strictEqual(yield* newer.db.get(b("k2")), undefined)
    }))
})
