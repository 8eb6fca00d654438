/**
 * The compactor's merge sources (iter/PageSource.ts over sst/PageRows.ts): pages decoded a row at a time
 * give the same rows as the streamed scans of the same SSTs, with bounds (each end inclusive or not), any
 * page size and pages fetched at once; a row that does not decode fails the merge's pull with a typed
 * `DataError` naming the SST and the block, rather than throwing through the merge.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { DataError } from "../../src/errors.ts"
import { BlockBuilder, decodeBlock } from "../../src/format/Block.ts"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeValue, type RowEntry } from "../../src/format/RowEntry.ts"
import { buildSsTable } from "../../src/format/SsTableBuilder.ts"
import { compactedSstPath } from "../../src/format/Paths.ts"
import { MergeIterator } from "../../src/iter/MergeIterator.ts"
import { PageSource } from "../../src/iter/PageSource.ts"
import { NEED_PULL } from "../../src/iter/RowIterator.ts"
import { drainMerge } from "../support/drainMerge.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { PageRows } from "../../src/sst/PageRows.ts"
import type { ScanOptions } from "../../src/sst/SsTableScan.ts"
import { TableStore } from "../../src/sst/TableStore.ts"

const ROOT = "db"
const NO_EXTERNAL = { externalDbs: [] }
const key = (i: number) => new TextEncoder().encode(`key${String(i).padStart(6, "0")}`)
const value = (i: number) => new TextEncoder().encode(`v${i}`.padEnd(40, "."))

const rng = (seed: number) => () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed / 2 ** 32
}

/** SST "a": even keys 0..1198; "b": every third key, newer versions. */
const setup = Effect.gen(function*() {
  const store = makeMemory()
  const a: Array<RowEntry> = []
  const b: Array<RowEntry> = []
  for (let i = 0; i < 1200; i += 2) a.push(makeValue(key(i), value(i), i + 1))
  for (let i = 0; i < 1200; i += 3) b.push(makeValue(key(i), value(i), 5000 + i))
  yield* store.put(compactedSstPath(ROOT, "a"), buildSsTable(a, { blockSize: 512 }).bytes)
  yield* store.put(compactedSstPath(ROOT, "b"), buildSsTable(b, { blockSize: 512 }).bytes)
  return new TableStore(store, ROOT, 0)
})

const drain = (merge: MergeIterator) => Effect.map(drainMerge(merge), ({ rows }) => rows)

const show = (rows: ReadonlyArray<RowEntry>) => rows.map((r) => `${new TextDecoder().decode(r.key)}@${r.seq}`)

describe("PageSource", () => {
  it.effect("merges the same rows as the streamed scans: bounds, page sizes, pages fetched at once", () =>
    Effect.gen(function*() {
      const ts = yield* setup
      const random = rng(11)
      for (let round = 0; round < 80; round++) {
        const lo = Math.floor(random() * 1300) - 50
        const hi = lo + Math.floor(random() * 700)
        const options: ScanOptions = {
          ...(random() < 0.7 ? { start: key(lo), startInclusive: random() < 0.5 } : {}),
          ...(random() < 0.7 ? { end: key(hi), endInclusive: random() < 0.5 } : {}),
          readAheadBlocks: 1 + Math.floor(random() * 6),
          maxFetchTasks: 1 + Math.floor(random() * 3)
        }
        const want: Array<RowEntry> = []
        for (const id of ["a", "b"]) want.push(...(yield* Stream.runCollect(ts.scan(NO_EXTERNAL, { id }, options))))
        want.sort((x, y) => compareKeys(x.key, y.key) || y.seq - x.seq)
        const got = yield* Effect.scoped(Effect.gen(function*() {
          const scope = yield* Effect.scope
          const sources = ["b", "a"].map((id) => new PageSource(ts.scanPages(NO_EXTERNAL, { id }, options), scope))
          return yield* drain(new MergeIterator(sources))
        }))
        // One key's versions come from different sources: compare each key's versions newest first.
        got.sort((x, y) => compareKeys(x.key, y.key) || y.seq - x.seq)
        assert.deepStrictEqual(show(got), show(want), JSON.stringify({ round, lo, hi }))
      }
    }))

  it.effect("a row that does not decode fails the pull with a DataError naming the SST and block", () =>
    Effect.gen(function*() {
      const blockOf = (from: number) => {
        const builder = new BlockBuilder(4096)
        for (let i = from; i < from + 10; i++) builder.add(makeValue(key(i), value(i), i + 1))
        return builder.build().slice()
      }
      const bad = blockOf(10)
      // The second block's first row claims to share 200 bytes with a predecessor it does not have.
      bad[0] = 200
      const page = new PageRows("db/compacted/x.sst", [decodeBlock(blockOf(0), 2), decodeBlock(bad, 2)], 7, {}, false)
      const seen: Array<RowEntry> = []
      const exit = yield* Effect.scoped(Effect.gen(function*() {
        const scope = yield* Effect.scope
        const merge = new MergeIterator([new PageSource(Stream.make(page), scope)])
        for (;;) {
          const row = merge.next()
          if (row === undefined) return
          if (row === NEED_PULL) yield* merge.pull
          else seen.push(row)
        }
      })).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      const failure = error === undefined ? undefined : Exit.findErrorOption(exit)
      assert.isTrue(failure !== undefined && failure._tag === "Some" && failure.value instanceof DataError, String(error))
      const e = (failure as { value: DataError }).value
      assert.strictEqual(e.object, "db/compacted/x.sst")
      assert.strictEqual(e.section, "block 8")
      assert.strictEqual(seen.length, 10, "the first block's rows come out before the failure")
    }))
})
