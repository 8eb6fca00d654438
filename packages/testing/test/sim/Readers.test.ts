/**
 * The simulation's `DbReader` and change-stream side (ReaderActor.ts, ChangesActor.ts): it runs (readers
 * open, read, close; consumers run on the writer and on readers, yield rows, resume after gaps) and it
 * catches a reader that skips a WAL SST (the `readerSkipsWal` test switch) within a few seeds, which the
 * same seeds without the switch pass.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSimulation } from "../../src/Simulation.ts"

const OPS = 400

describe("simulation: DbReaders and change streams", () => {
  it.effect("readers open, read and close; consumers run on the writer and on readers, and resume after gaps", () =>
    Effect.gen(function*() {
      const totals: Record<string, number> = {}
      // Seed 4 brings the gaps (since merges joined the workload, seeds 1-3 have none).
      for (const seed of [1, 2, 3, 4]) {
        const r = yield* runSimulation({ seed, ops: OPS, profile: "standard" })
        assert.isUndefined(r.divergence, r.divergence?.message)
        for (const [k, v] of Object.entries(r.readers!)) totals[k] = (totals[k] ?? 0) + v
      }
      for (const k of ["opened", "reads", "closed", "polls", "checkpointsReplaced", "consumers", "readerRuns", "rowsYielded", "gapErrors"]) {
        assert.isAbove(totals[k]!, 0, `${k}: ${JSON.stringify(totals)}`)
      }
      assert.isAbove(totals["runs"]!, totals["consumers"]!, "consumers moved between sources")
    }), 300_000)

  it.effect("a reader that skips a WAL SST is caught", () =>
    Effect.gen(function*() {
      for (const seed of [1, 2, 3, 4, 5]) {
        const broken = yield* runSimulation({ seed, ops: OPS, profile: "standard", switches: { readerSkipsWal: true } })
        if (broken.divergence === undefined) continue
        assert.match(broken.divergence.message, /^(r\d+: |consumer c\d+ on reader)/)
        assert.include(broken.divergence.reproduce, "--switch readerSkipsWal")
        // The same seed passes without the bug.
        const clean = yield* runSimulation({ seed, ops: OPS, profile: "standard" })
        assert.isUndefined(clean.divergence, clean.divergence?.message)
        return
      }
      assert.fail("the simulator did not catch readerSkipsWal within seeds 1-5")
    }), 300_000)
})
