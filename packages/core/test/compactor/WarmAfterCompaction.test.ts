/**
 * Hot blocks stay hot across compactions (sst/CacheWarming.ts): after a compaction replaces the SSTs whose
 * blocks hot reads cached, the first reads of those keys through the new manifest hit the block cache with
 * warming on (`compactionWarmupMs`, the default) and go to the store with it off (`null`). Whatever ran the
 * compaction: the embedded compactor or a standalone one (warmed with ranged reads before the writer's
 * view switches), and for a `DbReader` following the writer. Keys
 * that were not hot still cost a GET: warming loads what was hot, not the whole output. A store that does
 * not answer holds the switch back only `compactionWarmupMs`; the warming then finishes in the background.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { openDbReader } from "../../src/db/DbReader.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { SettingsInput } from "../../src/Settings.ts"
import { type MetricSample, snapshot } from "../../src/Metrics.ts"
import { b, ND, openOn, s } from "../db/fixtures.ts"
import { eventually } from "./support.ts"

type Store = ObjectStore["Service"]

/**
 * Counts reads of compacted SSTs (HEAD, GET, ranged GET); while `gate.closed` holds a Deferred, those
 * reads wait for it (a slow store).
 */
const countingCompactedReads = () => {
  const inner = makeMemory()
  const counts = { reads: 0 }
  const gate: { closed: Deferred.Deferred<void> | undefined } = { closed: undefined }
  const read = <A, E>(p: string, effect: Effect.Effect<A, E>) =>
    Effect.suspend(() => {
      if (!p.includes("/compacted/")) return effect
      counts.reads++
      return gate.closed === undefined ? effect : Effect.andThen(Deferred.await(gate.closed), effect)
    })
  const store = ObjectStore.of({
    ...inner,
    head: (p) => read(p, inner.head(p)),
    get: (p) => read(p, inner.get(p)),
    getRange: (p, r) => read(p, inner.getRange(p, r))
  })
  return { store, counts, gate }
}

const KEYS = 3000
const key = (k: number) => b(`key${String(k).padStart(5, "0")}`)
const value = (batch: number, k: number) => `v${batch}-${k}-${"x".repeat(60)}`
/**
 * Hot keys: 20 in the first half of the key space (blocks apart), read out of order (in order, point reads
 * of consecutive blocks fetch a few blocks ahead); cold ones: in the second half.
 */
const HOT = Array.from({ length: 20 }, (_, i) => 50 + ((i * 7) % 20) * 70)
const COLD = Array.from({ length: 10 }, (_, i) => 1800 + i * 100)

/** `batches` L0 SSTs of every key (the last batch wins). */
const fill = (db: DbService, batches: number) =>
  Effect.gen(function*() {
    for (let batch = 1; batch <= batches; batch++) {
      for (let k = 0; k < KEYS; k++) yield* db.put(key(k), b(value(batch, k)), ND)
      yield* db.flush({ type: "memtable" })
    }
  })

/** Reads `keys` (expecting batch `batch`'s values); the compacted-SST reads they cost. */
const readCost = (db: Pick<DbService, "get">, counts: { reads: number }, keys: ReadonlyArray<number>, batch: number) =>
  Effect.gen(function*() {
    const before = counts.reads
    for (const k of keys) assert.strictEqual(s(yield* db.get(key(k))), value(batch, k))
    return counts.reads - before
  })

const metric = (samples: ReadonlyArray<MetricSample>, name: string, source: string) =>
  samples.find((m) => m.name === name && m.labels["source"] === source)?.value

const CACHE = { blockCacheBytes: 8 * 1024 * 1024 }

/** Starts a standalone compactor on `store` in a scope of its own. */
const startCompactor = (store: Store) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Compactor.layer({ path: "db", settings: { compactor: {} } }).pipe(Layer.provide(Layer.succeed(ObjectStore, store)))
    const context = yield* Layer.buildWithScope(layer, scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return Context.get(context, Compactor)
  })

/** What the first reads after the switch cost, hot keys then cold ones. */
interface Costs {
  readonly hot: number
  readonly cold: number
}

const assertWarm = (on: Costs, off: Costs) => {
  assert.strictEqual(on.hot, 0, "warming on: the hot keys' first reads after the switch hit the block cache")
  assert.isAtLeast(off.hot, HOT.length, "warming off: each hot key's first read fetches its block")
  assert.isAtLeast(on.cold, COLD.length, "keys that were not hot are not warmed")
  assert.isAtLeast(off.cold, COLD.length)
}

describe("block cache warming after a compaction", () => {
  it.effect("embedded compactor: hot blocks are read into the cache before the view switches", () =>
    Effect.gen(function*() {
      const run = (compactionWarmupMs: number | null) =>
        Effect.gen(function*() {
          const { store, counts } = countingCompactedReads()
          const first = yield* openOn(store, { settings: CACHE })
          yield* fill(first.db, 3)
          yield* first.db.close
          // Reopened with a cold cache and a compactor that runs when a flush makes 4 L0 SSTs.
          const settings: SettingsInput = { ...CACHE, compactionWarmupMs, compactor: { pollIntervalMs: 3_600_000 } }
          const { db } = yield* openOn(store, { settings })
          yield* readCost(db, counts, HOT, 3)
          // The fourth L0 SST: a few keys outside the hot and cold ones; its flush wakes the compactor.
          for (let k = 0; k < 10; k++) yield* db.put(key(k), b(value(4, k)), ND)
          yield* db.flush({ type: "memtable" })
          yield* eventually("the L0 compaction", () => Effect.map(db.status, (st) => st.l0Ssts === 0 && st.sortedRuns === 1))
          const hot = yield* readCost(db, counts, HOT, 3)
          const samples = yield* snapshot
          return {
            hot,
            cold: yield* readCost(db, counts, COLD, 3),
            fromStore: metric(samples, "shale.db_cache.warmed_blocks", "store")
          }
        })
      const on = yield* run(500)
      const off = yield* run(null)
      assertWarm(on, off)
      // The output is streamed to the store (no bytes to decode from): the switch read the hot blocks.
      assert.isAtLeast(on.fromStore as number, HOT.length)
    }))

  it.effect("blocks no read asked for are not hot: a write-only load warms nothing", () =>
    Effect.gen(function*() {
      const { store } = countingCompactedReads()
      // The flushes prepopulate the cache with every block of their L0 SSTs; nothing reads them.
      const settings: SettingsInput = { ...CACHE, compactionWarmupMs: 500, compactor: { pollIntervalMs: 3_600_000 } }
      const { db } = yield* openOn(store, { settings })
      yield* fill(db, 4)
      yield* eventually("the L0 compaction", () => Effect.map(db.status, (st) => st.l0Ssts === 0 && st.sortedRuns === 1))
      const samples = yield* snapshot
      assert.strictEqual(metric(samples, "shale.db_cache.warmed_blocks", "store") ?? 0, 0)
      // Reads still see everything.
      assert.strictEqual(s(yield* db.get(key(7))), value(4, 7))
    }))

  it.effect("standalone compactor: the writer warms with ranged GETs before its view switches", () =>
    Effect.gen(function*() {
      const run = (compactionWarmupMs: number | null) =>
        Effect.gen(function*() {
          const { store, counts } = countingCompactedReads()
          const first = yield* openOn(store, { settings: CACHE })
          yield* fill(first.db, 4)
          yield* first.db.close
          const { db } = yield* openOn(store, { settings: { ...CACHE, compactionWarmupMs } })
          yield* readCost(db, counts, HOT, 4)
          const compactor = yield* startCompactor(store)
          yield* compactor.awaitIdle
          assert.strictEqual((yield* db.status).sortedRuns, 0, "the writer has not seen the new run yet")
          // The writer's next manifest write meets the compactor's version and merges it: the switch.
          yield* db.put(key(1), b(value(4, 1)), ND)
          const before = counts.reads
          yield* db.flush({ type: "memtable" })
          const warming = counts.reads - before
          assert.strictEqual((yield* db.status).sortedRuns, 1)
          const hot = yield* readCost(db, counts, HOT, 4)
          return { hot, cold: yield* readCost(db, counts, COLD, 4), warming }
        })
      const on = yield* run(500)
      const off = yield* run(null)
      assertWarm(on, off)
      assert.isAbove(on.warming, 0, "warming read the output's blocks from the store")
      assert.isBelow(on.warming, HOT.length, "with coalesced ranged GETs")
      assert.strictEqual(off.warming, 0)
    }))

  it.effect("a DbReader following a writer whose compactor runs elsewhere warms at its switch", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1))
      const run = (compactionWarmupMs: number | null) =>
        Effect.gen(function*() {
          const { store, counts } = countingCompactedReads()
          const { db } = yield* openOn(store, { settings: CACHE })
          yield* fill(db, 4)
          const scope = yield* Scope.make()
          yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
          const reader = yield* openDbReader({
            root: "db",
            options: { manifestPollIntervalMs: 1000, checkpointLifetimeMs: 60_000 },
            settings: { ...CACHE, compactionWarmupMs }
          }).pipe(Effect.provideService(ObjectStore, store), Scope.provide(scope))
          yield* readCost(reader, counts, HOT, 4)
          const compactor = yield* startCompactor(store)
          yield* compactor.awaitIdle
          const polls = (yield* reader.status).polls
          yield* TestClock.adjust(1000)
          yield* eventually("a poll", () => Effect.map(reader.status, (st) => st.polls > polls))
          assert.strictEqual((yield* reader.status).checkpointsReplaced, 1, "the reader moved to the compacted version")
          const hot = yield* readCost(reader, counts, HOT, 4)
          return { hot, cold: yield* readCost(reader, counts, COLD, 4) }
        })
      assertWarm(yield* run(500), yield* run(null))
    }))

  it.effect("a slow store does not hold the switch back: it goes ahead after the bound, warming finishes in the background", () =>
    Effect.gen(function*() {
      const { store, counts, gate } = countingCompactedReads()
      const first = yield* openOn(store, { settings: CACHE })
      yield* fill(first.db, 4)
      yield* first.db.close
      const { db } = yield* openOn(store, { settings: { ...CACHE, compactionWarmupMs: 500 } })
      yield* readCost(db, counts, HOT, 4)
      const compactor = yield* startCompactor(store)
      yield* compactor.awaitIdle
      // The store stops answering reads of SSTs: the warming cannot finish.
      gate.closed = yield* Deferred.make<void>()
      yield* db.put(key(1), b(value(4, 1)), ND)
      const readsBefore = counts.reads
      const flush = yield* Effect.forkChild(db.flush({ type: "memtable" }))
      yield* eventually("the warming to start", () => Effect.succeed(counts.reads > readsBefore))
      yield* Effect.yieldNow
      assert.isUndefined(flush.pollUnsafe(), "the switch waits for the warming")
      assert.strictEqual((yield* db.status).sortedRuns, 0)
      yield* TestClock.adjust(500)
      yield* Fiber.join(flush)
      assert.strictEqual((yield* db.status).sortedRuns, 1, "past the bound, the view switched")
      const timedOut = yield* snapshot
      assert.strictEqual(timedOut.find((m) => m.name === "shale.db_cache.warm_timeouts")?.value, 1)
      // The store answers again: the warming finishes in the background, and the hot reads hit the cache.
      yield* Deferred.succeed(gate.closed, undefined)
      gate.closed = undefined
      yield* eventually("the background warming", () =>
        Effect.map(snapshot, (m) => (metric(m, "shale.db_cache.warmed_blocks", "store") as number) >= HOT.length))
      assert.strictEqual(yield* readCost(db, counts, HOT, 4), 0)
    }))
})
