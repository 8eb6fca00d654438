/**
 * The simulator must catch real bugs: each test turns on a test-only switch that breaks the engine
 * (`TestSwitches`, packages/core/src/testing/TestSwitches.ts) and expects a divergence within a few seeds.
 * The same seeds without the switch pass, so the divergence is the bug's doing.
 *
 * These tests need the engine to consult the switches (docs/design/simulation.md, "Test switches"): the
 * WAL flush (`ackBeforePut`), recovery (`skipLastWalReplay`), the write path (`neverYieldForFlush`) and
 * compaction jobs (`compactorDropsTombstones`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { TestSwitchesShape } from "@shale/core/internal"
import { runSimulation } from "../../src/Simulation.ts"

const SEEDS = [1, 2, 3, 4, 5]
const OPS = 400

const caughtWithin = (switches: Partial<TestSwitchesShape>, profile: "standard" | "none" = "standard") =>
  Effect.gen(function*() {
    for (const seed of SEEDS) {
      const clean = yield* runSimulation({ seed, ops: OPS, profile })
      assert.isUndefined(clean.divergence, `seed ${seed} diverges even without the bug: ${clean.divergence?.message}`)
      const broken = yield* runSimulation({ seed, ops: OPS, profile, switches })
      if (broken.divergence !== undefined) return { seed, divergence: broken.divergence }
    }
    return assert.fail(
      `the simulator did not catch ${JSON.stringify(switches)} within seeds ${SEEDS.join(", ")}. ` +
        `Does the engine consult TestSwitches? (docs/design/simulation.md, "Test switches")`
    )
  })

describe("injected bugs are caught by the simulator", () => {
  it.effect("acknowledging durability before the WAL PUT completes", () =>
    Effect.gen(function*() {
      const { divergence } = yield* caughtWithin({ ackBeforePut: true })
      // A crash or a permanent failure during the PUT loses a write that was acknowledged as durable.
      assert.match(divergence.message, /acknowledged|no legal recovery point/)
      assert.include(divergence.reproduce, "--switch ackBeforePut")
    }), 120_000)

  it.effect("writes that never yield while a WAL flush is owed (flush starvation)", () =>
    Effect.gen(function*() {
      const { divergence } = yield* caughtWithin({ neverYieldForFlush: true })
      assert.match(divergence.message, /starved the WAL flush/)
    }), 120_000)

  it.effect("a compaction that drops tombstones above an older sorted run", () =>
    Effect.gen(function*() {
      const { divergence } = yield* caughtWithin({ compactorDropsTombstones: true })
      // The deleted key's older value, in a lower run, comes back: a read (or the recovery scans) sees it.
      assert.match(divergence.message, /returned|matching no legal|no legal recovery point|differs from/)
      assert.include(divergence.reproduce, "--switch compactorDropsTombstones")
    }), 120_000)

  it.effect("transactions that commit without the conflict check (TxnActor)", () =>
    Effect.gen(function*() {
      const { divergence } = yield* caughtWithin({ txnIgnoresConflicts: true })
      assert.match(divergence.message, /committed although .*\((write-write|read-write)\)|inside its scanned range/)
    }), 120_000)

  it.effect("an L0 flush that ignores open snapshots (TxnActor's held snapshots)", () =>
    Effect.gen(function*() {
      // Without crashes, snapshots stay open across flushes and compactions for long.
      const { divergence } = yield* caughtWithin({ flushIgnoresSnapshots: true }, "none")
      assert.match(divergence.message, /snap#\d+ \(seq \d+\) (get|scan)/)
    }), 120_000)

  it.effect("skipping the replay of the last WAL", () =>
    Effect.gen(function*() {
      const { divergence } = yield* caughtWithin({ skipLastWalReplay: true })
      // The durable rows vanish (no legal recovery point, or a read of what nobody wrote), or the reopened
      // writer hands out seqs it already gave to those rows (a write's seq not above the recovered ones).
      assert.match(divergence.message, /no legal recovery point|written by nobody|not above \d+ \(recovered or durable data\)/)
    }), 120_000)
})
