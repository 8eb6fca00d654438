/**
 * A fault- and latency-injecting `ObjectStore` over an in-memory store, for tests and deterministic
 * simulation, with a `FaultInjector` service to drive it.
 *
 * Determinism: every decision comes from the store's own PRNG, seeded by `options.seed`, and from the
 * Effect `Clock` (latency is an `Effect.sleep`). Each operation draws exactly three numbers when it starts
 * (failure, lost response, latency), whatever the configuration, so one seed gives one sequence of faults
 * however faults are configured and whatever else uses Effect's `Random`. Under `TestClock` and a fixed
 * schedule of operations a run is exactly reproducible; `FaultInjector.events` records what was injected.
 *
 * What an operation goes through, in order:
 * 1. Path validation (`InvalidPath` is never replaced by an injected fault; invalid calls are not counted).
 * 2. It is counted (`stats.ops`) and draws its three numbers.
 * 3. If the store is crashed, it never completes and never takes effect (see below).
 * 4. Latency: it sleeps for the configured fixed or uniformly random time.
 * 5. If a crash happened since it started, it never completes and never takes effect.
 * 6. `failAfterOps`: the operations numbered above N (1-based) fail with `StoreFailure`, for good.
 * 7. `unavailableRate`: it fails with `StoreUnavailable` without taking effect.
 * 8. It runs on the inner store.
 * 9. `putLostResponseRate` (puts only): the put has taken effect, but the caller gets `StoreUnavailable`,
 *    as after a network timeout. This is the case `slatedbputid` exists for.
 *
 * Crash semantics: "nothing started after the crash takes effect, and nothing in flight completes". After
 * `crash`, new operations and operations still in their latency sleep hang forever (interruptibly) without
 * touching the inner store: a crashed process makes no progress and observes nothing, and because they
 * never resume, a "zombie" from before the crash cannot write after `heal`. `heal` lets new operations
 * through again (as a restarted process would see the same bucket); operations stranded by the crash stay
 * stranded. The inner store keeps exactly what had landed, so a simulation can crash, heal, reopen and
 * check recovery. Listing draws its faults once, when the stream starts.
 */
import { Clock, Context, Duration, Effect, Layer, Stream } from "effect"
import {
  makeMemory,
  ObjectStore,
  StoreFailure,
  StoreUnavailable,
  validatePath,
  validatePrefix,
  type ByteRange,
  type ListOptions,
  type ObjectStoreError,
  type PutOptions,
  type StoreOp
} from "@shale/core/internal"

/** A fixed latency, or one drawn uniformly from `[min, max]`. */
export type Latency =
  | { readonly fixed: Duration.Input }
  | { readonly min: Duration.Input; readonly max: Duration.Input }

/** A setting for every operation, or per operation (operations not named get none). */
export type PerOp<A> = A | Partial<Record<StoreOp, A>>

export interface FaultConfig {
  /** Probability that an operation fails with `StoreUnavailable` before taking effect. */
  readonly unavailableRate?: PerOp<number>
  /** Probability that a put takes effect but its caller sees `StoreUnavailable`. */
  readonly putLostResponseRate?: number
  /** Latency of each operation (default none). */
  readonly latency?: PerOp<Latency>
  /** Operations after the first `failAfterOps` fail with `StoreFailure`, permanently. */
  readonly failAfterOps?: number
}

export interface FaultInjectingOptions extends FaultConfig {
  /** Seed of the fault PRNG: the same seed gives the same faults. */
  readonly seed: number | string
  /** Listing page size of the inner memory store (default 1000). */
  readonly pageSize?: number
  /**
   * Wraps the inner memory store (default: none): what the wrapper sees is what lands in the bucket, and
   * `FaultInjector.inner` is the wrapped store (the simulator's ledger, sim/StoreLedger.ts).
   */
  readonly wrapInner?: (inner: ObjectStore["Service"]) => ObjectStore["Service"]
}

export type FaultKind = "unavailable" | "lostResponse" | "permanent" | "crashed"

/** One injected fault: the 1-based operation number, the operation, its path, and when it happened. */
export interface FaultEvent {
  readonly index: number
  readonly op: StoreOp
  readonly path: string
  readonly kind: FaultKind
  readonly timeMs: number
}

export interface FaultStats {
  /** Operations started (valid paths only). */
  readonly ops: number
  readonly opsByKind: Readonly<Record<StoreOp, number>>
  /** Injected faults by kind (`crashed`: operations swallowed by a crash). */
  readonly faults: Readonly<Record<FaultKind, number>>
}

/** The control handle of a fault-injecting store. */
export class FaultInjector extends Context.Service<FaultInjector, {
  /** Simulates a crash: from now on nothing takes effect or completes until `heal`. */
  readonly crash: Effect.Effect<void>
  /** Lets new operations through again; those stranded by a crash stay stranded. */
  readonly heal: Effect.Effect<void>
  readonly isCrashed: Effect.Effect<boolean>
  /** Replaces the fault configuration (the PRNG sequence continues). */
  readonly setFaults: (config: FaultConfig) => Effect.Effect<void>
  readonly stats: Effect.Effect<FaultStats>
  /** Every injected fault, in order. */
  readonly events: Effect.Effect<ReadonlyArray<FaultEvent>>
  /** The inner store, without faults or latency: for inspecting or seeding state. */
  readonly inner: ObjectStore["Service"]
}>()("shale/testing/FaultInjector") {}

/** A 32-bit hash of a string seed (FNV-1a). */
const hashSeed = (seed: number | string): number => {
  if (typeof seed === "number") return seed >>> 0 ^ Math.floor(seed / 2 ** 32) >>> 0
  let h = 0x811c9dc5
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * The fault PRNG: sfc32 (a small, fast, well-distributed generator) seeded through splitmix32.
 * Returns doubles in [0, 1).
 */
export const makePrng = (seed: number | string): () => number => {
  let s = hashSeed(seed)
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix(), b = splitmix(), c = splitmix(), d = splitmix()
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t / 4294967296
  }
}

const isLatency = (x: PerOp<Latency>): x is Latency => "fixed" in x || "min" in x

const rateFor = (rate: PerOp<number> | undefined, op: StoreOp): number =>
  rate === undefined ? 0 : typeof rate === "number" ? rate : rate[op] ?? 0

const latencyMillis = (latency: PerOp<Latency> | undefined, op: StoreOp, roll: number): number => {
  if (latency === undefined) return 0
  const l = isLatency(latency) ? latency : latency[op]
  if (l === undefined) return 0
  if ("fixed" in l) return Duration.toMillis(Duration.fromInputUnsafe(l.fixed))
  const min = Duration.toMillis(Duration.fromInputUnsafe(l.min))
  const max = Duration.toMillis(Duration.fromInputUnsafe(l.max))
  return min + Math.floor(roll * (max - min + 1))
}

const zeroOps = (): Record<StoreOp, number> => ({ put: 0, get: 0, getRange: 0, head: 0, delete: 0, list: 0 })

/**
 * The faults' state and dice: one PRNG (three rolls per operation, whether used or not, so that a change of
 * configuration does not shift later rolls), the crash flag and epoch, the counters and the event log.
 */
class FaultState {
  readonly #random: () => number
  config: FaultConfig
  crashed = false
  crashEpoch = 0
  ops = 0
  readonly opsByKind = zeroOps()
  readonly faults: Record<FaultKind, number> = { unavailable: 0, lostResponse: 0, permanent: 0, crashed: 0 }
  readonly events: Array<FaultEvent> = []

  constructor(options: FaultInjectingOptions) {
    this.#random = makePrng(options.seed)
    this.config = options
  }

  #record(index: number, op: StoreOp, path: string, kind: FaultKind): Effect.Effect<void> {
    return Clock.currentTimeMillis.pipe(Effect.map((timeMs) => {
      this.faults[kind]++
      this.events.push({ index, op, path, kind, timeMs })
    }))
  }

  /** Swallowed by a crash: never completes, never takes effect. */
  #strand(index: number, op: StoreOp, path: string): Effect.Effect<never> {
    return this.#record(index, op, path, "crashed").pipe(Effect.andThen(Effect.never))
  }

  /** `run` (operation `op` on `path`) with this operation's latency and faults. */
  inject<A>(op: StoreOp, path: string, run: Effect.Effect<A, ObjectStoreError>): Effect.Effect<A, ObjectStoreError> {
    const self = this
    return Effect.gen(function*() {
      const index = ++self.ops
      self.opsByKind[op]++
      const failRoll = self.#random()
      const lostRoll = self.#random()
      const latencyRoll = self.#random()
      const epoch = self.crashEpoch
      if (self.crashed) return yield* self.#strand(index, op, path)
      const delay = latencyMillis(self.config.latency, op, latencyRoll)
      if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
      if (self.crashed || self.crashEpoch !== epoch) return yield* self.#strand(index, op, path)
      if (self.config.failAfterOps !== undefined && index > self.config.failAfterOps) {
        yield* self.#record(index, op, path, "permanent")
        return yield* new StoreFailure({ op, path, message: `injected: permanent failure (operation ${index})` })
      }
      if (failRoll < rateFor(self.config.unavailableRate, op)) {
        yield* self.#record(index, op, path, "unavailable")
        return yield* new StoreUnavailable({ op, path, message: `injected: unavailable (operation ${index})` })
      }
      const result = yield* run
      if (op === "put" && lostRoll < (self.config.putLostResponseRate ?? 0)) {
        yield* self.#record(index, op, path, "lostResponse")
        return yield* new StoreUnavailable({
          op,
          path,
          message: `injected: response lost after the put took effect (operation ${index})`
        })
      }
      return result
    })
  }
}

/** `inner` with every operation through `state.inject`, after the path check. */
const faultyStore = (inner: ObjectStore["Service"], state: FaultState): ObjectStore["Service"] =>
  ObjectStore.of({
    put: (path: string, bytes: Uint8Array, putOptions?: PutOptions) =>
      validatePath("put", path).pipe(Effect.andThen(state.inject("put", path, inner.put(path, bytes, putOptions)))),
    get: (path: string) => validatePath("get", path).pipe(Effect.andThen(state.inject("get", path, inner.get(path)))),
    getRange: (path: string, range: ByteRange) =>
      validatePath("getRange", path).pipe(Effect.andThen(state.inject("getRange", path, inner.getRange(path, range)))),
    head: (path: string) => validatePath("head", path).pipe(Effect.andThen(state.inject("head", path, inner.head(path)))),
    delete: (path: string) =>
      validatePath("delete", path).pipe(Effect.andThen(state.inject("delete", path, inner.delete(path)))),
    list: (prefix: string, options?: ListOptions) =>
      Stream.unwrap(
        validatePrefix(prefix).pipe(Effect.andThen(state.inject("list", prefix, Effect.succeed(inner.list(prefix, options)))))
      )
  })

/** Builds a fault-injecting store and its control handle. */
export const makeFaultInjecting = (options: FaultInjectingOptions) =>
  Effect.sync(() => {
    const memory = makeMemory(options.pageSize === undefined ? {} : { pageSize: options.pageSize })
    const inner = options.wrapInner === undefined ? memory : options.wrapInner(memory)
    const state = new FaultState(options)
    const injector = FaultInjector.of({
      crash: Effect.sync(() => {
        state.crashed = true
        state.crashEpoch++
      }),
      heal: Effect.sync(() => {
        state.crashed = false
      }),
      isCrashed: Effect.sync(() => state.crashed),
      setFaults: (next) =>
        Effect.sync(() => {
          state.config = next
        }),
      stats: Effect.sync(() => ({ ops: state.ops, opsByKind: { ...state.opsByKind }, faults: { ...state.faults } })),
      events: Effect.sync(() => state.events.slice()),
      inner
    })
    return { store: faultyStore(inner, state), injector } as const
  })

/** Constructors for the fault-injecting store. */
export const FaultInjectingObjectStore = {
  /** Provides the faulty `ObjectStore` and its `FaultInjector`. */
  layer: (options: FaultInjectingOptions): Layer.Layer<ObjectStore | FaultInjector> =>
    Layer.effectContext(
      makeFaultInjecting(options).pipe(
        Effect.map(({ injector, store }) => Context.make(ObjectStore, store).pipe(Context.add(FaultInjector, injector)))
      )
    ),
  make: makeFaultInjecting
} as const
