/**
 * The deterministic simulation runner: one seed in, one trace (and its hash) out.
 *
 * What a run does:
 * 1. Builds the world from the seed: a fault-injecting in-memory bucket (`FaultInjectingObjectStore`,
 *    faults from the profile), a `TestClock`, Effect's `Random` seeded from the seed, and the workload
 *    (`Workload`, which also draws the engine settings).
 * 2. Opens the database (the `SimTarget`: the real engine, or the fake) over a per-process view of the
 *    bucket (`SimStore.ts`) and checks what it holds against the model.
 * 3. Runs rounds: the operations of a round are forked together and the runner advances the `TestClock`
 *    step by step until all of them have answered; a round that does not finish within `roundBudgetMs` of
 *    simulated time is a liveness divergence. Events (a crash part-way through a round, a clean reopen, a
 *    second writer, a permanent store failure, a clock jump) happen between or during rounds.
 * 4. Checks every answer against the `Model` (writes: seqs; reads: a legal snapshot at the read's level;
 *    reopens: a legal recovery point), writes every operation and result to the `Trace`, and stops at the
 *    first divergence with the seed, the operation index and the last lines of the trace.
 * 5. Ends with a clean close and reopen (everything committed must come back), then closes.
 *
 * Determinism: nothing here reads real time or `Math.random`; every fiber runs on Effect's scheduler under
 * the `TestClock`, whose `adjust` waits for the fibers it wakes to suspend. The same seed, options and code
 * give the same trace hash. A second run that hashes differently means nondeterminism leaked in.
 *
 * Crashes: the crashed process's store view is cut off (nothing it has in flight completes or lands) and
 * abandoned with its fibers; a new process opens over the surviving objects. Nothing is closed, exactly as
 * when a process dies.
 */
import { Cause, Clock, Context, Data, Duration, Effect, Exit, Layer, type LogLevel, Random, References, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Db, type DbError, type KeyValue, ObjectStore, Settings, type SettingsInput, WriteBatch, type WriteHandle } from "@shale/core/internal"
import { TestSwitches, type TestSwitchesShape, TestSwitchesOff } from "@shale/core/internal"
import { FaultInjectingObjectStore, type FaultStats } from "../FaultInjectingObjectStore.ts"
import { type FakeDbBugs, openFakeDb, prefixRange } from "./FakeDb.ts"
import { Model, type ObservedRow, type ScanShape, type Verdict, type WriteRecord } from "./Model.ts"
import { type FaultProfile, faultProfile, type FaultProfileName } from "./Profiles.ts"
import { makeProcessStore, type ProcessStore } from "./SimStore.ts"
import { callOp, describeError, describeOp, entriesOf, errorOf, rangeShape, toRows } from "./Operations.ts"
import { showBytes, showHexKey, toHex, utf8 } from "./SimBytes.ts"
import { rowsDigest, Trace } from "./TraceHash.ts"
import { isWriteOp, type Round, type SimOp, Workload } from "./Workload.ts"
import { type EventContext, runBurst, runLoseWal } from "./WritePathEvents.ts"
import { Diverged } from "./Diverged.ts"

// ---------------------------------------------------------------------------------------------- targets

/** A database implementation to simulate: opens over the `ObjectStore` in context, lives until the scope closes. */
export interface SimTarget {
  readonly name: string
  readonly open: (options: {
    readonly path: string
    readonly settings: Settings
  }) => Effect.Effect<Db["Service"], unknown, ObjectStore | Scope.Scope>
}

export const SimTargets: {
  readonly shale: SimTarget
  readonly fake: (bugs?: FakeDbBugs) => SimTarget
} = {
  /** The real engine: `Db.layer({ path, settings })`. */
  shale: {
    name: "shale",
    open: (options) =>
      Effect.gen(function*() {
        const scope = yield* Scope.Scope
        const context = yield* Layer.buildWithScope(Db.layer(options), scope)
        return Context.get(context, Db)
      })
  } satisfies SimTarget,
  /** The fake (`FakeDb.ts`), optionally with bugs. */
  fake: (bugs?: FakeDbBugs): SimTarget => ({
    name: bugs === undefined || Object.keys(bugs).length === 0 ? "fake" : `fake(${Object.keys(bugs).join(",")})`,
    open: (options) => openFakeDb(bugs === undefined ? options : { ...options, bugs })
  })
} as const

// ---------------------------------------------------------------------------------------------- options and results

export interface SimOptions {
  readonly seed: number
  /**
   * Operations to run (events count as one each). The last round always runs whole, so a run may go a few
   * operations past this, and a run with `ops: n + 1` replays operation `n` exactly as a longer run did.
   */
  readonly ops: number
  /** Default `"standard"`. */
  readonly profile?: FaultProfile | FaultProfileName
  /** Default `SimTargets.shale`. */
  readonly target?: SimTarget
  /** Test-only switches that break the engine on purpose (see `TestSwitches`). */
  readonly switches?: Partial<TestSwitchesShape>
  /** Compare returned seqs with the model's (default true). */
  readonly checkSeqs?: boolean
  /** Called with every trace line. */
  readonly onTrace?: (line: string) => void
  /** Simulated time one round (or open, close) may take before it counts as stuck (default 10 minutes). */
  readonly roundBudgetMs?: number
  /** Overrides of the settings the seed draws. */
  readonly settings?: SettingsInput
  /** The engine's logs at or above this level go to the default logger (default "None": silent). */
  readonly logLevel?: LogLevel.LogLevel
}

export interface Divergence {
  readonly seed: number
  /** The operation (or event) at which the model and the database disagreed. */
  readonly opIndex: number
  readonly message: string
  /** The last trace lines before the divergence. */
  readonly context: ReadonlyArray<string>
  /** A command that replays the run up to the divergence. */
  readonly reproduce: string
}

export interface SimResult {
  readonly seed: number
  readonly profile: string
  readonly target: string
  /** Operations and events executed. */
  readonly ops: number
  readonly traceHash: string
  readonly traceLines: number
  /** Operations by kind and outcome (`put:ok`, `get:error`, `event:crash`, ...). */
  readonly counts: Readonly<Record<string, number>>
  /** Injected faults: the store's (`unavailable`, `lostResponse`, `permanent`, `crashed`) and the runner's events. */
  readonly faults: Readonly<Record<string, number>>
  readonly storeOps: number
  /** Objects in the bucket at the end, by directory (`wal`, `manifest`, `compacted`, ...): what the run exercised. */
  readonly objects: Readonly<Record<string, number>>
  readonly simulatedMs: number
  readonly settings: SettingsInput
  readonly divergence: Divergence | undefined
}


const DB_PATH = "sim/db"
const SETTLE_YIELDS = 3

interface Proc {
  readonly id: number
  readonly view: ProcessStore
  /** The process's clock (its sleeps stop when it dies): everything run against its database uses it. */
  readonly clock: Clock.Clock
  readonly scope: Scope.Closeable
  readonly db: Db["Service"]
}

/** Runs `effect` as process `p` (with its clock). */
const onProc = <A, E>(p: Proc, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.provideService(effect, Clock.Clock, p.clock)

interface Slot {
  readonly index: number
  readonly op: SimOp
  readonly proc: Proc
  write: WriteRecord | undefined
  invokedAt: number
  respondedAt: number | undefined
  respondedMs: number
  exit: Exit.Exit<unknown, unknown> | undefined
}

// ---------------------------------------------------------------------------------------------- the run

/** Runs one simulation. Never fails: a divergence is part of the result. */
export const runSimulation = (options: SimOptions): Effect.Effect<SimResult> => {
  const profile = typeof options.profile === "object"
    ? options.profile
    : faultProfile(options.profile ?? "standard") ?? (() => {
      throw new Error(`unknown fault profile ${String(options.profile)}`)
    })()
  const target = options.target ?? SimTargets.shale
  const switches: TestSwitchesShape = { ...TestSwitchesOff, ...options.switches }
  const seed = options.seed
  const workload = new Workload(seed, profile)
  const settings: Settings = Effect.runSync(Settings.validate({ ...workload.config.settings, ...options.settings }))
  const model = new Model(options.checkSeqs === undefined ? {} : { checkSeqs: options.checkSeqs })
  const trace = new Trace(options.onTrace === undefined ? {} : { onLine: options.onTrace })
  const budgetMs = options.roundBudgetMs ?? 600_000
  const events = { crash: 0, reopen: 0, fence: 0, fatal: 0, advance: 0 }

  const program = Effect.gen(function*() {
    const { injector, store: bucket } = yield* FaultInjectingObjectStore.make({ seed: `${seed}/store`, ...profile.store })
    let opIndex = 0
    let procCounter = 0
    let proc: Proc | undefined
    let phase: "normal" | "fatal" = "normal"
    let fatalRoundsLeft = 0

    const now = Clock.currentTimeMillis
    const diverge = (message: string, at: number = opIndex) => new Diverged({ opIndex: at, message })
    const check = (verdict: Verdict, at: number) => (verdict.ok ? Effect.void : Effect.fail(diverge(verdict.message, at)))

    trace.line(
      `sim seed=${seed} profile=${profile.name} target=${target.name} settings=${JSON.stringify(workload.config.settings)}`
    )

    /** Advances the clock until `isDone()`; "steps" if `maxSteps` ran out first, "stuck" past the budget. */
    const drive = (isDone: () => boolean, stepMs: number, maxSteps?: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < SETTLE_YIELDS && !isDone(); i++) yield* Effect.yieldNow
        let steps = 0
        let spent = 0
        let step = Math.max(1, stepMs)
        while (!isDone()) {
          if (maxSteps !== undefined && steps >= maxSteps) return "steps" as const
          if (spent >= budgetMs) return "stuck" as const
          yield* TestClock.adjust(Duration.millis(step))
          steps++
          spent += step
          if (steps % 200 === 0) step = Math.min(step * 2, 1000)
          yield* Effect.yieldNow
        }
        return "done" as const
      })

    /** Runs one effect to its end, driving the clock; stuck is a divergence. */
    const settle = <A, E>(effect: Effect.Effect<A, E>, what: string, stepMs = 10) =>
      Effect.gen(function*() {
        let exit: Exit.Exit<A, E> | undefined
        yield* Effect.forkDetach(Effect.flatMap(Effect.exit(effect), (e) => Effect.sync(() => void (exit = e))))
        const outcome = yield* drive(() => exit !== undefined, stepMs)
        if (outcome === "stuck") {
          return yield* diverge(`${what} did not finish within ${budgetMs} ms of simulated time`)
        }
        return exit!
      })

    // ------------------------------------------------------------------ processes

    /** Opens a new process: its database, or the failure (then nothing of it is left running). */
    const tryOpenProcess = (what: string) =>
      Effect.gen(function*() {
        const id = ++procCounter
        const view = makeProcessStore(bucket)
        const clock = view.clock(yield* Clock.clockWith(Effect.succeed))
        const scope = yield* Scope.make()
        const exit = yield* settle(
          target.open({ path: DB_PATH, settings }).pipe(
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
        return Exit.succeed({ id, view, clock, scope, db: exit.value } satisfies Proc)
      })

    const openProcess = (what: string) =>
      Effect.gen(function*() {
        const exit = yield* tryOpenProcess(what)
        if (Exit.isFailure(exit)) {
          return yield* diverge(`opening process ${procCounter} (${what}) failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`)
        }
        return exit.value
      })

    /** Reads everything the new process holds, at both levels, and checks it is a legal recovery point. */
    const recoverCheck = (p: Proc, what: string) =>
      Effect.gen(function*() {
        const memory = yield* settle(onProc(p, Stream.runCollect(p.db.scan({}))), `the recovery scan of process ${p.id}`)
        const remote = yield* settle(
          onProc(p, Stream.runCollect(p.db.scan({}, { durability: "remote" }))),
          `the remote recovery scan of process ${p.id}`
        )
        if (Exit.isFailure(memory) || Exit.isFailure(remote)) {
          const cause = Exit.isFailure(memory) ? memory.cause : (remote as Exit.Failure<unknown, unknown>).cause
          return yield* diverge(`the recovery scan of process ${p.id} failed: ${describeError(cause)}`)
        }
        const rows = toRows(memory.value)
        const remoteRows = toRows(remote.value)
        const digest = rowsDigest(rows)
        trace.line(`#${opIndex} open p${p.id} (${what}): ${rows.length} keys #${digest} @${yield* now}`)
        if (rowsDigest(remoteRows) !== digest) {
          return yield* diverge(
            `right after opening, a remote scan (${remoteRows.length} rows) differs from a memory scan (${rows.length} rows): ` +
              `everything replayed is durable, so they must agree`
          )
        }
        yield* check(model.recover(rows), opIndex)
      })

    /** Kills the current process as in a crash: nothing in flight completes, nothing not durable survives. */
    const crash = (p: Proc) =>
      Effect.gen(function*() {
        p.view.kill()
        yield* injector.crash
        yield* injector.heal
        model.abandonPending()
      })

    // ------------------------------------------------------------------ operations

    /** Forks one operation; its slot fills in when it answers (unless its process died first). */
    const start = (p: Proc, index: number, op: SimOp) =>
      Effect.gen(function*() {
        const slot: Slot = {
          index,
          op,
          proc: p,
          write: undefined,
          invokedAt: 0,
          respondedAt: undefined,
          respondedMs: 0,
          exit: undefined
        }
        yield* Effect.forkDetach(Effect.gen(function*() {
          if (isWriteOp(op)) {
            slot.write = model.beginWrite(index, entriesOf(op), op.awaitDurable)
            slot.invokedAt = slot.write.invokedAt
          } else {
            slot.invokedAt = model.tick()
          }
          const exit = yield* Effect.exit(onProc(p, callOp(p.db, op)))
          if (!p.view.isAlive()) return
          slot.respondedAt = model.tick()
          slot.respondedMs = yield* now
          slot.exit = exit
        }))
        return slot
      })

    /** Feeds a finished round to the model and the trace. `errorsExpected`: errors are not divergences. */
    const settleRound = (slots: ReadonlyArray<Slot>, errorsExpected: (slot: Slot) => boolean) =>
      Effect.gen(function*() {
        const answered = slots.filter((s) => s.exit !== undefined).sort((a, b) => a.respondedAt! - b.respondedAt!)
        // writes first (in answer order), so that every read is checked against every seq of its round
        for (const s of answered) {
          if (s.write === undefined) continue
          const exit = s.exit!
          if (Exit.isSuccess(exit)) {
            const handle = exit.value as WriteHandle
            yield* check(model.completeWrite(s.write, handle.seq, s.respondedAt!, handle.createTs), s.index)
          } else {
            model.failWrite(s.write, s.respondedAt)
          }
        }
        for (const s of slots) if (s.write !== undefined && s.exit === undefined) model.failWrite(s.write, undefined)
        for (const s of answered) {
          const exit = s.exit!
          const op = s.op
          if (Exit.isFailure(exit)) {
            const error = errorOf(exit)
            if (op._tag === "invalid") {
              if (error?._tag !== "InvalidError" && !errorsExpected(s)) {
                return yield* diverge(`${describeOp(op)} must fail with InvalidError, failed with ${describeError(exit.cause)}`, s.index)
              }
              continue
            }
            if (!errorsExpected(s)) {
              return yield* diverge(`${describeOp(op)} failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`, s.index)
            }
            continue
          }
          switch (op._tag) {
            case "invalid":
              return yield* diverge(`${describeOp(op)} succeeded; it must fail with InvalidError`, s.index)
            case "flush":
              model.flushed(s.invokedAt, s.respondedAt!)
              break
            case "get": {
              const kv = exit.value as KeyValue | undefined
              yield* check(
                model.checkGet(
                  toHex(op.key),
                  kv === undefined ? undefined : { value: kv.value, seq: kv.seq, createTs: kv.createTs },
                  op.durability,
                  s.invokedAt,
                  s.respondedAt!
                ),
                s.index
              )
              break
            }
            case "scan":
            case "scanPrefix": {
              const rows = toRows(exit.value as ReadonlyArray<KeyValue>)
              const shape = op._tag === "scan"
                ? rangeShape(op.range, op.order, op.limit)
                : rangeShape(prefixRange(op.prefix), op.order, op.limit)
              yield* check(model.checkScan(shape, rows, op.durability, s.invokedAt, s.respondedAt!, describeOp(op)), s.index)
              break
            }
            default:
              break
          }
        }
        for (const s of slots) {
          const outcome = s.exit === undefined
            ? "lost"
            : Exit.isFailure(s.exit)
            ? `error ${describeError(s.exit.cause)}`
            : describeSuccess(s.op, s.exit.value)
          trace.count(`${s.op._tag}:${s.exit === undefined ? "lost" : Exit.isFailure(s.exit) ? "error" : "ok"}`)
          trace.line(`#${s.index} p${s.proc.id} ${describeOp(s.op)} -> ${outcome}${s.exit === undefined ? "" : ` @${s.respondedMs}`}`)
        }
      })

    const describeSuccess = (op: SimOp, value: unknown): string => {
      switch (op._tag) {
        case "put":
        case "delete":
        case "batch":
          return `ok seq=${(value as WriteHandle).seq}`
        case "get": {
          const kv = value as KeyValue | undefined
          return kv === undefined ? "none" : `${showBytes(kv.value)}@${kv.seq}`
        }
        case "scan":
        case "scanPrefix": {
          const rows = toRows(value as ReadonlyArray<KeyValue>)
          return `${rows.length} rows #${rowsDigest(rows)}${rows.length > 0 ? ` first ${showHexKey(rows[0]!.key)}` : ""}`
        }
        default:
          return "ok"
      }
    }

    // ------------------------------------------------------------------ rounds and events

    const opsRound = (round: Extract<Round, { _tag: "ops" }>) =>
      Effect.gen(function*() {
        const p = proc!
        const slots: Array<Slot> = []
        for (const op of round.ops) slots.push(yield* start(p, opIndex++, op))
        const allDone = () => slots.every((s) => s.exit !== undefined)
        const crashNow = round.crashAfterSteps !== undefined && phase === "normal"
        const outcome = yield* drive(allDone, round.stepMs, crashNow ? round.crashAfterSteps : undefined)
        if (outcome === "stuck") {
          const waiting = slots.filter((s) => s.exit === undefined).map((s) => `#${s.index} ${describeOp(s.op)}`)
          return yield* diverge(
            `operations did not finish within ${budgetMs} ms of simulated time: ${waiting.join("; ")}`,
            slots.find((s) => s.exit === undefined)!.index
          )
        }
        if (crashNow) {
          const inFlight = slots.filter((s) => s.exit === undefined).length
          yield* crash(p)
          yield* settleRound(slots, () => phase === "fatal")
          events.crash++
          trace.count("event:crash")
          trace.line(`#${opIndex} crash p${p.id} after ${round.crashAfterSteps} steps, ${inFlight} in flight @${yield* now}`)
          proc = yield* openProcess("after crash")
          yield* recoverCheck(proc, "after crash")
          opIndex++
          return
        }
        yield* settleRound(slots, () => phase === "fatal")
        if (phase === "normal") yield* checkStatus(p, slots[0]!.index)
        if (phase === "fatal" && --fatalRoundsLeft <= 0) yield* endFatal()
      })

    /** The watermarks `status` reports must cover what the client saw. */
    const checkStatus = (p: Proc, at: number) =>
      Effect.gen(function*() {
        const st = yield* onProc(p, p.db.status)
        const problems: Array<string> = []
        if (st.closeReason !== undefined) problems.push(`the database closed itself (${st.closeReason})`)
        if (st.lastCommittedSeq < model.lastAnsweredSeq) {
          problems.push(`lastCommittedSeq ${st.lastCommittedSeq} is below answered seq ${model.lastAnsweredSeq}`)
        }
        if (st.durableSeq < model.lastKnownDurableSeq) {
          problems.push(`durableSeq ${st.durableSeq} is below seq ${model.lastKnownDurableSeq}, known durable`)
        }
        if (st.durableSeq > st.lastCommittedSeq) {
          problems.push(`durableSeq ${st.durableSeq} is above lastCommittedSeq ${st.lastCommittedSeq}`)
        }
        if (problems.length > 0) return yield* diverge(`status of p${p.id}: ${problems.join("; ")}`, at)
      })

    /** Closes the current process cleanly, checking that it then refuses calls. */
    const closeCleanly = Effect.gen(function*() {
      const p = proc!
      const closed = yield* settle(onProc(p, p.db.close), `closing process ${p.id}`)
      if (Exit.isFailure(closed)) {
        return yield* diverge(`close of process ${p.id} failed: ${describeError(closed.cause)}\n${Cause.pretty(closed.cause)}`)
      }
      model.closedCleanly()
      const after = yield* settle(onProc(p, p.db.get(utf8("k000"))), `a get on closed process ${p.id}`)
      const error = errorOf(after)
      if (error?._tag !== "ClosedError" || error.reason !== "clean") {
        return yield* diverge(
          `a get after a clean close must fail with ClosedError(clean), got ${Exit.isSuccess(after) ? "success" : describeError(after.cause)}`
        )
      }
      yield* settle(onProc(p, Scope.close(p.scope, Exit.void)), `releasing process ${p.id}`)
      trace.line(`#${opIndex} close p${p.id} @${yield* now}`)
    })

    const reopen = Effect.gen(function*() {
      yield* closeCleanly
      events.reopen++
      trace.count("event:reopen")
      proc = yield* openProcess("reopen")
      yield* recoverCheck(proc, "reopen")
    })

    const eventContext: EventContext = {
      dbPath: DB_PATH,
      model,
      trace,
      inner: injector.inner,
      quietStore: injector.setFaults({}),
      restoreFaults: injector.setFaults(profile.store),
      flushIntervalMs: settings.flushIntervalMs,
      process: () => proc!,
      onProc: (effect) => onProc(proc!, effect),
      nextOpIndex: () => opIndex++,
      opIndex: () => opIndex,
      diverge: (message, at) => Effect.fail(diverge(message, at)),
      check,
      advance: (ms) => TestClock.adjust(Duration.millis(ms)),
      yieldOnce: Effect.yieldNow,
      settle: (effect, what) => settle(effect, what),
      closeCleanly,
      tryOpen: (what) =>
        Effect.map(tryOpenProcess(what), (exit) => {
          if (Exit.isSuccess(exit)) proc = exit.value
          return Exit.asVoid(exit)
        }),
      recoverCheck: (what) => recoverCheck(proc!, what),
      now
    }

    const fence = (round: Extract<Round, { _tag: "fence" }>) =>
      Effect.gen(function*() {
        const old = proc!
        const slots: Array<Slot> = []
        for (const op of round.ops) slots.push(yield* start(old, opIndex++, op))
        // the second writer opens while the first one writes
        const id = procCounter + 1
        trace.line(`#${opIndex} second writer p${id} opens while p${old.id} runs ${slots.length} writes`)
        const next = yield* openProcess(`second writer, fencing p${old.id}`)
        const outcome = yield* drive(() => slots.every((s) => s.exit !== undefined), round.stepMs)
        if (outcome === "stuck") {
          return yield* diverge(`the first writer's writes did not finish after the second writer opened`)
        }
        yield* settleRound(slots, (s) => s.proc === old)
        proc = next
        yield* recoverCheck(next, `fenced p${old.id}`)
        // The first writer must now be fenced: a durable write cannot succeed.
        const probe = yield* settle(
          onProc(old, old.db.put(utf8("k000"), utf8(`fenced-writer-probe-${opIndex}`), { awaitDurable: true })),
          `a durable put on fenced process ${old.id}`
        )
        const error = errorOf(probe)
        if (Exit.isSuccess(probe)) {
          return yield* diverge(
            `fenced writer p${old.id} acknowledged a durable write (seq ${(probe.value as WriteHandle).seq}) after p${next.id} opened`
          )
        }
        if (error?._tag !== "ClosedError" || error.reason !== "fenced") {
          return yield* diverge(`a durable put on fenced writer p${old.id} must fail with ClosedError(fenced), got ${describeError(probe.cause)}`)
        }
        old.view.kill()
        events.fence++
        trace.count("event:fence")
        trace.line(`#${opIndex} p${old.id} fenced: ${describeError(probe.cause)} @${yield* now}`)
        opIndex++
      })

    const startFatal = (round: Extract<Round, { _tag: "fatal" }>) =>
      Effect.gen(function*() {
        const stats = yield* injector.stats
        yield* injector.setFaults({ ...profile.store, failAfterOps: stats.ops + round.failAfter })
        phase = "fatal"
        fatalRoundsLeft = round.rounds
        events.fatal++
        trace.count("event:fatal")
        trace.line(`#${opIndex} permanent store failure after ${round.failAfter} more store ops, ${round.rounds} rounds @${yield* now}`)
        opIndex++
      })

    /** After a permanent failure: no durable write may succeed, the database must be closed as fatal; restart. */
    const endFatal = () =>
      Effect.gen(function*() {
        const p = proc!
        yield* injector.setFaults({ ...profile.store, failAfterOps: 0 })
        const key = utf8("k000")
        const value = utf8(`fatal-probe-${opIndex}`)
        const record = model.beginWrite(opIndex, new Map([[toHex(key), value]]), true)
        const probe = yield* settle(onProc(p, p.db.put(key, value, { awaitDurable: true })), `a durable put while the store fails`)
        if (Exit.isSuccess(probe)) {
          return yield* diverge(`a durable put was acknowledged (seq ${(probe.value as WriteHandle).seq}) while every store operation fails`)
        }
        model.failWrite(record, model.tick())
        const status = yield* onProc(p, p.db.status)
        if (status.closeReason !== "fatal") {
          return yield* diverge(
            `after a permanent store failure, the database must close with a fatal error; closeReason is ${String(status.closeReason)} ` +
              `(the durable put failed with ${describeError(probe.cause)})`
          )
        }
        trace.line(`#${opIndex} p${p.id} failed: ${describeError(probe.cause)}, closeReason fatal @${yield* now}`)
        yield* crash(p)
        yield* injector.setFaults(profile.store)
        phase = "normal"
        proc = yield* openProcess("restart after a fatal error")
        yield* recoverCheck(proc, "restart after a fatal error")
        opIndex++
      })

    // ------------------------------------------------------------------ main loop

    const main = Effect.gen(function*() {
      proc = yield* openProcess("first open")
      yield* recoverCheck(proc, "first open")
      while (opIndex < options.ops) {
        const round = workload.next(opIndex)
        if (phase === "fatal" && round._tag !== "ops") continue
        switch (round._tag) {
          case "ops":
            yield* opsRound(round)
            break
          case "advance":
            yield* TestClock.adjust(Duration.millis(round.ms))
            events.advance++
            trace.count("event:advance")
            trace.line(`#${opIndex} advance ${round.ms} ms @${yield* now}`)
            opIndex++
            break
          case "reopen":
            yield* reopen
            opIndex++
            break
          case "fence":
            yield* fence(round)
            break
          case "fatal":
            yield* startFatal(round)
            break
          case "burst":
            yield* runBurst(eventContext, round)
            opIndex++
            break
          case "loseWal":
            yield* runLoseWal(eventContext, round)
            opIndex++
            break
        }
      }
      if (phase === "fatal") yield* endFatal()
      // Finally, a clean close: everything committed must come back.
      yield* reopen
      const last = proc!
      const closed = yield* settle(onProc(last, last.db.close), `the final close`)
      if (Exit.isFailure(closed)) return yield* diverge(`the final close failed: ${describeError(closed.cause)}`)
      yield* settle(onProc(last, Scope.close(last.scope, Exit.void)), `releasing the last process`)
    })

    const divergence = yield* main.pipe(
      Effect.as(undefined),
      Effect.catchTag("Diverged", (d) => Effect.succeed(d)),
      Effect.catchCause((cause) => Effect.succeed(new Diverged({ opIndex, message: `the runner failed: ${Cause.pretty(cause)}` })))
    )
    if (divergence !== undefined) trace.line(`DIVERGENCE at #${divergence.opIndex}: ${divergence.message}`)
    const stats = yield* injector.stats
    const simulatedMs = yield* now
    const objects: Record<string, number> = {}
    yield* injector.inner.list(DB_PATH).pipe(
      Stream.runForEach((o) =>
        Effect.sync(() => {
          const dir = o.path.slice(DB_PATH.length + 1).split("/")[0]!
          objects[dir] = (objects[dir] ?? 0) + 1
        })
      ),
      Effect.ignore
    )
    return buildResult(stats, simulatedMs, divergence, opIndex, objects)
  })

  const buildResult = (
    stats: FaultStats,
    simulatedMs: number,
    divergence: Diverged | undefined,
    ops: number,
    objects: Record<string, number>
  ): SimResult => ({
    seed,
    profile: profile.name,
    target: target.name,
    ops,
    traceHash: trace.digest(),
    traceLines: trace.lines,
    counts: { ...trace.counts },
    faults: { ...stats.faults, ...events },
    storeOps: stats.ops,
    objects,
    simulatedMs,
    settings: workload.config.settings,
    divergence: divergence === undefined ? undefined : {
      seed,
      opIndex: divergence.opIndex,
      message: divergence.message,
      context: trace.recent,
      reproduce: reproduceCommand(seed, divergence.opIndex + 1, profile.name, target.name, options.switches)
    }
  })

  return program.pipe(
    Effect.provideService(TestSwitches, switches),
    Effect.provideService(References.MinimumLogLevel, options.logLevel ?? "None"),
    Random.withSeed(`${seed}/random`),
    Effect.provide(TestClock.layer({ warningDelay: "10 minutes" }))
  )
}

/** The command that replays a run up to (and including) operation `ops - 1`. */
export const reproduceCommand = (
  seed: number,
  ops: number,
  profile: string,
  target: string,
  switches?: Partial<TestSwitchesShape>
): string => {
  const on = Object.entries(switches ?? {}).filter(([, v]) => v === true).map(([k]) => ` --switch ${k}`).join("")
  const db = target === "shale" ? "" : ` --db ${target.startsWith("fake") ? "fake" : target}`
  return `npm run sim -- --seed ${seed} --ops ${ops} --faults ${profile}${db}${on} --verbose`
}
