/**
 * SlateDB's metrics (docs/design/observability.md): what a small workload records, under SlateDB's names
 * and labels, per database in the Promise API, in the context's registry in the Effect API.
 */
import { assert, describe, it } from "@effect/vitest"
import { Db, ObjectStore, Shale } from "@shale/core"
import { Context, Effect, Layer, Metric, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { concatOperator } from "../support/merge.ts"

const enc = new TextEncoder()

type Sample = Db.MetricSample

/** The value of the series `name` whose labels include `labels` (undefined if none). */
const valueOf = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

const num = (samples: ReadonlyArray<Sample>, name: string, labels?: Record<string, string>): number => {
  const v = valueOf(samples, name, labels)
  assert.isTrue(typeof v === "number", `${name} ${JSON.stringify(labels ?? {})} is recorded`)
  return v as number
}

describe("metrics", () => {
  it("a Promise database counts its writes, reads, flushes and store requests", async () => {
    await using db = await Shale.open("db", { store: Shale.stores.memory(), settings: { compactor: null, minFilterKeys: 1 } })
    await using other = await Shale.open("other", { store: Shale.stores.memory(), settings: { compactor: null } })
    await db.put(enc.encode("a"), enc.encode("1"))
    await db.put(enc.encode("c"), enc.encode("3"))
    await db.flush({ type: "memtable" })
    await db.put(enc.encode("b"), enc.encode("2"))
    await db.delete(enc.encode("d"))
    await db.write(new Shale.WriteBatch().put(enc.encode("d"), enc.encode("4")).delete(enc.encode("e")))
    await db.flush({ type: "memtable" })
    // "c" lies in the newer L0 SST's key range [b, e] but is not in it: its filter says no first.
    assert.strictEqual(new TextDecoder().decode(await db.get(enc.encode("c"))), "3")
    assert.isUndefined(await db.get(enc.encode("zz")))
    for await (const _ of db.scan({})) void _

    const m = db.metrics()
    assert.strictEqual(num(m, "slatedb.db.write_batch_count"), 5)
    assert.strictEqual(num(m, "slatedb.db.write_ops"), 6)
    assert.strictEqual(num(m, "slatedb.db.request_count", { op: "get" }), 2)
    assert.strictEqual(num(m, "slatedb.db.request_count", { op: "scan" }), 1)
    assert.strictEqual(num(m, "slatedb.db.request_count", { op: "flush" }), 2)
    assert.strictEqual(num(m, "slatedb.db.immutable_memtable_flushes"), 2)
    assert.strictEqual(num(m, "slatedb.db.l0_sst_count"), 2)
    assert.isAbove(num(m, "slatedb.db.l0_flush_bytes"), 0)
    assert.isAtLeast(num(m, "slatedb.db.sst_filter_negative_count"), 1)
    assert.isAbove(num(m, "slatedb.db.wal_buffer_flushes"), 0)
    assert.isAbove(num(m, "slatedb.db_cache.access_count", { entry_kind: "data_block", result: "hit" }), 0)
    assert.strictEqual(num(m, "slatedb.db.backpressure_count"), 0)
    const puts = { component: "db", store_type: "main", op: "put", api: "put" }
    assert.isAtLeast(num(m, "slatedb.object_store.request_count", puts), 4) // WALs, L0 SSTs, manifests
    assert.strictEqual(num(m, "slatedb.object_store.error_count", puts), 0)
    const latency = valueOf(m, "slatedb.object_store.request_duration_seconds", puts)
    assert.isTrue(typeof latency === "object" && latency.count === num(m, "slatedb.object_store.request_count", puts))
    // SlateDB's names, and Shale's own for what SlateDB does not do (warming the block cache after compactions).
    assert.isTrue(m.every((s) => s.name.startsWith("slatedb.") || s.name.startsWith("shale.db_cache.warm")))
    assert.strictEqual(num(m, "shale.db_cache.warmed_blocks", { source: "store" }), 0)

    // Each Promise database has a registry of its own.
    assert.strictEqual(num(other.metrics(), "slatedb.db.write_batch_count"), 0)

    // After close its series keep their last values.
    await db.close()
    assert.strictEqual(num(db.metrics(), "slatedb.db.write_batch_count"), 5)
    assert.strictEqual(num(db.metrics(), "slatedb.db.l0_sst_count"), 2)
  })

  it.effect("the Effect API records in the context's registry, and removes the series on close", () =>
    Effect.gen(function*() {
      const inside = yield* Effect.scoped(Effect.gen(function*() {
        const db = Context.get(yield* Layer.build(Db.layer({ path: "db", settings: { compactor: null } })), Db.Db)
        yield* db.put(enc.encode("k"), enc.encode("v"), { awaitDurable: false })
        yield* db.get(enc.encode("k"))
        yield* Stream.runDrain(db.scanPrefix(enc.encode("k")))
        return yield* Db.metrics
      }))
      assert.strictEqual(num(inside, "slatedb.db.write_batch_count"), 1)
      assert.strictEqual(num(inside, "slatedb.db.request_count", { op: "get" }), 1)
      assert.strictEqual(num(inside, "slatedb.db.request_count", { op: "scan" }), 1)
      const after = yield* Db.metrics
      assert.isUndefined(valueOf(after, "slatedb.db.write_batch_count"))
      // Ordinary metrics (the store's, the WAL buffer's) stay in the registry.
      assert.isAbove(num(after, "slatedb.object_store.request_count", { component: "db", op: "put" }), 0)
    }).pipe(Effect.provide(ObjectStore.layerMemory), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("attributes of the context label a database's series", () =>
    Effect.gen(function*() {
      const samples = yield* Effect.scoped(Effect.gen(function*() {
        const db = Context.get(yield* Layer.build(Db.layer({ path: "db", settings: { compactor: null } })), Db.Db)
        yield* db.put(enc.encode("k"), enc.encode("v"), { awaitDurable: false })
        return yield* Db.metrics
      }).pipe(Effect.provideService(Metric.CurrentMetricAttributes, { db: "orders" })))
      assert.strictEqual(num(samples, "slatedb.db.write_batch_count", { db: "orders" }), 1)
    }).pipe(Effect.provide(ObjectStore.layerMemory), Effect.provideService(Metric.MetricRegistry, new Map())))

  it("counts merge operands by path, and the disk cache's parts, keys and bytes", async () => {
    const folder = mkdtempSync(join(tmpdir(), "shale-metrics-cache-"))
    try {
      const store = Shale.stores.memory()
      const settings = { compactor: null, objectStoreCache: { rootFolder: folder, partSizeBytes: 64 * 1024 } }
      const key = enc.encode("k")
      const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v))
      {
        await using db = await Shale.open("db", { store, settings, mergeOperator: concatOperator })
        await db.put(key, enc.encode("a"))
        await db.merge(key, enc.encode("b"))
        await db.merge(key, enc.encode("c"))
        assert.strictEqual(text(await db.get(key)), "abc")
        const read = num(db.metrics(), "slatedb.merge_operator_operands", { path: "read" })
        assert.isAtLeast(read, 2)
        assert.strictEqual(num(db.metrics(), "slatedb.merge_operator_operands", { path: "flush" }), 0)
        await db.flush({ type: "memtable" })
        assert.isAtLeast(num(db.metrics(), "slatedb.merge_operator_operands", { path: "flush" }), 2)
        assert.strictEqual(num(db.metrics(), "slatedb.merge_operator_operands", { path: "compact" }), 0)
      }
      // Reopened: the L0 SST is read from the store, through the disk cache.
      await using db = await Shale.open("db", { store, settings, mergeOperator: concatOperator })
      assert.strictEqual(text(await db.get(key)), "abc")
      const m = db.metrics()
      assert.isAbove(num(m, "slatedb.object_store_cache.part_access_count"), 0)
      assert.isAtMost(num(m, "slatedb.object_store_cache.part_hit_count"), num(m, "slatedb.object_store_cache.part_access_count"))
      assert.isAbove(num(m, "slatedb.object_store_cache.cache_keys"), 0)
      assert.isAbove(num(m, "slatedb.object_store_cache.cache_bytes"), 0)
      assert.strictEqual(num(m, "slatedb.object_store_cache.evicted_keys"), 0)
      assert.strictEqual(num(m, "slatedb.object_store_cache.evicted_bytes"), 0)
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
