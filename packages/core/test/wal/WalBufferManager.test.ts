/**
 * The WAL buffer manager against SlateDB's manager tests (wal_buffer.rs tests 10-14) and the rest of its
 * behaviour: durability watermarks, interval flush, release, fatal errors, fencing, retries and close.
 * Deterministic: TestClock, in-memory store, a stand-in SST codec.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Metric, Option, Schedule, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { type ClosedError, estimatedSize, ObjectStore, StoreFailure } from "../../src/internal.ts"
import { MonotonicClock } from "../../src/MonotonicClock.ts"
import { Oracle } from "../../src/Oracle.ts"
import { WalBufferManager } from "../../src/wal/WalBufferManager.ts"
import { WalMetrics } from "../../src/wal/WalMetrics.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { estimateWalSstSize } from "../../src/format/SsTableBuilder.ts"
import {
  bytes,
  forcibleOracle,
  makeProbe,
  managerLayer,
  probingStore,
  ROOT,
  row,
  testDecode,
  testEncode,
  text,
  unavailable,
  withManager
} from "./fixtures.ts"

const walFiles = Effect.gen(function*() {
  const store = yield* ObjectStore
  const listed = yield* Stream.runCollect(store.list(`${ROOT}/wal`))
  return listed.map((o) => o.path)
})

const readWal = (id: number) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    return testDecode(yield* store.get(walSstPath(ROOT, id)))
  })

const counter = (pick: "flushRequests" | "flushes") =>
  Effect.gen(function*() {
    const metrics = yield* WalMetrics
    return (yield* Metric.value(metrics[pick])).count
  })

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


describe("WalBufferManager", () => {
  it.effect("starts empty", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      assert.strictEqual(yield* wal.recentFlushedWalId, 0)
      assert.strictEqual(yield* wal.estimatedBytes, 0)
      assert.strictEqual(yield* wal.immutableWalCount, 0)
      assert.isTrue(Option.isNone(yield* wal.watcherForOldestUnflushedWal()))
      assert.isTrue(Option.isNone(yield* wal.closed))
      yield* wal.flush() // nothing to write
      assert.deepStrictEqual(yield* walFiles, [])
    }).pipe(withManager()))

  it.effect("append + flush writes wal/<id>.sst holding the same rows (SlateDB test 10)", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const entry1 = row("key1", "value1", 1)
      const entry2 = row("key2", "value2", 2)
      const w1 = yield* wal.append([entry1])
      const w2 = yield* wal.append([entry2])
      assert.strictEqual(w1, w2) // one watcher per WAL, not per write
      yield* wal.flush()

      assert.deepStrictEqual(yield* walFiles, ["root/wal/00000000000000000001.sst"])
      const read = yield* readWal(1)
      assert.deepStrictEqual(read.map((r) => [text(r.key), text(r.value), r.seq]), [["key1", "value1", 1], [
        "key2",
        "value2",
        2
      ]])
      assert.isTrue(w1.isDone)
      yield* w1.await
      assert.strictEqual(yield* wal.recentFlushedWalId, 1)
      assert.strictEqual(yield* counter("flushes"), 1)
    }).pipe(withManager()))

  it.effect("a flush advances the durable seq, the durable tick and completes watchers in id order", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const oracle = yield* Oracle
      const clock = yield* MonotonicClock
      const w1 = yield* wal.append([row("a", "1", 1, 500), row("b", "2", 1, 500)])
      yield* wal.flush()
      const w2 = yield* wal.append([row("c", "3", 2, 700), row("d", "4", 3)])
      const order: Array<number> = []
      const f1 = yield* Effect.forkChild(Effect.tap(w1.await, () => Effect.sync(() => order.push(1))))
      const f2 = yield* Effect.forkChild(Effect.tap(w2.await, () => Effect.sync(() => order.push(2))))
      yield* wal.flush()
      yield* Fiber.join(f1)
      yield* Fiber.join(f2)
      assert.deepStrictEqual(order, [1, 2])
      assert.strictEqual(yield* oracle.lastDurableSeq, 3)
      assert.strictEqual(yield* clock.lastDurableTick, 700) // row d has no createTs
      assert.strictEqual(yield* wal.recentFlushedWalId, 2)
    }).pipe(withManager()))

  it.effect("a batch never spans two WAL files, however large", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      yield* wal.append([row("first", "x", 1)])
      const batch = Array.from({ length: 200 }, (_, i) => row(`key${i}`, "v".repeat(50), 2))
      yield* wal.append(batch)
      yield* wal.maybeTriggerFlush()
      yield* wal.append([row("last", "y", 3)])
      yield* wal.flush()
      const files = yield* walFiles
      const all = yield* Effect.forEach(files, (_, i) => readWal(i + 1))
      // the big batch lies inside one file
      const holding = all.filter((rows) => rows.some((r) => r.seq === 2))
      assert.strictEqual(holding.length, 1)
      assert.strictEqual(holding[0]!.filter((r) => r.seq === 2).length, 200)
      assert.deepStrictEqual(all.flat().map((r) => r.seq), [1, ...batch.map(() => 2), 3])
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("a large row is written and read back whole", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const big = row("k".repeat(10_000), "v".repeat(100_000), 1)
      yield* wal.append([big])
      assert.strictEqual(yield* wal.estimatedBytes, estimateWalSstSize(1, estimatedSize(big), { blockSize: 4096 }))
      yield* wal.flush()
      const [read] = yield* readWal(1)
      assert.deepStrictEqual(read!.key, big.key)
      assert.deepStrictEqual(read!.value, big.value)
    }).pipe(withManager()))

  it.effect("size-based flush: over maxWalBytes, maybeTriggerFlush alone writes WAL 1 (SlateDB test 11)", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      let seq = 1
      while ((yield* wal.estimatedBytes) < 1000) {
        yield* wal.append([row(`key${seq}`, `value${seq}`, seq)])
        seq++
      }
      const watcher = yield* wal.maybeTriggerFlush()
      yield* watcher.await
      assert.strictEqual(yield* wal.recentFlushedWalId, 1)
      assert.strictEqual(yield* counter("flushRequests"), 1)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("below maxWalBytes maybeTriggerFlush sends nothing but sets the estimated-bytes gauge", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const metrics = yield* WalMetrics
      const r = row("key", "value", 1)
      yield* wal.append([r])
      yield* wal.maybeTriggerFlush()
      assert.strictEqual(yield* counter("flushRequests"), 0)
      const expected = estimateWalSstSize(1, estimatedSize(r), { blockSize: 4096 })
      assert.strictEqual((yield* Metric.value(metrics.estimatedBytes)).value, expected)
      assert.strictEqual(yield* wal.estimatedBytes, expected)
      assert.strictEqual(expected, estimatedSize(r) + 9 + 2 + 4 + 8 + 2 + 4 + 42 + 10)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("request storm: 100 writers over the threshold send one request per WAL generation (test 14)", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      // Fill the current WAL past the threshold first; the store is slow so the flush stays in flight.
      yield* wal.append([row("big", "v".repeat(2000), 1)])
      yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => Effect.andThen(wal.append([row(`key${i}`, `value${i}`, i + 2)]), wal.maybeTriggerFlush()),
        { concurrency: "unbounded", discard: true }
      )
      const requestsBefore = yield* counter("flushRequests")
      yield* TestClock.adjust("1 second")
      const flush = yield* Effect.forkChild(wal.flush())
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(flush)
      const flushes = yield* counter("flushes")
      const files = (yield* walFiles).length
      assert.isAtLeast(flushes, 1)
      assert.isAtMost(requestsBefore, flushes)
      // one request per generation that went over the threshold: at most one per WAL written
      assert.isAtMost(requestsBefore, files)
      assert.isAtMost(requestsBefore, 2)
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(makeProbe(20)) })))

  it.effect("request storm: 100 concurrent maybeTriggerFlush calls on one full WAL send exactly one request", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("big", "v".repeat(2000), 1)])
      yield* Effect.forEach(
        Array.from({ length: 100 }, () => wal.maybeTriggerFlush()),
        (trigger) => trigger,
        { concurrency: "unbounded", discard: true }
      )
      yield* watcher.await
      assert.strictEqual(yield* counter("flushRequests"), 1)
      assert.strictEqual(yield* counter("flushes"), 1)
      assert.strictEqual((yield* walFiles).length, 1)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("request storm, sequential: 100 × (append, maybeTriggerFlush) never floods the queue", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      for (let i = 0; i < 100; i++) {
        yield* wal.append([row(`key${i}`, `value${i}`, i + 1)])
        yield* wal.maybeTriggerFlush()
      }
      const requests = yield* counter("flushRequests")
      yield* wal.flush()
      const flushes = yield* counter("flushes")
      assert.isAtLeast(flushes, 1)
      assert.isAtMost(requests, flushes)
      // ~26 such rows fill 1000 estimated bytes, so at most 4 generations crossed the threshold
      assert.isAtMost(requests, 4)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("releases immutable WALs once applied (SlateDB test 12)", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      for (let i = 0; i < 100; i++) {
        yield* wal.append([row(`key${i}`, `value${i}`, i + 1)])
        yield* wal.flush()
      }
      assert.strictEqual(yield* wal.recentFlushedWalId, 100)
      assert.strictEqual(yield* wal.immutableWalCount, 100)
      yield* wal.trackLastAppliedSeq(50)
      assert.strictEqual(yield* wal.immutableWalCount, 50)
    }).pipe(withManager()))

  it.effect("release is limited by the durable seq (SlateDB test 13)", () => {
    const oracle = forcibleOracle()
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      for (let i = 0; i < 100; i++) {
        yield* wal.append([row(`key${i}`, `value${i}`, i + 1)])
        yield* wal.flush()
      }
      yield* wal.trackLastAppliedSeq(50)
      assert.strictEqual(yield* wal.immutableWalCount, 50)
      assert.strictEqual(yield* wal.recentFlushedWalId, 100)
      oracle.setDurableSeqUnsafe(80)
      yield* wal.trackLastAppliedSeq(90)
      assert.strictEqual(yield* wal.immutableWalCount, 20)
    }).pipe(withManager({ oracle: oracle.layer }))
  })

  it.effect("release never drops a WAL that is not written yet, even if the oracle says durable", () => {
    const oracle = forcibleOracle()
    const probe = makeProbe(50)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      yield* wal.append([row("a", "1", 1)])
      const flush = yield* Effect.forkChild(wal.flush())
      yield* TestClock.adjust("10 millis") // frozen, put in flight
      assert.strictEqual(yield* wal.immutableWalCount, 1)
      oracle.setDurableSeqUnsafe(10)
      yield* wal.trackLastAppliedSeq(10)
      assert.strictEqual(yield* wal.immutableWalCount, 1)
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(flush)
      assert.strictEqual(yield* wal.immutableWalCount, 0) // released at the end of the flush
    }).pipe(withManager({ oracle: oracle.layer, store: probingStore(probe), maxFlushInterval: "Infinity" }))
  })

  it.effect("the interval tick flushes what is buffered; an empty WAL is never written", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      yield* TestClock.adjust("1 millis") // past the first (immediate) tick
      const watcher = yield* wal.append([row("a", "1", 1)])
      yield* TestClock.adjust("98 millis") // t = 99
      assert.isFalse(watcher.isDone)
      assert.deepStrictEqual(yield* walFiles, [])
      yield* TestClock.adjust("1 millis") // t = 100: tick
      yield* watcher.await
      assert.strictEqual(yield* wal.recentFlushedWalId, 1)
      yield* TestClock.adjust("1 second") // ten more ticks with nothing buffered
      assert.strictEqual((yield* walFiles).length, 1)
      assert.strictEqual(yield* counter("flushes"), 1)
      assert.strictEqual(yield* counter("flushRequests"), 0) // ticks are not requests
    }).pipe(withManager({ maxFlushInterval: "100 millis" })))

  it.effect("without an interval, a watcher waits until something flushes", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const watcher = yield* wal.append([row("a", "1", 1)])
      yield* TestClock.adjust("1 hour")
      assert.isFalse(watcher.isDone)
      yield* wal.flush()
      assert.isTrue(watcher.isDone)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("watcherForOldestUnflushedWal: immutable first, then a non-empty current WAL", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const w1 = yield* wal.append([row("a", "1", 1)])
      assert.strictEqual(Option.getOrThrow(yield* wal.watcherForOldestUnflushedWal()), w1)
      const flush = yield* Effect.forkChild(wal.flush())
      yield* TestClock.adjust("10 millis") // WAL 1 frozen, put in flight
      const w2 = yield* wal.append([row("b", "2", 2)])
      assert.notStrictEqual(w1, w2)
      assert.strictEqual(Option.getOrThrow(yield* wal.watcherForOldestUnflushedWal()), w1)
      yield* TestClock.adjust("20 millis")
      yield* Fiber.join(flush)
      assert.strictEqual(Option.getOrThrow(yield* wal.watcherForOldestUnflushedWal()), w2)
      yield* wal.flush().pipe(Effect.forkChild, Effect.andThen(TestClock.adjust("20 millis")))
      yield* w2.await
      assert.isTrue(Option.isNone(yield* wal.watcherForOldestUnflushedWal()))
    }).pipe(withManager({ maxFlushInterval: "Infinity", store: probingStore(makeProbe(20)) })))

  it.effect("estimatedBytes counts the current and every immutable WAL until released", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const r1 = row("a", "1", 1)
      const r2 = row("bb", "22", 2)
      yield* wal.append([r1])
      yield* wal.flush()
      yield* wal.append([r2])
      const e1 = estimateWalSstSize(1, estimatedSize(r1), { blockSize: 4096 })
      const e2 = estimateWalSstSize(1, estimatedSize(r2), { blockSize: 4096 })
      assert.strictEqual(yield* wal.estimatedBytes, e1 + e2) // WAL 1 is written but not yet applied
      yield* wal.trackLastAppliedSeq(1)
      assert.strictEqual(yield* wal.estimatedBytes, e2)
    }).pipe(withManager({ maxFlushInterval: "Infinity" })))

  it.effect("advanceRecentFlushedWalId only moves forward; written ids continue from the allocator", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      assert.strictEqual(yield* wal.recentFlushedWalId, 7)
      yield* wal.advanceRecentFlushedWalId(9)
      yield* wal.advanceRecentFlushedWalId(3)
      assert.strictEqual(yield* wal.recentFlushedWalId, 9)
      yield* wal.append([row("a", "1", 1)])
      yield* wal.flush()
      assert.strictEqual(yield* wal.recentFlushedWalId, 10)
      assert.deepStrictEqual(yield* walFiles, [walSstPath(ROOT, 10)])
    }).pipe(withManager({ recentFlushedWalId: 7, firstWalId: 10 })))

  it.effect("a store failure is fatal: every waiter and every later call gets it", () => {
    const probe = makeProbe(20)
    probe.failures.push((path) => new StoreFailure({ op: "put", path, message: "access denied" }))
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const w1 = yield* wal.append([row("a", "1", 1)])
      const flush1 = yield* Effect.forkChild(Effect.exit(wal.flush()))
      yield* TestClock.adjust("5 millis") // WAL 1 in flight
      const w2 = yield* wal.append([row("b", "2", 2)])
      const flush2 = yield* Effect.forkChild(Effect.exit(wal.flush())) // queued behind it
      const waiters = yield* Effect.forEach([w1, w2, w1], (w) => Effect.forkChild(Effect.exit(w.await)))
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
      const wal = yield* WalBufferManager
      const w1 = yield* wal.append([row("a", "1", 1)])
      const flush1 = yield* Effect.forkChild(Effect.exit(wal.flush()))
      yield* TestClock.adjust("5 millis") // WAL 1 in flight
      const w2 = yield* wal.append([row("b", "2", 2)])
      const flush2 = yield* Effect.forkChild(Effect.exit(wal.flush())) // queued
      const waiters = yield* Effect.forEach([w1, w2], (w) => Effect.forkChild(Effect.exit(w.await)))
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
