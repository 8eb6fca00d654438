/**
 * The garbage-collector actor: where the seed's collector runs (`GcPlan.ts`: the writer's own, standalone
 * passes, both), the standalone passes (`GcProcess.ts`), the pauses that age everything, the audit of
 * what live manifests need (`GcAudit.ts`) and, at the end, the final passes and the boundedness check.
 *
 * Events (per round, `FaultProfile.gc`, drawn from `<seed>/gc`; each takes an operation index):
 * - *standalone pass*: a collector process runs one pass (`Admin.runGcOnce` with the plan's options). Half
 *   the time the runner waits for it; the other half it runs on in the background while the next rounds
 *   go on (reads, writes, compactions, checkpoints race its deletions). `passCrash` of the passes are
 *   killed after 0-20 clock steps: the process is cut off and its fiber interrupted mid-pass. A pass that
 *   ends must end well (its `errors` are store faults it absorbed); one that fails is a divergence, unless
 *   the store failed for good meanwhile (the permanent-failure event applies to collector processes too).
 * - *pause*: the whole world sleeps 1-10 minutes (`WorldClock.pause`): every object ages past the minimum
 *   age, checkpoints expire; then the clock runs 0-5 s so that the timers due (the writer's collector
 *   among them) run.
 *
 * After every round: `liveProblems` (nothing a live manifest or a live checkpoint needs is gone, every live
 * checkpoint is still listed).
 *
 * At the end (`finish`, after the writer's final close, with no compactor left): background passes are
 * awaited; then twice: a pause (the first 16 minutes: every checkpoint with a lifetime expires; the second
 * past the final minimum age) and a pass over every kind on the quiet store; then `finalProblems` (the
 * bucket is the rules' fixpoint: nothing the rules delete is left) and the audit.
 */
import { Cause, Effect, Exit } from "effect"
import type { GarbageCollector } from "@shale/core"
import { Admin } from "@shale/core"
import { ObjectStore } from "@shale/core/internal"
import type { CheckpointActor } from "./CheckpointActor.ts"
import type { Diverged } from "./Diverged.ts"
import { finalProblems, liveProblems } from "./GcAudit.ts"
import type { GcPlan } from "./GcPlan.ts"
import { type GcPassProc, killGcPass, launchGcPass } from "./GcProcess.ts"
import { describeError } from "./Operations.ts"
import { SharedFaults } from "./ProcessFaults.ts"
import type { SimRandom } from "./SimRandom.ts"
import { DB_PATH, type SimWorld } from "./World.ts"

/** What the garbage-collection side of a run did (`SimResult.gc`). */
export interface GcSummary {
  readonly deployment: GcPlan["deployment"]
  readonly passes: number
  readonly background: number
  readonly crashes: number
  readonly pauses: number
  /** Simulated time the world slept through. */
  readonly pausedMs: number
  /** Objects deleted (by anyone but the runner), by directory. */
  readonly deleted: Readonly<Record<string, number>>
  /** Versions recreated below the latest by a process acting on a view older than the minimum age, by directory. */
  readonly recreated: Readonly<Record<string, number>>
  /** Failed deletions and kinds not collected that the standalone passes reported (absorbed store faults). */
  readonly passErrors: number
  /** Objects left after the final passes, by kind. */
  readonly kept: Readonly<Record<string, number>>
  /** The standalone passes' own store faults. */
  readonly storeFaults: Readonly<Record<string, number>>
}

/** The first final pause: longer than any checkpoint lifetime (the compactor's are 15 minutes). */
const FINAL_PAUSE_MS = 16 * 60_000

export class GcActor {
  readonly plan: GcPlan
  readonly w: SimWorld
  readonly rng: SimRandom
  readonly #passRng: SimRandom
  readonly #checkpoints: CheckpointActor
  readonly #onPause: (ms: number) => void
  readonly #enabled: boolean
  readonly #shared: SharedFaults
  readonly #passes: Array<GcPassProc> = []
  /** Per pass: the permanent store failures its processes had seen when it started. */
  readonly #permanentAtStart = new Map<number, number>()
  #launched = 0
  readonly #counts = { passes: 0, background: 0, crashes: 0, pauses: 0, passErrors: 0 }
  #kept: Record<string, number> = {}

  constructor(fields: {
    w: SimWorld
    plan: GcPlan
    rng: SimRandom
    checkpoints: CheckpointActor
    enabled: boolean
    /** The world paused (the writer may have given up an L0 stall: it lasted minutes). */
    onPause: (ms: number) => void
  }) {
    this.w = fields.w
    this.plan = fields.plan
    this.rng = fields.rng
    this.#passRng = fields.rng.derive("passes")
    this.#checkpoints = fields.checkpoints
    this.#onPause = fields.onPause
    this.#enabled = fields.enabled
    this.#shared = new SharedFaults(`${fields.w.seed}/gc-store`, fields.w.profile.store)
  }

  get summary(): GcSummary {
    const deleted = { ...this.w.ledger.deletions }
    return {
      deployment: this.plan.deployment,
      ...this.#counts,
      pausedMs: this.w.clock.pausedMs,
      deleted,
      recreated: { ...this.w.ledger.recreated },
      kept: { ...this.#kept },
      storeFaults: { ...this.#shared.faults }
    }
  }

  /** Every object the standalone passes wrote (manifest versions without expired checkpoints). */
  get landed(): ReadonlySet<string> {
    return this.#shared.landed
  }

  /** The permanent store failure applies to collector processes too (undefined: it ends). */
  storeFailure(failAfter: number | undefined): Effect.Effect<void> {
    return Effect.sync(() => this.#shared.failAfter(failAfter))
  }

  get start(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled) return
      const { deployment, writer, standalone } = this.plan
      this.w.trace.line(`gc deployment=${deployment} writer=${JSON.stringify(writer)} standalone=${JSON.stringify(standalone)}`)
    })
  }

  /** Before a round: passes that ended are checked; then maybe an event. True when one ran. */
  get beforeRound(): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const rates = this.w.profile.gc
      if (!this.#enabled || rates === undefined || this.w.phase !== "normal") return false
      yield* this.#reap
      const roll = this.rng.next()
      const standalone = this.plan.deployment === "standalone" || this.plan.deployment === "both"
      if (roll < rates.pass) return standalone ? yield* this.#pass(rates.passCrash) : false
      if (roll < rates.pass + rates.pause) return yield* this.#pause
      return false
    })
  }

  /** After a round: what live manifests need must be there. */
  get afterRound(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled) return
      const expected = yield* this.#checkpoints.expectedLive
      const problems = yield* Effect.orDie(liveProblems(this.w.injector.inner, DB_PATH, this.w.ledger, expected))
      if (problems.length > 0) return yield* this.w.diverge(`store audit: ${problems.join("; ")}`)
    })
  }

  // ------------------------------------------------------------------ events

  /** A standalone pass: awaited, in the background, or killed mid-pass. */
  #pass(crashShare: number): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      // How the pass goes comes from a stream of its own (`<seed>/gc/passes`): in practice, the draw
      // after the small one that chose the event came out far from uniform.
      const how = this.#passRng
      const crash = how.chance(crashShare)
      const background = !crash && how.chance(0.5)
      const p = yield* launchGcPass(w, this.#shared, ++this.#launched, this.plan.standalone)
      this.#passes.push(p)
      this.#permanentAtStart.set(p.id, this.#shared.faults.permanent)
      this.#counts.passes++
      w.event("gcPass")
      if (background) {
        this.#counts.background++
        w.trace.line(`#${w.opIndex} gc pass g${p.id} starts in the background @${yield* w.now}`)
      } else if (crash) {
        const steps = how.pick([0, 1, 2, 5, 20])
        yield* w.drive(() => p.state !== "running", how.pick([1, 2, 5]), steps)
        if (p.state === "running") {
          yield* killGcPass(p)
          this.#counts.crashes++
          w.event("gcCrash")
          w.trace.line(`#${w.opIndex} gc pass g${p.id} killed after ${steps} steps @${yield* w.now}`)
        }
      } else {
        if ((yield* w.drive(() => p.state !== "running", 5)) === "stuck") {
          return yield* w.diverge(`gc pass g${p.id} did not finish within ${w.budgetMs} ms of simulated time`)
        }
      }
      yield* this.#reap
      w.opIndex++
      return true
    })
  }

  /** Checks the passes that ended. */
  get #reap(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      for (const p of this.#passes.filter((p) => p.state === "done")) {
        this.#passes.splice(this.#passes.indexOf(p), 1)
        yield* this.#ended(p, p.exit!)
      }
      for (const p of this.#passes.filter((p) => p.state === "crashed")) this.#passes.splice(this.#passes.indexOf(p), 1)
    })
  }

  #ended(p: { readonly id: number }, exit: Exit.Exit<GarbageCollector.GcRunStats, unknown>): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      if (Exit.isFailure(exit)) {
        if (this.#shared.faults.permanent > (this.#permanentAtStart.get(p.id) ?? Infinity)) {
          w.trace.line(`#${w.opIndex} gc pass g${p.id} failed while the store failed for good: ${describeError(exit.cause)}`)
          return
        }
        return yield* w.diverge(`gc pass g${p.id} failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`)
      }
      const s = exit.value
      this.#counts.passErrors += s.errors.length
      w.trace.line(
        `#${w.opIndex} gc pass g${p.id} done: deleted ${s.deleted.manifests} manifests, ${s.deleted.wal} WAL SSTs, ` +
          `${s.deleted.compacted} compacted SSTs, ${s.deleted.compactions} compactions files; ${s.expiredCheckpoints} expired ` +
          `checkpoints; ${s.errors.length} errors`
      )
    })
  }

  /** The whole world sleeps 1-10 minutes, then the clock runs a little. */
  get #pause(): Effect.Effect<boolean> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const ms = rng.pick([60_000, 120_000, 300_000, 600_000])
      const after = rng.pick([0, 100, 1000, 5000])
      w.clock.pause(ms)
      this.#onPause(ms)
      yield* w.advance(after)
      this.#counts.pauses++
      w.event("pause")
      w.trace.line(`#${w.opIndex} the world pauses ${ms / 1000} s, then runs ${after} ms @${yield* w.now}`)
      w.opIndex++
      return true
    })
  }

  // ------------------------------------------------------------------ the end

  /** The final passes and checks (see the module comment); the writer is closed, no compactor runs. */
  get finish(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled || this.plan.deployment === "none") return
      const w = this.w
      for (const p of this.#passes) {
        if (p.state === "running" && (yield* w.drive(() => p.state !== "running", 10)) === "stuck") {
          return yield* w.diverge(`gc pass g${p.id} did not finish within ${w.budgetMs} ms of simulated time`)
        }
      }
      yield* this.#reap
      const minAgeMs = this.plan.finalMinAgeMs
      const options: GarbageCollector.GcOptions = {
        manifests: { intervalMs: 1000, minAgeMs },
        wal: { intervalMs: 1000, minAgeMs },
        compacted: { intervalMs: 1000, minAgeMs },
        compactions: { intervalMs: 1000, minAgeMs }
      }
      for (let i = 1; i <= 2; i++) {
        // First long enough for every checkpoint with a lifetime to expire (the compactor's last 15 minutes).
        w.clock.pause(i === 1 ? Math.max(minAgeMs, FINAL_PAUSE_MS) + 1000 : minAgeMs + 1000)
        const exit = yield* w.settle(
          Admin.runGcOnce(DB_PATH, { options }).pipe(Effect.provideService(ObjectStore, w.injector.inner)),
          `the final gc pass ${i}`
        )
        if (Exit.isFailure(exit)) return yield* w.diverge(`the final gc pass ${i} failed: ${describeError(exit.cause)}`)
        if (exit.value.errors.length > 0) {
          return yield* w.diverge(`the final gc pass ${i} on a quiet store reported errors: ${exit.value.errors.join("; ")}`)
        }
        yield* this.#ended({ id: 0 }, exit)
      }
      const now = yield* w.now
      const final = yield* Effect.orDie(finalProblems(w.injector.inner, DB_PATH, now, minAgeMs))
      this.#kept = final.kept
      w.trace.line(`#${w.opIndex} after the final gc: ${JSON.stringify(final.kept)} @${now}`)
      if (final.problems.length > 0) return yield* w.diverge(`after the final garbage collection: ${final.problems.join("; ")}`)
      yield* this.afterRound
    })
  }
}
