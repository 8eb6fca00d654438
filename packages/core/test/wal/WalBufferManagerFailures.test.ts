/**
 * The WAL buffer manager when things go wrong, and at its end: fatal store failures, retries of an
 * unavailable store, fencing by a newer writer (and a retried put finding its own write), close and the
 * layer's release. Deterministic: TestClock, in-memory store, a stand-in SST codec.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Metric, Option, Schedule, Scope } from "effect"
import { TestClock } from "effect/testing"
import { type ClosedError, ObjectStore, StoreFailure } from "../../src/internal.ts"
import { WalBufferManager } from "../../src/wal/WalBufferManager.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import {
  bytes,
  counter,
  makeProbe,
  managerLayer,
  probingStore,
  readWal,
  ROOT,
  row,
  testEncode,
  text,
  unavailable,
  walFiles,
  withManager
} from "./fixtures.ts"

const failure = <A>(exit: Exit.Exit<A, ClosedError>): ClosedError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.findErrorOption(exit)
  assert.isTrue(Option.isSome(error), "expected a typed error")
  return Option.getOrThrow(error)
}

/** What the writers of an unwritten WAL get: `error`, saying their write was not made durable. */
const assertNotDurable = (got: ClosedError, error: ClosedError, durable: "no" | "unknown" = "no") => {
  assert.strictEqual(got.reason, error.reason)
  assert.strictEqual(got.cause, error)
  assert.strictEqual(got.durable, durable)
  assert.isTrue(got.message.startsWith(`${error.message}; `), got.message)
}

/**
 * WAL 1 (row a) in flight on a store that answers after 20 ms, WAL 2 (row b) queued behind it: both
 * flushes and the watchers of `watch` (indexes into [w1, w2]) forked.
 */
const twoWalsPending = (watch: ReadonlyArray<0 | 1>) =>
  Effect.gen(function*() {
    const wal = yield* WalBufferManager
    const w1 = yield* wal.append([row("a", "1", 1)])
    const flush1 = yield* Effect.forkChild(Effect.exit(wal.flush()))
    yield* TestClock.adjust("5 millis") // WAL 1 in flight
    const w2 = yield* wal.append([row("b", "2", 2)])
    const flush2 = yield* Effect.forkChild(Effect.exit(wal.flush())) // queued behind it
    const waiters = yield* Effect.forEach(watch, (i) => Effect.forkChild(Effect.exit([w1, w2][i]!.await)))
    return { wal, w2, flush1, flush2, waiters }
  })

describe("WalBufferManager: failures, fencing and close", () => {
  it.effect("a store failure is fatal: every waiter and every later call gets it", () => {
    const probe = makeProbe(20)
    probe.failures.push((path) => new StoreFailure({ op: "put", path, message: "access denied" }))
    return Effect.gen(function*() {
      const { wal, w2, flush1, flush2, waiters } = yield* twoWalsPending([0, 1, 0])
      yield* TestClock.adjust("20 millis")

      const error = failure(yield* Fiber.join(flush1))
      assert.strictEqual(error.reason, "fatal")
      assert.instanceOf(error.cause, StoreFailure)
      assert.strictEqual(failure(yield* Fiber.join(flush2)), error)
      for (const waiter of waiters) assertNotDurable(failure(yield* Fiber.join(waiter)), error)

      assert.strictEqual(failure(yield* Effect.exit(wal.append([row("c", "3", 3)]))), error)
      assert.strictEqual(failure(yield* Effect.exit(wal.flush())), error)
      assert.strictEqual(failure(yield* Effect.exit(wal.maybeTriggerFlush())), error)
      assertNotDurable(failure(yield* Effect.exit(wal.awaitDurable(w2))), error)
      assert.strictEqual(Option.getOrThrow(yield* wal.closed), error)
      assert.deepStrictEqual(yield* walFiles, [])
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })

  it.effect("a fatal failure during an interval flush reaches the watchers", () => {
    const probe = makeProbe()
    probe.failures.push((path) => new StoreFailure({ op: "put", path, message: "disk full" }))
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      yield* TestClock.adjust("1 millis")
      const watcher = yield* wal.append([row("a", "1", 1)])
      const waiting = yield* Effect.forkChild(Effect.exit(watcher.await))
      yield* TestClock.adjust("100 millis")
      const error = failure(yield* Fiber.join(waiting))
      assert.strictEqual(error.reason, "fatal")
      assert.isTrue(Option.isSome(yield* wal.closed))
    }).pipe(withManager({ maxFlushInterval: "100 millis", store: probingStore(probe) }))
  })

  it.effect("StoreUnavailable is retried on the clock; watchers learn nothing until it succeeds", () => {
    const probe = makeProbe()
    probe.failures.push(unavailable, unavailable)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("a", "1", 1)])
      const flush = yield* Effect.forkChild(wal.flush())
      yield* TestClock.adjust("150 millis") // first retry after 100 ms (fails), second after 200 more
      assert.isFalse(watcher.isDone)
      assert.strictEqual(probe.puts.length, 2)
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(flush)
      yield* watcher.await
      assert.strictEqual(probe.puts.filter((p) => p.ok).length, 1)
      assert.deepStrictEqual(yield* walFiles, [walSstPath(ROOT, 1)])
      assert.strictEqual(yield* counter("flushes"), 1) // one WAL, however many attempts
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })

  it.effect("StoreUnavailable past the retry schedule is fatal, with the store error as cause", () => {
    const probe = makeProbe()
    probe.failures.push(unavailable, unavailable, unavailable)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("a", "1", 1)])
      const flush = yield* Effect.forkChild(Effect.exit(wal.flush()))
      yield* TestClock.adjust("1 second")
      const error = failure(yield* Fiber.join(flush))
      assert.strictEqual(error.reason, "fatal")
      assert.strictEqual((error.cause as { _tag: string })._tag, "StoreUnavailable")
      // Attempts that timed out may have reached the store: the writers cannot know.
      assertNotDurable(failure(yield* Effect.exit(watcher.await)), error, "unknown")
      assert.strictEqual(probe.puts.length, 3)
    }).pipe(withManager({
      maxFlushInterval: "Infinity",
      store: probingStore(probe),
      retrySchedule: Schedule.spaced("10 millis").pipe(Schedule.upTo({ times: 2 }))
    }))
  })

  it.effect("ObjectAlreadyExists at a WAL id means a newer writer fenced us", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      yield* store.put(walSstPath(ROOT, 1), bytes("fence"), { mode: "create" }) // the new writer's fence
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("a", "1", 1)])
      const error = failure(yield* Effect.exit(wal.flush()))
      assert.strictEqual(error.reason, "fenced")
      assert.strictEqual(error.message, "detected newer DB client")
      assert.strictEqual((error.cause as { _tag: string })._tag, "ObjectAlreadyExists")
      assertNotDurable(failure(yield* Effect.exit(watcher.await)), error)
      assert.strictEqual(failure(yield* Effect.exit(wal.append([row("b", "2", 2)]))), error)
      assert.strictEqual(text(yield* store.get(walSstPath(ROOT, 1))), "fence") // untouched
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("a retried put that finds its own earlier write is a success, not a fence", () => {
    const probe = makeProbe()
    probe.failuresAfterWrite.push(unavailable) // the first put lands but its response is lost
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("a", "1", 1)])
      const flush = yield* Effect.forkChild(wal.flush())
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(flush)
      yield* watcher.await
      assert.strictEqual(yield* wal.recentFlushedWalId, 1)
      assert.deepStrictEqual((yield* readWal(1)).map((r) => r.seq), [1])
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })

  it.effect("a retried put that finds someone else's bytes is fenced", () => {
    const probe = makeProbe()
    probe.failures.push(unavailable)
    return Effect.gen(function*() {
      const store = yield* ObjectStore
      const wal = yield* WalBufferManager
      yield* wal.append([row("a", "1", 1)])
      const flush = yield* Effect.forkChild(Effect.exit(wal.flush()))
      yield* TestClock.adjust("50 millis") // first attempt failed; the retry waits 100 ms
      assert.strictEqual(probe.puts.length, 1)
      yield* store.put(walSstPath(ROOT, 1), testEncode([row("z", "9", 9)]), { mode: "create" }) // a newer writer
      yield* TestClock.adjust("1 second")
      assert.strictEqual(failure(yield* Fiber.join(flush)).reason, "fenced")
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })

  it.effect("close while flushes are pending: every request and watcher gets Closed(clean)", () => {
    const probe = makeProbe(20)
    return Effect.gen(function*() {
      const { wal, flush1, flush2, waiters } = yield* twoWalsPending([0, 1])
      yield* Effect.yieldNow
      yield* wal.close()

      const error = failure(yield* Fiber.join(flush1))
      assert.strictEqual(error.reason, "clean")
      assert.strictEqual(failure(yield* Fiber.join(flush2)), error)
      for (const waiter of waiters) assertNotDurable(failure(yield* Fiber.join(waiter)), error)
      assert.strictEqual(failure(yield* Effect.exit(wal.append([row("c", "3", 3)]))), error)
      assert.strictEqual(failure(yield* Effect.exit(wal.flush())), error)
      yield* wal.close() // idempotent
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* walFiles, []) // the interrupted put never completed
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })

  it.effect("releasing the layer closes the manager: unflushed watchers get Closed(clean)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(managerLayer({ maxFlushInterval: "Infinity" }), scope)
      const wal = Context.get(context, WalBufferManager)
      const watcher = yield* wal.append([row("a", "1", 1)])
      const waiting = yield* Effect.forkChild(Effect.exit(watcher.await))
      yield* Scope.close(scope, Exit.void)
      const error = failure(yield* Fiber.join(waiting))
      assert.strictEqual(error.reason, "clean")
      assert.strictEqual(error.message, "db is closed; the write was not made durable")
      assert.strictEqual(error.durable, "no")
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("durable writes written before a close stay durable", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const w1 = yield* wal.append([row("a", "1", 1)])
      yield* wal.flush()
      yield* wal.close()
      yield* w1.await // completed before the close: unaffected
      assert.strictEqual(yield* wal.recentFlushedWalId, 1)
    }).pipe(withManager()))

  it.effect("in interval mode awaitDurable only waits", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("a", "1", 1)])
      const waiting = yield* Effect.forkChild(wal.awaitDurable(watcher))
      yield* TestClock.adjust("1 hour")
      assert.isFalse(watcher.isDone)
      assert.strictEqual(yield* counter("flushRequests"), 0)
      yield* wal.flush()
      yield* Fiber.join(waiting)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))
})
