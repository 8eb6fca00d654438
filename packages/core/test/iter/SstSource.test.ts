/**
 * The read path's SST merge source (iter/SstSource.ts): the same rows as the SSTs' streamed scans, in both
 * orders, with bounds and a sequence cap, over a sorted run of several SSTs and an overlapping SST, with a
 * cold, a warm and a partly warm block cache; no Effect at all when every block is cached; a short scan of
 * a cold SST reads only the pages it needs; pages read on the calling thread (a store with `getRangeNow`)
 * go into the block cache only when the scan asks for it, as pages read through the Effect path do; a scan
 * counts the cached blocks it uses as hits on either path, a compaction's reads count nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope, Stream } from "effect"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeValue, type RowEntry } from "../../src/format/RowEntry.ts"
import { buildSsTable } from "../../src/format/SsTableBuilder.ts"
import { compactedSstPath } from "../../src/format/Paths.ts"
import { MergeIterator } from "../../src/iter/MergeIterator.ts"
import { NEED_PULL } from "../../src/iter/RowIterator.ts"
import { drainMerge } from "../support/drainMerge.ts"
import { type SstPart, SstSource } from "../../src/iter/SstSource.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { CacheBlocks } from "../../src/sst/SsTableBlocks.ts"
import type { ScanOptions } from "../../src/sst/SsTableScan.ts"
import { TableStore } from "../../src/sst/TableStore.ts"

const ROOT = "db"
const NO_EXTERNAL = { externalDbs: [] }
const key = (i: number) => new TextEncoder().encode(`key${String(i).padStart(6, "0")}`)
const value = (i: number, seq: number) => new TextEncoder().encode(`v${i}@${seq}`.padEnd(40, "."))

/** Run SSTs "a" (even keys 0..598) and "b" (even keys 600..1198), and "l0": odd keys and every 5th even key, newer. */
const tables = () => {
  const run: Array<Array<RowEntry>> = [[], []]
  for (let i = 0; i < 1200; i += 2) run[i < 600 ? 0 : 1]!.push(makeValue(key(i), value(i, i + 1), i + 1))
  const l0: Array<RowEntry> = []
  for (let i = 0; i < 1200; i++) if (i % 2 === 1 || i % 10 === 0) l0.push(makeValue(key(i), value(i, 5000 + i), 5000 + i))
  return { a: run[0]!, b: run[1]!, l0 }
}

const counting = () => {
  const inner = makeMemory()
  const counts = { getRange: 0 }
  const store = ObjectStore.of({
    ...inner,
    getRange: (p, r) => {
      counts.getRange++
      return inner.getRange(p, r)
    }
  })
  return { store, counts }
}

const setup = Effect.gen(function*() {
  const { store, counts } = counting()
  const rows = tables()
  for (const [id, r] of Object.entries(rows)) {
    yield* store.put(compactedSstPath(ROOT, id), buildSsTable(r, { blockSize: 512 }).bytes)
  }
  const ts = new TableStore(store, ROOT, 64 * 1024 * 1024)
  for (const id of Object.keys(rows)) yield* ts.reader(NO_EXTERNAL, { id })
  return { ts, counts, rows }
})

/** A tiny seeded generator. */
const rng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) >>> 0
  return seed / 2 ** 32
}

const sourcesOf = (ts: TableStore, options: ScanOptions, maxSeq: number, scope: Scope.Scope) => {
  const runParts: Array<SstPart> = [[{ id: "a" }, options], [{ id: "b" }, options]]
  if (options.descending === true) runParts.reverse()
  return [new SstSource(ts, NO_EXTERNAL, [[{ id: "l0" }, options]], scope, maxSeq), new SstSource(ts, NO_EXTERNAL, runParts, scope, maxSeq)]
}

/** What the streamed scans of the same SSTs give, merged by sorting (key, then seq descending; reversed for descending). */
const expected = (ts: TableStore, options: ScanOptions, maxSeq: number) =>
  Effect.gen(function*() {
    const out: Array<RowEntry> = []
    for (const id of ["l0", "a", "b"]) {
      const r = yield* ts.reader(NO_EXTERNAL, { id })
      for (const row of yield* Stream.runCollect(r.scan(options))) if (row.seq <= maxSeq) out.push(row)
    }
    out.sort((x, y) => compareKeys(x.key, y.key) || y.seq - x.seq)
    if (options.descending === true) out.reverse()
    return out
  })

const randomOptions = (random: () => number): ScanOptions => {
  const lo = Math.floor(random() * 1300) - 50
  const hi = lo + Math.floor(random() * 700)
  return {
    ...(random() < 0.8 ? { start: key(lo), startInclusive: random() < 0.5 } : {}),
    ...(random() < 0.8 ? { end: key(hi), endInclusive: random() < 0.5 } : {}),
    descending: random() < 0.4,
    maxFetchTasks: 1 + Math.floor(random() * 4),
    ...(random() < 0.3 ? { readAheadBlocks: 1 + Math.floor(random() * 4) } : {})
  }
}

/**
 * Rows in merge order; the merge orders keys, not one key's versions from different sources, so both sides
 * list each key's versions newest first before comparing.
 */
const sameRows = (gotRows: ReadonlyArray<RowEntry>, wantRows: ReadonlyArray<RowEntry>, what: string) => {
  const byKeyThenSeq = (rows: ReadonlyArray<RowEntry>) => {
    const out = rows.slice()
    for (let i = 0; i < out.length;) {
      let j = i + 1
      while (j < out.length && compareKeys(out[j]!.key, out[i]!.key) === 0) j++
      const group = out.slice(i, j).sort((x, y) => y.seq - x.seq)
      out.splice(i, j - i, ...group)
      i = j
    }
    return out
  }
  const got = byKeyThenSeq(gotRows)
  const want = byKeyThenSeq(wantRows)
  assert.strictEqual(got.length, want.length, `${what}: row count`)
  for (let i = 0; i < want.length; i++) {
    assert.deepStrictEqual([got[i]!.key, got[i]!.seq], [want[i]!.key, want[i]!.seq], `${what}: row ${i}`)
  }
}

describe("SstSource", () => {
  it.effect("merges the same rows as the streamed scans: bounds, both orders, seq caps, cold / partly warm / warm cache", () =>
    Effect.gen(function*() {
      const random = rng(7)
      for (let round = 0; round < 60; round++) {
        const { ts } = yield* setup
        // Partly warm: a point read caches some blocks (gets cache what they read).
        for (let g = 0; g < round % 7; g++) yield* (yield* ts.reader(NO_EXTERNAL, { id: round % 2 ? "a" : "l0" })).get(key(Math.floor(random() * 1200)))
        for (let pass = 0; pass < 2; pass++) {
          const options = { ...randomOptions(random), cacheBlocks: pass === 0 && random() < 0.5 }
          const maxSeq = random() < 0.3 ? Math.floor(random() * 6000) : Number.MAX_SAFE_INTEGER
          const want = yield* expected(ts, options, maxSeq)
          const got = yield* Effect.scoped(Effect.flatMap(Effect.scope, (scope) =>
            drainMerge(new MergeIterator(sourcesOf(ts, options, maxSeq, scope), { descending: options.descending === true }))))
          sameRows(got.rows, want, `round ${round} pass ${pass} ${JSON.stringify({ ...options, start: undefined, end: undefined })}`)
        }
      }
    }))

  it.effect("with every block cached: no pull, no request", () =>
    Effect.gen(function*() {
      const { ts, counts } = yield* setup
      const all: ScanOptions = { cacheBlocks: true }
      yield* expected(ts, all, Number.MAX_SAFE_INTEGER)
      const before = counts.getRange
      for (const descending of [false, true]) {
        const options: ScanOptions = { start: key(101), end: key(1001), descending, maxFetchTasks: 4 }
        const got = yield* Effect.scoped(Effect.flatMap(Effect.scope, (scope) => {
          const sources = sourcesOf(ts, options, Number.MAX_SAFE_INTEGER, scope)
          assert.isFalse(sources.some((s) => s.startsPending))
          return drainMerge(new MergeIterator(sources, { descending }))
        }))
        assert.strictEqual(got.pulls, 0)
        sameRows(got.rows, yield* expected(ts, options, Number.MAX_SAFE_INTEGER), `descending ${descending}`)
      }
      assert.strictEqual(counts.getRange, before)
    }))

  it.effect("pages read on the calling thread are cached only with cacheBlocks (scans leave the block cache alone)", () =>
    Effect.gen(function*() {
      const { store } = counting()
      const stored = new Map<string, Uint8Array>()
      const calls = { now: 0 }
      const syncStore = ObjectStore.of({
        ...store,
        getRangeNow: (path, range) => {
          calls.now++
          const bytes = stored.get(path)
          return bytes === undefined || "suffix" in range ? undefined : bytes.subarray(range.start, range.end)
        }
      })
      const { a } = tables()
      const sst = buildSsTable(a, { blockSize: 512 }).bytes
      yield* syncStore.put(compactedSstPath(ROOT, "a"), sst)
      stored.set(compactedSstPath(ROOT, "a"), sst)
      const ts = new TableStore(syncStore, ROOT, 64 * 1024 * 1024)
      yield* ts.reader(NO_EXTERNAL, { id: "a" })
      const scanAll = (cacheBlocks: boolean | undefined) =>
        Effect.scoped(Effect.flatMap(Effect.scope, (scope) => {
          const options: ScanOptions = cacheBlocks === undefined ? {} : { cacheBlocks }
          return drainMerge(new MergeIterator([new SstSource(ts, NO_EXTERNAL, [[{ id: "a" }, options]], scope, Number.MAX_SAFE_INTEGER)]))
        }))
      const cached = () => ts.blockCache!.stats().entries
      const before = cached()
      for (const cacheBlocks of [undefined, false]) {
        const got = yield* scanAll(cacheBlocks)
        assert.strictEqual(got.rows.length, a.length)
        assert.strictEqual(got.pulls, 0, "every page read on the calling thread")
        assert.strictEqual(cached(), before, `cacheBlocks ${cacheBlocks}: nothing cached`)
      }
      assert.isAbove(calls.now, 0)
      const got = yield* scanAll(true)
      assert.strictEqual(got.rows.length, a.length)
      assert.isAbove(cached(), before + 10, "cacheBlocks true: the pages' blocks are cached")
    }))

  it.effect("a scan's use of the cache counts the same on both paths: a read's hits count, a compaction's do not", () =>
    Effect.gen(function*() {
      const { a } = tables()
      const sst = buildSsTable(a, { blockSize: 512 }).bytes
      const path = compactedSstPath(ROOT, "a")
      /** The cache's hits, misses and entries after a scan of "a" with `cacheBlocks`, every other block cached first. */
      const scanOver = (calling: boolean, cacheBlocks: CacheBlocks) =>
        Effect.gen(function*() {
          const inner = makeMemory()
          yield* inner.put(path, sst)
          // `calling`: the store reads on the calling thread (a local directory's), else only with an Effect.
          const store = calling ? ObjectStore.of({ ...inner, getRangeNow: (_p, r) => "suffix" in r ? undefined : sst.subarray(r.start, r.end) }) : inner
          const ts = new TableStore(store, ROOT, 64 * 1024 * 1024)
          const reader = yield* ts.reader(NO_EXTERNAL, { id: "a" })
          let primed = 0
          for (let i = 0; i < reader.numBlocks; i += 2, primed++) yield* reader.readBlocks(i, i + 1, true)
          const before = ts.blockCache!.stats()
          const got = yield* Effect.scoped(Effect.flatMap(Effect.scope, (scope) =>
            drainMerge(new MergeIterator([new SstSource(ts, NO_EXTERNAL, [[{ id: "a" }, { cacheBlocks }]], scope, Number.MAX_SAFE_INTEGER)]))))
          assert.strictEqual(got.rows.length, a.length)
          const after = ts.blockCache!.stats()
          assert.strictEqual(after.entries, before.entries, `cacheBlocks ${cacheBlocks}: nothing more cached`)
          return { primed, blocks: reader.numBlocks, hits: after.hits - before.hits, misses: after.misses - before.misses }
        })
      for (const calling of [true, false]) {
        const read = yield* scanOver(calling, "uncached")
        assert.isAbove(read.blocks, 10)
        assert.strictEqual(read.hits, read.primed, `calling thread ${calling}: a scan's every cached block is a hit`)
        assert.strictEqual(read.misses, read.blocks - read.primed, `calling thread ${calling}: and every other block a miss`)
        const compaction = yield* scanOver(calling, false)
        assert.deepStrictEqual([compaction.hits, compaction.misses], [0, 0], `calling thread ${calling}: a compaction's reads count nothing`)
      }
    }))

  it.effect("a short scan of cold SSTs reads its first two pages on demand, nothing ahead", () =>
    Effect.gen(function*() {
      const { ts, counts } = yield* setup
      const before = counts.getRange
      const options: ScanOptions = { start: key(0), maxFetchTasks: 4 }
      const rows = yield* Effect.scoped(Effect.gen(function*() {
        const scope = yield* Effect.scope
        const merge = new MergeIterator([new SstSource(ts, NO_EXTERNAL, [[{ id: "a" }, options]], scope, Number.MAX_SAFE_INTEGER)])
        const out: Array<RowEntry> = []
        // The rows of the first three blocks (1 + 2 blocks of 512 bytes hold more than 12 rows).
        while (out.length < 12) {
          const row = merge.next()
          if (row === NEED_PULL) yield* merge.pull
          else if (row !== undefined) out.push(row)
        }
        return out
      }))
      assert.strictEqual(rows.length, 12)
      assert.isAtMost(counts.getRange - before, 2)
    }))
})
