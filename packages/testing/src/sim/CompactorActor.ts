/**
 * The compactor actor: where the seed's compactor runs (`CompactorPlan.ts`), the standalone compactor
 * processes (`CompactorProcess.ts`), their events (`CompactorEvents.ts`), and the store audit
 * (`StoreAudit.ts`).
 *
 * Housekeeping, before every round:
 * - a standalone compactor whose `done` failed is retired: the reason must be `fenced` (a newer compactor
 *   claimed the epoch — the writer's after a reopen, or a second standalone one), and it must have written
 *   no manifest version and no compactions file at or after the claim that fenced it;
 * - when the plan wants a standalone compactor and none runs (it crashed; the writer's took it over in a
 *   `both` run; in an `embedded` run, a second compactor fenced the writer's and then died), a supervisor
 *   fiber starts one after 0-5 s of simulated time, while the rounds go on (a writer stalled on a full L0
 *   waits for it, as it would for a real supervisor);
 * - a compactor that started since the last round must run until idle (`awaitIdle`, within the liveness
 *   budget: it resumes or redoes what a dead one left Running), then the writer reads everything back
 *   (both levels, and a few keys), every answer checked by the model.
 *
 * After every round the store is audited (`StoreAudit.ts`). L0 is bounded by `l0MaxSsts` while a compactor
 * runs; after a minute or more without any compactor the bound is lifted (the writer goes past the limit
 * on purpose once L0 has not moved for minutes) until L0 is back within it.
 *
 * At the end (`finish`): the pending restart comes up, a last full compaction and read-back, the running
 * compactors stop cleanly, a last audit, and the fencing check of every compactor against its successors.
 */
import { Cause, Duration, Effect, Exit, Option, Scope } from "effect"
import { CompactionStatus, ObjectStore, readCompactions, type SettingsInput, withRetries } from "@shale/core/internal"
import type { Diverged } from "./Diverged.ts"
import { compactorEvent, finalCompaction } from "./CompactorEvents.ts"
import type { CompactorPlan } from "./CompactorPlan.ts"
import {
  compactorName,
  type CompactorProc,
  launchCompactorProc,
  openCompactorProc,
  retireCompactor,
  standaloneSettings
} from "./CompactorProcess.ts"
import { describeError, errorOf } from "./Operations.ts"
import { makeProcessFaults, SharedFaults } from "./ProcessFaults.ts"
import { makeProcessStore } from "./SimStore.ts"
import type { SimRandom } from "./SimRandom.ts"
import { StoreAudit } from "./StoreAudit.ts"
import type { SimOp } from "./Workload.ts"
import { DB_PATH, onProc, type SimWorld } from "./World.ts"
import { isCompactorFenced, type WriterActor } from "./WriterActor.ts"

/** Counters of what happened to the compactors of a run. */
export interface CompactorCounts {
  /** Standalone compactor processes started. */
  processes: number
  crashes: number
  /** Crashes that struck while a compaction ran. */
  crashesMidCompaction: number
  restarts: number
  /** Compactions with output SSTs a dead compactor left Running, which a new one took over. */
  resumable: number
  /** Standalone compactors fenced by a newer one (standalone or the writer's). */
  fencedStandalone: number
  /** Writer's compactors fenced by a standalone one. */
  fencedEmbedded: number
  /** Manual compactions (full, or a window) and how they ended. */
  manualSubmitted: number
  manualCompleted: number
  manualFailed: number
  /** Ended, and already replaced by a later compaction in the compactions file. */
  manualEnded: number
  /** Refused at submission (`InvalidError`: nothing to compact, no compactor ever ran; a fenced handle). */
  manualRefused: number
  /** Standalone compactors that lost the claim of the epoch to one starting at the same moment. */
  lostClaims: number
}

/** What the compactor side of a run did (`SimResult.compactor`). */
export interface CompactorSummary extends Readonly<CompactorCounts> {
  readonly deployment: CompactorPlan["deployment"]
  /** Manifest versions audited, and the largest L0 any of them held. */
  readonly manifestVersions: number
  readonly maxL0: number
  /** The compactor processes' own store faults. */
  readonly storeFaults: Readonly<Record<string, number>>
}

/** After this long without any compactor, the writer may legitimately have gone past `l0MaxSsts`. */
const L0_RELAX_AFTER_MS = 60_000

export type EmbeddedState = "alive" | "fenced" | "absent"

export class CompactorActor {
  readonly plan: CompactorPlan
  readonly w: SimWorld
  readonly writer: WriterActor
  /** The compactor's random stream (`<seed>/compactor`). */
  readonly rng: SimRandom
  readonly counts: CompactorCounts = {
    processes: 0,
    crashes: 0,
    crashesMidCompaction: 0,
    restarts: 0,
    resumable: 0,
    fencedStandalone: 0,
    fencedEmbedded: 0,
    manualSubmitted: 0,
    manualCompleted: 0,
    manualFailed: 0,
    manualEnded: 0,
    manualRefused: 0,
    lostClaims: 0
  }
  /** The admin client's store (compaction submissions): faulty like a compactor process's, with retries. */
  readonly admin: ObjectStore["Service"]
  readonly #settings: SettingsInput
  readonly #enabled: boolean
  readonly #shared: SharedFaults
  readonly #audit: StoreAudit
  readonly #procs: Array<CompactorProc> = []
  /** Compactor processes launched (their ids). */
  #launched = 0
  /** A supervisor is restarting a compactor. */
  #restartPending = false
  #downSince: number | undefined
  #l0Relaxed = false
  /** The oldest L0 SST when a pause lifted the bound (null: none did): it stays lifted until that one moves. */
  #pausedOldest: string | null = null

  constructor(fields: {
    w: SimWorld
    writer: WriterActor
    plan: CompactorPlan
    rng: SimRandom
    settings: SettingsInput
    enabled: boolean
  }) {
    this.w = fields.w
    this.writer = fields.writer
    this.plan = fields.plan
    this.rng = fields.rng
    this.#settings = standaloneSettings(fields.settings, fields.plan.standalone)
    this.#enabled = fields.enabled
    this.#shared = new SharedFaults(`${fields.w.seed}/compactor-store`, fields.w.profile.store)
    this.#audit = new StoreAudit(fields.w.ledger, DB_PATH)
    this.admin = withRetries(makeProcessStore(makeProcessFaults(fields.w.injector.inner, this.#shared).store).store)
  }

  get summary(): CompactorSummary {
    return {
      deployment: this.plan.deployment,
      ...this.counts,
      manifestVersions: this.#audit.versions,
      maxL0: this.#audit.maxL0,
      storeFaults: { ...this.#shared.faults }
    }
  }

  /** Every object the compactor processes (and the admin client) wrote. */
  get landed(): ReadonlySet<string> {
    return this.#shared.landed
  }

  /** The permanent store failure applies to the compactor processes too (undefined: it ends). */
  storeFailure(failAfter: number | undefined): Effect.Effect<void> {
    return Effect.sync(() => this.#shared.failAfter(failAfter))
  }

  // ------------------------------------------------------------------ the run's steps

  /** After the first open: the plan's standalone compactor starts. */
  get start(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled) return
      const { deployment, writer, standalone } = this.plan
      this.w.trace.line(`compactor deployment=${deployment} writer=${JSON.stringify(writer)} standalone=${JSON.stringify(standalone)}`)
      if (deployment === "standalone" || deployment === "both") yield* this.openStandalone("first start")
    })
  }

  /** Before a round: housekeeping, then maybe an event. True when something ran (it took an operation index). */
  get beforeRound(): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled || this.w.phase !== "normal") return false
      yield* this.#reap
      yield* this.#trackDowntime
      const started = this.#procs.find((c) => c.state === "running" && !c.verified)
      if (started !== undefined) {
        yield* this.#verifyStarted(started)
        return true
      }
      return yield* compactorEvent(this)
    })
  }

  /** After a round: the store audit. */
  get afterRound(): Effect.Effect<void, Diverged> {
    return this.#enabled ? this.auditNow : Effect.void
  }

  /** Before the final reopen (see the module comment). */
  get finish(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled) return
      const w = this.w
      if ((yield* w.drive(() => !this.#restartPending, 10)) === "stuck") {
        return yield* w.diverge(`no compactor restarted within ${w.budgetMs} ms`)
      }
      yield* this.#reap
      for (const c of this.#procs) if (c.state === "running" && !c.verified) yield* this.#verifyStarted(c)
      if (this.plan.deployment !== "none" && (yield* this.holderAlive)) yield* finalCompaction(this)
      for (const c of this.runningAll) {
        yield* w.settle(onProc(c, Scope.close(c.scope, Exit.void)), `stopping compactor ${compactorName(c)}`)
        c.state = "stopped"
      }
      yield* this.auditNow
      for (const c of this.#procs) yield* this.#checkFencedWrites(c)
    })
  }

  // ------------------------------------------------------------------ state

  /** The standalone compactors that run (usually one; two until an older one notices it is fenced). */
  get runningAll(): Array<CompactorProc> {
    return this.#procs.filter((p) => p.state === "running")
  }

  /** The newest standalone compactor that runs. */
  get running(): CompactorProc | undefined {
    return this.runningAll.at(-1)
  }

  /** The writer's compactor: running, fenced by a standalone one, or absent (none, or the writer closed). */
  get embedded(): Effect.Effect<EmbeddedState> {
    const p = this.writer.proc
    return Effect.map(onProc(p, p.db.status), (st): EmbeddedState => {
      if (st.closeReason !== undefined || st.compactor === undefined) return "absent"
      if (st.compactor.stopped === undefined) return "alive"
      return st.compactor.stopped === "fenced" ? "fenced" : "absent"
    })
  }

  /** Some compactor holds the epoch and runs. */
  get holderAlive(): Effect.Effect<boolean> {
    return this.running !== undefined ? Effect.succeed(true) : Effect.map(this.embedded, (s) => s === "alive")
  }

  /** Compactions a dead compactor left Running with output SSTs (in the latest compactions file). */
  get resumable(): Effect.Effect<number> {
    return readCompactions(DB_PATH).pipe(
      Effect.map((file) =>
        Option.match(file, {
          onNone: () => 0,
          onSome: (f) => f.compactions.filter((r) => r.status === CompactionStatus.Running && r.outputSsts.length > 0).length
        })
      ),
      Effect.provideService(ObjectStore, this.w.injector.inner),
      Effect.orDie
    )
  }

  /**
   * Lifts the L0 bound after a pause of the world: a writer stalled on a full L0 sees minutes without
   * compaction and gives up its stall, and uploads past the limit until compaction moves the oldest L0 SST
   * (L0Stall.ts). So the bound stays lifted until the oldest L0 SST changed and L0 is back within it.
   */
  relaxL0(why: string): void {
    if (!this.#l0Relaxed) this.w.trace.line(`#${this.w.opIndex} L0 bound lifted: ${why}`)
    this.#l0Relaxed = true
    this.#pausedOldest = this.#audit.latestOldestL0 ?? ""
  }

  /** Notes that no compactor may run from now on (see the module comment on L0). */
  get noteDown(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (!(yield* this.holderAlive)) this.#downSince ??= yield* this.w.now
    })
  }

  // ------------------------------------------------------------------ processes

  /**
   * Opens a standalone compactor now (driving the clock). It may lose the claim of the epoch to a compactor
   * starting at the same moment (a supervisor's, or the writer's): then it fails, fenced, and is gone
   * (undefined). Any other failure is a divergence.
   */
  openStandalone(what: string): Effect.Effect<CompactorProc | undefined, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const id = ++this.#launched
      const exit = yield* openCompactorProc(this.w, this.#shared, id, this.#settings, what)
      if (Exit.isFailure(exit)) {
        if (isCompactorFenced(exit.cause)) {
          yield* this.#lostClaim(id, what)
          return undefined
        }
        return yield* this.w.diverge(`opening compactor c${id} (${what}) failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`)
      }
      yield* this.#register(exit.value, what)
      return exit.value
    })
  }

  #lostClaim(id: number, what: string): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      this.counts.lostClaims++
      this.w.event("compactorLostClaim")
      this.w.trace.line(`#${this.w.opIndex} compactor c${id} (${what}) lost the compactor epoch to another one starting @${yield* this.w.now}`)
    })
  }

  #register(c: CompactorProc, what: string): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      this.#procs.push(c)
      this.counts.processes++
      this.w.trace.line(`#${this.w.opIndex} compactor ${compactorName(c)} starts (${what}): epoch ${c.epoch} @${yield* this.w.now}`)
    })
  }

  /**
   * `w.settle` for a wait on the compactors (a submitted compaction to end), with the supervisor at work
   * meanwhile: a standalone compactor that stops (a newer one fenced it, and it noticed only now) is retired
   * and another started, as between rounds. Without this a compaction submitted while the newest running
   * compactor was already fenced, unaware, waited out the whole budget: nothing restarts a compactor
   * inside a settle (standard seed 6596, docs/design/simulation.md).
   */
  settleSupervised<A, E>(effect: Effect.Effect<A, E>, what: string): Effect.Effect<Exit.Exit<A, E>, Diverged> {
    return this.w.settle(effect, what, 10, {
      due: () => this.runningAll.some((c) => c.stoppedWith !== undefined),
      run: this.#reap
    })
  }

  /** Retires the standalone compactors that stopped; restarts one when the plan wants one. */
  get #reap(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      for (const c of this.#procs) {
        if (c.state === "running" && c.stoppedWith !== undefined) yield* this.retireFenced(c)
      }
      yield* this.restartIfWanted("after the last one was fenced")
    })
  }

  /** When the plan wants a standalone compactor and none runs or is on its way: a supervisor starts one. */
  restartIfWanted(why: string): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (this.running !== undefined || this.#restartPending) return
      const deployment = this.plan.deployment
      const wanted = deployment === "standalone" || deployment === "both" ||
        (deployment === "embedded" && this.#procs.length > 0 && (yield* this.embedded) !== "alive")
      if (!wanted) return
      this.#restartPending = true
      const delayMs = this.rng.pick([0, 50, 500, 2000, 5000])
      yield* Effect.forkDetach(this.#supervise(++this.#launched, delayMs, why))
    })
  }

  /** The supervisor: after `delayMs`, starts compactor `id` (again every second while the store fails for good). */
  #supervise(id: number, delayMs: number, why: string): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      yield* Effect.sleep(Duration.millis(delayMs))
      while (true) {
        const resumable = yield* this.resumable
        const exit = yield* launchCompactorProc(this.w, this.#shared, id, this.#settings)
        if (Exit.isSuccess(exit)) {
          yield* this.#register(exit.value, `restart ${why}${resumable > 0 ? `, ${resumable} compaction(s) to resume` : ""}`)
          this.counts.restarts++
          this.counts.resumable += resumable
          this.w.event("compactorRestart")
          this.#restartPending = false
          return
        }
        if (isCompactorFenced(exit.cause)) {
          // Another compactor started meanwhile and won (`shale compactor` exits then): housekeeping decides.
          yield* this.#lostClaim(id, `restart ${why}`)
          this.#restartPending = false
          return
        }
        // The store fails for good (a permanent failure): try again later.
        yield* Effect.sleep(Duration.seconds(1))
      }
    })
  }

  /** A compactor that started must run until idle (resuming what was left), then the writer reads back. */
  #verifyStarted(c: CompactorProc): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      c.verified = true
      const idle = yield* w.settle(onProc(c, c.handle.awaitIdle), `the compactions of compactor ${compactorName(c)} after its start`)
      if (Exit.isFailure(idle)) {
        const error = errorOf(idle)
        if (error?._tag === "ClosedError" && error.reason === "fenced") return // a newer one took over: reaped next
        return yield* w.diverge(`compactor ${compactorName(c)} failed before it was idle: ${describeError(idle.cause)}\n${Cause.pretty(idle.cause)}`)
      }
      const st = yield* onProc(c, c.handle.status)
      w.trace.line(
        `#${w.opIndex} compactor ${compactorName(c)} idle: ${st.completed} completed, ${st.failed} failed, L0 ${st.l0Ssts}, ` +
          `runs ${st.sortedRuns} @${yield* w.now}`
      )
      yield* this.readBack(`the read-back after compactor ${compactorName(c)} became idle`)
      w.opIndex++
    })
  }

  /** The writer reads everything (both levels) and a few keys; the model checks every answer. */
  readBack(what: string): Effect.Effect<void, Diverged> {
    const rng = this.rng
    const keys = this.w.workload.config.keys
    const ops: Array<SimOp> = [
      { _tag: "scan", range: {}, order: "asc", durability: "memory", limit: undefined, paceMs: 0 },
      { _tag: "scan", range: {}, order: "desc", durability: "remote", limit: undefined, paceMs: 0 }
    ]
    for (let i = 0; i < 4; i++) ops.push({ _tag: "get", key: rng.pick(keys), durability: rng.chance(0.3) ? "remote" : "memory" })
    return this.writer.runOps(ops, rng.pick([1, 5]), what)
  }

  // ------------------------------------------------------------------ checks

  /** Notes when no compactor runs (see the module comment on L0). */
  get #trackDowntime(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (this.plan.deployment === "none") return
      const now = yield* this.w.now
      if (!(yield* this.holderAlive)) {
        this.#downSince ??= now
        return
      }
      if (this.#downSince !== undefined && now - this.#downSince >= L0_RELAX_AFTER_MS) this.#l0Relaxed = true
      this.#downSince = undefined
    })
  }

  /** A stopped standalone compactor must have been fenced, and written nothing after the claim that fenced it. */
  retireFenced(c: CompactorProc): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const stopped = c.stoppedWith!
      if (stopped.reason !== "fenced") {
        return yield* w.diverge(`compactor ${compactorName(c)} stopped by itself while it ran: ClosedError(${stopped.reason}) ${stopped.message}`)
      }
      retireCompactor(c)
      c.state = "fenced"
      yield* this.auditNow
      yield* this.#checkFencedWrites(c)
      this.counts.fencedStandalone++
      w.event("compactorFenced")
      w.trace.line(`#${w.opIndex} compactor ${compactorName(c)} (epoch ${c.epoch}) fenced: ${stopped.message} @${yield* w.now}`)
    })
  }

  /** Nothing `c` wrote may be at or after the first version a newer compactor claimed. */
  #checkFencedWrites(c: CompactorProc): Effect.Effect<void, Diverged> {
    const claim = this.#audit.claimOf(c.epoch + 1)
    const late = (writes: ReadonlyArray<number>, from: number | undefined) => writes.filter((id) => from !== undefined && id >= from)
    const manifests = late(c.manifestWrites, claim.manifest)
    const files = late(c.compactionsWrites, claim.compactions)
    if (manifests.length === 0 && files.length === 0) return Effect.void
    const wrote = [
      manifests.length > 0 ? `manifest version(s) ${manifests.join(",")}` : "",
      files.length > 0 ? `compactions file(s) ${files.join(",")}` : ""
    ].filter((x) => x !== "").join(" and ")
    return Effect.fail(this.w.diverge(
      `compactor ${compactorName(c)} (epoch ${c.epoch}) wrote ${wrote} after a newer compactor claimed the epoch ` +
        `(manifest version ${claim.manifest}, compactions file ${claim.compactions})`
    ))
  }

  /** Audits the store (`StoreAudit.ts`); any problem is a divergence. */
  get auditNow(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const now = yield* w.now
      if (this.#downSince !== undefined && now - this.#downSince >= L0_RELAX_AFTER_MS) this.#l0Relaxed = true
      const limit = this.plan.deployment === "none" || this.#l0Relaxed ? undefined : w.settings.l0MaxSsts
      const problems = this.#audit.audit({ l0Limit: limit })
      if (this.#pausedOldest !== null && (this.#audit.latestOldestL0 ?? "") !== this.#pausedOldest) this.#pausedOldest = null
      if (this.#l0Relaxed && this.#pausedOldest === null && this.#audit.latestL0 <= w.settings.l0MaxSsts) this.#l0Relaxed = false
      if (problems.length > 0) return yield* w.diverge(`store audit: ${problems.join("; ")}`)
    })
  }
}
