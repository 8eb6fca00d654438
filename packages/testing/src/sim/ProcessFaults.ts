/**
 * Store faults for the processes beside the writer (standalone compactors, the admin client that submits
 * compactions): the same kinds and rates as the bucket's (`FaultInjectingObjectStore`), drawn from a PRNG
 * of their own, over the bucket's inner store.
 *
 * Why not the bucket's own fault layer: a writer crash there (`crash()`/`heal()`) strands every operation
 * in flight in the bucket, whoever started it — a compactor process that did not crash would hang forever
 * on a read it started before the writer died. Here each process has its own crash: `crash()` strands the
 * operations *this* process has in flight (in their latency sleep: they never land and never answer).
 * Drawing from a separate PRNG also keeps the writer's faults where they were for a seed, whatever the
 * compactor processes do.
 *
 * What an operation goes through (as in the bucket's layer): three draws (failure, lost response,
 * latency), stranded if its process crashed, latency, stranded if its process crashed meanwhile, a
 * permanent failure after `failAfterOps` (the run's "permanent store failure" event applies here too),
 * `unavailableRate`, the inner store, `putLostResponseRate` (the put landed, the caller sees
 * `StoreUnavailable`). `onLanded` hears of every put that took effect (fencing checks attribute manifest
 * and compactions versions to the process that wrote them).
 */
import { Duration, Effect, Stream } from "effect"
import { type ObjectStoreError, ObjectStore, type StoreOp, StoreFailure, StoreUnavailable } from "@shale/core/internal"
import { type FaultConfig, type FaultKind, makePrng } from "../FaultInjectingObjectStore.ts"

/** The faults every process beside the writer shares: one PRNG, one configuration, one count. */
export class SharedFaults {
  readonly #random: () => number
  config: FaultConfig
  ops = 0
  /** Every object a put of these processes landed (a put that took effect, its answer lost or not). */
  readonly landed = new Set<string>()
  readonly faults: Record<FaultKind, number> = { unavailable: 0, lostResponse: 0, permanent: 0, crashed: 0 }

  constructor(seed: string, config: FaultConfig) {
    this.#random = makePrng(seed)
    this.config = config
  }

  draw(): number {
    return this.#random()
  }

  /** From now on, operations after `more` more fail for good (undefined: the failure ends). */
  failAfter(more: number | undefined): void {
    const { failAfterOps: _, ...rest } = this.config
    this.config = more === undefined ? rest : { ...rest, failAfterOps: this.ops + more }
  }
}

export interface ProcessFaults {
  readonly store: ObjectStore["Service"]
  /** Strands this process's operations in flight; later ones too (the process is dead). */
  readonly crash: () => void
}

const rate = (r: FaultConfig["unavailableRate"], op: StoreOp): number =>
  r === undefined ? 0 : typeof r === "number" ? r : r[op] ?? 0

const latencyMs = (config: FaultConfig, op: StoreOp, roll: number): number => {
  const latency = config.latency
  if (latency === undefined) return 0
  const l = "fixed" in latency || "min" in latency ? latency : latency[op]
  if (l === undefined) return 0
  if ("fixed" in l) return Duration.toMillis(Duration.fromInputUnsafe(l.fixed))
  const min = Duration.toMillis(Duration.fromInputUnsafe(l.min))
  const max = Duration.toMillis(Duration.fromInputUnsafe(l.max))
  return min + Math.floor(roll * (max - min + 1))
}

/** One process's faulty view of `inner` (see the module comment). */
export const makeProcessFaults = (
  inner: ObjectStore["Service"],
  shared: SharedFaults,
  onLanded: (path: string) => void = () => {}
): ProcessFaults => {
  let crashed = false
  const inject = <A>(op: StoreOp, path: string, run: Effect.Effect<A, ObjectStoreError>): Effect.Effect<A, ObjectStoreError> =>
    Effect.gen(function*() {
      const index = ++shared.ops
      const failRoll = shared.draw()
      const lostRoll = shared.draw()
      const latencyRoll = shared.draw()
      const config = shared.config
      if (crashed) return yield* Effect.never
      const delay = latencyMs(config, op, latencyRoll)
      if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
      if (crashed) {
        shared.faults.crashed++
        return yield* Effect.never
      }
      if (config.failAfterOps !== undefined && index > config.failAfterOps) {
        shared.faults.permanent++
        return yield* new StoreFailure({ op, path, message: `injected: permanent failure (operation ${index})` })
      }
      if (failRoll < rate(config.unavailableRate, op)) {
        shared.faults.unavailable++
        return yield* new StoreUnavailable({ op, path, message: `injected: unavailable (operation ${index})` })
      }
      const result = yield* run
      if (op !== "put") return result
      shared.landed.add(path)
      onLanded(path)
      if (lostRoll < (config.putLostResponseRate ?? 0)) {
        shared.faults.lostResponse++
        return yield* new StoreUnavailable({ op, path, message: `injected: response lost after the put took effect (operation ${index})` })
      }
      return result
    })
  const store = ObjectStore.of({
    put: (path, bytes, options) => inject("put", path, inner.put(path, bytes, options)),
    get: (path) => inject("get", path, inner.get(path)),
    getRange: (path, range) => inject("getRange", path, inner.getRange(path, range)),
    head: (path) => inject("head", path, inner.head(path)),
    delete: (path) => inject("delete", path, inner.delete(path)),
    list: (prefix, options) => Stream.unwrap(inject("list", prefix, Effect.succeed(inner.list(prefix, options))))
  })
  return {
    store,
    crash: () => {
      crashed = true
    }
  }
}
