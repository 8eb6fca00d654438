import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { KeyRange } from "../../src/db/DbApi.ts"
import { compareKeys, compareRows, keysEqual } from "../../src/format/KeyComparator.ts"
import { estimatedSize, makeMerge, makeTombstone, makeValue, type RowEntry } from "../../src/format/RowEntry.ts"
import { estimateCompactedSstSize } from "../../src/format/SsTableBuilder.ts"
import { type CursorOptions, MemTable, type MemTableReader, type RowCursor } from "../../src/memtable/MemTable.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const k = (x: string) => enc.encode(x)
const show = (r: RowEntry) => `${dec.decode(r.key)}@${r.seq}`
const drain = (c: RowCursor): Array<string> => {
  const out: Array<string> = []
  for (let r = c.next(); r !== undefined; r = c.next()) out.push(show(r))
  return out
}

// ---- the naive model: a sorted array ---------------------------------------------------------------------

class Model {
  rows: Array<RowEntry> = []
  put(row: RowEntry): void {
    const i = this.rows.findIndex((r) => r.seq === row.seq && keysEqual(r.key, row.key))
    if (i >= 0) this.rows[i] = row
    else {
      this.rows.push(row)
      this.rows.sort(compareRows)
    }
  }
  get(key: Uint8Array, maxSeq = Number.MAX_SAFE_INTEGER): RowEntry | undefined {
    return this.rows.find((r) => keysEqual(r.key, key) && r.seq <= maxSeq)
  }
  scan(range: KeyRange, options: CursorOptions = {}): Array<RowEntry> {
    const maxSeq = options.maxSeq ?? Number.MAX_SAFE_INTEGER
    const inRange = (key: Uint8Array) => {
      if (range.start !== undefined) {
        const c = compareKeys(key, range.start)
        if (c < 0 || (c === 0 && range.startInclusive === false)) return false
      }
      if (range.end !== undefined) {
        const c = compareKeys(key, range.end)
        if (c > 0 || (c === 0 && range.endInclusive !== true)) return false
      }
      return true
    }
    let rows = this.rows.filter((r) => inRange(r.key) && r.seq <= maxSeq)
    if (options.versions === "latest") rows = rows.filter((r, i) => i === 0 || !keysEqual(rows[i - 1]!.key, r.key))
    if (options.order === "desc") {
      // keys descending, versions of a key still newest first
      const groups: Array<Array<RowEntry>> = []
      for (const r of rows) {
        const g = groups[groups.length - 1]
        if (g !== undefined && keysEqual(g[0]!.key, r.key)) g.push(r)
        else groups.push([r])
      }
      rows = groups.reverse().flat()
    }
    return rows
  }
}

// ---- unit tests ------------------------------------------------------------------------------------------

/** a@1..a@3, b@2, c@1 c@4, d@5 (tombstone), e@3 (merge) */
const sample = (): MemTable => {
  const t = new MemTable()
  t.put(makeValue(k("c"), k("c1"), 1, 100))
  t.put(makeValue(k("a"), k("a1"), 1, 100))
  t.put(makeValue(k("a"), k("a3"), 3, 300))
  t.put(makeValue(k("b"), k("b2"), 2, 200))
  t.put(makeValue(k("a"), k("a2"), 2, 200))
  t.put(makeValue(k("c"), k("c4"), 4, 400))
  t.put(makeTombstone(k("d"), 5, 500))
  t.put(makeMerge(k("e"), k("e3"), 3, 300))
  return t
}

describe("MemTable", () => {
  it("orders rows by key ascending, versions newest first", () => {
    const t = sample()
    assert.deepStrictEqual(drain(t.cursor()), ["a@3", "a@2", "a@1", "b@2", "c@4", "c@1", "d@5", "e@3"])
    t.checkInvariants()
  })

  it("get returns the newest version with seq <= maxSeq, tombstones and merges included", () => {
    const t = sample()
    assert.strictEqual(dec.decode(t.get(k("a"))!.value), "a3")
    assert.strictEqual(dec.decode(t.get(k("a"), 3)!.value), "a3")
    assert.strictEqual(dec.decode(t.get(k("a"), 2)!.value), "a2")
    assert.strictEqual(dec.decode(t.get(k("a"), 1)!.value), "a1")
    assert.isUndefined(t.get(k("a"), 0))
    assert.strictEqual(dec.decode(t.get(k("c"), 3)!.value), "c1")
    assert.isUndefined(t.get(k("b"), 1))
    assert.strictEqual(t.get(k("d"))!.kind, 1)
    assert.strictEqual(t.get(k("e"))!.kind, 2)
    assert.isUndefined(t.get(k("bb")))
    assert.isUndefined(t.get(k("")))
    assert.isUndefined(t.get(k("zzz")))
    assert.isUndefined(new MemTable().get(k("a")))
  })

  it("a put with the same key and seq replaces the row and its size", () => {
    const t = new MemTable()
    t.put(makeValue(k("a"), k("short"), 7))
    t.put(makeValue(k("a"), k("a much longer value"), 7))
    assert.strictEqual(t.entryCount, 1)
    assert.strictEqual(t.estimatedBytes, 1 + 19 + 8)
    assert.strictEqual(dec.decode(t.get(k("a"))!.value), "a much longer value")
    assert.deepStrictEqual(drain(t.cursor()), ["a@7"])
  })

  it("latest mode returns the newest visible version per key", () => {
    const t = sample()
    assert.deepStrictEqual(drain(t.cursor(undefined, { versions: "latest" })), ["a@3", "b@2", "c@4", "d@5", "e@3"])
    assert.deepStrictEqual(drain(t.cursor(undefined, { versions: "latest", maxSeq: 2 })), ["a@2", "b@2", "c@1"])
    assert.deepStrictEqual(drain(t.cursor(undefined, { versions: "all", maxSeq: 2 })), ["a@2", "a@1", "b@2", "c@1"])
    assert.deepStrictEqual(
      drain(t.cursor(undefined, { versions: "latest", maxSeq: 2, order: "desc" })),
      ["c@1", "b@2", "a@2"]
    )
  })

  it("descending order: keys descending, versions still newest first", () => {
    const t = sample()
    assert.deepStrictEqual(drain(t.cursor(undefined, { order: "desc" })), [
      "e@3",
      "d@5",
      "c@4",
      "c@1",
      "b@2",
      "a@3",
      "a@2",
      "a@1"
    ])
  })

  it("every bound kind, in both directions", () => {
    const t = sample()
    const m = new Model()
    for (const r of drain(t.cursor())) {
      const [key, seq] = r.split("@")
      m.put(t.cursor({ start: k(key!), end: k(key!), endInclusive: true }, { maxSeq: Number(seq) }).peek()!)
    }
    const keys = [undefined, "", "a", "b", "bb", "c", "e", "f"]
    for (const start of keys) {
      for (const end of keys) {
        for (const startInclusive of [true, false]) {
          for (const endInclusive of [true, false]) {
            const range: KeyRange = {
              ...(start === undefined ? {} : { start: k(start), startInclusive }),
              ...(end === undefined ? {} : { end: k(end), endInclusive })
            }
            for (const order of ["asc", "desc"] as const) {
              for (const versions of ["all", "latest"] as const) {
                const options = { order, versions }
                const label = JSON.stringify({ start, startInclusive, end, endInclusive, order, versions })
                assert.deepStrictEqual(drain(t.cursor(range, options)), m.scan(range, options).map(show), label)
              }
            }
          }
        }
      }
    }
  })

  it("peek does not advance; next returns undefined once exhausted", () => {
    const t = sample()
    const c = t.cursor({ start: k("b"), end: k("c"), endInclusive: true })
    assert.strictEqual(show(c.peek()!), "b@2")
    assert.strictEqual(show(c.peek()!), "b@2")
    assert.strictEqual(show(c.next()!), "b@2")
    assert.strictEqual(show(c.next()!), "c@4")
    assert.strictEqual(show(c.next()!), "c@1")
    assert.isUndefined(c.next())
    assert.isUndefined(c.peek())
    assert.isUndefined(c.next())
  })

  it("seek moves to the first key >= target (asc) or <= target (desc), clamped to the range", () => {
    const t = sample()
    const asc = t.cursor({ start: k("b"), end: k("e") })
    asc.seek(k("bb"))
    assert.deepStrictEqual(drain(asc), ["c@4", "c@1", "d@5"])
    asc.seek(k("a")) // before the range: clamped to its start
    assert.strictEqual(show(asc.peek()!), "b@2")
    asc.seek(k("e")) // the end is exclusive
    assert.isUndefined(asc.peek())
    const desc = t.cursor({ start: k("b"), startInclusive: false }, { order: "desc" })
    desc.seek(k("cc"))
    assert.deepStrictEqual(drain(desc), ["c@4", "c@1"])
    desc.seek(k("zz"))
    assert.strictEqual(show(desc.peek()!), "e@3")
    const latest = t.cursor(undefined, { versions: "latest", maxSeq: 3 })
    latest.seek(k("c"))
    assert.deepStrictEqual(drain(latest), ["c@1", "e@3"])
  })

  it("an empty memtable yields nothing in any mode", () => {
    const t = new MemTable()
    for (const order of ["asc", "desc"] as const) {
      for (const versions of ["all", "latest"] as const) {
        assert.deepStrictEqual(drain(t.cursor({ start: k("a") }, { order, versions })), [])
        assert.deepStrictEqual(drain(t.cursor(undefined, { order, versions })), [])
      }
    }
    assert.isTrue(t.isEmpty)
    assert.strictEqual(t.estimateEncodedSizeCompacted({ blockSize: 4096, minFilterKeys: 1000, filterBitsPerKey: 10 }), 0)
  })

  it("metadata: count, Σ estimatedSize, first/last seq, last tick", () => {
    const t = new MemTable()
    assert.isUndefined(t.firstSeq)
    assert.isUndefined(t.lastSeq)
    assert.isUndefined(t.lastTick)
    const rows = [
      makeValue(k("b"), k("vv"), 10, 1000, 5000),
      makeValue(k("a"), k("v"), 12, 900),
      makeTombstone(k("c"), 11),
      makeValue(k("d"), k("v"), 9)
    ]
    for (const r of rows) t.put(r)
    assert.strictEqual(t.entryCount, 4)
    assert.strictEqual(t.estimatedBytes, rows.reduce((n, r) => n + estimatedSize(r), 0))
    assert.strictEqual(t.estimatedBytes, 1 + 2 + 24 + 1 + 1 + 16 + 1 + 8 + 1 + 1 + 8)
    assert.strictEqual(t.firstSeq, 9)
    assert.strictEqual(t.lastSeq, 12)
    assert.strictEqual(t.lastTick, 1000)
    const options = { blockSize: 4096, minFilterKeys: 1000, filterBitsPerKey: 10 }
    assert.strictEqual(t.estimateEncodedSizeCompacted(options), estimateCompactedSstSize(4, t.estimatedBytes, options))
  })

  it("holds many rows: splits keep the structure valid (random and sequential order)", () => {
    for (const order of ["random", "sequential", "reverse"] as const) {
      const t = new MemTable()
      const n = 20_000
      let x = 12345
      for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) & 0x7fffffff
        const id = order === "random" ? x % 5000 : order === "sequential" ? i : n - i
        t.put(makeValue(k(`key${String(id).padStart(8, "0")}`), k("v"), i + 1))
      }
      t.checkInvariants()
      assert.strictEqual(t.entryCount, n)
      let count = 0
      let prev: RowEntry | undefined
      for (const r of t.cursor()) {
        if (prev !== undefined) assert.isBelow(compareRows(prev, r), 0)
        prev = r
        count++
      }
      assert.strictEqual(count, n)
      assert.strictEqual(drain(t.cursor(undefined, { order: "desc" })).length, n)
    }
  })
})

describe("freeze", () => {
  it("stops writes and keeps a stable, readable view while a new memtable takes writes", () => {
    const active = sample()
    const before = drain(active.cursor())
    const imm = active.freeze()
    assert.strictEqual(active.freeze(), imm)
    assert.isTrue(active.isFrozen)
    assert.throws(() => active.put(makeValue(k("z"), k("z"), 9)))
    const c = imm.cursor()
    const first = c.next()!
    const next = new MemTable()
    for (let i = 0; i < 1000; i++) next.put(makeValue(k(`a${i}`), k("v"), 10 + i))
    assert.deepStrictEqual([show(first), ...drain(c)], before)
    assert.strictEqual(imm.entryCount, 8)
    assert.strictEqual(imm.lastSeq, 5)
    assert.strictEqual(imm.firstSeq, 1)
    assert.strictEqual(imm.lastTick, 500)
    assert.strictEqual(dec.decode(imm.get(k("c"), 3)!.value), "c1")
    assert.strictEqual(next.entryCount, 1000)
  })
})

// ---- properties ------------------------------------------------------------------------------------------

/** Small key alphabet so that keys repeat (many versions) and bounds land on and between keys. */
const keyArb = fc.constantFrom("", "a", "aa", "ab", "b", "ba", "c", "\u00ff", "k1", "k2", "k10").map(k)
const rowArb = fc.record({
  key: keyArb,
  seq: fc.integer({ min: 0, max: 60 }),
  kind: fc.constantFrom(0, 1, 2),
  ts: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined })
}).map(({ key, seq, kind, ts }) =>
  kind === 1 ? makeTombstone(key, seq, ts) : kind === 2 ? makeMerge(key, k(`m${seq}`), seq, ts) : makeValue(key, k(`v${seq}`), seq, ts)
)
const boundArb = fc.option(fc.record({ key: keyArb, inclusive: fc.boolean() }), { nil: undefined })
const rangeArb = fc.tuple(boundArb, boundArb).map(([s, e]): KeyRange => ({
  ...(s === undefined ? {} : { start: s.key, startInclusive: s.inclusive }),
  ...(e === undefined ? {} : { end: e.key, endInclusive: e.inclusive })
}))
const optionsArb = fc.record({
  order: fc.constantFrom("asc" as const, "desc" as const),
  versions: fc.constantFrom("all" as const, "latest" as const),
  maxSeq: fc.integer({ min: -1, max: 61 })
})

const load = (rows: ReadonlyArray<RowEntry>): [MemTable, Model] => {
  const t = new MemTable()
  const m = new Model()
  for (const r of rows) {
    t.put(r)
    m.put(r)
  }
  return [t, m]
}

describe("MemTable vs a sorted array (properties)", () => {
  it("gets, scans and metadata agree with the model", () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 400 }), fc.array(fc.tuple(rangeArb, optionsArb), { maxLength: 6 }), (rows, scans) => {
        const [t, m] = load(rows)
        t.checkInvariants()
        assert.strictEqual(t.entryCount, m.rows.length)
        assert.strictEqual(t.estimatedBytes, m.rows.reduce((n, r) => n + estimatedSize(r), 0))
        for (const key of ["", "a", "aa", "ab", "b", "c", "k1", "k10", "zz"].map(k)) {
          for (const maxSeq of [0, 10, 30, 60, Number.MAX_SAFE_INTEGER]) {
            assert.strictEqual(t.get(key, maxSeq), m.get(key, maxSeq))
          }
        }
        for (const [range, options] of scans) {
          assert.deepStrictEqual(drain(t.cursor(range, options)), m.scan(range, options).map(show))
        }
      }),
      { numRuns: 300 }
    )
  })

  it("seek lands where the model says", () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 300 }), rangeArb, optionsArb, keyArb, (rows, range, options, target) => {
        const [t, m] = load(rows)
        const c = t.cursor(range, options)
        c.next()
        c.seek(target)
        const expected = m.scan(range, options).filter((r) => {
          const cmp = compareKeys(r.key, target)
          return options.order === "asc" ? cmp >= 0 : cmp <= 0
        })
        assert.deepStrictEqual(drain(c), expected.map(show))
      }),
      { numRuns: 300 }
    )
  })

  it("a cursor on the ACTIVE memtable survives interleaved puts: no crash, no skip, no duplicate", () => {
    fc.assert(
      fc.property(
        fc.array(rowArb, { minLength: 1, maxLength: 300 }),
        rangeArb,
        optionsArb,
        // per step: no puts (the cursor's cached position stays valid) or a burst (it must re-seek)
        fc.array(fc.oneof(fc.constant([]), fc.array(rowArb, { minLength: 1, maxLength: 40 })), { maxLength: 60 }),
        (rows, range, options, interleaved) => {
          // maxSeq <= every seq written after the cursor's creation, as in the Db.
          const [t, m] = load(rows)
          const maxSeq = Math.min(options.maxSeq, 60)
          const expected = m.scan(range, { ...options, maxSeq }).map(show)
          const c = t.cursor(range, { ...options, maxSeq })
          const seen: Array<string> = []
          let step = 0
          for (;;) {
            for (const r of interleaved[step++] ?? []) t.put({ ...r, seq: maxSeq + 1 + r.seq })
            const r = c.next()
            if (r === undefined) break
            seen.push(show(r))
          }
          assert.deepStrictEqual(seen, expected)
          t.checkInvariants()
        }
      ),
      { numRuns: 300 }
    )
  })

  it("interleaved puts with ANY seq: still ordered, no duplicates; in all-versions mode nothing old is lost", () => {
    fc.assert(
      fc.property(
        fc.array(rowArb, { minLength: 1, maxLength: 200 }),
        rangeArb,
        optionsArb,
        fc.array(fc.oneof(fc.constant([]), fc.array(rowArb, { minLength: 1, maxLength: 20 })), { maxLength: 60 }),
        (rows, range, options, interleaved) => {
          const [t, m] = load(rows)
          const before = m.scan(range, options).map(show)
          const c = t.cursor(range, options)
          const seen: Array<RowEntry> = []
          let step = 0
          for (let r = c.next(); r !== undefined; r = c.next()) {
            seen.push(r)
            for (const x of interleaved[step++] ?? []) t.put(x)
          }
          // strictly increasing in the cursor's order: no duplicates, no going back
          for (let i = 1; i < seen.length; i++) {
            const a = seen[i - 1]!
            const b = seen[i]!
            const keyOrder = compareKeys(a.key, b.key)
            if (options.order === "asc") assert.isTrue(keyOrder < 0 || (keyOrder === 0 && a.seq > b.seq))
            else assert.isTrue(keyOrder > 0 || (keyOrder === 0 && a.seq > b.seq))
            if (options.versions === "latest") assert.notStrictEqual(keyOrder, 0)
          }
          if (options.versions === "all") {
            const got = new Set(seen.map(show))
            for (const r of before) assert.isTrue(got.has(r), `lost ${r}`)
          }
          t.checkInvariants()
        }
      ),
      { numRuns: 300 }
    )
  })

  it("active cursors also survive big interleaved bursts (leaf and internal splits under the cursor)", () => {
    for (const order of ["asc", "desc"] as const) {
      for (const versions of ["all", "latest"] as const) {
        const t = new MemTable()
        // 1000 keys with up to 3 versions each
        for (let i = 0; i < 3000; i++) t.put(makeValue(k(`k${String((i * 7919) % 1000).padStart(5, "0")}`), k("v"), 1 + (i % 5)))
        const m = new Model()
        for (const r of t.cursor()) m.put(r)
        const expected = m.scan({}, { order, versions, maxSeq: 5 }).map(show)
        const c = t.cursor(undefined, { order, versions, maxSeq: 5 })
        const seen: Array<string> = []
        let seq = 6
        for (let r = c.next(); r !== undefined; r = c.next()) {
          seen.push(show(r))
          if (seen.length % 97 === 0) {
            for (let j = 0; j < 500; j++) t.put(makeValue(k(`k${String((seq * 104729) % 9000).padStart(5, "0")}x`), k("n"), seq++))
          }
        }
        assert.deepStrictEqual(seen, expected, `${order} ${versions}`)
        t.checkInvariants()
      }
    }
  })
})

// The reader interface is what the Db holds for both active and frozen tables.
const _typecheck: (t: MemTable) => MemTableReader = (t) => t.freeze()
void _typecheck
