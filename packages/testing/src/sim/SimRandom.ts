/**
 * The simulator's seeded random streams.
 *
 * Every random decision of a simulation comes from one of these streams, each derived from the run's seed
 * and a label (`"workload"`, `"store"`, ...), so adding draws to one stream never shifts another: the
 * workload of seed 7 stays the same when the fault injector starts drawing differently. The generator is
 * the fault store's sfc32 (`makePrng`), so the whole tree shares one well-tested PRNG.
 *
 * Plain synchronous TypeScript: the workload generator calls it in tight loops.
 */
import { makePrng } from "../FaultInjectingObjectStore.ts"

export class SimRandom {
  readonly #next: () => number
  readonly seed: string

  constructor(seed: number | string) {
    this.seed = String(seed)
    this.#next = makePrng(this.seed)
  }

  /** A stream for `label`, independent of this one's position. */
  derive(label: string): SimRandom {
    return new SimRandom(`${this.seed}/${label}`)
  }

  /** A double in [0, 1). */
  next(): number {
    return this.#next()
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1))
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.#next() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new Error("SimRandom.pick: empty array")
    return items[Math.floor(this.#next() * items.length)]!
  }

  /** Picks a key of `weights` with probability proportional to its weight (zero weights never win). */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>
    const total = entries.reduce((sum, [, w]) => sum + Math.max(0, w), 0)
    if (total <= 0) throw new Error("SimRandom.weighted: no positive weight")
    let roll = this.#next() * total
    for (const [k, w] of entries) {
      if (w <= 0) continue
      roll -= w
      if (roll < 0) return k
    }
    return entries.filter(([, w]) => w > 0).at(-1)![0]
  }
}
