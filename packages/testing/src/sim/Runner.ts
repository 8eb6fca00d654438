/**
 * The deterministic simulation runner: one seed in, one trace (and its hash) out.
 *
 * What a run does:
 * 1. Builds the world from the seed (`World.ts`): a fault-injecting in-memory bucket
 *    (`FaultInjectingObjectStore`, faults from the profile), a `TestClock`, Effect's `Random` seeded from the
 *    seed, the workload (`Workload`, which also draws the engine settings) and where the compactor runs
 *    (`CompactorPlan.ts`).
 * 2. Opens the database (the `SimTarget`: the real engine, or the fake) over a per-process view of the
 *    bucket and checks what it holds against the model (`WriterActor.ts`); starts a standalone compactor
 *    process if the plan says so (`CompactorActor.ts`).
 * 3. Runs rounds, each one after the other: the compactor's housekeeping and maybe one of its events
 *    (`CompactorEvents.ts`), then the round the workload draws — operations forked together while the
 *    runner advances the `TestClock` until all have answered (a round that does not finish within
 *    `roundBudgetMs` of simulated time is a liveness divergence), or one of the writer's events (a crash
 *    part-way through a round, a clean reopen, a second writer, a permanent store failure, a clock jump, a
 *    burst, a lost WAL) — then the store audit (`StoreAudit.ts`).
 * 4. Checks every answer against the `Model` (writes: seqs; reads: a legal snapshot at the read's level;
 *    reopens: a legal recovery point), writes every operation and result to the `Trace`, and stops at the
 *    first divergence with the seed, the operation index and the last lines of the trace.
 * 5. Ends with the compactor side's last checks, a clean close and reopen (everything committed must come
 *    back), then closes; then the `DbReader`s catch up and close (`ReaderActor.ts`) and the change
 *    consumers yield everything (`ChangesActor.ts`).
 *
 * Determinism: nothing here reads real time or `Math.random`; every fiber runs on Effect's scheduler under
 * the `TestClock`, whose `adjust` waits for the fibers it wakes to suspend. The same seed, options and code
 * give the same trace hash. A second run that hashes differently means nondeterminism leaked in.
 *
 * Crashes: the crashed process's store view is cut off (nothing it has in flight completes or lands) and
 * abandoned with its fibers; a new process opens over the surviving objects. Nothing is closed, exactly as
 * when a process dies.
 */
import { Cause, Clock, Context, Effect, Exit, Layer, type LogLevel, Random, References, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Db, type MergeOperator, ObjectStore, Settings, type SettingsInput } from "@shale/core/internal"
import { TestSwitches, type TestSwitchesShape, TestSwitchesOff } from "@shale/core/internal"
import { FaultInjectingObjectStore } from "../FaultInjectingObjectStore.ts"
import { Diverged } from "./Diverged.ts"
import { ChangesActor, type ChangesCounts } from "./ChangesActor.ts"
import { CheckpointActor, type CheckpointCounts } from "./CheckpointActor.ts"
import { TxnActor, type TxnCounts } from "./TxnActor.ts"
import { CompactorActor, type CompactorSummary } from "./CompactorActor.ts"
import { type CompactorDeployment, type CompactorPlan, drawCompactorPlan } from "./CompactorPlan.ts"
import { type FakeDbBugs, openFakeDb } from "./FakeDb.ts"
import type { MergeCounts } from "./Merges.ts"
import { GcActor, type GcSummary } from "./GcActor.ts"
import { collectable, pinnedWalIds } from "./GcAudit.ts"
import { drawGcPlan, type GcDeployment, type GcPlan } from "./GcPlan.ts"
import { Model } from "./Model.ts"
import { describeError } from "./Operations.ts"
import { type FaultProfile, faultProfile, type FaultProfileName } from "./Profiles.ts"
import { SimRandom } from "./SimRandom.ts"
import { StoreLedger } from "./StoreLedger.ts"
import { ReaderActor, type ReaderCounts } from "./ReaderActor.ts"
import { Trace } from "./TraceHash.ts"
import { type Round, Workload } from "./Workload.ts"
import { DB_PATH, onProc, SimWorld, WorldClock } from "./World.ts"
import { type EventContext, runBurst, runLoseWal } from "./WritePathEvents.ts"
import { WriterActor } from "./WriterActor.ts"

export type { CompactorCounts, CompactorSummary } from "./CompactorActor.ts"
export type { CompactorDeployment } from "./CompactorPlan.ts"
export type { CheckpointCounts } from "./CheckpointActor.ts"
export type { GcSummary } from "./GcActor.ts"
export type { ChangesCounts } from "./ChangesActor.ts"
export type { ReaderCounts } from "./ReaderActor.ts"
export type { GcDeployment } from "./GcPlan.ts"

// ---------------------------------------------------------------------------------------------- targets

/** A database implementation to simulate: opens over the `ObjectStore` in context, lives until the scope closes. */
export interface SimTarget {
  readonly name: string
  /**
   * The target keeps the engine's objects (manifest, compactions file, SSTs), so compactor processes can
   * work on its bucket and the store audit applies. Default false.
   */
  readonly engineFormat?: boolean
  readonly open: (options: {
    readonly path: string
    readonly settings: Settings
    readonly mergeOperator: MergeOperator
  }) => Effect.Effect<Db["Service"], unknown, ObjectStore | Scope.Scope>
}

export const SimTargets: {
  readonly shale: SimTarget
  readonly fake: (bugs?: FakeDbBugs) => SimTarget
} = {
  /** The real engine: `Db.layer({ path, settings })`. */
  shale: {
    name: "shale",
    engineFormat: true,
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
  /** Where the compactor runs (default: drawn from the seed; `CompactorPlan.ts`). */
  readonly compactor?: Exclude<CompactorDeployment, "none">
  /** Where the garbage collector runs (default: drawn from the seed; `GcPlan.ts`). */
  readonly gc?: GcDeployment
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
  /** The compactor side of the run (undefined for a target without the engine's objects). */
  readonly compactor: CompactorSummary | undefined
  /** The garbage collector, checkpoints and views of the run (undefined without the engine's objects). */
  readonly gc: (GcSummary & CheckpointCounts) | undefined
  /** Snapshots and transactions of the run (TxnActor.ts). */
  readonly txns: TxnCounts
  /** The `DbReader`s and change-stream consumers of the run (undefined without the engine's objects). */
  readonly readers: (ReaderCounts & ChangesCounts) | undefined
  /**
   * Merges: `written`, the acknowledged writes with a merge operand (`Db.merge`, batches, transactions);
   * the rest, the operands the operator folded, by path (Merges.ts).
   */
  readonly merges: MergeCounts & { readonly written: number }
  readonly divergence: Divergence | undefined
}

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
  const input: SettingsInput = { ...workload.config.settings, ...options.settings }
  const engineFormat = target.engineFormat === true
  const compactorRng = new SimRandom(seed).derive("compactor")
  const plan: CompactorPlan = engineFormat
    ? drawCompactorPlan(compactorRng, input, options.compactor)
    : { deployment: "none", writer: null, standalone: {} }
  const gcRng = new SimRandom(seed).derive("gc")
  const gcPlan: GcPlan = engineFormat
    ? drawGcPlan(gcRng, options.gc)
    : { deployment: "none", writer: null, standalone: drawGcPlan(gcRng).standalone, finalMinAgeMs: 0 }
  const settings: Settings = Effect.runSync(
    Settings.validate(engineFormat ? { ...input, compactor: plan.writer, garbageCollector: gcPlan.writer } : input)
  )

  const program = Effect.gen(function*() {
    const clock = new WorldClock(yield* TestClock.testClockWith(Effect.succeed))
    return yield* Effect.provideService(run(clock), Clock.Clock, clock.clock)
  })

  const run = (clock: WorldClock) =>
    Effect.gen(function*() {
      const ledger = new StoreLedger()
      const { injector, store: bucket } = yield* FaultInjectingObjectStore.make({
        seed: `${seed}/store`,
        ...profile.store,
        wrapInner: (inner) => ledger.wrap(inner)
      })
      const w = new SimWorld({
        seed,
        profile,
        settings,
        workload,
        model: new Model(options.checkSeqs === undefined ? {} : { checkSeqs: options.checkSeqs }),
        trace: new Trace(options.onTrace === undefined ? {} : { onLine: options.onTrace }),
        budgetMs: options.roundBudgetMs ?? 600_000,
        injector,
        bucket,
        clock,
        ledger
      })
      const actors = makeActors(w, target, plan, compactorRng, input, gcPlan, gcRng, engineFormat)
      w.trace.line(
        `sim seed=${seed} profile=${profile.name} target=${target.name} settings=${JSON.stringify(workload.config.settings)}`
      )
      const divergence = yield* runRounds(w, actors, options.ops).pipe(
        Effect.as(undefined),
        Effect.catchTag("Diverged", (d) => Effect.succeed(d)),
        Effect.catchCause((cause) => Effect.succeed(new Diverged({ opIndex: w.opIndex, message: `the runner failed: ${Cause.pretty(cause)}` })))
      )
      if (divergence !== undefined) w.trace.line(`DIVERGENCE at #${divergence.opIndex}: ${divergence.message}`)
      const gc = engineFormat ? { ...actors.gc.summary, ...actors.checkpoints.counts } : undefined
      const readers = engineFormat ? { ...actors.readers.counts, ...actors.changes.counts } : undefined
      return yield* buildResult(w, options, target, engineFormat ? actors.compactors.summary : undefined, { gc, readers }, actors.txns.counts, divergence)
    })

  return program.pipe(
    Effect.provideService(TestSwitches, switches),
    Effect.provideService(References.MinimumLogLevel, options.logLevel ?? "None"),
    Random.withSeed(`${seed}/random`),
    Effect.provide(TestClock.layer({ warningDelay: "10 minutes" }))
  )
}

/** The actors of a run: the writer, the compactor side, the garbage collector, checkpoints and views, `DbReader`s, change streams. */
interface Actors {
  readonly writer: WriterActor
  readonly compactors: CompactorActor
  readonly gc: GcActor
  readonly checkpoints: CheckpointActor
  readonly txns: TxnActor
  readonly readers: ReaderActor
  readonly changes: ChangesActor
}

const makeActors = (
  w: SimWorld,
  target: SimTarget,
  plan: CompactorPlan,
  compactorRng: SimRandom,
  input: SettingsInput,
  gcPlan: GcPlan,
  gcRng: SimRandom,
  enabled: boolean
): Actors => {
  let compactors: CompactorActor | undefined
  let gc: GcActor | undefined
  const readers = new ReaderActor({ w, rng: new SimRandom(w.seed).derive("readers"), enabled })
  const writer = new WriterActor(w, target, {
    onStoreFailure: (n) =>
      Effect.all([compactors?.storeFailure(n) ?? Effect.void, gc?.storeFailure(n) ?? Effect.void, readers.storeFailure(n)], { discard: true }),
    collectedMeanwhile: (path) => Effect.orDie(collectable(w.injector.inner, DB_PATH, path))
  })
  compactors = new CompactorActor({ w, writer, plan, rng: compactorRng, settings: input, enabled })
  const checkpoints = new CheckpointActor({ w, writer, rng: new SimRandom(w.seed).derive("checkpoints"), admin: compactors.admin, enabled })
  gc = new GcActor({ w, plan: gcPlan, rng: gcRng, checkpoints, enabled, onPause: (ms) => compactors!.relaxL0(`the world paused ${ms / 1000} s`) })
  const txns = new TxnActor({ w, writer, rng: new SimRandom(w.seed).derive("txns") })
  const changes = new ChangesActor({ w, writer, readers, rng: new SimRandom(w.seed).derive("changes"), enabled })
  return { writer, compactors, gc, checkpoints, readers, changes, txns }
}

/** What the write-path events (`WritePathEvents.ts`) need of the runner. */
const eventContext = (w: SimWorld, { writer, compactors, gc, readers }: Actors): EventContext => ({
  dbPath: DB_PATH,
  model: w.model,
  trace: w.trace,
  inner: w.injector.inner,
  quietStore: w.injector.setFaults({}),
  restoreFaults: w.injector.setFaults(w.profile.store),
  flushIntervalMs: w.settings.flushIntervalMs,
  process: () => writer.proc,
  onProc: (effect) => onProc(writer.proc, effect),
  nextOpIndex: () => w.opIndex++,
  opIndex: () => w.opIndex,
  diverge: (message, at) => Effect.fail(w.diverge(message, at)),
  check: (verdict, at) => w.check(verdict, at),
  advance: (ms) => w.advance(ms),
  yieldOnce: Effect.yieldNow,
  settle: (effect, what) => w.settle(effect, what),
  closeCleanly: writer.closeCleanly,
  tryOpen: (what) => Effect.map(writer.tryOpen(what), Exit.asVoid),
  recoverCheck: (what) => writer.recoverCheck(writer.proc, what),
  now: w.now,
  writtenByOthers: () => new Set([...compactors.landed, ...gc.landed, ...readers.landed]),
  deleteOnPurpose: (path) => w.ledger.deleteOnPurpose(path),
  pinnedWals: Effect.orDie(pinnedWalIds(w.injector.inner, DB_PATH)),
  recreatedManifests: () => w.ledger.recreated["manifest"] ?? 0
})

/**
 * The main loop: the first open, then rounds — the compactor's housekeeping and events, then the round
 * the workload draws, then the store audit — and at the end a clean close and reopen.
 */
const runRounds = (w: SimWorld, actors: Actors, ops: number) =>
  Effect.gen(function*() {
    const { writer, compactors, gc, checkpoints, readers, changes, txns } = actors
    const ctx = eventContext(w, actors)
    yield* writer.openChecked("first open")
    yield* compactors.start
    yield* gc.start
    while (w.opIndex < ops) {
      if (yield* compactors.beforeRound) continue
      if (yield* gc.beforeRound) continue
      if (yield* checkpoints.beforeRound) continue
      if (yield* txns.beforeRound) continue
      if (yield* readers.beforeRound) continue
      if (yield* changes.beforeRound) continue
      const round = w.workload.next(w.opIndex)
      if (w.phase === "fatal" && round._tag !== "ops") continue
      yield* runRound(w, writer, ctx, round)
      yield* compactors.afterRound
      yield* gc.afterRound
      yield* changes.afterRound
    }
    // Everything before this line is the same whatever `ops` says (the workload never looks at results).
    w.trace.line(`#${w.opIndex} end of the workload @${yield* w.now}`)
    if (w.phase === "fatal") yield* writer.endFatal
    yield* compactors.finish
    yield* txns.finish
    // Finally, a clean close: everything committed must come back.
    yield* writer.reopen
    const last = writer.proc
    const closed = yield* w.settle(onProc(last, last.db.close), `the final close`)
    if (Exit.isFailure(closed)) return yield* w.diverge(`the final close failed: ${describeError(closed.cause)}`)
    yield* w.settle(onProc(last, Scope.close(last.scope, Exit.void)), `releasing the last process`)
    // Readers catch up with everything and close; change streams yield everything.
    yield* readers.finish
    yield* changes.finish
    yield* compactors.afterRound
    // With nothing running: the final garbage collection, then every live checkpoint read whole.
    yield* gc.finish
    yield* checkpoints.finish
    yield* gc.afterRound
  })

const runRound = (w: SimWorld, writer: WriterActor, ctx: EventContext, round: Round) =>
  Effect.gen(function*() {
    switch (round._tag) {
      case "ops":
        return yield* writer.opsRound(round)
      case "advance":
        yield* w.advance(round.ms)
        w.event("advance")
        w.trace.line(`#${w.opIndex} advance ${round.ms} ms @${yield* w.now}`)
        w.opIndex++
        return
      case "reopen":
        yield* writer.reopen
        w.opIndex++
        return
      case "fence":
        return yield* writer.fence(round)
      case "fatal":
        return yield* writer.startFatal(round)
      case "burst":
        yield* runBurst(ctx, round)
        w.opIndex++
        return
      case "loseWal":
        yield* runLoseWal(ctx, round)
        w.opIndex++
        return
    }
  })

/** The result: the trace's hash and counts, the faults and events, the objects left in the bucket. */
const buildResult = (
  w: SimWorld,
  options: SimOptions,
  target: SimTarget,
  compactor: CompactorSummary | undefined,
  { gc, readers }: Pick<SimResult, "gc" | "readers">,
  txns: TxnCounts,
  divergence: Diverged | undefined
) =>
  Effect.gen(function*() {
    const stats = yield* w.injector.stats
    const simulatedMs = yield* w.now
    const objects: Record<string, number> = {}
    yield* w.injector.inner.list(DB_PATH).pipe(
      Stream.runForEach((o) =>
        Effect.sync(() => {
          const dir = o.path.slice(DB_PATH.length + 1).split("/")[0]!
          objects[dir] = (objects[dir] ?? 0) + 1
        })
      ),
      Effect.ignore
    )
    const seed = w.seed
    return {
      seed,
      profile: w.profile.name,
      target: target.name,
      ops: w.opIndex,
      traceHash: w.trace.digest(),
      traceLines: w.trace.lines,
      counts: { ...w.trace.counts },
      faults: { ...stats.faults, ...w.events },
      storeOps: stats.ops,
      objects,
      simulatedMs,
      settings: w.workload.config.settings,
      compactor,
      gc,
      txns: { ...txns },
      readers,
      merges: { written: w.model.stats.mergeWrites, ...w.mergeCounts },
      divergence: divergence === undefined ? undefined : {
        seed,
        opIndex: divergence.opIndex,
        message: divergence.message,
        context: w.trace.recent,
        reproduce: reproduceCommand(seed, divergence.opIndex + 1, w.profile.name, target.name, options.switches, options.compactor, options.gc)
      }
    } satisfies SimResult
  })

/** The command that replays a run up to (and including) operation `ops - 1`. */
export const reproduceCommand = (
  seed: number,
  ops: number,
  profile: string,
  target: string,
  switches?: Partial<TestSwitchesShape>,
  compactor?: string,
  gc?: string
): string => {
  const on = Object.entries(switches ?? {}).filter(([, v]) => v === true).map(([k]) => ` --switch ${k}`).join("")
  const db = target === "shale" ? "" : ` --db ${target.startsWith("fake") ? "fake" : target}`
  const where = `${compactor === undefined ? "" : ` --compactor ${compactor}`}${gc === undefined ? "" : ` --gc ${gc}`}`
  return `npm run sim -- --seed ${seed} --ops ${ops} --faults ${profile}${db}${where}${on} --verbose`
}
