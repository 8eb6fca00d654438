/**
 * The simulation's compactor side must keep being exercised: standalone compactor processes killed
 * mid-compaction, restarted (resuming a compaction a dead one left with output SSTs) and fenced by a
 * second compactor; the writer's compactor and a standalone one fencing each other; manual compactions.
 * A few seeds per deployment must pass and, together, report each of these events (`SimResult.compactor`),
 * so that a change that silently stops them from happening fails here. (Counted over a few seeds rather
 * than pinned to one: any change to the engine or the runner moves what a given seed does.) The same seed
 * also gives the same trace with compactor processes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type CompactorCounts, runSimulation, type SimOptions, SimTargets } from "../../src/Simulation.ts"

/** Runs `seeds` (each must pass) and adds up their compactor counters. */
const totals = (seeds: ReadonlyArray<number>, options: Omit<SimOptions, "seed">) =>
  Effect.gen(function*() {
    const sum: Record<string, number> = {}
    for (const seed of seeds) {
      const r = yield* runSimulation({ ...options, seed })
      assert.isUndefined(r.divergence, r.divergence === undefined ? "" : `${r.divergence.message}\nreproduce: ${r.divergence.reproduce}`)
      assert.isDefined(r.compactor)
      assert.strictEqual(r.compactor!.deployment, options.compactor)
      for (const [k, v] of Object.entries(r.compactor!)) if (typeof v === "number") sum[k] = (sum[k] ?? 0) + v
    }
    return sum as Record<keyof CompactorCounts | "manifestVersions", number>
  })

describe("simulation: compactor processes", () => {
  it.effect("standalone compactors are killed mid-compaction, restarted, resume compactions and are fenced", () =>
    Effect.gen(function*() {
      const t = yield* totals([37, 38, 39, 40], { ops: 400, profile: "standard", compactor: "standalone" })
      assert.isAtLeast(t.crashesMidCompaction, 1, "no crash struck while a compaction ran")
      assert.isAtLeast(t.restarts, 1, "no compactor was restarted")
      assert.isAtLeast(t.resumable, 1, "no restarted compactor had a compaction with output SSTs to resume")
      assert.isAtLeast(t.fencedStandalone, 1, "no standalone compactor was fenced by a newer one")
      assert.isAtLeast(t.manualCompleted, 1, "no manual compaction completed")
      assert.isAbove(t.manifestVersions, 0, "the store audit saw no manifest version")
    }), 180_000)

  it.effect("the writer's compactor and a standalone one fence each other", () =>
    Effect.gen(function*() {
      const t = yield* totals([1, 2, 3, 4], { ops: 300, profile: "standard", compactor: "both" })
      assert.isAtLeast(t.fencedEmbedded, 1, "no standalone compactor fenced the writer's")
      assert.isAtLeast(t.fencedStandalone, 1, "the writer's compactor never fenced a standalone one")
      assert.isAtLeast(t.restarts, 1)
    }), 180_000)

  it.effect("the same seed gives the same trace with compactor processes", () =>
    Effect.gen(function*() {
      const options = { seed: 2, ops: 300, profile: "standard", compactor: "both" } as const
      const a = yield* runSimulation(options)
      const b = yield* runSimulation(options)
      assert.isUndefined(a.divergence, a.divergence?.message)
      assert.strictEqual(b.traceHash, a.traceHash, "two runs of one seed, two traces")
      assert.deepStrictEqual(b.compactor, a.compactor)
      assert.deepStrictEqual(b.faults, a.faults)
    }), 180_000)

  it.effect("the fake Db has no compactor side", () =>
    Effect.gen(function*() {
      const r = yield* runSimulation({ seed: 3, ops: 100, profile: "standard", target: SimTargets.fake() })
      assert.isUndefined(r.divergence, r.divergence?.message)
      assert.isUndefined(r.compactor)
    }), 60_000)
})
