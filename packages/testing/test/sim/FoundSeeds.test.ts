/**
 * Seeds outside CI's range that once diverged, each for a bug now fixed (docs/design/simulation.md tells
 * each story), replayed with the operation count of their reproduce command. They guard the fixes with
 * the exact interleaving that exposed them:
 *
 * - 4033 (chaos): the compactor's loop started over (a store failure) just after a job had finished; the
 *   job's late result was applied to its record read back from the store, whose L0-only destination is
 *   not stored, and the finished compaction dropped the live sorted run 0 (CompactorLoop.ts `#onFinished`).
 * - 3250 (standard): a read-only view of the latest state missed durable writes when a WAL it had listed
 *   was collected under a newer version before it read it (ReadOnlyDb.ts `replayedVersion`).
 * - 2743 (chaos): the model judged a checkpoint refresh by the checkpoint's liveness at the start of the
 *   call only (CheckpointEvents.ts).
 * - 6213 (chaos): the model's recovery check called a whole batch partial when a later uncertain merge had
 *   folded its operand onto the batch's value of a key (ModelRecovery.ts `foldedOver`); the engine was right.
 * - 6596 (standard): a manual compaction was submitted while the newest running standalone compactor had
 *   been fenced without noticing yet; it stopped during the wait, and nothing restarted a compactor inside
 *   the wait (CompactorActor.ts `settleSupervised`); the engine was right.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FaultProfileName, runSimulation } from "../../src/Simulation.ts"

const FOUND: ReadonlyArray<{ readonly seed: number; readonly profile: FaultProfileName; readonly ops: number }> = [
  { seed: 4033, profile: "chaos", ops: 218 },
  { seed: 3250, profile: "standard", ops: 379 },
  { seed: 2743, profile: "chaos", ops: 131 },
  { seed: 6213, profile: "chaos", ops: 61 },
  { seed: 6596, profile: "standard", ops: 282 }
]

describe("simulation: seeds that found bugs", () => {
  it.effect.each(FOUND)("seed $seed ($profile, $ops operations)", ({ ops, profile, seed }) =>
    Effect.gen(function*() {
      const r = yield* runSimulation({ seed, ops, profile })
      if (r.divergence !== undefined) {
        assert.fail(`seed ${seed} (${profile}) diverged at operation #${r.divergence.opIndex}: ${r.divergence.message}\n\nreproduce: ${r.divergence.reproduce}`)
      }
      assert.isAtLeast(r.ops, ops)
    }), 120_000)
})
