/**
 * `durableFlush: "eager"` (group commit) against SlateDB's interval behaviour, on a store with 20 ms PUT
 * latency under TestClock: latency of durable writes, PUT counts, at most one PUT in flight.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { WalBufferManager } from "../../src/wal/WalBufferManager.ts"
import { makeProbe, probingStore, row, type StoreProbe, withManager } from "./fixtures.ts"

const PUT_MS = 20
/** Size trigger out of the way: these tests are about durability waits. */
const BIG = 64 * 1024 * 1024

/** One writer doing `n` durable writes one after another; returns each write's latency (ms). */
const sequentialDurableWrites = (n: number, firstSeq = 1) =>
  Effect.gen(function*() {
    const wal = yield* WalBufferManager
    const latencies: Array<number> = []
    for (let i = 0; i < n; i++) {
      const start = yield* Clock.currentTimeMillis
      const watcher = yield* wal.append([row(`key${i}`, "v", firstSeq + i)])
      yield* wal.maybeTriggerFlush()
      yield* wal.awaitDurable(watcher)
      latencies.push((yield* Clock.currentTimeMillis) - start)
    }
    return latencies
  })

/** `writers` fibers each doing `each` durable writes; returns the time the last one finished. */
const concurrentDurableWrites = (writers: number, each: number) =>
  Effect.gen(function*() {
    const wal = yield* WalBufferManager
    let seq = 0
    yield* Effect.forEach(
      Array.from({ length: writers }, (_, w) => w),
      (w) =>
        Effect.gen(function*() {
          for (let i = 0; i < each; i++) {
            const watcher = yield* wal.append([row(`w${w}-${i}`, "v", ++seq)])
            yield* wal.maybeTriggerFlush()
            yield* wal.awaitDurable(watcher)
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return yield* Clock.currentTimeMillis
  })

/** Runs `effect` forked, advances the TestClock far enough, joins. */
const drive = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* TestClock.adjust("1 millis") // past the interval ticker's immediate first tick
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust("10 seconds")
    return yield* Fiber.join(fiber)
  })

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

describe("durableFlush: eager (group commit)", () => {
  it.effect("a sequential durable writer waits one PUT, not one interval", () => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const latencies = yield* drive(sequentialDurableWrites(20))
      assert.deepStrictEqual(latencies, Array.from({ length: 20 }, () => PUT_MS))
      assert.strictEqual(probe.puts.length, 20) // the cost: one PUT per durable write
      assert.strictEqual(probe.maxInFlight, 1)
    }).pipe(withManager({ durableFlush: "eager", maxFlushInterval: "100 millis", maxWalBytes: BIG, store: probingStore(probe) }))
  })

  it.effect("the same writer in interval mode waits for the tick (SlateDB: ~100 ms)", () => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const latencies = yield* drive(sequentialDurableWrites(20))
      // first write at t=1 waits for the tick at 100 plus the PUT; the rest start right after a PUT
      // completes (t = 20 mod 100) and wait for the next tick plus the PUT: exactly 100 ms
      assert.strictEqual(latencies[0], 119)
      for (const l of latencies.slice(1)) assert.strictEqual(l, 100)
      assert.strictEqual(probe.puts.length, 20)
      assert.isAtLeast(mean(latencies), 100)
    }).pipe(withManager({ durableFlush: "interval", maxFlushInterval: "100 millis", maxWalBytes: BIG, store: probingStore(probe) }))
  })

  it.effect("a write arriving during a flush rides the next one, which starts when the first ends", () => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const a = yield* wal.append([row("a", "1", 1)])
      const waitA = yield* Effect.forkChild(wal.awaitDurable(a))
      yield* TestClock.adjust("5 millis")
      const b = yield* wal.append([row("b", "2", 2)])
      const c = yield* wal.append([row("c", "3", 3)])
      assert.strictEqual(b, c)
      const waitB = yield* Effect.forkChild(wal.awaitDurable(b))
      const waitC = yield* Effect.forkChild(wal.awaitDurable(c))
      yield* TestClock.adjust("15 millis") // t = 20: PUT 1 done, PUT 2 starts
      yield* Fiber.join(waitA)
      assert.isFalse(b.isDone)
      yield* TestClock.adjust("20 millis") // t = 40
      yield* Fiber.join(waitB)
      yield* Fiber.join(waitC)
      assert.deepStrictEqual(probe.puts.map((p) => [p.startedAt, p.finishedAt]), [[0, 20], [20, 40]])
      assert.strictEqual(probe.maxInFlight, 1)
    }).pipe(withManager({ durableFlush: "eager", maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })

  it.effect("256 concurrent durable writers: one PUT in flight, each PUT carries a whole group", () => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const finishedAt = yield* drive(concurrentDurableWrites(256, 4))
      assert.strictEqual(probe.maxInFlight, 1)
      assert.isAtMost(probe.puts.length, 5) // 1024 durable writes in 4 PUTs (one per round)
      assert.isAtMost(finishedAt, 1 + 5 * PUT_MS)
    }).pipe(withManager({ durableFlush: "eager", maxFlushInterval: "100 millis", maxWalBytes: BIG, store: probingStore(probe) }))
  })

  it.effect("256 concurrent durable writers in interval mode: one group per tick", () => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const finishedAt = yield* drive(concurrentDurableWrites(256, 4))
      assert.strictEqual(probe.puts.length, 4)
      assert.strictEqual(finishedAt, 400 + PUT_MS)
    }).pipe(withManager({ durableFlush: "interval", maxFlushInterval: "100 millis", maxWalBytes: BIG, store: probingStore(probe) }))
  })

  it.effect.each(["eager", "interval"] as const)("sparse durable writers (30/s) cost PUTs: %s", (mode) => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      yield* TestClock.adjust("1 millis")
      const writers: Array<Fiber.Fiber<void, unknown>> = []
      for (let i = 0; i < 30; i++) {
        const watcher = yield* wal.append([row(`k${i}`, "v", i + 1)])
        writers.push(yield* Effect.forkChild(wal.awaitDurable(watcher)))
        yield* TestClock.adjust("33 millis") // 30 durable writes over ~1 s
      }
      yield* TestClock.adjust("200 millis")
      for (const w of writers) yield* Fiber.join(w)
      // eager: every write is alone (a PUT takes 20 ms < 33 ms between writes); interval: ~3 per tick
      assert.strictEqual(probe.puts.length, mode === "eager" ? 30 : 10)
    }).pipe(withManager({ durableFlush: mode, maxFlushInterval: "100 millis", maxWalBytes: BIG, store: probingStore(probe) }))
  })

  it.effect("writes that do not await durability cost no extra PUTs in eager mode", () => {
    const probe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      yield* TestClock.adjust("1 millis")
      for (let i = 0; i < 100; i++) {
        yield* wal.append([row(`k${i}`, "v", i + 1)])
        yield* wal.maybeTriggerFlush()
        yield* TestClock.adjust("10 millis") // 100 writes over 1 s
      }
      yield* TestClock.adjust("200 millis")
      assert.strictEqual(probe.puts.length, 10) // one per tick, as in interval mode
    }).pipe(withManager({ durableFlush: "eager", maxFlushInterval: "100 millis", maxWalBytes: BIG, store: probingStore(probe) }))
  })

  it.effect("awaiting a watcher that is already durable, or of a frozen WAL, requests nothing", () => {
    const probe: StoreProbe = makeProbe(PUT_MS)
    return Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const a = yield* wal.append([row("a", "1", 1)])
      const waiting = yield* Effect.forkChild(wal.awaitDurable(a))
      yield* TestClock.adjust("5 millis") // a's WAL is frozen and in flight
      const again = yield* Effect.forkChild(wal.awaitDurable(a)) // must not start another flush
      yield* TestClock.adjust("20 millis")
      yield* Fiber.join(waiting)
      yield* Fiber.join(again)
      yield* wal.awaitDurable(a)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual(probe.puts.length, 1)
    }).pipe(withManager({ durableFlush: "eager", maxFlushInterval: "Infinity", store: probingStore(probe) }))
  })
})
