/**
 * The writer-process actor: the database process the workload runs against, and the events that strike it.
 *
 * - Opening: a new process gets its own view of the bucket and of the clock (`SimStore.ts`); what it holds
 *   right after opening must be a legal recovery point (`recoverCheck`, both read levels).
 * - Rounds (`opsRound`): the operations of a round are forked together and the clock is driven until all
 *   have answered; a crash may strike after a drawn number of clock steps.
 * - Crash: the process is cut off, the bucket strands what was in flight, a new process opens.
 * - Reopen: a clean close (later calls must fail with `ClosedError("clean")`), then a new process.
 * - Second writer (`fence`): a new process opens while the old one writes; the old one's durable put must
 *   then fail with `ClosedError("fenced")`.
 * - Permanent store failure (`startFatal`, `endFatal`): after a few rounds a durable put must fail and the
 *   database must have closed itself as fatal; then a restart.
 */
import { Cause, Clock, Effect, Exit, Scope, Stream } from "effect"
import { ObjectStore, type WriteHandle } from "@shale/core/internal"
import type { Diverged } from "./Diverged.ts"
import { diffRows, diffRowsLoose } from "./ModelRows.ts"
import { describeError, describeOp, errorOf, toRows } from "./Operations.ts"
import { makeProcessStore } from "./SimStore.ts"
import { utf8, toHex } from "./SimBytes.ts"
import { allAnswered, settleRound, startOps } from "./Slots.ts"
import { rowsDigest } from "./TraceHash.ts"
import type { Round, SimOp } from "./Workload.ts"
import { DB_PATH, onProc, type Proc, type SimWorld } from "./World.ts"
import type { SimTarget } from "./Runner.ts"

/** A failure because a newer compactor claimed the compactor epoch (`compactorFenced` in the engine). */
export const isCompactorFenced = (cause: Cause.Cause<unknown>): boolean => {
  const e = Cause.squash(cause) as { readonly _tag?: string; readonly reason?: string; readonly message?: string }
  return e?._tag === "ClosedError" && e.reason === "fenced" && e.message === "detected newer compactor"
}

/** What the writer tells the rest of the world, and asks of it. */
export interface WriterHooks {
  /** The permanent store failure starts (`failAfter` more operations) or ends (undefined). */
  readonly onStoreFailure: (failAfter: number | undefined) => Effect.Effect<void>
  /** The object an open failed to find (`DataError`, object not found) was collected legitimately meanwhile. */
  readonly collectedMeanwhile: (path: string) => Effect.Effect<boolean>
}

/** The path of a `DataError` for an object not found, if that is how `cause` failed. */
const missingObject = (cause: Cause.Cause<unknown>): string | undefined => {
  const e = Cause.squash(cause) as { readonly _tag?: string; readonly message?: string; readonly object?: string }
  return e?._tag === "DataError" && e.message?.startsWith("object not found") === true ? e.object : undefined
}

export class WriterActor {
  readonly #w: SimWorld
  readonly #target: SimTarget
  readonly #hooks: WriterHooks
  #procCounter = 0
  #proc: Proc | undefined

  constructor(w: SimWorld, target: SimTarget, hooks: WriterHooks) {
    this.#w = w
    this.#target = target
    this.#hooks = hooks
  }

  /** The current process (there is one from the first open on). */
  get proc(): Proc {
    return this.#proc!
  }

  /**
   * Opens a new process: its database, or the failure (then nothing of it is left running). An open whose
   * embedded compactor lost the claim of the compactor epoch to a compactor starting at the same moment
   * fails with `ClosedError("fenced")` ("detected newer compactor"); it is tried again, as an operator
   * would (`openRetry` in the result's faults). So is an open that failed to read an object a collector
   * deleted legitimately meanwhile (`openRetryGc`): the open read a manifest version, another process (a
   * writer still running, a compactor) moved on, and a collector deleted what only the older version
   * needed (docs/design/simulation.md, §8).
   */
  tryOpen(what: string): Effect.Effect<Exit.Exit<Proc, unknown>, Diverged> {
    return Effect.gen({ self: this }, function*() {
      for (let attempt = 1;; attempt++) {
        const exit = yield* this.#tryOpenOnce(what)
        if (Exit.isSuccess(exit) || attempt >= 5) return exit
        const missing = missingObject(exit.cause)
        const w = this.#w
        if (isCompactorFenced(exit.cause)) {
          w.event("openRetry")
          w.trace.line(`#${w.opIndex} open p${this.#procCounter} failed: its compactor lost the compactor epoch; again @${yield* w.now}`)
        } else if (missing !== undefined && (yield* this.#hooks.collectedMeanwhile(missing))) {
          w.event("openRetryGc")
          w.trace.line(`#${w.opIndex} open p${this.#procCounter} failed: ${missing} was collected meanwhile; again @${yield* w.now}`)
        } else return exit
      }
    })
  }

  #tryOpenOnce(what: string): Effect.Effect<Exit.Exit<Proc, unknown>, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const id = ++this.#procCounter
      const view = makeProcessStore(w.bucket)
      const clock = view.clock(yield* Clock.clockWith(Effect.succeed))
      const scope = yield* Scope.make()
      const exit = yield* w.settle(
        this.#target.open({ path: DB_PATH, settings: w.settings, mergeOperator: w.mergeOperator }).pipe(
          Effect.provideService(ObjectStore, view.store),
          Effect.provideService(Scope.Scope, scope),
          Effect.provideService(Clock.Clock, clock)
        ),
        `opening process ${id} (${what})`
      )
      if (Exit.isFailure(exit)) {
        view.kill()
        return Exit.failCause(exit.cause)
      }
      const p: Proc = { id, view, clock, scope, db: exit.value }
      this.#proc = p
      return Exit.succeed(p)
    })
  }

  /** Opens a new process (it becomes the current one); a failure is a divergence. */
  open(what: string): Effect.Effect<Proc, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const exit = yield* this.tryOpen(what)
      if (Exit.isFailure(exit)) {
        return yield* this.#w.diverge(
          `opening process ${this.#procCounter} (${what}) failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`
        )
      }
      return exit.value
    })
  }

  /** Reads everything the process holds, at both levels, and checks it is a legal recovery point. */
  recoverCheck(p: Proc, what: string): Effect.Effect<void, Diverged> {
    const w = this.#w
    return Effect.gen(function*() {
      const memory = yield* w.settle(onProc(p, Stream.runCollect(p.db.scan({}))), `the recovery scan of process ${p.id}`)
      const remote = yield* w.settle(
        onProc(p, Stream.runCollect(p.db.scan({}, { durability: "remote" }))),
        `the remote recovery scan of process ${p.id}`
      )
      if (Exit.isFailure(memory) || Exit.isFailure(remote)) {
        const cause = Exit.isFailure(memory) ? memory.cause : (remote as Exit.Failure<unknown, unknown>).cause
        return yield* w.diverge(`the recovery scan of process ${p.id} failed: ${describeError(cause)}`)
      }
      const rows = toRows(memory.value)
      const remoteRows = toRows(remote.value)
      const digest = rowsDigest(rows)
      w.trace.line(`#${w.opIndex} open p${p.id} (${what}): ${rows.length} keys #${digest} @${yield* w.now}`)
      // An L0 flush between the two scans may expire TTL'd rows (docs/format.md §3.11): those may differ.
      const differs = rowsDigest(remoteRows) !== digest &&
        diffRowsLoose(w.model.checkSeqs, rows, remoteRows, undefined, () => ({ mayExpire: w.model.mayExpire })) !== undefined
      if (differs) {
        return yield* w.diverge(
          `right after opening, a remote scan (${remoteRows.length} rows) differs from a memory scan (${rows.length} rows): ` +
            `everything replayed is durable, so they must agree (${diffRows(true, rows, remoteRows)})`
        )
      }
      yield* w.check(w.model.recover(rows), w.opIndex)
    })
  }

  /** Opens a new process and checks what it holds. */
  openChecked(what: string): Effect.Effect<void, Diverged> {
    return Effect.flatMap(this.open(what), (p) => this.recoverCheck(p, what))
  }

  /** Kills the process as in a crash: nothing in flight completes, nothing not durable survives. */
  crash(p: Proc): Effect.Effect<void> {
    const w = this.#w
    return Effect.gen(function*() {
      p.view.kill()
      yield* w.injector.crash
      yield* w.injector.heal
      w.model.abandonPending()
    })
  }

  /** A round of operations; with `crashAfterSteps`, the process crashes part-way. */
  opsRound(round: Extract<Round, { _tag: "ops" }>): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const p = this.proc
      const slots = yield* startOps(w, p, round.ops)
      const crashNow = round.crashAfterSteps !== undefined && w.phase === "normal"
      const outcome = yield* w.drive(allAnswered(slots), round.stepMs, crashNow ? round.crashAfterSteps : undefined)
      if (outcome === "stuck") {
        const waiting = slots.filter((s) => s.exit === undefined).map((s) => `#${s.index} ${describeOp(s.op)}`)
        return yield* w.diverge(
          `operations did not finish within ${w.budgetMs} ms of simulated time: ${waiting.join("; ")}`,
          slots.find((s) => s.exit === undefined)!.index
        )
      }
      if (crashNow) {
        const inFlight = slots.filter((s) => s.exit === undefined).length
        yield* this.crash(p)
        yield* settleRound(w, slots, () => w.phase === "fatal")
        w.event("crash")
        w.trace.line(`#${w.opIndex} crash p${p.id} after ${round.crashAfterSteps} steps, ${inFlight} in flight @${yield* w.now}`)
        yield* this.openChecked("after crash")
        w.opIndex++
        return
      }
      yield* settleRound(w, slots, () => w.phase === "fatal")
      if (w.phase === "normal") yield* this.checkStatus(p, slots[0]!.index)
      if (w.phase === "fatal" && --w.fatalRoundsLeft <= 0) yield* this.endFatal
    })
  }

  /** Runs `ops` on the current process to their end (no crash); every answer is checked. */
  runOps(ops: ReadonlyArray<SimOp>, stepMs: number, what: string): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const slots = yield* startOps(w, this.proc, ops)
      const outcome = yield* w.drive(allAnswered(slots), stepMs)
      if (outcome === "stuck") {
        return yield* w.diverge(`${what} did not finish within ${w.budgetMs} ms of simulated time`, slots[0]?.index)
      }
      yield* settleRound(w, slots, () => false)
    })
  }

  /** The watermarks `status` reports must cover what the client saw. */
  checkStatus(p: Proc, at: number): Effect.Effect<void, Diverged> {
    const w = this.#w
    return Effect.gen(function*() {
      const st = yield* onProc(p, p.db.status)
      const problems: Array<string> = []
      if (st.closeReason !== undefined) problems.push(`the database closed itself (${st.closeReason})`)
      if (st.lastCommittedSeq < w.model.lastAnsweredSeq) {
        problems.push(`lastCommittedSeq ${st.lastCommittedSeq} is below answered seq ${w.model.lastAnsweredSeq}`)
      }
      if (st.durableSeq < w.model.lastKnownDurableSeq) {
        problems.push(`durableSeq ${st.durableSeq} is below seq ${w.model.lastKnownDurableSeq}, known durable`)
      }
      if (st.durableSeq > st.lastCommittedSeq) {
        problems.push(`durableSeq ${st.durableSeq} is above lastCommittedSeq ${st.lastCommittedSeq}`)
      }
      if (problems.length > 0) return yield* w.diverge(`status of p${p.id}: ${problems.join("; ")}`, at)
    })
  }

  /** Closes the current process cleanly, checking that it then refuses calls. */
  get closeCleanly(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const p = this.proc
      const closed = yield* w.settle(onProc(p, p.db.close), `closing process ${p.id}`)
      if (Exit.isFailure(closed)) {
        return yield* w.diverge(`close of process ${p.id} failed: ${describeError(closed.cause)}\n${Cause.pretty(closed.cause)}`)
      }
      w.model.closedCleanly()
      const after = yield* w.settle(onProc(p, p.db.get(utf8("k000"))), `a get on closed process ${p.id}`)
      const error = errorOf(after)
      if (error?._tag !== "ClosedError" || error.reason !== "clean") {
        return yield* w.diverge(
          `a get after a clean close must fail with ClosedError(clean), got ${Exit.isSuccess(after) ? "success" : describeError(after.cause)}`
        )
      }
      yield* w.settle(onProc(p, Scope.close(p.scope, Exit.void)), `releasing process ${p.id}`)
      w.trace.line(`#${w.opIndex} close p${p.id} @${yield* w.now}`)
    })
  }

  /** A clean close and a new process. */
  get reopen(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      yield* this.closeCleanly
      this.#w.event("reopen")
      yield* this.openChecked("reopen")
    })
  }

  /** A second writer opens while the first one writes `round.ops`; the first must be fenced. */
  fence(round: Extract<Round, { _tag: "fence" }>): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const old = this.proc
      const slots = yield* startOps(w, old, round.ops)
      // the second writer opens while the first one writes
      w.trace.line(`#${w.opIndex} second writer p${this.#procCounter + 1} opens while p${old.id} runs ${slots.length} writes`)
      const next = yield* this.open(`second writer, fencing p${old.id}`)
      const outcome = yield* w.drive(allAnswered(slots), round.stepMs)
      if (outcome === "stuck") {
        return yield* w.diverge(`the first writer's writes did not finish after the second writer opened`)
      }
      yield* settleRound(w, slots, (s) => s.proc === old)
      yield* this.recoverCheck(next, `fenced p${old.id}`)
      yield* this.#probeFenced(old, next)
      old.view.kill()
      w.event("fence")
      w.opIndex++
    })
  }

  /** The fenced writer's durable put must fail with `ClosedError("fenced")`. */
  #probeFenced(old: Proc, next: Proc): Effect.Effect<void, Diverged> {
    const w = this.#w
    return Effect.gen(function*() {
      const probe = yield* w.settle(
        onProc(old, old.db.put(utf8("k000"), utf8(`fenced-writer-probe-${w.opIndex}`), { awaitDurable: true })),
        `a durable put on fenced process ${old.id}`
      )
      const error = errorOf(probe)
      if (Exit.isSuccess(probe)) {
        return yield* w.diverge(
          `fenced writer p${old.id} acknowledged a durable write (seq ${(probe.value as WriteHandle).seq}) after p${next.id} opened`
        )
      }
      if (error?._tag !== "ClosedError" || error.reason !== "fenced") {
        return yield* w.diverge(`a durable put on fenced writer p${old.id} must fail with ClosedError(fenced), got ${describeError(probe.cause)}`)
      }
      w.trace.line(`#${w.opIndex} p${old.id} fenced: ${describeError(probe.cause)} @${yield* w.now}`)
    })
  }

  /** The store starts failing for good after `round.failAfter` more operations. */
  startFatal(round: Extract<Round, { _tag: "fatal" }>): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const stats = yield* w.injector.stats
      yield* w.injector.setFaults({ ...w.profile.store, failAfterOps: stats.ops + round.failAfter })
      yield* this.#hooks.onStoreFailure(round.failAfter)
      w.phase = "fatal"
      w.fatalRoundsLeft = round.rounds
      w.event("fatal")
      w.trace.line(`#${w.opIndex} permanent store failure after ${round.failAfter} more store ops, ${round.rounds} rounds @${yield* w.now}`)
      w.opIndex++
    })
  }

  /** After a permanent failure: no durable write may succeed, the database must be closed as fatal; restart. */
  get endFatal(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.#w
      const p = this.proc
      yield* w.injector.setFaults({ ...w.profile.store, failAfterOps: 0 })
      const key = utf8("k000")
      const value = utf8(`fatal-probe-${w.opIndex}`)
      const record = w.model.beginWrite(w.opIndex, new Map([[toHex(key), value]]), true)
      const probe = yield* w.settle(onProc(p, p.db.put(key, value, { awaitDurable: true })), `a durable put while the store fails`)
      if (Exit.isSuccess(probe)) {
        return yield* w.diverge(`a durable put was acknowledged (seq ${(probe.value as WriteHandle).seq}) while every store operation fails`)
      }
      w.model.failWrite(record, w.model.tick())
      const status = yield* onProc(p, p.db.status)
      if (status.closeReason !== "fatal") {
        return yield* w.diverge(
          `after a permanent store failure, the database must close with a fatal error; closeReason is ${String(status.closeReason)} ` +
            `(the durable put failed with ${describeError(probe.cause)})`
        )
      }
      w.trace.line(`#${w.opIndex} p${p.id} failed: ${describeError(probe.cause)}, closeReason fatal @${yield* w.now}`)
      yield* this.crash(p)
      yield* w.injector.setFaults(w.profile.store)
      yield* this.#hooks.onStoreFailure(undefined)
      w.phase = "normal"
      yield* this.openChecked("restart after a fatal error")
      w.opIndex++
    })
  }
}
