/**
 * The CI simulation: a fixed set of seeds against the engine, each with faults, each checked against the
 * model. Sized to take a few minutes by default; the environment scales it:
 *
 *   SHALE_SIM_SEEDS=<count>       seeds to run (default 300)
 *   SHALE_SIM_FIRST_SEED=<n>      first seed (default 1)
 *   SHALE_SIM_OPS=<n>             operations per seed (default 500)
 *   SHALE_SIM_PROFILE=<name>      one fault profile for every seed (default: a fixed mix, mostly "standard")
 *
 * A failing seed's message carries the command that replays it (`npm run sim -- --seed ...`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FaultProfileName, faultProfile, runSimulation } from "../../src/Simulation.ts"

const int = (name: string, fallback: number): number => {
  const text = process.env[name]
  if (text === undefined || text === "") return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`)
  return n
}

const count = int("SHALE_SIM_SEEDS", 300)
const first = int("SHALE_SIM_FIRST_SEED", 1)
const ops = int("SHALE_SIM_OPS", 500)
const fixedProfile = process.env["SHALE_SIM_PROFILE"]
if (fixedProfile !== undefined && faultProfile(fixedProfile) === undefined) {
  throw new Error(`SHALE_SIM_PROFILE: unknown fault profile ${JSON.stringify(fixedProfile)}`)
}

/** The mix: half standard (everything), then crashes, chaos, transient faults, latency. */
const MIX: ReadonlyArray<FaultProfileName> = [
  "standard",
  "crash",
  "standard",
  "chaos",
  "standard",
  "transient",
  "standard",
  "crash",
  "standard",
  "latency"
]

const cases = Array.from({ length: count }, (_, i) => {
  const seed = first + i
  return { seed, profile: (fixedProfile as FaultProfileName | undefined) ?? MIX[seed % MIX.length]! }
})

describe(`simulation: ${count} seeds from ${first}, ${ops} operations each`, () => {
  if (cases.length === 0) it.skip("SHALE_SIM_SEEDS=0: no seeds", () => {})
  it.effect.each(cases)("seed $seed ($profile)", ({ profile, seed }) =>
    Effect.gen(function*() {
      const r = yield* runSimulation({ seed, ops, profile })
      if (r.divergence !== undefined) {
        const d = r.divergence
        assert.fail(
          `seed ${seed} (${profile}) diverged at operation #${d.opIndex}: ${d.message}\n\n` +
            `last trace lines:\n${d.context.join("\n")}\n\nreproduce: ${d.reproduce}`
        )
      }
      assert.isAtLeast(r.ops, ops)
    }), 120_000)
})
