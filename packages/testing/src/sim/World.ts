/**
 * The world of one simulation run: what every actor of the run shares (the seed's settings, the model, the
 * trace, the bucket and its fault injector, the operation counter, the phase), and the one way time moves
 * (`drive`, `settle`).
 *
 * Time: the runner owns the `TestClock`. `drive` advances it in steps while something is in flight and
 * stops when it is done, when a number of steps ran out, or when the liveness budget is spent (then the
 * caller reports a divergence: a round, an open or a compaction that never ends). `settle` runs one effect
 * to its end that way. Nothing here reads real time or `Math.random`.
 *
 * The world's clock (`WorldClock`) is the `TestClock` plus the time the whole world slept through at once
 * (`pause`): every process's clock jumps by minutes, no timer runs meanwhile, and the timers that came due
 * run right after, as when every machine was suspended together. That is how objects age past the garbage
 * collector's minimum age and checkpoints expire without the cost of `TestClock.adjust` over minutes (each
 * timer a clock adjustment wakes costs about half a millisecond of real time; a writer's 2 ms WAL timer
 * alone wakes 30,000 times a minute). Every process, and the runner, sees the world's clock.
 */
import { Clock, Duration, Effect, Exit, Scope } from "effect"
import type { TestClock } from "effect/testing"
import type { Db, MergeOperator, ObjectStore, Settings } from "@shale/core/internal"
import type { FaultInjector } from "../FaultInjectingObjectStore.ts"
import { Diverged } from "./Diverged.ts"
import type { Model, Verdict } from "./Model.ts"
import { emptyMergeCounts, type MergeCounts, simMergeOperator } from "./Merges.ts"
import type { FaultProfile } from "./Profiles.ts"
import type { ProcessStore } from "./SimStore.ts"
import type { Trace } from "./TraceHash.ts"
import type { StoreLedger } from "./StoreLedger.ts"
import type { Workload } from "./Workload.ts"

/** Where the simulated database lives in the bucket. */
export const DB_PATH = "sim/db"

/** Yields before the clock moves, so that work already runnable finishes without time passing. */
const SETTLE_YIELDS = 3

/** A database process: its view of the bucket, its clock, its scope, its database. */
export interface Proc {
  readonly id: number
  readonly view: ProcessStore
  /** The process's clock (its sleeps stop when it dies): everything run against its database uses it. */
  readonly clock: Clock.Clock
  readonly scope: Scope.Closeable
  readonly db: Db["Service"]
}

/** The `TestClock` plus an offset that only grows (see the module comment). */
export class WorldClock {
  readonly test: TestClock.TestClock
  #offsetMs = 0
  readonly clock: Clock.Clock

  constructor(test: TestClock.TestClock) {
    this.test = test
    const millis = () => test.currentTimeMillisUnsafe() + this.#offsetMs
    const nanos = (n: bigint) => n + BigInt(this.#offsetMs) * 1_000_000n
    this.clock = {
      currentTimeMillisUnsafe: millis,
      currentTimeMillis: Effect.sync(millis),
      currentTimeNanosUnsafe: () => nanos(test.currentTimeNanosUnsafe()),
      currentTimeNanos: Effect.sync(() => nanos(test.currentTimeNanosUnsafe())),
      monotonicTimeNanosUnsafe: () => nanos(test.monotonicTimeNanosUnsafe()),
      monotonicTimeNanos: Effect.sync(() => nanos(test.monotonicTimeNanosUnsafe())),
      sleep: (duration) => test.sleep(duration)
    }
  }

  /** The time every process slept through together so far. */
  get pausedMs(): number {
    return this.#offsetMs
  }

  /** The whole world sleeps `ms`: every clock jumps, no timer runs (the ones due run at the next adjustment). */
  pause(ms: number): void {
    this.#offsetMs += ms
  }
}

/** Runs `effect` as a process (with its clock). */
export const onProc = <A, E>(p: { readonly clock: Clock.Clock }, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.provideService(effect, Clock.Clock, p.clock)

export type DriveOutcome = "done" | "steps" | "stuck"

export class SimWorld {
  readonly seed: number
  readonly profile: FaultProfile
  readonly settings: Settings
  readonly workload: Workload
  readonly model: Model
  readonly trace: Trace
  /** Simulated time one round (or open, close, compaction) may take before it counts as stuck. */
  readonly budgetMs: number
  /** The bucket's fault injector (the writer processes reach the bucket through its store). */
  readonly injector: FaultInjector["Service"]
  readonly bucket: ObjectStore["Service"]
  readonly clock: WorldClock
  /** Every put and delete that landed in the bucket (`StoreLedger.ts`). */
  readonly ledger: StoreLedger
  /** The runner's events (`crash`, `reopen`, ...), reported with the store's faults. */
  readonly events: Record<string, number> = { crash: 0, reopen: 0, fence: 0, fatal: 0, advance: 0 }
  /** Operands folded, by path (Merges.ts). */
  readonly mergeCounts: MergeCounts = emptyMergeCounts()
  /** The merge operator every opening gets (Merges.ts). */
  readonly mergeOperator: MergeOperator = simMergeOperator(this.mergeCounts)
  /** The index of the next operation (events count as one). */
  opIndex = 0
  /** `fatal`: the store fails for good; errors are expected until the writer restarts. */
  phase: "normal" | "fatal" = "normal"
  fatalRoundsLeft = 0

  constructor(fields: {
    seed: number
    profile: FaultProfile
    settings: Settings
    workload: Workload
    model: Model
    trace: Trace
    budgetMs: number
    injector: FaultInjector["Service"]
    bucket: ObjectStore["Service"]
    clock: WorldClock
    ledger: StoreLedger
  }) {
    this.seed = fields.seed
    this.profile = fields.profile
    this.settings = fields.settings
    this.workload = fields.workload
    this.model = fields.model
    this.trace = fields.trace
    this.budgetMs = fields.budgetMs
    this.injector = fields.injector
    this.bucket = fields.bucket
    this.clock = fields.clock
    this.ledger = fields.ledger
    // TTLs run on the world's clock (the engine's ticks are its milliseconds).
    this.model.nowMs = () => this.clock.clock.currentTimeMillisUnsafe()
  }

  readonly now: Effect.Effect<number> = Clock.currentTimeMillis

  /** The stop signal for a disagreement at operation `at`. */
  diverge(message: string, at: number = this.opIndex): Diverged {
    return new Diverged({ opIndex: at, message })
  }

  check(verdict: Verdict, at: number): Effect.Effect<void, Diverged> {
    return verdict.ok ? Effect.void : Effect.fail(this.diverge(verdict.message, at))
  }

  /** Counts a runner event (in `SimResult.faults` and in the trace's counts). */
  event(name: string): void {
    this.events[name] = (this.events[name] ?? 0) + 1
    this.trace.count(`event:${name}`)
  }

  /** Advances the clock until `isDone()`; "steps" if `maxSteps` ran out first, "stuck" past the budget. */
  drive(isDone: () => boolean, stepMs: number, maxSteps?: number): Effect.Effect<DriveOutcome> {
    const budgetMs = this.budgetMs
    const test = this.clock.test
    return Effect.gen(function*() {
      for (let i = 0; i < SETTLE_YIELDS && !isDone(); i++) yield* Effect.yieldNow
      let steps = 0
      let spent = 0
      let step = Math.max(1, stepMs)
      while (!isDone()) {
        if (maxSteps !== undefined && steps >= maxSteps) return "steps" as const
        if (spent >= budgetMs) return "stuck" as const
        yield* test.adjust(Duration.millis(step))
        steps++
        spent += step
        if (steps % 200 === 0) step = Math.min(step * 2, 1000)
        yield* Effect.yieldNow
      }
      return "done" as const
    })
  }

  /** `drive`, with a condition that is an effect (a status to read). */
  driveUntil(isDone: Effect.Effect<boolean>, stepMs: number, maxSteps?: number): Effect.Effect<DriveOutcome> {
    const budgetMs = this.budgetMs
    const test = this.clock.test
    return Effect.gen(function*() {
      let steps = 0
      let spent = 0
      let step = Math.max(1, stepMs)
      while (!(yield* isDone)) {
        if (maxSteps !== undefined && steps >= maxSteps) return "steps" as const
        if (spent >= budgetMs) return "stuck" as const
        yield* test.adjust(Duration.millis(step))
        steps++
        spent += step
        if (steps % 200 === 0) step = Math.min(step * 2, 1000)
        yield* Effect.yieldNow
      }
      return "done" as const
    })
  }

  /**
   * Runs one effect to its end, driving the clock; stuck is a divergence. `meanwhile`: whenever `due()`
   * holds, the drive pauses for `run` (another actor's housekeeping), then goes on with a fresh budget.
   */
  settle<A, E>(
    effect: Effect.Effect<A, E>,
    what: string,
    stepMs = 10,
    meanwhile?: { readonly due: () => boolean; readonly run: Effect.Effect<void, Diverged> }
  ): Effect.Effect<Exit.Exit<A, E>, Diverged> {
    return Effect.gen({ self: this }, function*() {
      let exit: Exit.Exit<A, E> | undefined
      yield* Effect.forkDetach(Effect.flatMap(Effect.exit(effect), (e) => Effect.sync(() => void (exit = e))))
      for (;;) {
        const outcome = yield* this.drive(() => exit !== undefined || meanwhile?.due() === true, stepMs)
        if (exit !== undefined) return exit
        if (outcome === "stuck") {
          return yield* this.diverge(`${what} did not finish within ${this.budgetMs} ms of simulated time`)
        }
        yield* meanwhile!.run
      }
    })
  }

  /** Jumps the shared clock by `ms` (timers fire). */
  advance(ms: number): Effect.Effect<void> {
    return this.clock.test.adjust(Duration.millis(ms))
  }
}
