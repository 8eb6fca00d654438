/**
 * Two events of the simulation that probe the write path's failure modes (Runner.ts runs them):
 *
 * - `burst`: non-durable writes in one fiber that never yields on its own (the scheduler's budget is off
 *   for it) while the process's clock moves forward without any timer running. That is what a Promise-API
 *   loop over synchronously settling puts does to a Node process: time passes, the event loop never
 *   turns, no WAL flush timer or store callback runs. The store is quiet meanwhile (no latency, no
 *   faults; a WAL flush first finishes what was in flight), so a flush that runs completes at once. The
 *   engine must let its flush run anyway: at the end
 *   of the burst every write made more than two flush intervals (plus two steps) before the end must be
 *   durable. Afterwards the shared clock catches up with the process's, and the timers that should have
 *   run do.
 * - `loseWal`: a clean close, then the newest WAL SST (or every one) is deleted from the bucket. If the
 *   manifest says the WAL holds rows not yet in L0, opening must fail with a `DataError` and write
 *   nothing (a standalone compactor may write meanwhile: its objects do not count); the WAL is then put
 *   back and the database must open with everything. If the WAL held nothing the manifest needs, the open
 *   must succeed and lose nothing. WAL SSTs a checkpoint pins are left alone (losing them is not the
 *   writer's problem), and the deletions are the runner's, not a collector's (the ledger says so).
 */
import { Cause, Effect, Exit, Scheduler, Stream } from "effect"
import { type Db, decodeManifest, type ObjectStore, parseManifestId, parseWalSstId, type WriteHandle } from "@shale/core/internal"
import type { Diverged } from "./Diverged.ts"
import type { Model, Verdict } from "./Model.ts"
import { callOp, describeError, describeOp, entriesOf } from "./Operations.ts"
import type { ProcessStore } from "./SimStore.ts"
import type { Trace } from "./TraceHash.ts"
import type { Round } from "./Workload.ts"

/** What the events need of the runner. */
export interface EventContext {
  readonly dbPath: string
  readonly model: Model
  readonly trace: Trace
  /** The bucket without faults (for inspecting and tampering with objects). */
  readonly inner: ObjectStore["Service"]
  /** Sets the bucket's transient faults; `restoreFaults` puts the profile's back. */
  readonly quietStore: Effect.Effect<void>
  readonly restoreFaults: Effect.Effect<void>
  readonly flushIntervalMs: number | null
  readonly process: () => {
    readonly id: number
    readonly view: ProcessStore
    readonly db: Db["Service"]
  }
  readonly onProc: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  readonly nextOpIndex: () => number
  readonly opIndex: () => number
  readonly diverge: (message: string, at?: number) => Effect.Effect<never, Diverged>
  readonly check: (verdict: Verdict, at: number) => Effect.Effect<void, Diverged>
  /** Advances the shared TestClock by `ms` (timers run). */
  readonly advance: (ms: number) => Effect.Effect<void>
  /** Runs `effect` to its end, driving the clock (a divergence if it is stuck). */
  readonly settle: <A, E>(effect: Effect.Effect<A, E>, what: string) => Effect.Effect<Exit.Exit<A, E>, Diverged>
  /** Lets other fibers run once, without moving the clock. */
  readonly yieldOnce: Effect.Effect<void>
  /** Closes the current process cleanly (the model learns it). */
  readonly closeCleanly: Effect.Effect<void, Diverged>
  /** Tries to open a new process (it becomes the current one); on failure nothing of it is left running. */
  readonly tryOpen: (what: string) => Effect.Effect<Exit.Exit<void, unknown>, Diverged>
  /** Checks what the current process holds against the model (a legal recovery point). */
  readonly recoverCheck: (what: string) => Effect.Effect<void, Diverged>
  readonly now: Effect.Effect<number>
  /** Objects written by the processes beside the writer (standalone compactors, collectors): they work meanwhile. */
  readonly writtenByOthers: () => ReadonlySet<string>
  /** Records that the runner deletes `path` on purpose (the store audit then does not miss it). */
  readonly deleteOnPurpose: (path: string) => void
  /** WAL SST ids the manifests of the latest manifest's checkpoints replay. */
  readonly pinnedWals: Effect.Effect<ReadonlySet<number>>
  /** Manifest versions recreated below the highest one so far (StoreLedger.ts; §8 of simulation.md). */
  readonly recreatedManifests: () => number
}

// ---------------------------------------------------------------------------------------------- burst

export const runBurst = (ctx: EventContext, round: Extract<Round, { _tag: "burst" }>) =>
  Effect.gen(function*() {
    const p = ctx.process()
    const { model, trace } = ctx
    yield* ctx.quietStore
    // A WAL write started before (under the store's latency) would stay in flight while the clock stands
    // still: finish it first.
    const flushed = yield* ctx.settle(ctx.onProc(p.db.flush({ type: "wal" })), `the flush before a burst`)
    if (Exit.isFailure(flushed)) return yield* ctx.diverge(`the flush before a burst failed: ${describeError(flushed.cause)}`)
    const written: Array<{ readonly index: number; readonly seq: number; readonly createTs: number }> = []
    let failure: string | undefined
    let done = false
    const loop = Effect.gen(function*() {
      for (const op of round.ops) {
        const index = ctx.nextOpIndex()
        const { entries, ...extras } = entriesOf(op as Parameters<typeof entriesOf>[0])
        const record = model.beginWrite(index, entries, false, extras)
        const exit = yield* Effect.exit(ctx.onProc(callOp(p.db, op)))
        const respondedAt = model.tick()
        if (Exit.isFailure(exit)) {
          model.failWrite(record, respondedAt)
          failure = `#${index} ${describeOp(op)} failed: ${describeError(exit.cause)}`
          return
        }
        const handle = exit.value as WriteHandle
        const verdict = model.completeWrite(record, handle.seq, respondedAt, handle.createTs)
        if (!verdict.ok) {
          failure = `#${index} ${verdict.message}`
          return
        }
        written.push({ index, seq: handle.seq, createTs: handle.createTs })
        p.view.advanceClock(round.stepMs)
      }
    }).pipe(
      // The loop never yields because of the scheduler's budget: only the engine can make it yield.
      Effect.provideService(Scheduler.PreventSchedulerYield, true),
      Effect.ensuring(Effect.sync(() => void (done = true)))
    )
    yield* Effect.forkDetach(loop)
    // Other fibers (the engine's flush) run only when the loop yields. If it waits (backpressure), the
    // clock moves, as it would for a real process waiting on I/O.
    let lastProgress = -1
    let idle = 0
    while (!done) {
      yield* ctx.yieldOnce
      if (written.length !== lastProgress) {
        lastProgress = written.length
        idle = 0
      } else if (++idle > 20) {
        yield* ctx.advance(1)
        idle = 0
      }
    }
    const status = yield* ctx.onProc(p.db.status)
    const end = yield* ctx.onProc(ctx.now)
    yield* ctx.restoreFaults
    const offset = p.view.takeClockOffset()
    yield* ctx.advance(offset) // the shared clock catches up: the timers that should have run, run
    trace.count("event:burst")
    trace.line(
      `#${ctx.opIndex()} burst p${p.id}: ${written.length} non-durable writes over ${offset} ms, durable seq ${status.durableSeq}`
    )
    if (failure !== undefined) return yield* ctx.diverge(`a write of a burst failed: ${failure}`)
    const interval = ctx.flushIntervalMs
    if (interval === null) return
    // Every write made two flush intervals (and two steps) before the end must be durable by now.
    const cutoff = end - 2 * interval - 2 * round.stepMs
    let owed: (typeof written)[number] | undefined
    for (const w of written) if (w.createTs <= cutoff) owed = w
    if (owed !== undefined && status.durableSeq < owed.seq) {
      return yield* ctx.diverge(
        `a loop of non-durable writes starved the WAL flush: write #${owed.index} (seq ${owed.seq}) was made ` +
          `${end - owed.createTs} ms before the loop ended (flush interval ${interval} ms) and is not durable ` +
          `(durable seq ${status.durableSeq})`,
        owed.index
      )
    }
  })

// ---------------------------------------------------------------------------------------------- loseWal

const listPaths = (store: ObjectStore["Service"], prefix: string) =>
  Effect.map(Stream.runCollect(store.list(prefix)), (objects) => Array.from(objects, (o) => o.path).sort())

export const runLoseWal = (ctx: EventContext, round: Extract<Round, { _tag: "loseWal" }>) =>
  Effect.gen(function*() {
    const { inner, dbPath, trace } = ctx
    const manifestIds = (yield* listPaths(inner, `${dbPath}/manifest`)).map(parseManifestId).filter((x) => x !== undefined)
    if (manifestIds.length === 0) {
      trace.line(`#${ctx.opIndex()} lost WAL: skipped (the target keeps no manifest)`)
      return
    }
    const recreatedBefore = ctx.recreatedManifests()
    yield* ctx.closeCleanly
    const latest = Math.max(...(yield* listPaths(inner, `${dbPath}/manifest`)).map(parseManifestId).filter((x) => x !== undefined))
    const manifest = decodeManifest(yield* inner.get(`${dbPath}/manifest/${String(latest).padStart(20, "0")}.manifest`))
    const walPaths = yield* listPaths(inner, `${dbPath}/wal`)
    const pinned = yield* ctx.pinnedWals
    const unpinned = walPaths.filter((path) => !pinned.has(parseWalSstId(path) ?? -1))
    // A close whose version was recreated below a newer one (a process acting on a view older than the
    // minimum age, §8) leaves the latest version without the WALs it wrote last: deleting those would lose
    // durable rows nobody can tell are missing. They stay.
    const stale = ctx.recreatedManifests() > recreatedBefore
    const candidates = stale ? unpinned.filter((path) => (parseWalSstId(path) ?? 0) < manifest.nextWalSstId) : unpinned
    const victims = round.which === "all" ? candidates : candidates.slice(-1)
    const saved = yield* Effect.forEach(victims, (path) => Effect.map(inner.get(path), (bytes) => [path, bytes] as const))
    for (const path of victims) {
      ctx.deleteOnPurpose(path)
      yield* inner.delete(path)
    }
    const needed = victims
      .map(parseWalSstId)
      .filter((id) => id !== undefined && id > manifest.replayAfterWalId && id < manifest.nextWalSstId)
    // What the failed open writes: objects new since `before` (collectors may delete meanwhile), not others'.
    const before = new Set(yield* listPaths(inner, dbPath))
    const written = (paths: ReadonlyArray<string>) => paths.filter((path) => !before.has(path) && !ctx.writtenByOthers().has(path)).join()
    const opened = yield* ctx.tryOpen(`after losing ${round.which === "all" ? "every WAL" : "the newest WAL"}`)
    trace.count("event:loseWal")
    trace.line(
      `#${ctx.opIndex()} lost WAL ${victims.map(parseWalSstId).join(",")} (needed ${needed.join(",") || "none"}): ` +
        `open ${Exit.isSuccess(opened) ? "succeeded" : `failed: ${describeError(opened.cause)}`}`
    )
    if (needed.length === 0) {
      if (Exit.isFailure(opened)) {
        return yield* ctx.diverge(`the deleted WALs held nothing the manifest needs, yet the open failed: ${Cause.pretty(opened.cause)}`)
      }
      return yield* ctx.recoverCheck("after losing WALs the manifest did not need")
    }
    if (Exit.isSuccess(opened)) {
      return yield* ctx.diverge(`WAL ${needed.join(", ")} holds rows not yet in L0 and was deleted, yet the open succeeded`)
    }
    const error = Cause.squash(opened.cause) as { _tag?: string; message?: string }
    const named = [needed[0], needed[needed.length - 1]].every((id) => error.message?.includes(String(id)) === true)
    if (error._tag !== "DataError" || !named) {
      return yield* ctx.diverge(`opening without WAL ${needed.join(", ")} must fail with a DataError naming them, got ${describeError(opened.cause)}`)
    }
    const after = written(yield* listPaths(inner, dbPath))
    if (after !== "") return yield* ctx.diverge(`the failed open wrote to the store: ${after}`)
    // The WALs come back (from a backup, say): the database opens with everything.
    for (const [path, bytes] of saved) yield* inner.put(path, bytes)
    const reopened = yield* ctx.tryOpen("after the lost WALs came back")
    if (Exit.isFailure(reopened)) {
      return yield* ctx.diverge(`reopening after the WALs came back failed: ${Cause.pretty(reopened.cause)}`)
    }
    yield* ctx.recoverCheck("after the lost WALs came back")
  })

