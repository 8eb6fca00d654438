/**
 * The k-way merge (iter/MergeIterator.ts) on its own: for any number of sources (0 to 17, so trees that
 * are not powers of two), in both orders, with sources that start pending and need a pull at any row,
 * sources that are empty from the start and keys shared between sources, it yields every row of every
 * source exactly once, in key order, asking for a pull only while a source waits for one; keys of any
 * length and bytes, equal keys and prefixes of other keys come out exactly as a stable sort orders them;
 * and weights (`MergeOptions.weights`, which shape the tree) change nothing of that.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeValue, type RowEntry } from "../../src/format/RowEntry.ts"
import { EagerSource, MergeIterator, type Source } from "../../src/iter/MergeIterator.ts"
import { drainMerge } from "../support/drainMerge.ts"

const rng = (seed: number) => () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed / 2 ** 32
}

const key = (i: number) => new TextEncoder().encode(`k${String(i).padStart(5, "0")}`)

/** A source over `rows` in pages: the head of a new page is there only after `pull`. */
class PagedSource extends EagerSource {
  readonly startsPending: boolean
  #at = 0
  #pageEnd = 0
  pulls = 0
  readonly #rows: ReadonlyArray<RowEntry>
  readonly #pageSize: number

  constructor(rows: ReadonlyArray<RowEntry>, pageSize: number, startsPending: boolean) {
    super()
    this.#rows = rows
    this.#pageSize = pageSize
    this.startsPending = startsPending
    if (!startsPending) {
      this.#pageEnd = Math.min(rows.length, pageSize)
      this.head = rows[0]
    }
  }

  advance(): boolean {
    this.#at++
    if (this.#at < this.#pageEnd) {
      this.head = this.#rows[this.#at]
      return true
    }
    this.head = undefined
    return this.#at >= this.#rows.length
  }

  readonly pull = Effect.sync(() => {
    this.pulls++
    this.#pageEnd = Math.min(this.#rows.length, this.#at + this.#pageSize)
    this.head = this.#rows[this.#at]
  })
}

/** A source that counts how many rows the merge builds (reads `head` of) and how often it reads a key. */
class CountingSource implements Source {
  builds = 0
  keyReads = 0
  readonly #inner: PagedSource
  constructor(inner: PagedSource) {
    this.#inner = inner
  }
  get head() {
    this.builds++
    return this.#inner.head
  }
  get hasHead() {
    return this.#inner.hasHead
  }
  get keyBytes() {
    this.keyReads++
    return this.#inner.keyBytes
  }
  get keyLen() {
    return this.#inner.keyLen
  }
  get headSeq() {
    return this.#inner.headSeq
  }
  get startsPending() {
    return this.#inner.startsPending
  }
  advance() {
    return this.#inner.advance()
  }
  get pull() {
    return this.#inner.pull
  }
}

const label = (r: RowEntry) => `${new TextDecoder().decode(r.key)}@${r.seq}`

describe("MergeIterator", () => {
  it.effect("yields every row once, in key order, for 0 to 17 sources in both orders", () =>
    Effect.gen(function*() {
      const random = rng(7)
      let seq = 0
      for (let k = 0; k <= 17; k++) {
        for (const descending of [false, true]) {
          const all: Array<RowEntry> = []
          const sources: Array<PagedSource> = []
          for (let s = 0; s < k; s++) {
            // Some sources are empty; keys come from a small space, so sources share keys.
            const n = random() < 0.15 ? 0 : Math.floor(random() * 60)
            const keys = [...new Set(Array.from({ length: n }, () => Math.floor(random() * 200)))]
            keys.sort((a, b) => descending ? b - a : a - b)
            const rows = keys.map((i) => makeValue(key(i), new Uint8Array([s]), ++seq))
            all.push(...rows)
            sources.push(new PagedSource(rows, 1 + Math.floor(random() * 5), random() < 0.7))
          }
          const { rows } = yield* drainMerge(new MergeIterator(sources, { descending }))
          const sign = descending ? -1 : 1
          for (let i = 1; i < rows.length; i++) {
            assert.isTrue(sign * compareKeys(rows[i - 1]!.key, rows[i]!.key) <= 0, `k=${k} out of order at ${i}`)
          }
          assert.deepStrictEqual(rows.map(label).sort(), all.map(label).sort(), `k=${k} descending=${descending}`)
        }
      }
    }))

  it.effect("keys of any length and bytes (prefixes of each other, 0x00 and 0xff) come out as a stable sort orders them", () =>
    Effect.gen(function*() {
      const random = rng(23)
      const ALPHABET = [0x00, 0x01, 0x61, 0x62, 0xfe, 0xff]
      const randomKey = () =>
        Uint8Array.from({ length: 1 + Math.floor(random() * 4) }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]!)
      let seq = 0
      for (let round = 0; round < 400; round++) {
        const k = 1 + Math.floor(random() * 9)
        const descending = round % 2 === 1
        const sign = descending ? -1 : 1
        const tagged: Array<{ row: RowEntry; source: number; at: number }> = []
        const sources: Array<PagedSource> = []
        for (let s = 0; s < k; s++) {
          // A source may repeat a key (older versions in one run): stored next to each other.
          const rows = Array.from({ length: Math.floor(random() * 30) }, () => makeValue(randomKey(), new Uint8Array([s]), ++seq))
          rows.sort((a, b) => sign * compareKeys(a.key, b.key) || b.seq - a.seq)
          rows.forEach((row, at) => tagged.push({ row, source: s, at }))
          sources.push(new PagedSource(rows, 1 + Math.floor(random() * 6), random() < 0.5))
        }
        // Equal keys in source order, then in each source's own order.
        tagged.sort((a, b) => sign * compareKeys(a.row.key, b.row.key) || a.source - b.source || a.at - b.at)
        const { rows } = yield* drainMerge(new MergeIterator(sources, { descending }))
        assert.deepStrictEqual(rows, tagged.map((t) => t.row), `round ${round} (${k} sources, descending ${descending})`)
      }
    }))

  it.effect("weights (a Huffman-shaped tree) change no row's place: equal keys still in source order, pulls as before", () =>
    Effect.gen(function*() {
      const random = rng(41)
      let seq = 0
      for (let round = 0; round < 300; round++) {
        const k = 1 + Math.floor(random() * 12)
        const descending = round % 2 === 1
        const sign = descending ? -1 : 1
        const pageSizes = Array.from({ length: k }, () => 1 + Math.floor(random() * 6))
        const pending = Array.from({ length: k }, () => random() < 0.5)
        const data = Array.from({ length: k }, (_, s) => {
          // Skewed sizes, as a scan's sources are: one large run beside small ones (and empty ones).
          const n = s === k - 1 ? 200 : Math.floor(random() * random() * 40)
          const rows = Array.from({ length: n }, () => makeValue(key(Math.floor(random() * 300)), new Uint8Array([s]), ++seq))
          return rows.sort((a, b) => sign * compareKeys(a.key, b.key) || b.seq - a.seq)
        })
        // Weights: the sizes, zeros, or anything at all (they shape the tree, never the order).
        const weights = data.map((rows) => round % 3 === 0 ? rows.length : round % 3 === 1 ? 0 : Math.floor(random() * 1000))
        const run = (options: { readonly weights?: ReadonlyArray<number> }) => {
          const sources = data.map((rows, s) => new PagedSource(rows, pageSizes[s]!, pending[s]!))
          return Effect.map(drainMerge(new MergeIterator(sources, { descending, ...options })), (out) => ({
            rows: out.rows,
            pulls: sources.map((src) => src.pulls)
          }))
        }
        const plain = yield* run({})
        const weighted = yield* run({ weights })
        const expected = data.flatMap((rows, source) => rows.map((row, at) => ({ row, source, at })))
          .sort((a, b) => sign * compareKeys(a.row.key, b.row.key) || a.source - b.source || a.at - b.at)
          .map((t) => t.row)
        assert.deepStrictEqual(weighted.rows, expected, `round ${round} (${k} sources, weights ${weights.join(",")})`)
        assert.deepStrictEqual(plain.rows, expected, `round ${round} unweighted`)
        assert.deepStrictEqual(weighted.pulls, plain.pulls, `round ${round}: pulls`)
      }
    }))

  it.effect("weights put a heavy source near the root: its rows take fewer key comparisons", () =>
    Effect.gen(function*() {
      // Six sources: five small ones (a few rows each) and one large run last, as a scan after a load sees them.
      const data = Array.from({ length: 6 }, (_, s) => {
        const n = s === 5 ? 1000 : 10
        return Array.from({ length: n }, (_, i) => makeValue(key(s === 5 ? i * 3 : i * 97 + s), new Uint8Array([s]), s * 10_000 + i + 1))
          .sort((a, b) => compareKeys(a.key, b.key))
      })
      const keyReads = (weights?: ReadonlyArray<number>) => {
        const sources = data.map((rows) => new CountingSource(new PagedSource(rows, 1000, false)))
        return Effect.map(drainMerge(new MergeIterator(sources, weights === undefined ? {} : { weights })), (out) => ({
          rows: out.rows.length,
          reads: sources.reduce((sum, src) => sum + src.keyReads, 0)
        }))
      }
      const balanced = yield* keyReads()
      const weighted = yield* keyReads(data.map((rows) => rows.length))
      assert.strictEqual(weighted.rows, 1050)
      assert.strictEqual(balanced.rows, 1050)
      // Balanced, the large run's leaf is 3 matches from the root; weighted, 1: about a third of the reads.
      assert.isBelow(weighted.reads, balanced.reads * 0.5, `weighted ${weighted.reads}, balanced ${balanced.reads}`)
    }))

  it.effect("asks for a pull only when a source waits for its next page", () =>
    Effect.gen(function*() {
      const rowsOf = (from: number) => Array.from({ length: 10 }, (_, i) => makeValue(key(from + 2 * i), new Uint8Array(0), from + i + 1))
      // Pages of 4 rows: 3 pages each, the first pulled at the start (both at once).
      const a = new PagedSource(rowsOf(0), 4, true)
      const b = new PagedSource(rowsOf(1), 4, true)
      const { rows, pulls } = yield* drainMerge(new MergeIterator([a, b]))
      assert.strictEqual(rows.length, 20)
      assert.strictEqual(a.pulls, 3)
      assert.strictEqual(b.pulls, 3)
      // One pull at the start for both, then one per later page of each.
      assert.strictEqual(pulls, 5)
    }))

  it.effect("shadows: a version older than the one just yielded is dropped without being built", () =>
    Effect.gen(function*() {
      const random = rng(11)
      for (let round = 0; round < 200; round++) {
        const k = 1 + Math.floor(random() * 6)
        // Newest sources first (as the read path lists them) in half the rounds; seqs at random otherwise.
        const ordered = round % 2 === 0
        const all: Array<RowEntry> = []
        const sources: Array<CountingSource> = []
        const seqs = Array.from({ length: 2000 }, (_, i) => i + 1).sort(() => random() - 0.5)
        let next = 0
        for (let s = 0; s < k; s++) {
          const keys = Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 60))
          // A source may hold a key twice (a sorted run with a snapshot's older version): seq descending.
          const rows = keys.map((i) => makeValue(key(i), new Uint8Array([s]), ordered ? 2000 - s * 100 - next++ : seqs[next++]!))
          rows.sort((a, b) => compareKeys(a.key, b.key) || b.seq - a.seq)
          all.push(...rows)
          sources.push(new CountingSource(new PagedSource(rows, 1 + Math.floor(random() * 5), random() < 0.5)))
        }
        const { rows } = yield* drainMerge(new MergeIterator(sources, { shadows: () => true }))
        const newest = new Map<string, RowEntry>()
        for (const r of all) {
          const name = new TextDecoder().decode(r.key)
          if ((newest.get(name)?.seq ?? -1) < r.seq) newest.set(name, r)
        }
        const yielded = new Set(rows.map(label))
        for (const r of newest.values()) assert.isTrue(yielded.has(label(r)), `round ${round}: ${label(r)} missing`)
        for (let i = 1; i < rows.length; i++) {
          const c = compareKeys(rows[i - 1]!.key, rows[i]!.key)
          // In key order; a key's later versions only when newer than the one before.
          assert.isTrue(c < 0 || (c === 0 && rows[i - 1]!.seq < rows[i]!.seq), `round ${round}: at ${i}`)
        }
        if (ordered) assert.strictEqual(rows.length, newest.size, `round ${round}: one version per key`)
        assert.strictEqual(sources.reduce((n, s) => n + s.builds, 0), rows.length, `round ${round}: rows built`)
      }
    }))

  it.effect("without shadows, equal keys come out in source order and every version is built", () =>
    Effect.gen(function*() {
      const one = (s: number, seq: number) => new PagedSource([makeValue(key(1), new Uint8Array([s]), seq)], 1, false)
      const sources = [one(0, 3), one(1, 9), one(2, 1)].map((p) => new CountingSource(p))
      const { rows } = yield* drainMerge(new MergeIterator(sources))
      assert.deepStrictEqual(rows.map((r) => r.value[0]), [0, 1, 2])
      assert.deepStrictEqual(sources.map((s) => s.builds), [1, 1, 1])
    }))

  it.effect("shadows decides per row: a row it refuses lets older versions through; rowsRead counts dropped rows", () =>
    Effect.gen(function*() {
      const src = (rows: Array<[number, number]>) =>
        new CountingSource(new PagedSource(rows.map(([k, seq]) => makeValue(key(k), new Uint8Array([seq]), seq)), 2, false))
      // Key 1: newest 9 (shadows), then 5 and 2 dropped. Key 2: newest 8 does not shadow (seq 8 is "a merge
      // operand" here), so 4 comes through, and shadows; 1 is dropped.
      const sources = [src([[1, 9], [2, 8]]), src([[1, 5], [2, 4]]), src([[1, 2], [2, 1]])]
      const merge = new MergeIterator(sources, { shadows: (row) => row.seq !== 8 })
      const { rows } = yield* drainMerge(merge)
      assert.deepStrictEqual(rows.map(label), ["k00001@9", "k00002@8", "k00002@4"])
      assert.strictEqual(merge.rowsRead, 6)
      assert.strictEqual(sources.reduce((n, s) => n + s.builds, 0), 3)
    }))
})
