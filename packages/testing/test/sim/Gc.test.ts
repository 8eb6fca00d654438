/**
 * The simulation's garbage-collection side must keep being exercised and keep passing: the writer's own
 * collector, standalone passes (some killed mid-pass, some in the background), both together; pauses of
 * the world that age everything; checkpoints of every kind, deleted, refreshed and expiring; read-only
 * views at checkpoints and at the latest state, read long after. A few seeds per deployment must pass and,
 * together, report each of these (`SimResult.gc`), so that a change that silently stops one from
 * happening fails here (counted over a few seeds rather than pinned to one, as Compactor.test.ts does).
 * A collector that ignores checkpoints (`TestSwitches.gcIgnoresCheckpoints`) must be caught within a few
 * seeds, and the same seed must give the same trace with collector processes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSimulation, type SimOptions } from "../../src/Simulation.ts"

const OPS = 300

/** Runs `seeds` (each must pass) and adds up their garbage-collection counters. */
const totals = (seeds: ReadonlyArray<number>, options: Omit<SimOptions, "seed">) =>
  Effect.gen(function*() {
    const sum: Record<string, number> = {}
    const add = (k: string, v: number) => void (sum[k] = (sum[k] ?? 0) + v)
    for (const seed of seeds) {
      const r = yield* runSimulation({ ...options, seed })
      assert.isUndefined(r.divergence, r.divergence === undefined ? "" : `${r.divergence.message}\nreproduce: ${r.divergence.reproduce}`)
      assert.isDefined(r.gc)
      assert.strictEqual(r.gc!.deployment, options.gc)
      for (const [k, v] of Object.entries(r.gc!)) {
        if (typeof v === "number") add(k, v)
        else if (typeof v === "object") for (const [kk, vv] of Object.entries(v)) if (typeof vv === "number") add(`${k}.${kk}`, vv)
      }
    }
    return sum
  })

describe("simulation: garbage collection, checkpoints and read-only views", () => {
  it.effect("the writer's collector, standalone passes and both pass, and exercise every rule", () =>
    Effect.gen(function*() {
      const embedded = yield* totals([1, 2, 3], { ops: OPS, profile: "standard", gc: "embedded" })
      const standalone = yield* totals([1, 2, 3], { ops: OPS, profile: "standard", gc: "standalone" })
      // Seed 10 brings a checkpoint made from a source (since merges joined the workload, seeds 1-6 have none).
      const both = yield* totals([4, 5, 6, 10], { ops: OPS, profile: "standard", gc: "both" })
      assert.strictEqual(embedded["passes"], 0, "an embedded-only run ran standalone passes")
      for (const t of [standalone, both]) assert.isAbove(t["passes"]!, 0, "no standalone pass ran")
      const all: Record<string, number> = {}
      for (const t of [embedded, standalone, both]) for (const [k, v] of Object.entries(t)) all[k] = (all[k] ?? 0) + v
      for (const kind of ["manifest", "wal", "compacted", "compactions"]) {
        assert.isAbove(all[`deleted.${kind}`] ?? 0, 0, `no ${kind} object was ever collected`)
      }
      assert.isAtLeast(all["crashes"]!, 1, "no standalone pass was killed mid-pass")
      assert.isAtLeast(all["background"]!, 1, "no standalone pass ran in the background")
      assert.isAtLeast(all["pauses"]!, 1, "the world never paused")
      for (const kind of ["all", "durable", "detached", "source"]) {
        assert.isAtLeast(all[`checkpointsByKind.${kind}`] ?? 0, 1, `no checkpoint of kind ${kind}`)
      }
      assert.isAtLeast(all["checkpointsDeleted"]!, 1, "no checkpoint was deleted")
      assert.isAtLeast(all["checkpointsRefreshed"]!, 1, "no checkpoint was refreshed")
      assert.isAtLeast(all["viewsAtCheckpoint"]!, 1, "no view opened at a checkpoint")
      assert.isAtLeast(all["viewsAtLatest"]!, 1, "no view opened at the latest state")
      assert.isAtLeast(all["viewReads"]!, 10, "views hardly read")
      assert.isAtLeast(all["finalViews"]!, 1, "no checkpoint was live at the end")
      assert.isAbove(all["kept.manifests"]!, 0, "the final check saw no manifest")
    }), 60_000)

  it.effect("a collector that ignores checkpoints is caught", () =>
    Effect.gen(function*() {
      for (const seed of [1, 2, 3, 4, 5]) {
        const clean = yield* runSimulation({ seed, ops: OPS, profile: "standard" })
        assert.isUndefined(clean.divergence, `seed ${seed} diverges even without the bug: ${clean.divergence?.message}`)
        const broken = yield* runSimulation({ seed, ops: OPS, profile: "standard", switches: { gcIgnoresCheckpoints: true } })
        if (broken.divergence === undefined) continue
        // A manifest, SST or WAL SST a checkpoint pins is gone (the audit), or a read at a live checkpoint fails.
        assert.match(broken.divergence.message, /pinned by checkpoint|was live all along/)
        assert.include(broken.divergence.reproduce, "--switch gcIgnoresCheckpoints")
        return
      }
      assert.fail("the simulator did not catch gcIgnoresCheckpoints within seeds 1-5")
    }), 60_000)

  it.effect("the same seed gives the same trace with collector processes and checkpoints", () =>
    Effect.gen(function*() {
      const options = { seed: 5, ops: OPS, profile: "standard", gc: "both" } as const
      const a = yield* runSimulation(options)
      const b = yield* runSimulation(options)
      assert.isUndefined(a.divergence, a.divergence?.message)
      assert.strictEqual(b.traceHash, a.traceHash, "two runs of one seed, two traces")
      assert.deepStrictEqual(b.gc, a.gc)
      assert.deepStrictEqual(b.faults, a.faults)
      assert.isAbove(a.gc!.passes + a.gc!.checkpoints, 0)
    }), 60_000)
})
