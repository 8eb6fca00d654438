/**
 * The size-tiered scheduler and the start-time validation, on SlateDB 0.12.1's own cases
 * (`size_tiered_compaction.rs` tests): sizes are `index_offset + index_len`, runs of 2 or 4 SSTs.
 */
import { assert, describe, it } from "@effect/vitest"
import type { CompactionSource, CompactionSpec } from "../../src/compactor/CompactorState.ts"
import { fullCompaction, propose, type SchedulerOptions, startProblem } from "../../src/compactor/SizeTieredScheduler.ts"
import { CompressionFormat, FilterFormat, SstType } from "../../src/format/SstMetadata.ts"
import { type CompactedSst, Manifest, type SortedRun } from "../../src/manifest/Manifest.ts"

const DEFAULTS: SchedulerOptions = {
  minCompactionSources: 4,
  maxCompactionSources: 8,
  includeSizeThreshold: 4.0,
  maxConcurrentCompactions: 4
}

let nextId = 0
const sst = (size: number): CompactedSst => ({
  id: `01J0000000000000000000${String(nextId++).padStart(4, "0")}`,
  formatVersion: 2,
  info: {
    firstEntry: undefined,
    lastEntry: undefined,
    indexOffset: size,
    indexLen: 0,
    filterOffset: 0,
    filterLen: 0,
    compressionFormat: CompressionFormat.None,
    sstType: SstType.Compacted,
    statsOffset: 0,
    statsLen: 0,
    filterFormat: FilterFormat.Legacy
  }
})
const run = (id: number, size: number, ssts: number): SortedRun => ({
  id,
  ssts: Array.from({ length: ssts }, () => sst(Math.floor(size / ssts)))
})
const sr2 = (id: number, size: number) => run(id, size, 2)
const sr4 = (id: number, size: number) => run(id, size, 4)
const manifest = (l0: ReadonlyArray<CompactedSst>, runs: ReadonlyArray<SortedRun>): Manifest => ({
  ...Manifest.initial(),
  l0,
  compacted: runs
})
const l0Spec = (l0: ReadonlyArray<CompactedSst>, destination: number): CompactionSpec => ({
  sources: l0.map((s): CompactionSource => ({ kind: "l0", id: s.id })),
  destination
})
const srSpec = (ids: ReadonlyArray<number>): CompactionSpec => ({
  sources: ids.map((id): CompactionSource => ({ kind: "sr", id })),
  destination: ids[ids.length - 1]!
})
const l0Of = (n: number) => Array.from({ length: n }, () => sst(1))

describe("size-tiered scheduler (SlateDB's cases)", () => {
  it("compacts four L0 SSTs into run 0", () => {
    const l0 = l0Of(4)
    assert.deepStrictEqual(propose(manifest(l0, []), [], DEFAULTS), [l0Spec(l0, 0)])
  })

  it("min/max sources from the options (2 and 2)", () => {
    const l0 = l0Of(2)
    const options = { ...DEFAULTS, minCompactionSources: 2, maxCompactionSources: 2 }
    assert.deepStrictEqual(propose(manifest(l0, []), [], options), [l0Spec(l0, 0)])
  })

  it("compacts L0 into a new run above the highest", () => {
    const l0 = l0Of(4)
    const [spec] = propose(manifest(l0, [sr2(10, 2), sr2(0, 2)]), [], DEFAULTS)
    assert.strictEqual(spec!.destination, 11)
  })

  it("waits for the minimum number of L0 SSTs", () => {
    assert.deepStrictEqual(propose(manifest(l0Of(3), []), [], DEFAULTS), [])
  })

  it("compacts enough runs of similar size", () => {
    const m = manifest([], [sr2(4, 2), sr2(3, 2), sr2(2, 2), sr2(1, 2), sr2(0, 2)])
    assert.deepStrictEqual(propose(m, [], DEFAULTS), [srSpec([4, 3, 2, 1, 0])])
  })

  it("only includes runs of similar size", () => {
    const m = manifest([], [sr2(4, 2), sr2(3, 2), sr2(2, 2), sr2(1, 2), sr2(0, 10)])
    assert.deepStrictEqual(propose(m, [], DEFAULTS), [srSpec([4, 3, 2, 1])])
  })

  it("skips sources already being compacted", () => {
    const m = manifest([], [sr2(4, 2), sr2(3, 2), sr2(2, 2), sr2(1, 2), sr2(0, 2)])
    assert.deepStrictEqual(propose(m, [srSpec([3, 2, 1, 0])], DEFAULTS), [])
  })

  it("waits for the minimum number of runs", () => {
    assert.deepStrictEqual(propose(manifest([], [sr2(2, 2), sr2(1, 2), sr4(0, 2)]), [], DEFAULTS), [])
  })

  const twelve = () =>
    [sr2(11, 2), sr2(10, 2), sr2(9, 2), sr2(8, 2), sr2(7, 2), sr2(6, 2), sr2(5, 2), sr2(4, 2), sr2(3, 2), sr2(2, 2), sr2(1, 2), sr4(0, 2)]

  it("clamps a compaction to the maximum number of sources (the oldest first)", () => {
    assert.deepStrictEqual(propose(manifest([], twelve()), [], DEFAULTS), [srSpec([7, 6, 5, 4, 3, 2, 1, 0])])
  })

  it("applies backpressure: nothing above a full window being compacted", () => {
    assert.deepStrictEqual(propose(manifest([], twelve()), [srSpec([7, 6, 5, 4, 3, 2, 1, 0])], DEFAULTS), [])
  })

  it("applies backpressure to L0 too", () => {
    const m = manifest(l0Of(4), [sr2(7, 2), sr2(6, 2), sr2(5, 2), sr2(4, 2), sr2(3, 2), sr2(2, 2), sr2(1, 2), sr4(0, 2)])
    assert.deepStrictEqual(propose(m, [srSpec([7, 6, 5, 4, 3, 2, 1, 0])], DEFAULTS), [])
  })

  it("returns several compactions at once", () => {
    const l0 = l0Of(4)
    const m = manifest(l0, [
      sr2(10, 2), sr2(9, 2), sr2(8, 2), sr2(7, 2),
      sr4(3, 16), sr4(2, 16), sr4(1, 16), sr4(0, 16)
    ])
    assert.deepStrictEqual(propose(m, [], DEFAULTS), [l0Spec(l0, 11), srSpec([10, 9, 8, 7]), srSpec([3, 2, 1, 0])])
  })

  it("never proposes more than the free capacity", () => {
    const l0 = l0Of(4)
    const m = manifest(l0, [
      sr2(10, 2), sr2(9, 2), sr2(8, 2), sr2(7, 2),
      sr4(3, 16), sr4(2, 16), sr4(1, 16), sr4(0, 16)
    ])
    assert.deepStrictEqual(propose(m, [], { ...DEFAULTS, maxConcurrentCompactions: 2 }), [l0Spec(l0, 11), srSpec([10, 9, 8, 7])])
  })

  it("a full compaction takes every L0 SST and every run into the lowest run id (a valid spec)", () => {
    const l0 = l0Of(2)
    const m = manifest(l0, [sr2(5, 2), sr2(3, 2)])
    const full = fullCompaction(m)!
    assert.deepStrictEqual(full, { sources: [...l0Spec(l0, 3).sources, ...srSpec([5, 3]).sources], destination: 3 })
    assert.isUndefined(startProblem(m, full, false))
    assert.deepStrictEqual(fullCompaction(manifest([], [sr2(5, 2), sr2(3, 2)])), srSpec([5, 3]))
    assert.deepStrictEqual(fullCompaction(manifest(l0, [])), l0Spec(l0, 0))
    assert.isUndefined(fullCompaction(manifest([], [])))
  })
})

describe("validation when a compaction starts", () => {
  it("refuses L0 sources out of order or with a gap", () => {
    const l0 = l0Of(3)
    const m = manifest(l0, [])
    assert.isUndefined(startProblem(m, l0Spec(l0, 0), false))
    assert.include(startProblem(m, l0Spec([l0[2]!, l0[0]!, l0[1]!], 0), false)!, "consecutive")
    assert.include(startProblem(m, l0Spec([l0[2]!, l0[0]!], 0), false)!, "consecutive")
  })

  it("refuses an L0 window that leaves older L0 SSTs behind (the manifest merges would drop them)", () => {
    const l0 = l0Of(3) // newest first
    const m = manifest(l0, [])
    assert.include(startProblem(m, l0Spec([l0[0]!, l0[1]!], 0), false)!, "oldest L0 SST")
    assert.include(startProblem(m, l0Spec([l0[1]!], 0), false)!, "oldest L0 SST")
    assert.isUndefined(startProblem(m, l0Spec([l0[1]!, l0[2]!], 0), false))
  })

  it("refuses a missing source, runs in the wrong order, a wrong destination, an empty spec", () => {
    const m = manifest([], [sr2(1, 2), sr2(0, 2)])
    assert.include(startProblem(m, { sources: [{ kind: "sr", id: 5 }], destination: 5 }, false)!, "not in the manifest")
    assert.include(startProblem(m, srSpec([0, 1]), false)!, "consecutive")
    assert.include(startProblem(m, { sources: srSpec([1, 0]).sources, destination: 1 }, false)!, "destination")
    assert.include(startProblem(m, { sources: [], destination: 0 }, false)!, "no sources")
    assert.isUndefined(startProblem(m, srSpec([1, 0]), false))
  })

  it("an L0-only compaction must create a new run above the others; one L0 compaction at a time", () => {
    const l0 = l0Of(4)
    const m = manifest(l0, [sr2(3, 2)])
    assert.include(startProblem(m, l0Spec(l0, 3), false)!, "above")
    assert.isUndefined(startProblem(m, l0Spec(l0, 4), false))
    assert.include(startProblem(m, l0Spec(l0, 4), true)!, "another compaction of L0")
  })
})
