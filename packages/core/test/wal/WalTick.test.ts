/**
 * The interval tick (`WalCore.offerTickNow`): it queues a flush only when there is something for a flush to
 * do, so an idle database's ticker wakes nobody else (the flush fiber would freeze nothing and write
 * nothing).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Queue, Ref } from "effect"
import { WalBuffer } from "../../src/wal/WalBuffer.ts"
import { type FlushRequest, initialState, WalCore } from "../../src/wal/WalBufferState.ts"
import { WalMetrics } from "../../src/wal/WalMetrics.ts"
import { row } from "./fixtures.ts"

const makeCore = Effect.gen(function*() {
  const requests = yield* Queue.unbounded<FlushRequest>()
  const core = new WalCore({
    state: yield* Ref.make(initialState(0)),
    requests,
    terminated: yield* Deferred.make<void>(),
    metrics: yield* WalMetrics,
    metricContext: yield* Effect.context<never>(),
    blockSize: 4096
  })
  return { core, requests }
})

describe("the interval tick", () => {
  it.effect("queues nothing while the WAL is empty and nothing is frozen", () =>
    Effect.gen(function*() {
      const { core, requests } = yield* makeCore
      core.offerTickNow()
      core.offerTickNow()
      assert.strictEqual(core.queued, 0)
      assert.isFalse(core.tickPending)
      assert.strictEqual(yield* Queue.size(requests), 0)
    }))

  it.effect("queues one tick once a row is buffered, and no second while it waits", () =>
    Effect.gen(function*() {
      const { core, requests } = yield* makeCore
      Ref.getUnsafe(core.state).current.append(row("a", "1", 1))
      core.offerTickNow()
      core.offerTickNow()
      assert.strictEqual(core.queued, 1)
      assert.isTrue(core.tickPending)
      assert.deepStrictEqual(yield* Queue.takeAll(requests), [{ _tag: "Tick" }])
    }))

  it.effect("queues a tick for a frozen WAL still to write or release, with the current one empty", () =>
    Effect.gen(function*() {
      const { core } = yield* makeCore
      const frozen = new WalBuffer()
      frozen.append(row("a", "1", 1))
      yield* Ref.update(core.state, (s) => ({ ...s, immutables: [{ id: 1, wal: frozen, estimatedSize: 100 }] }))
      core.offerTickNow()
      assert.strictEqual(core.queued, 1)
    }))
})
