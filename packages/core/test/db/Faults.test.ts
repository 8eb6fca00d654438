/**
 * The Db over a fault-injecting store (packages/testing): transient failures and lost put responses are
 * survived by the engine's retrying store (create-only puts stay idempotent through `slatedbputid`); a
 * permanent failure closes the database as `fatal`, and every later call fails with that error.
 *
 * Faults come from the store's seeded PRNG; these tests run on the real clock with millisecond retry
 * delays.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { ClosedError } from "../../src/errors.ts"
import { FaultInjectingObjectStore } from "@shale/testing"
import { b, collect, ND, openOn, s } from "./fixtures.ts"

const FAST_RETRY = { baseDelay: "1 millis", maxDelay: "4 millis" } as const

describe("Db over a faulty store", () => {
  it.live("transient failures and lost responses are retried: every write survives, reopen sees it all", () =>
    Effect.gen(function*() {
      const { injector, store } = yield* FaultInjectingObjectStore.makeFaultInjecting({
        seed: "db-transient",
        unavailableRate: 0.25,
        putLostResponseRate: 0.2
      })
      const model = new Map<string, string>()
      const first = yield* openOn(store, { storeRetry: FAST_RETRY, settings: { l0SstSizeBytes: 2048 } })
      for (let i = 0; i < 120; i++) {
        const key = `k${i % 37}`
        if (i % 11 === 5) {
          yield* first.db.delete(b(key), i % 2 === 0 ? ND : undefined)
          model.delete(key)
        } else if (i % 13 === 7) {
          yield* first.db.write(new WriteBatch().put(b(key), b(`b${i}`)).put(b(`x${i}`), b("y")))
          model.set(key, `b${i}`)
          model.set(`x${i}`, "y")
        } else {
          yield* first.db.put(b(key), b(`v${i}`), i % 3 === 0 ? undefined : ND)
          model.set(key, `v${i}`)
        }
        if (i % 40 === 39) yield* first.db.flush({ type: "memtable" })
      }
      const expected = [...model.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
      assert.deepStrictEqual(yield* collect(first.db.scan({})), expected)
      yield* Scope.close(first.scope, Exit.void)
      const stats = yield* injector.stats
      assert.isAbove(stats.faults.unavailable, 5)
      assert.isAbove(stats.faults.lostResponse, 2)

      const second = yield* openOn(store, { storeRetry: FAST_RETRY })
      assert.deepStrictEqual(yield* collect(second.db.scan({})), expected)
      for (const [k, v] of expected.slice(0, 10)) assert.strictEqual(s(yield* second.db.get(b(k))), v)
    }))

  it.live("a permanent failure of a WAL write closes the database as fatal", () =>
    Effect.gen(function*() {
      const { injector, store } = yield* FaultInjectingObjectStore.makeFaultInjecting({ seed: "db-fatal" })
      const { db } = yield* openOn(store, { storeRetry: FAST_RETRY })
      yield* db.put(b("a"), b("1"))
      const ops = (yield* injector.stats).ops
      yield* injector.setFaults({ failAfterOps: ops })
      const error = yield* Effect.flip(db.put(b("b"), b("2")))
      assert.instanceOf(error, ClosedError)
      assert.strictEqual((error as ClosedError).reason, "fatal")
      const later = yield* Effect.flip(db.get(b("a")))
      assert.instanceOf(later, ClosedError)
      assert.strictEqual((later as ClosedError).reason, "fatal")
      assert.strictEqual((yield* db.status).closeReason, "fatal")
      // What was durable before is still there for the next writer.
      yield* injector.setFaults({})
      const next = yield* openOn(injector.inner, { storeRetry: FAST_RETRY })
      assert.strictEqual(s(yield* next.db.get(b("a"))), "1")
      assert.strictEqual(yield* next.db.get(b("b")), undefined)
    }))

  it.live("a permanent failure of an L0 upload closes the database as fatal; the rows replay from the WAL", () =>
    Effect.gen(function*() {
      const { injector, store } = yield* FaultInjectingObjectStore.makeFaultInjecting({ seed: "db-fatal-l0" })
      const { db } = yield* openOn(store, { storeRetry: FAST_RETRY })
      yield* db.put(b("a"), b("1"))
      yield* db.put(b("b"), b("2"))
      yield* injector.setFaults({ failAfterOps: (yield* injector.stats).ops })
      const error = yield* Effect.flip(db.flush({ type: "memtable" }))
      assert.instanceOf(error, ClosedError)
      assert.strictEqual((error as ClosedError).reason, "fatal")
      yield* injector.setFaults({})
      const next = yield* openOn(injector.inner, { storeRetry: FAST_RETRY })
      assert.deepStrictEqual(yield* collect(next.db.scan({})), [["a", "1"], ["b", "2"]])
    }))
})
