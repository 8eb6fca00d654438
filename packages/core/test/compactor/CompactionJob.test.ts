/**
 * One compaction job over SSTs written straight to a memory store: the merge, retention (snapshot
 * barrier, expiry, tombstones only dropped into the last run), output SSTs cut at the size limit, resume
 * after any output SST, visible ranges, and merge operands.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Stream } from "effect"
import { type CompactionJobArgs, runCompactionJob } from "../../src/compactor/CompactionJob.ts"
import { InvalidError } from "../../src/errors.ts"
import { compactedSstPath } from "../../src/format/Paths.ts"
import { makeMerge, makeTombstone, makeValue, type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import { concatChunks, SsTableBuilder } from "../../src/format/SsTableBuilder.ts"
import { concatOperator } from "../support/merge.ts"
import type { CompactedSst, SortedRun, SstHandle } from "../../src/manifest/Manifest.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { TableStore } from "../../src/sst/TableStore.ts"
import { makeUlid, ulidFromParts, ulidTimeMs } from "../../src/Ulid.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const k = (i: number) => enc.encode(`key${String(i).padStart(5, "0")}`)
const v = (s: string) => enc.encode(s)
const ROOT = "db"
const NO_EXTERNAL = { externalDbs: [] }
const OPTIONS = { maxSstSizeBytes: 256 * 1024 * 1024, builder: { blockSize: 1024 }, readAheadBlocks: 4, prefetchPages: 1 }

/** Rows in SST order: key ascending, seq descending. */
const sorted = (rows: ReadonlyArray<RowEntry>) =>
  [...rows].sort((a, b) => Buffer.compare(a.key, b.key) || b.seq - a.seq)

const setup = () => {
  const store = makeMemory()
  const tables = new TableStore(store, ROOT, 0)
  const writeSst = (rows: ReadonlyArray<RowEntry>) =>
    Effect.gen(function*() {
      const builder = new SsTableBuilder({ blockSize: 1024 })
      for (const r of sorted(rows)) builder.add(r)
      const table = builder.finish()
      const id = yield* makeUlid
      yield* store.put(compactedSstPath(ROOT, id), concatChunks(table.chunks))
      return { id, info: table.info, formatVersion: table.formatVersion } satisfies CompactedSst
    })
  const rowsOf = (ssts: ReadonlyArray<SstHandle>) =>
    Effect.gen(function*() {
      const out: Array<RowEntry> = []
      for (const sst of ssts) {
        out.push(...(yield* Stream.runCollect(tables.scan(NO_EXTERNAL, sst, {}))))
      }
      return out
    })
  const args = (fields: Partial<CompactionJobArgs>): CompactionJobArgs => ({
    id: "job",
    destination: 0,
    l0: [],
    runs: [],
    outputSsts: [],
    retentionMinSeq: 0,
    expiryCutoff: Number.MIN_SAFE_INTEGER,
    isDestLastRun: true,
    locations: NO_EXTERNAL,
    ...fields
  })
  const deps = { root: ROOT, store, tables }
  return { store, tables, writeSst, rowsOf, args, deps }
}

const show = (rows: ReadonlyArray<RowEntry>) =>
  rows.map((r) => `${dec.decode(r.key)}@${r.seq}:${r.kind === RowKind.Tombstone ? "×" : dec.decode(r.value)}`)

describe("compaction job", () => {
  it.effect("merges L0 SSTs and runs; keeps the newest version per key; drops tombstones into the last run", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const newest = yield* writeSst([makeValue(k(1), v("l0-new"), 30), makeTombstone(k(2), 31)])
      const older = yield* writeSst([makeValue(k(1), v("l0-old"), 20), makeValue(k(3), v("l0"), 21)])
      const run: SortedRun = {
        id: 0,
        ssts: [yield* writeSst([makeValue(k(0), v("sr"), 1), makeValue(k(2), v("sr"), 2), makeValue(k(4), v("sr"), 3)])]
      }
      const last = yield* runCompactionJob(deps, args({ l0: [newest, older], runs: [run], retentionMinSeq: 100 }), OPTIONS, () => Effect.void)
      assert.deepStrictEqual(show(yield* rowsOf(last.run.ssts)), [
        "key00000@1:sr",
        "key00001@30:l0-new",
        "key00003@21:l0",
        "key00004@3:sr"
      ])
      assert.strictEqual(last.rowsRead, 7)
      // Into a run above the last one the tombstone must stay: it hides key2 in the runs below.
      const notLast = yield* runCompactionJob(
        deps,
        args({ l0: [newest, older], destination: 1, isDestLastRun: false, retentionMinSeq: 100 }),
        OPTIONS,
        () => Effect.void
      )
      assert.deepStrictEqual(show(yield* rowsOf(notLast.run.ssts)), ["key00001@30:l0-new", "key00002@31:×", "key00003@21:l0"])
    }))

  it.effect("snapshot barrier: versions above retentionMinSeq stay, and the newest at or below it", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const sst = yield* writeSst([
        makeValue(k(1), v("a"), 5),
        makeValue(k(1), v("b"), 10),
        makeValue(k(1), v("c"), 15),
        makeValue(k(1), v("d"), 20),
        makeTombstone(k(2), 18),
        makeValue(k(2), v("x"), 3)
      ])
      const out = yield* runCompactionJob(deps, args({ l0: [sst], retentionMinSeq: 12 }), OPTIONS, () => Effect.void)
      assert.deepStrictEqual(show(yield* rowsOf(out.run.ssts)), [
        "key00001@20:d",
        "key00001@15:c",
        "key00001@10:b",
        "key00002@18:×",
        "key00002@3:x"
      ])
    }))

  it.effect("snapshot barrier across sources: versions arriving out of seq order, older ones dropped unread by retention", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      // The merge yields key1@20, key1@8 (the L0 SST first), then key1@10 (newer than 8, so it comes
      // through), and drops key1@5 under it; retention keeps 20 (above the barrier) and 10 (the newest at
      // or below it). key2: a tombstone at the barrier hides the value under it in the run.
      const l0 = yield* writeSst([makeValue(k(1), v("d"), 20), makeValue(k(1), v("b2"), 8), makeTombstone(k(2), 12)])
      const run: SortedRun = {
        id: 0,
        ssts: [yield* writeSst([makeValue(k(1), v("c"), 10), makeValue(k(1), v("a"), 5), makeValue(k(2), v("x"), 3)])]
      }
      const out = yield* runCompactionJob(deps, args({ l0: [l0], runs: [run], destination: 1, isDestLastRun: false, retentionMinSeq: 12 }), OPTIONS, () => Effect.void)
      assert.deepStrictEqual(show(yield* rowsOf(out.run.ssts)), ["key00001@20:d", "key00001@10:c", "key00002@12:×"])
      assert.strictEqual(out.rowsRead, 6)
    }))

  it.effect("outputs are never named older than their compaction, even with the clock behind it", () =>
    Effect.gen(function*() {
      const { writeSst, args, deps } = setup()
      const sst = yield* writeSst([makeValue(k(1), v("a"), 5), makeValue(k(2), v("b"), 6)])
      // The compaction was named an hour ahead of this clock (stepped back since, or another machine's).
      const compactionId = ulidFromParts((yield* Clock.currentTimeMillis) + 3_600_000, 7n)
      const out = yield* runCompactionJob(deps, args({ id: compactionId, l0: [sst] }), OPTIONS, () => Effect.void)
      assert.isAbove(out.run.ssts.length, 0)
      for (const output of out.run.ssts) assert.isAtLeast(ulidTimeMs(output.id), ulidTimeMs(compactionId))
    }))

  it.effect("TTL: rows expired at the last L0 clock tick become tombstones (then go, into the last run)", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const sst = yield* writeSst([
        makeValue(k(1), v("expired"), 5, 100, 1_000),
        makeValue(k(2), v("alive"), 6, 100, 5_000),
        makeValue(k(3), v("no ttl"), 7, 100)
      ])
      const kept = yield* runCompactionJob(deps, args({ l0: [sst], expiryCutoff: 2_000, isDestLastRun: false, destination: 3 }), OPTIONS, () => Effect.void)
      const rows = yield* rowsOf(kept.run.ssts)
      assert.deepStrictEqual(show(rows), ["key00001@5:×", "key00002@6:alive", "key00003@7:no ttl"])
      assert.strictEqual(rows[0]!.createTs, 100)
      assert.isUndefined(rows[0]!.expireTs)
      const last = yield* runCompactionJob(deps, args({ l0: [sst], expiryCutoff: 2_000 }), OPTIONS, () => Effect.void)
      assert.deepStrictEqual(show(yield* rowsOf(last.run.ssts)), ["key00002@6:alive", "key00003@7:no ttl"])
    }))

  it.effect("output SSTs are cut at maxSstSizeBytes, ordered and non-overlapping; resuming after any of them gives the same rows", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const l0: Array<CompactedSst> = []
      for (let s = 3; s >= 0; s--) {
        const rows: Array<RowEntry> = []
        // Keys of one parity per SST (SSTs 1 and 3 overlap, so do 0 and 2), some with an older version.
        for (let i = s; i < 2000; i += 2) {
          rows.push(makeValue(k(i), v(`v${s}-${i}-${"x".repeat(i % 37)}`), s * 10_000 + i + 1))
          if (i % 7 === 0) rows.push(makeValue(k(i), v(`older-${s}`), s * 10_000 + i))
        }
        l0.push(yield* writeSst(rows))
      }
      const options = { ...OPTIONS, maxSstSizeBytes: 8 * 1024 }
      const progress: Array<number> = []
      const full = yield* runCompactionJob(deps, args({ l0, retentionMinSeq: 15_000 }), options, (p) =>
        Effect.sync(() => void progress.push(p.outputSsts.length)))
      const ssts = full.run.ssts
      assert.isAbove(ssts.length, 4)
      // Every SST but the last is reported as written, in order.
      assert.deepStrictEqual(progress, Array.from({ length: ssts.length - 1 }, (_, i) => i + 1))
      for (let i = 1; i < ssts.length; i++) {
        assert.isAtMost(Buffer.compare(ssts[i - 1]!.info.lastEntry!, ssts[i]!.info.firstEntry!), 0)
      }
      const expected = show(yield* rowsOf(ssts))
      for (const keep of [1, 2, ssts.length - 1]) {
        const resumed = yield* runCompactionJob(
          deps,
          args({ l0, retentionMinSeq: 15_000, outputSsts: ssts.slice(0, keep) }),
          options,
          () => Effect.void
        )
        assert.deepStrictEqual(resumed.run.ssts.slice(0, keep).map((s) => s.id), ssts.slice(0, keep).map((s) => s.id))
        assert.deepStrictEqual(show(yield* rowsOf(resumed.run.ssts)), expected, `resumed after ${keep}`)
      }
      // Resuming after the last SST writes nothing more.
      const done = yield* runCompactionJob(deps, args({ l0, retentionMinSeq: 15_000, outputSsts: ssts }), options, () => Effect.void)
      assert.deepStrictEqual(done.run.ssts.map((s) => s.id), ssts.map((s) => s.id))
    }))

  it.effect("outputs end between keys; resumed at a later snapshot barrier, every key still reads base + operand once", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const withOperator = { ...deps, mergeOperator: concatOperator }
      const n = 300
      // Every key: a base in the run (seq i + 1) and an operand in L0 (seq 1000 + i), two versions each.
      const l0 = yield* writeSst(Array.from({ length: n }, (_, i) => makeMerge(k(i), v(`+op${i}`), 1000 + i)))
      const run: SortedRun = { id: 0, ssts: [yield* writeSst(Array.from({ length: n }, (_, i) => makeValue(k(i), v(`base${i}-${"x".repeat(i % 23)}`), i + 1)))] }
      const options = { ...OPTIONS, maxSstSizeBytes: 1024 }
      // The first attempt: barrier 500, below every operand: each key keeps its operand and its base.
      const first = yield* runCompactionJob(withOperator, args({ l0: [l0], runs: [run], retentionMinSeq: 500 }), options, () => Effect.void)
      const ssts = first.run.ssts
      assert.isAbove(ssts.length, 4)
      for (let i = 1; i < ssts.length; i++) {
        assert.isBelow(Buffer.compare(ssts[i - 1]!.info.lastEntry!, ssts[i]!.info.firstEntry!), 0, `SST ${i} starts with the key SST ${i - 1} ends with`)
      }
      // Resumed after any output at barrier 5000 (the operands now fold onto their bases): nothing lost, and
      // no operand counted twice (base, then the operand, once, for every key).
      for (const keep of [1, 2, ssts.length - 1]) {
        const resumed = yield* runCompactionJob(
          withOperator,
          args({ l0: [l0], runs: [run], retentionMinSeq: 5000, outputSsts: ssts.slice(0, keep) }),
          options,
          () => Effect.void
        )
        const byKey = new Map<string, Array<RowEntry>>()
        for (const row of yield* rowsOf(resumed.run.ssts)) {
          const name = dec.decode(row.key)
          byKey.set(name, [...(byKey.get(name) ?? []), row])
        }
        assert.strictEqual(byKey.size, n)
        for (let i = 0; i < n; i++) {
          const versions = byKey.get(dec.decode(k(i)))!
          // Read as a reader folds: operands (newest first) down to the newest value.
          const base = versions.findIndex((r) => r.kind === RowKind.Value)
          assert.isAtLeast(base, 0, `key ${i} after ${keep}: no base`)
          const value = versions.slice(0, base + 1).reverse().map((r) => dec.decode(r.value)).join("")
          assert.strictEqual(value, `base${i}-${"x".repeat(i % 23)}+op${i}`, `key ${i} after ${keep}`)
        }
      }
    }))

  it.effect("an SST is read only within its visible range", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const sst = yield* writeSst([1, 2, 3, 4, 5].map((i) => makeValue(k(i), v(`${i}`), i)))
      const projected: CompactedSst = {
        ...sst,
        visibleRange: { start: { kind: "Included", key: k(2) }, end: { kind: "Excluded", key: k(4) } }
      }
      const out = yield* runCompactionJob(deps, args({ l0: [projected] }), OPTIONS, () => Effect.void)
      assert.deepStrictEqual(show(yield* rowsOf(out.run.ssts)), ["key00002@2:2", "key00003@3:3"])
    }))

  it.effect("a merge operand fails the job (no merge operator configured)", () =>
    Effect.gen(function*() {
      const { writeSst, args, deps } = setup()
      const sst = yield* writeSst([makeValue(k(1), v("base"), 1), makeMerge(k(1), v("+1"), 2)])
      const error = yield* Effect.flip(runCompactionJob(deps, args({ l0: [sst] }), OPTIONS, () => Effect.void))
      assert.instanceOf(error, InvalidError)
      assert.include(error.message, "merge operator missing")
    }))

  it.effect("with a merge operator: operands at or below the barrier fold onto their base, newer ones stay", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const l0 = yield* writeSst([makeMerge(k(1), v("+3"), 12), makeMerge(k(1), v("+4"), 20), makeMerge(k(2), v("+b"), 7)])
      const run: SortedRun = {
        id: 0,
        ssts: [yield* writeSst([makeValue(k(1), v("base"), 1), makeMerge(k(1), v("+1"), 5), makeMerge(k(1), v("+2"), 8), makeTombstone(k(2), 6), makeMerge(k(3), v("+c"), 2)])]
      }
      const withOperator = { ...deps, mergeOperator: concatOperator }
      // Barrier 12: +4 (seq 20) stays an operand; +3, +2, +1 fold onto base into one value with seq 12.
      const barrier = yield* runCompactionJob(withOperator, args({ l0: [l0], runs: [run], retentionMinSeq: 12 }), OPTIONS, () => Effect.void)
      const rows = yield* rowsOf(barrier.run.ssts)
      assert.deepStrictEqual(show(rows), ["key00001@20:+4", "key00001@12:base+1+2+3", "key00002@7:+b", "key00003@2:+c"])
      assert.deepStrictEqual(rows.map((r) => r.kind), [RowKind.Merge, RowKind.Value, RowKind.Value, RowKind.Merge])
      // A barrier at the newest seq (no snapshot reads below it): everything folds.
      const all = yield* runCompactionJob(withOperator, args({ l0: [l0], runs: [run], retentionMinSeq: 20 }), OPTIONS, () => Effect.void)
      assert.deepStrictEqual(show(yield* rowsOf(all.run.ssts)), ["key00001@20:base+1+2+3+4", "key00002@7:+b", "key00003@2:+c"])
    }))

  it.effect("with a merge operator: operands with different TTLs fold apart, expired operands are dropped", () =>
    Effect.gen(function*() {
      const { writeSst, rowsOf, args, deps } = setup()
      const sst = yield* writeSst([
        makeValue(k(1), v("base"), 1, 1),
        makeMerge(k(1), v("+a"), 2, 2, 5_000),
        makeMerge(k(1), v("+b"), 3, 3, 5_000),
        makeMerge(k(1), v("+gone"), 4, 4, 1_000),
        makeMerge(k(1), v("+c"), 5, 5)
      ])
      const out = yield* runCompactionJob(
        { ...deps, mergeOperator: concatOperator },
        args({ l0: [sst], retentionMinSeq: 100, expiryCutoff: 2_000 }),
        OPTIONS,
        () => Effect.void
      )
      const rows = yield* rowsOf(out.run.ssts)
      // Folds stop where expire_ts changes (SlateDB folds only equal expire_ts on this path); retention then
      // drops the expired operand and keeps operands down to the first value.
      assert.deepStrictEqual(show(rows), ["key00001@5:+c", "key00001@3:+a+b", "key00001@1:base"])
      assert.deepStrictEqual(rows.map((r) => r.expireTs), [undefined, 5_000, undefined])
      assert.deepStrictEqual(rows.map((r) => r.createTs), [5, 3, 1])
    }))
})
