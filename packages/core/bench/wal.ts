/**
 * WAL buffer benchmark. Run from the repo root with Node 22:
 *
 *   node_modules/.bin/node --expose-gc packages/core/bench/wal.ts
 *
 * 1. Append cost, no flushing (W1 rows: 16-byte key, 100-byte value, one row per batch):
 *    - appends/s through `WalBuffer.append` (the synchronous core) and through the service
 *      (`append`; and the full per-batch WAL work of the write path: `append` + `maybeTriggerFlush` +
 *      `trackLastAppliedSeq`), each in one Effect program;
 *    - allocations per append, counted exactly by V8's allocation sampler at a 1-byte interval (every
 *      allocation is sampled, dead objects included), and bytes per append from `heapUsed` with GC
 *      parked in a large young generation.
 * 2. Durable writes against a store whose PUTs take 20 ms (real clock, real WAL SST encoder), in
 *    `durableFlush: "interval"` (SlateDB, 100 ms) and `"eager"` mode: 20 sequential durable puts (mean
 *    latency) and 20,000 durable puts with 256 in flight (throughput), with PUT counts.
 */
import { Session } from "node:inspector/promises"
import { Effect, Layer, Metric } from "effect"
import { makeValue, type RowEntry } from "../src/format/RowEntry.ts"
import { MonotonicClock } from "../src/MonotonicClock.ts"
import { makeMemory, ObjectStore } from "../src/objectstore/ObjectStore.ts"
import { Oracle } from "../src/Oracle.ts"
import { WalBuffer } from "../src/wal/WalBuffer.ts"
import { type DurableFlushMode, WalBufferManager } from "../src/wal/WalBufferManager.ts"
import { WalIdAllocator } from "../src/wal/WalIdAllocator.ts"
import { WalSstWriter } from "../src/wal/WalSstWriter.ts"

const enc = new TextEncoder()
const w1Row = (i: number): RowEntry =>
  makeValue(enc.encode(`key${String(i).padStart(13, "0")}`), new Uint8Array(100).fill(i & 0xff), i + 1, 1_700_000_000_000)

const now = () => performance.now()
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

// ------------------------------------------------------------------ stacks

let putCount = 0
const latencyStore = (ms: number) =>
  Layer.sync(ObjectStore, () => {
    const inner = makeMemory()
    return ObjectStore.of({
      ...inner,
      put: (path, bytes, options) =>
        Effect.sleep(ms).pipe(
          Effect.andThen(Effect.sync(() => putCount++)),
          Effect.andThen(inner.put(path, bytes, options))
        )
    })
  })

const stack = (store: Layer.Layer<ObjectStore>, options: Parameters<typeof WalBufferManager.layer>[0]) =>
  WalBufferManager.layer(options).pipe(
    Layer.provide(
      Layer.mergeAll(
        WalSstWriter.layer({ root: "bench" }),
        WalIdAllocator.layerCounter(1),
        Oracle.layer(),
        MonotonicClock.layer()
      ).pipe(Layer.provide(store))
    )
  )

const run = <A, E>(effect: Effect.Effect<A, E, WalBufferManager>, layer: Layer.Layer<WalBufferManager>) =>
  Effect.runPromise(effect.pipe(Effect.provide(layer), Effect.provideService(Metric.MetricRegistry, new Map())))

const noFlush = () => stack(ObjectStore.layerMemory, { maxFlushInterval: "Infinity", maxWalBytes: Number.MAX_SAFE_INTEGER })

// ------------------------------------------------------------------ 1. append cost

const N = 200_000
const rows = Array.from({ length: N }, (_, i) => w1Row(i))
const batches = rows.map((r) => [r])

type Variant = "buffer" | "append" | "writePath"

const appendLoop = (variant: Variant, from: number, to: number): Effect.Effect<void, unknown, WalBufferManager> =>
  variant === "buffer"
    ? Effect.sync(() => {
      const buffer = new WalBuffer()
      for (let i = from; i < to; i++) buffer.appendAll(batches[i]!)
    })
    : Effect.gen(function*() {
      const wal = yield* WalBufferManager
      if (variant === "append") {
        for (let i = from; i < to; i++) yield* wal.append(batches[i]!)
      } else {
        for (let i = from; i < to; i++) {
          yield* wal.append(batches[i]!)
          yield* wal.maybeTriggerFlush()
          yield* wal.trackLastAppliedSeq(i + 1)
        }
      }
    })

const appendsPerSecond = async (variant: Variant) => {
  let best = 0
  for (let round = 0; round < 5; round++) {
    const ms = await run(
      Effect.gen(function*() {
        yield* appendLoop(variant, 0, 20_000) // warm-up
        const t0 = now()
        yield* appendLoop(variant, 0, N)
        return now() - t0
      }),
      noFlush()
    )
    best = Math.max(best, (N / ms) * 1000)
  }
  return best
}

/** Allocations in `count` appends (beyond a run of 0 appends), from the sampling heap profiler at 1 byte. */
const allocationsPerAppend = async (variant: Variant, count: number) => {
  const session = new Session()
  session.connect()
  const measure = async (n: number) =>
    run(
      Effect.gen(function*() {
        yield* appendLoop(variant, 0, 5_000) // warm-up: inline caches, array growth of the first buffer
        yield* Effect.promise(() =>
          session.post("HeapProfiler.startSampling", {
            samplingInterval: 1,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true
          })
        )
        yield* appendLoop(variant, 5_000, 5_000 + n)
        const result = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
        // `samples` (one per sampled allocation) is in the protocol but missing from @types/node's typing.
        const samples = (result.profile as unknown as { samples: ReadonlyArray<{ readonly size: number }> }).samples
        return { samples: samples.length, bytes: samples.reduce((sum, x) => sum + x.size, 0) }
      }),
      noFlush()
    )
  const base = await measure(0)
  const full = await measure(count)
  session.disconnect()
  return { count: (full.samples - base.samples) / count, bytes: (full.bytes - base.bytes) / count }
}

/** Bytes allocated per append from `heapUsed`, with GC out of the way (run with a big young generation). */
const heapBytesPerAppend = async (variant: Variant, count: number) => {
  const gc = (globalThis as { gc?: () => void }).gc
  return run(
    Effect.gen(function*() {
      yield* appendLoop(variant, 0, 5_000)
      gc?.()
      const before = process.memoryUsage().heapUsed
      yield* appendLoop(variant, 5_000, 5_000 + count)
      return (process.memoryUsage().heapUsed - before) / count
    }),
    noFlush()
  )
}

// ------------------------------------------------------------------ 2. durable writes

const PUT_MS = 20

const durableSequential = (mode: DurableFlushMode, n: number) => {
  putCount = 0
  return run(
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const latencies: Array<number> = []
      for (let i = 0; i < n; i++) {
        const t0 = now()
        const watcher = yield* wal.append(batches[i]!)
        yield* wal.maybeTriggerFlush()
        yield* wal.trackLastAppliedSeq(i + 1)
        yield* wal.awaitDurable(watcher)
        latencies.push(now() - t0)
      }
      return { meanMs: latencies.reduce((a, b) => a + b, 0) / n, puts: putCount }
    }),
    stack(latencyStore(PUT_MS), { durableFlush: mode })
  )
}

const durableConcurrent = (mode: DurableFlushMode, total: number, inFlight: number) => {
  putCount = 0
  return run(
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      let next = 0
      const t0 = now()
      yield* Effect.forEach(
        Array.from({ length: inFlight }, (_, w) => w),
        () =>
          Effect.gen(function*() {
            while (next < total) {
              const i = next++
              const watcher = yield* wal.append(batches[i]!)
              yield* wal.maybeTriggerFlush()
              yield* wal.trackLastAppliedSeq(i + 1)
              yield* wal.awaitDurable(watcher)
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      const ms = now() - t0
      return { perSecond: (total / ms) * 1000, puts: putCount }
    }),
    stack(latencyStore(PUT_MS), { durableFlush: mode })
  )
}

// ------------------------------------------------------------------ main

const main = async () => {
  console.log(`node ${process.version}; W1 rows (16 B key, 100 B value); ${fmt(N)} appends per run, best of 5`)
  console.log("\n1. append cost, no flushing")
  console.log("| path | appends/s | allocations/append | bytes/append (sampler) | bytes/append (heapUsed) |")
  console.log("|---|---|---|---|---|")
  for (const variant of ["buffer", "append", "writePath"] as const) {
    const rate = await appendsPerSecond(variant)
    const alloc = await allocationsPerAppend(variant, 20_000)
    const heap = await heapBytesPerAppend(variant, 50_000)
    const name = {
      buffer: "WalBuffer.appendAll (sync core)",
      append: "WalBufferManager.append (Effect)",
      writePath: "append + maybeTriggerFlush + trackLastAppliedSeq"
    }[variant]
    console.log(`| ${name} | ${fmt(rate)} | ${alloc.count.toFixed(2)} | ${alloc.bytes.toFixed(1)} | ${heap.toFixed(1)} |`)
  }

  console.log(`\n2. durable writes, store PUT latency ${PUT_MS} ms (real clock), flush interval 100 ms`)
  console.log("| mode | 20 sequential: mean latency | PUTs | 20,000 @ 256 in flight: puts/s | PUTs |")
  console.log("|---|---|---|---|---|")
  for (const mode of ["interval", "eager"] as const) {
    const seq = await durableSequential(mode, 20)
    const conc = await durableConcurrent(mode, 20_000, 256)
    console.log(`| ${mode} | ${seq.meanMs.toFixed(1)} ms | ${seq.puts} | ${fmt(conc.perSecond)} | ${conc.puts} |`)
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
