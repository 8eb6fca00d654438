import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { BlockCache, LruBlockCache } from "../../src/sst/BlockCache.ts"

describe("LruBlockCache", () => {
  it("returns what was stored, counts hits and misses", () => {
    const c = new LruBlockCache(100)
    c.set("a#0", "block a", 10)
    assert.strictEqual(c.get("a#0"), "block a")
    assert.isUndefined(c.get("a#4096"))
    assert.deepStrictEqual(c.stats(), { hits: 1, misses: 1, evictions: 0, rejected: 0, entries: 1, bytes: 10, maxBytes: 100 })
  })

  it("evicts the least recently used first; a get refreshes recency", () => {
    const c = new LruBlockCache(30)
    c.set("a", 1, 10)
    c.set("b", 2, 10)
    c.set("c", 3, 10)
    assert.strictEqual(c.get("a"), 1) // a is now the most recent: b is the oldest
    c.set("d", 4, 10)
    assert.isFalse(c.has("b"))
    assert.isTrue(c.has("a"))
    assert.isTrue(c.has("c"))
    assert.isTrue(c.has("d"))
    assert.strictEqual(c.stats().evictions, 1)
    c.set("big", 5, 25) // needs 25 of 30: a, c, d all go
    assert.deepStrictEqual([c.has("a"), c.has("c"), c.has("d"), c.has("big")], [false, false, false, true])
    assert.strictEqual(c.bytes, 25)
    assert.strictEqual(c.stats().evictions, 4)
  })

  it("peek neither refreshes recency nor counts", () => {
    const c = new LruBlockCache(20)
    c.set("a", 1, 10)
    c.set("b", 2, 10)
    assert.strictEqual(c.peek("a"), 1)
    c.set("c", 3, 10)
    assert.isFalse(c.has("a"))
    assert.strictEqual(c.stats().hits, 0)
  })

  it("replacing a key adjusts the byte count and refreshes it", () => {
    const c = new LruBlockCache(30)
    c.set("a", 1, 10)
    c.set("b", 2, 10)
    c.set("a", 11, 15)
    assert.strictEqual(c.bytes, 25)
    assert.strictEqual(c.size, 2)
    c.set("c", 3, 5)
    assert.strictEqual(c.bytes, 30)
    c.set("d", 4, 1) // b is the oldest now
    assert.isFalse(c.has("b"))
    assert.strictEqual(c.get("a"), 11)
  })

  it("refuses an entry heavier than the whole cache, without evicting others", () => {
    const c = new LruBlockCache(10)
    c.set("a", 1, 5)
    c.set("huge", 2, 11)
    assert.isFalse(c.has("huge"))
    assert.isTrue(c.has("a"))
    assert.strictEqual(c.stats().rejected, 1)
    c.set("a", 3, 11) // a replacement that does not fit removes the old value
    assert.isFalse(c.has("a"))
    assert.strictEqual(c.bytes, 0)
  })

  it("maxBytes 0 caches nothing", () => {
    const c = new LruBlockCache(0)
    c.set("a", 1, 1)
    c.set("b", 1, 0)
    assert.isUndefined(c.get("a"))
    assert.isUndefined(c.get("b"))
    assert.strictEqual(c.size, 0)
    assert.throws(() => new LruBlockCache(-1))
    assert.throws(() => c.set("x", 1, Number.NaN))
  })

  it("delete, deletePrefix, clear", () => {
    const c = new LruBlockCache(1000)
    for (const off of [0, 4096, 8192]) c.set(`compacted/01A.sst#${off}`, off, 10)
    c.set("compacted/01A.sst#index", "idx", 7)
    c.set("compacted/01B.sst#0", "b", 10)
    assert.isTrue(c.delete("compacted/01A.sst#4096"))
    assert.isFalse(c.delete("compacted/01A.sst#4096"))
    assert.strictEqual(c.bytes, 37)
    assert.strictEqual(c.deletePrefix("compacted/01A.sst#"), 3)
    assert.strictEqual(c.size, 1)
    assert.strictEqual(c.bytes, 10)
    c.clear()
    assert.strictEqual(c.size, 0)
    assert.strictEqual(c.bytes, 0)
  })

  it("matches a naive LRU model (property)", () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant("get" as const), key: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ op: fc.constant("set" as const), key: fc.integer({ min: 0, max: 15 }), weight: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ op: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 15 }) })
    )
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.array(op, { maxLength: 200 }), (maxBytes, ops) => {
        const c = new LruBlockCache(maxBytes)
        // model: array of [key, value, weight], least recent first
        let model: Array<[string, number, number]> = []
        let step = 0
        for (const o of ops) {
          const key = `k${o.key}`
          const i = model.findIndex(([k]) => k === key)
          if (o.op === "get") {
            const got = c.get(key)
            if (i < 0) assert.isUndefined(got)
            else {
              const [e] = model.splice(i, 1)
              model.push(e!)
              assert.strictEqual(got, e![1])
            }
          } else if (o.op === "delete") {
            assert.strictEqual(c.delete(key), i >= 0)
            if (i >= 0) model.splice(i, 1)
          } else {
            c.set(key, step, o.weight)
            if (i >= 0) model.splice(i, 1)
            if (o.weight <= maxBytes && maxBytes > 0) {
              model.push([key, step, o.weight])
              let total = model.reduce((n, [, , w]) => n + w, 0)
              while (total > maxBytes) total -= model.shift()![2]
            }
          }
          step++
          const bytes = model.reduce((n, [, , w]) => n + w, 0)
          assert.strictEqual(c.bytes, bytes)
          assert.isAtMost(c.bytes, maxBytes)
          assert.strictEqual(c.size, model.length)
        }
        model = model.filter(([k]) => c.has(k))
        assert.strictEqual(model.length, c.size)
      }),
      { numRuns: 500 }
    )
  })
})

describe("LruBlockCache block tables", () => {
  it("a table's slots share the byte budget and the recency order with string keys", () => {
    const c = new LruBlockCache(30)
    const t = c.table<string>("sst-a", 4)
    assert.strictEqual(c.table("sst-a"), t, "the same table for the same name")
    t.set(0, "a0", 10)
    c.set("s", "string", 10)
    t.set(3, "a3", 10)
    assert.strictEqual(t.get(0), "a0") // a0 is now the most recent: s is the oldest
    t.set(1, "a1", 10)
    assert.isFalse(c.has("s"))
    assert.deepStrictEqual([t.has(0), t.has(1), t.has(2), t.has(3)], [true, true, false, true])
    assert.strictEqual(t.get(2), undefined)
    assert.deepStrictEqual(c.stats(), { hits: 1, misses: 1, evictions: 1, rejected: 0, entries: 3, bytes: 30, maxBytes: 30 })
    t.set(3, "a3'", 5) // replacing refreshes and re-weighs
    assert.strictEqual(c.bytes, 25)
    t.set(9, "a9", 10) // beyond the reserved slots: the table grows; a0 is the oldest now
    assert.isFalse(t.has(0))
    assert.strictEqual(t.get(9), "a9")
    t.set(1, "too heavy", 31)
    assert.isFalse(t.has(1), "a replacement too heavy to cache removes the old value")
  })

  it("deletePrefix drops the tables whose name starts with the prefix; clear empties every slot", () => {
    const c = new LruBlockCache(1000)
    const a = c.table("compacted/01A.sst")
    const b = c.table("compacted/01B.sst")
    for (let i = 0; i < 3; i++) a.set(i, i, 10)
    b.set(0, "b", 10)
    c.set("compacted/01A.sst#index", "idx", 7)
    assert.strictEqual(c.deletePrefix("compacted/01A.sst"), 4)
    assert.strictEqual(c.size, 1)
    assert.strictEqual(c.bytes, 10)
    assert.isTrue(b.has(0))
    assert.notStrictEqual(c.table("compacted/01A.sst"), a, "a dropped table is forgotten")
    c.clear()
    assert.isFalse(b.has(0))
    assert.strictEqual(c.size, 0)
    b.set(1, "again", 10)
    assert.strictEqual(c.table("compacted/01B.sst").get(1), "again", "tables stay usable after clear")
  })

  it("a table is forgotten when its last block goes, and registers again with its next one", () => {
    const c = new LruBlockCache(30)
    const a = c.table("compacted/01A.sst", 4)
    const idle = c.table("compacted/01I.sst", 4)
    assert.strictEqual(c.tableCount, 2)
    c.dropEmptyTable("compacted/01I.sst") // its reader went without caching a block
    assert.strictEqual(c.tableCount, 1)
    assert.notStrictEqual(c.table("compacted/01I.sst"), idle)
    c.dropEmptyTable("compacted/01I.sst")
    a.set(0, "a0", 10)
    a.set(1, "a1", 10)
    c.dropEmptyTable("compacted/01A.sst") // not empty: stays
    assert.strictEqual(c.existingTable("compacted/01A.sst"), a)
    // Three other tables' blocks evict a's.
    for (const name of ["b", "c", "d"]) c.table(name).set(0, name, 10)
    assert.isFalse(a.has(0) || a.has(1))
    assert.isUndefined(c.existingTable("compacted/01A.sst"), "no block left: the table is forgotten")
    assert.strictEqual(c.tableCount, 3)
    // Its reader caches again: the table is registered again, and shared.
    a.set(2, "a2", 10)
    assert.strictEqual(c.table("compacted/01A.sst"), a)
    assert.strictEqual(c.table("compacted/01A.sst").get(2), "a2")
  })

  it("grows past its initial capacity and reuses the ids of removed entries without mixing values up", () => {
    const c = new LruBlockCache(1100)
    const t = c.table<string>("big")
    for (let i = 0; i < 600; i++) {
      if (i % 2 === 0) t.set(i, `slot ${i}`, 1)
      else c.set(`key ${i}`, `value ${i}`, 1)
    }
    assert.strictEqual(c.size, 600)
    for (let i = 0; i < 600; i += 2) assert.strictEqual(t.get(i), `slot ${i}`)
    // The string keys are now the least recent: 600 more entries push out the 100 oldest keys.
    const u = c.table<string>("next")
    for (let i = 0; i < 600; i++) u.set(i, `next ${i}`, 1)
    assert.strictEqual(c.size, 1100)
    assert.strictEqual(c.stats().evictions, 100)
    for (let i = 1; i < 200; i += 2) assert.isFalse(c.has(`key ${i}`))
    for (let i = 201; i < 600; i += 2) assert.strictEqual(c.peek(`key ${i}`), `value ${i}`)
    for (let i = 0; i < 600; i += 2) assert.strictEqual(t.get(i), `slot ${i}`)
    for (let i = 0; i < 600; i++) assert.strictEqual(u.get(i), `next ${i}`)
    // Removed ids are reused: a deletion and an insertion keep the count, and values stay where they were put.
    assert.isTrue(c.delete("key 201"))
    c.set("fresh", "fresh value", 1)
    assert.strictEqual(c.get("fresh"), "fresh value")
    assert.strictEqual(c.peek("key 203"), "value 203")
    assert.strictEqual(c.size, 1100)
  })

  it("matches a naive LRU model over string keys and table slots together (property)", () => {
    const target = fc.oneof(
      fc.integer({ min: 0, max: 7 }).map((k) => ({ kind: "key" as const, k })),
      fc.record({ t: fc.integer({ min: 0, max: 2 }), i: fc.integer({ min: 0, max: 5 }) }).map((x) => ({ kind: "slot" as const, ...x }))
    )
    const op = fc.record({ op: fc.constantFrom("get" as const, "set" as const), target, weight: fc.integer({ min: 0, max: 40 }) })
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.array(op, { maxLength: 200 }), (maxBytes, ops) => {
        const c = new LruBlockCache(maxBytes)
        const tables = [c.table("t0"), c.table("t1", 3), c.table("t2", 9)]
        const name = (x: (typeof ops)[number]["target"]) => (x.kind === "key" ? `k${x.k}` : `t${x.t}/${x.i}`)
        let model: Array<[string, number, number]> = []
        let step = 0
        for (const o of ops) {
          const id = name(o.target)
          const i = model.findIndex(([k]) => k === id)
          if (o.op === "get") {
            const got = o.target.kind === "key" ? c.get(id) : tables[o.target.t]!.get(o.target.i)
            if (i < 0) assert.isUndefined(got)
            else {
              const [e] = model.splice(i, 1)
              model.push(e!)
              assert.strictEqual(got, e![1])
            }
          } else {
            if (o.target.kind === "key") c.set(id, step, o.weight)
            else tables[o.target.t]!.set(o.target.i, step, o.weight)
            if (i >= 0) model.splice(i, 1)
            if (o.weight <= maxBytes && maxBytes > 0) {
              model.push([id, step, o.weight])
              let total = model.reduce((n, [, , w]) => n + w, 0)
              while (total > maxBytes) total -= model.shift()![2]
            }
          }
          step++
          assert.strictEqual(c.bytes, model.reduce((n, [, , w]) => n + w, 0))
          assert.strictEqual(c.size, model.length)
        }
      }),
      { numRuns: 300 }
    )
  })
})

describe("BlockCache service", () => {
  it.effect("layer({ maxBytes }) provides a working cache", () =>
    Effect.gen(function*() {
      const cache = yield* BlockCache
      cache.set("s#0", new Uint8Array(8), 8)
      cache.set("s#8", new Uint8Array(8), 8)
      cache.set("s#16", new Uint8Array(8), 8) // evicts s#0
      assert.isUndefined(cache.get("s#0"))
      assert.strictEqual(cache.get<Uint8Array>("s#16")?.length, 8)
      const stats = yield* cache.stats
      assert.deepStrictEqual(stats, { hits: 1, misses: 1, evictions: 1, rejected: 0, entries: 2, bytes: 16, maxBytes: 16 })
      assert.strictEqual(cache.deletePrefix("s#"), 2)
    }).pipe(Effect.provide(BlockCache.layer({ maxBytes: 16 }))))

  it.effect("layerDisabled caches nothing", () =>
    Effect.gen(function*() {
      const cache = yield* BlockCache
      cache.set("a", 1, 1)
      assert.isUndefined(cache.get("a"))
    }).pipe(Effect.provide(BlockCache.layerDisabled)))
})
