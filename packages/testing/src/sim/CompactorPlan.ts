/**
 * Where a seed's compactor runs (swarm testing, like the rest of the seed's mix), drawn from a stream of
 * its own (`<seed>/compactor`), so that the workload and the store's faults of a seed do not move with it:
 *
 * - `embedded` (40%): the writer's own compactor, with the settings the workload drew (`none` when it drew
 *   `compactor: null`: no compactor at all, L0 grows without a stall);
 * - `standalone` (35%): the writer runs with `compactor: null` and a compactor process of its own
 *   (`Compactor.layer`) works on the same bucket;
 * - `both` (25%): the writer's compactor and a standalone one; each open of either claims the compactor
 *   epoch and fences the other, so they take turns, and the loser must stop with `ClosedError("fenced")`.
 *
 * The standalone compactor's `minCompactionSources` is kept at or below the writer's `l0MaxSsts`: a
 * standalone compactor does not know the writer's limit, and one that waits for more L0 SSTs than the
 * writer will ever upload leaves the writer stalled (docs/design/simulation.md, §8).
 */
import type { CompactorSettings, SettingsInput } from "@shale/core/internal"
import type { SimRandom } from "./SimRandom.ts"

export type CompactorDeployment = "none" | "embedded" | "standalone" | "both"

export interface CompactorPlan {
  readonly deployment: CompactorDeployment
  /** The writer's `compactor` setting. */
  readonly writer: Partial<CompactorSettings> | null
  /** The standalone compactor's settings (a second compactor in an `embedded` run uses them too). */
  readonly standalone: Partial<CompactorSettings>
}

const KiB = 1024

/** Compactor settings as the workload draws them (`Workload.drawSettings`). */
const drawCompactorSettings = (rng: SimRandom): Partial<CompactorSettings> => ({
  pollIntervalMs: rng.pick([20, 100, 1000]),
  maxSstSizeBytes: rng.pick([256, 1 * KiB, 4 * KiB, 256 * KiB * KiB]),
  maxConcurrentCompactions: rng.pick([1, 2, 4]),
  maxFetchTasks: rng.pick([0, 1, 4]),
  minCompactionSources: rng.pick([2, 4]),
  maxCompactionSources: rng.pick([4, 8])
})

/** Draws the plan; `forced` picks the deployment (`--compactor`). */
export const drawCompactorPlan = (
  rng: SimRandom,
  settings: SettingsInput,
  forced?: Exclude<CompactorDeployment, "none">
): CompactorPlan => {
  const roll = rng.next()
  const drawn = typeof settings.compactor === "object" ? settings.compactor : null
  const own = drawCompactorSettings(rng)
  const base = rng.chance(0.5) && drawn !== null ? drawn : own
  const l0MaxSsts = settings.l0MaxSsts ?? 8
  const min = Math.min(base.minCompactionSources ?? 4, l0MaxSsts)
  const standalone = { ...base, minCompactionSources: min, maxCompactionSources: Math.max(min, base.maxCompactionSources ?? 8) }
  const deployment = forced ?? (roll < 0.4 ? "embedded" : roll < 0.75 ? "standalone" : "both")
  switch (deployment) {
    case "embedded":
      if (forced !== undefined) return { deployment, writer: drawn ?? own, standalone }
      return { deployment: drawn === null ? "none" : "embedded", writer: drawn, standalone }
    case "standalone":
      return { deployment, writer: null, standalone }
    case "both":
      return { deployment, writer: drawn ?? own, standalone }
  }
}
