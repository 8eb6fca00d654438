/**
 * Scans: every bound kind, both orders, prefixes (carry, all-0xff, empty), invalid ranges, laziness, and a
 * model check: random writes spread over the memtable, immutable memtables and several L0 SSTs (small
 * memtables, explicit flushes), then random scans in both orders compared with a plain sorted map.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Stream } from "effect"
import fc from "fast-check"
import type { KeyRange } from "../../src/db/DbApi.ts"
import { prefixRange } from "../../src/db/Reader.ts"
import { InvalidError } from "../../src/errors.ts"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, ND, openOn, s } from "./fixtures.ts"

const keysOf = (rows: ReadonlyArray<readonly [string, string]>) => rows.map(([k]) => k)

describe("Db.scan: ranges", () => {
  it.effect("every bound kind, ascending and descending", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      for (const k of ["a", "b", "c", "d", "e"]) yield* db.put(b(k), b(k.toUpperCase()), ND)
      const cases: Array<readonly [KeyRange, string]> = [
        [{}, "abcde"],
        [{ start: b("b") }, "bcde"],
        [{ start: b("b"), startInclusive: false }, "cde"],
        [{ end: b("d") }, "abc"],
        [{ end: b("d"), endInclusive: true }, "abcd"],
        [{ start: b("b"), end: b("d") }, "bc"],
        [{ start: b("b"), end: b("d"), startInclusive: false, endInclusive: true }, "cd"],
        [{ start: b("b"), end: b("b"), endInclusive: true }, "b"],
        [{ start: b("bb"), end: b("cc") }, "c"],
        [{ start: b("f") }, ""],
        [{ end: b("a") }, ""],
        [{ start: b("a0"), end: b("a1") }, ""]
      ]
      for (const [range, expected] of cases) {
        assert.strictEqual(keysOf(yield* collect(db.scan(range))).join(""), expected, JSON.stringify(range))
        assert.strictEqual(
          keysOf(yield* collect(db.scan(range, { order: "desc" }))).join(""),
          [...expected].reverse().join(""),
          `desc ${JSON.stringify(range)}`
        )
      }
      const rows = yield* Stream.runCollect(db.scan({ start: b("c"), end: b("d") }))
      assert.strictEqual(rows.length, 1)
      assert.strictEqual(s(rows[0]!.value), "C")
      assert.strictEqual(rows[0]!.seq, 3)
    }))

  it.effect("inverted and empty ranges are InvalidError", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      const inverted = yield* Effect.flip(Stream.runCollect(db.scan({ start: b("b"), end: b("a") })))
      assert.instanceOf(inverted, InvalidError)
      assert.match(inverted.message, /range start must not be greater than range end/)
      for (const range of [{ start: b("a"), end: b("a") }, { start: b("a"), end: b("a"), startInclusive: false, endInclusive: true }]) {
        const empty = yield* Effect.flip(Stream.runCollect(db.scan(range)))
        assert.match(empty.message, /range must be non-empty/)
      }
    }))

  it("prefix ranges: carry, all-0xff, empty", () => {
    assert.deepStrictEqual(prefixRange(b("ab")), { start: b("ab"), startInclusive: true, end: b("ac"), endInclusive: false })
    assert.deepStrictEqual(prefixRange(new Uint8Array([0x61, 0x62, 0xff])).end, b("ac"))
    assert.deepStrictEqual(prefixRange(new Uint8Array([0x61, 0xff, 0xff])).end, b("b"))
    assert.strictEqual(prefixRange(new Uint8Array([0xff, 0xff])).end, undefined)
    assert.deepStrictEqual(prefixRange(new Uint8Array(0)), {})
  })

  it.effect("scanPrefix in both orders, across the memtable and L0", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      const keys = ["a", "ab", "ab\u0000", "abc", "abd", "ac", "b"]
      for (const k of keys.slice(0, 4)) yield* db.put(b(k), b("1"), ND)
      yield* db.flush({ type: "memtable" })
      for (const k of keys.slice(4)) yield* db.put(b(k), b("2"), ND)
      yield* db.put(new Uint8Array([0x61, 0x62, 0xff]), b("3"), ND)
      yield* db.put(new Uint8Array([0x61, 0x63, 0x00]), b("4"), ND)
      const asc = yield* Stream.runCollect(db.scanPrefix(b("ab")))
      assert.deepStrictEqual(asc.map((kv) => Array.from(kv.key)), [
        [0x61, 0x62],
        [0x61, 0x62, 0],
        [0x61, 0x62, 0x63],
        [0x61, 0x62, 0x64],
        [0x61, 0x62, 0xff]
      ])
      const desc = yield* Stream.runCollect(db.scanPrefix(b("ab"), { order: "desc" }))
      assert.deepStrictEqual(desc.map((kv) => Array.from(kv.key)), asc.map((kv) => Array.from(kv.key)).reverse())
      const ff = yield* collect(db.scanPrefix(new Uint8Array([0x61, 0x62, 0xff])))
      assert.strictEqual(ff.length, 1)
      assert.strictEqual((yield* collect(db.scanPrefix(new Uint8Array(0)))).length, 9)
    }))

  it.effect("what a scan returns is the caller's own: changing it changes no other row, later read, or version", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      const name = (i: number) => `k${String(i).padStart(4, "0")}`
      // Three versions of each key over two L0 SSTs and the memtable, some merged from several sources.
      for (let pass = 1; pass <= 3; pass++) {
        for (let i = 0; i < 600; i += pass) yield* db.put(b(name(i)), b(`v${pass}-${i}`), ND)
        if (pass < 3) yield* db.flush({ type: "memtable" })
      }
      const expected = yield* collect(db.scan({}))
      for (const order of ["asc", "desc"] as const) {
        const rows = yield* Stream.runCollect(db.scan({}, { order }))
        const want = order === "asc" ? expected : [...expected].reverse()
        // Each row's bytes are its own: overwriting one leaves every other as it was.
        for (let r = 0; r < rows.length; r++) {
          assert.deepStrictEqual([s(rows[r]!.key)!, s(rows[r]!.value)!], want[r], `${order} row ${r}`)
          rows[r]!.key.fill(0x7a)
          rows[r]!.value.fill(0x7a)
        }
      }
      assert.deepStrictEqual(yield* collect(db.scan({})), expected)
      assert.strictEqual(s(yield* db.get(b(name(6)))), "v3-6")
    }))

  it.effect("a scan reads lazily and sees the rows committed when it started", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      for (let i = 0; i < 1000; i++) yield* db.put(b(`k${String(i).padStart(4, "0")}`), b("v"), ND)
      yield* db.flush({ type: "memtable" })
      // Only the first rows are pulled.
      const first = yield* Stream.runCollect(Stream.take(db.scan({}), 3))
      assert.deepStrictEqual(first.map((kv) => s(kv.key)), ["k0000", "k0001", "k0002"])
      const all = yield* Stream.runCollect(db.scan({}))
      assert.strictEqual(all.length, 1000)
    }))
})

// ------------------------------------------------------------------------------------------ model check

type Op =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "flushMemtable" }
  | { readonly op: "flushWal" }

const keyArb = fc.constantFrom("a", "aa", "ab", "b", "ba", "bb", "c", "ca", "d", "k1", "k10", "k2", "z")
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("put" as const), key: keyArb, value: fc.string({ maxLength: 20 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delete" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.constant({ op: "flushMemtable" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "flushWal" as const }) }
)
const boundArb = fc.option(fc.record({ key: keyArb, inclusive: fc.boolean() }), { nil: undefined })

const inRange = (key: string, range: KeyRange) => {
  const k = b(key)
  if (range.start !== undefined) {
    const c = compareKeys(k, range.start)
    if (c < 0 || (c === 0 && range.startInclusive === false)) return false
  }
  if (range.end !== undefined) {
    const c = compareKeys(k, range.end)
    if (c > 0 || (c === 0 && range.endInclusive !== true)) return false
  }
  return true
}

/** The memory store, except that L0 SST puts wait while `hold` is set (so frozen memtables pile up). */
const holdingStore = () => {
  const inner = makeMemory()
  let hold = false
  let waiting: Array<Deferred.Deferred<void>> = []
  const store = ObjectStore.of({
    ...inner,
    put: (path, bytes, options) =>
      Effect.suspend(() => {
        if (!hold || !path.includes("/compacted/")) return inner.put(path, bytes, options)
        const d = Deferred.makeUnsafe<void>()
        waiting.push(d)
        return Effect.andThen(Deferred.await(d), inner.put(path, bytes, options))
      })
  })
  const setHold = (on: boolean) =>
    Effect.gen(function*() {
      hold = on
      if (!on) {
        const released = waiting
        waiting = []
        for (const d of released) yield* Deferred.succeed(d, undefined)
        // Let the flusher catch up.
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      }
    })
  return { store, setHold }
}

describe("Db.scan: model check", () => {
  it.effect("random writes over memtable + imms + L0s; random scans and gets match a sorted map", () =>
    Effect.gen(function*() {
      const samples = fc.sample(
        fc.tuple(
          fc.array(opArb, { minLength: 100, maxLength: 300 }),
          fc.array(fc.tuple(boundArb, boundArb), { minLength: 5, maxLength: 10 })
        ),
        { numRuns: 30, seed: 20261124 }
      )
      let sawL0 = 0
      let sawImm = 0
      for (const [ops, ranges] of samples) {
        const { setHold, store } = holdingStore()
        // Tiny memtables: several freeze on their own, so reads cross imms and L0s.
        const { db } = yield* openOn(store, { settings: { l0SstSizeBytes: 700 } })
        const model = new Map<string, string>()
        const check = Effect.gen(function*() {
          const sorted = [...model.entries()].sort(([x], [y]) => compareKeys(b(x), b(y)))
          for (const [lo, hi] of ranges) {
            const range: KeyRange = {
              ...(lo === undefined ? {} : { start: b(lo.key), startInclusive: lo.inclusive }),
              ...(hi === undefined ? {} : { end: b(hi.key), endInclusive: hi.inclusive })
            }
            if (lo !== undefined && hi !== undefined) {
              const c = compareKeys(b(lo.key), b(hi.key))
              if (c > 0 || (c === 0 && !(lo.inclusive && hi.inclusive))) continue
            }
            const expected = sorted.filter(([k]) => inRange(k, range))
            assert.deepStrictEqual(yield* collect(db.scan(range)), expected)
            assert.deepStrictEqual(yield* collect(db.scan(range, { order: "desc" })), [...expected].reverse())
          }
          for (const key of ["a", "ab", "k1", "z", "zz"]) assert.strictEqual(s(yield* db.get(b(key))), model.get(key))
        })
        // First half: L0 uploads held, so frozen memtables stay in memory; then released.
        const half = Math.floor(ops.length / 2)
        yield* setHold(true)
        for (let i = 0; i < ops.length; i++) {
          const op = ops[i]!
          if (i === half) {
            if ((yield* db.status).immutableMemtables > 0) sawImm++
            yield* check
            yield* setHold(false)
          }
          if (op.op === "put") {
            yield* db.put(b(op.key), b(op.value), ND)
            model.set(op.key, op.value)
          } else if (op.op === "delete") {
            yield* db.delete(b(op.key), ND)
            model.delete(op.key)
          } else if (op.op === "flushMemtable" && i >= half) yield* db.flush({ type: "memtable" })
          else if (op.op === "flushWal") yield* db.flush({ type: "wal" })
        }
        if ((yield* db.status).l0Ssts > 1) sawL0++
        yield* check
      }
      // The runs did cross the layers.
      assert.isAbove(sawL0, 15)
      assert.isAbove(sawImm, 15)
    }))
})
