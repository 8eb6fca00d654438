/**
 * Where a seed's garbage collector runs and how eager it is (swarm testing, like the compactor's plan),
 * drawn from a stream of its own (`<seed>/gc`), so that the workload, the store's faults and the compactor's
 * plan of a seed do not move with it:
 *
 * - `embedded` (40%): the writer's own collector (`Settings.garbageCollector`), as a real deployment runs
 *   it by default, with short intervals and minimum ages drawn here;
 * - `standalone` (25%): the writer runs with `garbageCollector: null`, and passes of a collector process of
 *   its own (`collectOnce`, what `shale gc` runs) come at seed-chosen times;
 * - `both` (35%): the writer's collector and standalone passes on the same bucket (collectors claim
 *   nothing: every rule must be safe against the others' deletions).
 * - `none` only when forced (`--gc none`): no collector at all, objects are never deleted.
 *
 * Each kind of object (`manifests`, `wal`, `compacted`, `compactions`) gets an interval of 1-20 s and a
 * minimum age of 0-60 s of simulated time, or is left alone (1 in 10). SlateDB's defaults (60 s, 5
 * minutes) would collect nothing within a simulated minute; the short ages put the rules under stress
 * (an object may go the moment nothing live needs it), and the runner's pauses (`WorldClock.pause`) make
 * everything old at once.
 */
import type { GarbageCollector } from "@shale/core"
import type { SimRandom } from "./SimRandom.ts"

type GcOptions = GarbageCollector.GcOptions
type GcResourceOptions = GarbageCollector.GcResourceOptions

export type GcDeployment = "none" | "embedded" | "standalone" | "both"

export interface GcPlan {
  readonly deployment: GcDeployment
  /** The writer's `garbageCollector` setting (null: none in the writer). */
  readonly writer: GcOptions | null
  /** What a standalone pass collects, and how old objects must be. */
  readonly standalone: GcOptions
  /** The minimum age of the final passes (every kind): the largest one drawn. */
  readonly finalMinAgeMs: number
}

const drawResource = (rng: SimRandom): GcResourceOptions | null =>
  rng.chance(0.1) ? null : {
    intervalMs: rng.pick([1000, 2000, 5000, 10_000, 20_000]),
    minAgeMs: rng.pick([0, 0, 1000, 5000, 20_000, 60_000])
  }

const drawOptions = (rng: SimRandom): GcOptions => ({
  manifests: drawResource(rng),
  wal: drawResource(rng),
  compacted: drawResource(rng),
  compactions: drawResource(rng)
})

const maxMinAge = (options: ReadonlyArray<GcOptions | null>): number => {
  let max = 0
  for (const o of options) {
    if (o === null) continue
    for (const r of [o.manifests, o.wal, o.compacted, o.compactions]) if (r !== null) max = Math.max(max, r.minAgeMs)
  }
  return max
}

/** Draws the plan; `forced` picks the deployment (`--gc`). */
export const drawGcPlan = (rng: SimRandom, forced?: GcDeployment): GcPlan => {
  const roll = rng.next()
  const writerOptions = drawOptions(rng)
  const standalone = drawOptions(rng)
  const deployment = forced ?? (roll < 0.4 ? "embedded" : roll < 0.65 ? "standalone" : "both")
  const writer = deployment === "embedded" || deployment === "both" ? writerOptions : null
  return { deployment, writer, standalone, finalMinAgeMs: maxMinAge([writer, standalone]) }
}
