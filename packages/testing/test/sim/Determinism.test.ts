/**
 * The same seed gives the same trace, run after run: the hash of every operation and result is the
 * determinism check. Different seeds give different traces (so the hash does depend on the run).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSimulation, SimTargets, type SimOptions } from "../../src/Simulation.ts"

const SEEDS = [1, 2, 3, 42, 1234]

const twice = (options: SimOptions) =>
  Effect.gen(function*() {
    const a = yield* runSimulation(options)
    const b = yield* runSimulation(options)
    assert.isUndefined(a.divergence, a.divergence?.message)
    assert.strictEqual(b.traceHash, a.traceHash, `seed ${options.seed}: two runs, two traces`)
    assert.strictEqual(b.traceLines, a.traceLines)
    assert.deepStrictEqual(b.counts, a.counts)
    assert.deepStrictEqual(b.faults, a.faults)
    assert.strictEqual(b.simulatedMs, a.simulatedMs)
    return a.traceHash
  })

describe("determinism: the same seed always gives the same trace hash", () => {
  it.effect("the engine, with every kind of fault", () =>
    Effect.gen(function*() {
      const hashes = new Set<string>()
      for (const seed of SEEDS) hashes.add(yield* twice({ seed, ops: 400, profile: "standard" }))
      assert.strictEqual(hashes.size, SEEDS.length, "different seeds should give different traces")
    }), 180_000)

  it.effect("the engine, under chaos", () =>
    Effect.gen(function*() {
      for (const seed of SEEDS.slice(0, 3)) yield* twice({ seed, ops: 300, profile: "chaos" })
    }), 180_000)

  it.effect("the fake Db", () =>
    Effect.gen(function*() {
      for (const seed of SEEDS) yield* twice({ seed, ops: 400, profile: "standard", target: SimTargets.fake() })
    }), 60_000)

  it.effect("the first operations of a seed do not depend on --ops", () =>
    Effect.gen(function*() {
      const lines = (ops: number) =>
        Effect.gen(function*() {
          const out: Array<string> = []
          yield* runSimulation({ seed: 7, ops, profile: "standard", onTrace: (l) => void out.push(l) })
          return out
        })
      const short = yield* lines(60)
      const long = yield* lines(200)
      // Everything before the end of the short run's workload is a prefix of the long run.
      const end = short.findIndex((l) => / end of the workload @/.test(l))
      const prefix = short.slice(0, end)
      assert.isAbove(prefix.length, 10)
      assert.deepStrictEqual(long.slice(0, prefix.length), prefix)
    }), 60_000)
})
