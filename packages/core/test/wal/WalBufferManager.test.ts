/**
 * The WAL buffer manager against SlateDB's manager tests (wal_buffer.rs tests 10-14) and the rest of its
 * behaviour when the store answers: durability watermarks, size and interval flushes, request storms,
 * release. Failures, fencing, retries and close are in WalBufferManagerFailures.test.ts.
 * Deterministic: TestClock, in-memory store, a stand-in SST codec.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Option } from "effect"
import { TestClock } from "effect/testing"
import { estimatedSize } from "../../src/internal.ts"
import { MonotonicClock } from "../../src/MonotonicClock.ts"
import { Oracle } from "../../src/Oracle.ts"
import { WalBufferManager } from "../../src/wal/WalBufferManager.ts"
import { WalMetrics } from "../../src/wal/WalMetrics.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { estimateWalSstSize } from "../../src/format/SsTableBuilder.ts"
import {
  counter,
  forcibleOracle,
  makeProbe,
  probingStore,
  readWal,
  ROOT,
  row,
  text,
  walFiles,
  withManager
} from "./fixtures.ts"

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
})
