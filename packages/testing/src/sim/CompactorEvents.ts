/**
 * The compactor's events (CompactorActor.ts runs them between rounds; rates per round in
 * `FaultProfile.compactor`). Each one takes an operation index.
 *
 * - crash: the running standalone compactor is killed once a compaction runs — half the time once a
 *   compaction has recorded an output SST in the compactions file, so that the next compactor must resume
 *   it — plus 0-20 clock steps (if nothing runs, a full compaction is submitted to get one going). A new
 *   compactor comes up later (the actor's supervisor).
 * - second compactor: a new standalone process claims the compactor epoch; every compactor that ran (a
 *   standalone one, or the writer's) must stop with `ClosedError("fenced")` within the liveness budget.
 * - manual compaction: `"full"` (everything into one run), or a window of the latest manifest's L0 SSTs and
 *   runs, submitted through `Admin.submitCompaction` or the handle, sometimes after a memtable flush. It
 *   must end (Completed, Failed, or already replaced in the compactions file) within the budget; then the
 *   writer reads everything back, so a key whose tombstone the compaction dropped must stay deleted. With
 *   no compactor at all, the submission must be refused with `InvalidError` (nobody would run it).
 */
import { Cause, Effect, Exit, Option } from "effect"
import {
  awaitCompaction,
  type CompactionRequest,
  type CompactionSource,
  type CompactionSpec,
  describeSpec,
  latestManifest,
  type Manifest,
  ObjectStore,
  submitCompaction
} from "@shale/core/internal"
import type { CompactorActor } from "./CompactorActor.ts"
import { compactorName, killCompactor } from "./CompactorProcess.ts"
import type { Diverged } from "./Diverged.ts"
import { describeError, errorOf } from "./Operations.ts"
import type { SimRandom } from "./SimRandom.ts"
import { DB_PATH, onProc } from "./World.ts"

/** Draws this round's compactor event and runs it; true when one ran. */
export const compactorEvent = (a: CompactorActor): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const rates = a.w.profile.compactor
    if (rates === undefined) return false
    const rng = a.rng
    const roll = rng.next()
    if (roll < rates.crash) return yield* crash(a)
    if (roll < rates.crash + rates.second) return yield* second(a)
    if (roll >= rates.crash + rates.second + rates.full) return false
    if (yield* a.holderAlive) return yield* manual(a, { viaHandle: rng.chance(0.5), flushFirst: rng.chance(0.5), window: rng.chance(0.3) })
    return a.plan.deployment === "none" ? yield* withoutCompactor(a) : false
  })

// ---------------------------------------------------------------------------------------------- crash

/** Kills the running standalone compactor once a compaction runs (see the module comment). */
const crash = (a: CompactorActor): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const { w, rng } = a
    const c = a.running
    if (c === undefined) return false
    const stepMs = rng.pick([1, 2, 5])
    const extraSteps = rng.pick([0, 0, 1, 2, 5, 20])
    const push = rng.chance(0.7)
    const afterOutput = rng.chance(0.5) && (a.plan.standalone.maxSstSizeBytes ?? Infinity) <= 4096
    const before = yield* onProc(c, c.handle.status)
    if (before.running.length === 0 && push) yield* Effect.forkDetach(onProc(c, Effect.ignore(c.handle.submit("full"))))
    const ready = afterOutput
      ? Effect.map(a.resumable, (n) => n > 0 || c.stoppedWith !== undefined)
      : Effect.map(onProc(c, c.handle.status), (s) => s.running.length > 0 || c.stoppedWith !== undefined)
    const waited = yield* w.driveUntil(ready, stepMs, 400)
    yield* w.drive(() => false, stepMs, extraSteps)
    const st = yield* onProc(c, c.handle.status)
    killCompactor(c)
    c.state = "crashed"
    const mid = st.running.length > 0
    a.counts.crashes++
    if (mid) a.counts.crashesMidCompaction++
    w.event("compactorCrash")
    yield* a.noteDown
    const running = st.running.map((r) => `${r.description}: ${r.outputSsts} SSTs out`).join("; ")
    w.trace.line(
      `#${w.opIndex} compactor ${compactorName(c)} killed ${mid ? `mid-compaction (${running})` : "while idle"} after waiting for ` +
        `${afterOutput ? "a recorded output" : "a compaction"}: ${waited} @${yield* w.now}`
    )
    yield* a.restartIfWanted(`after ${compactorName(c)} was killed`)
    w.opIndex++
    return true
  })

// ---------------------------------------------------------------------------------------------- second compactor

/** A new compactor claims the epoch: every one that ran must stop, fenced. */
const second = (a: CompactorActor): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const w = a.w
    const olds = a.runningAll
    const embedded = yield* a.embedded
    if (olds.length === 0 && embedded !== "alive") return false
    const fencing = [...olds.map(compactorName), ...(embedded === "alive" ? ["the writer's"] : [])].join(", ")
    const c = yield* a.openStandalone(`second compactor, fencing ${fencing}`)
    w.event("compactorSecond")
    // If it lost the claim to a compactor starting at the same moment, that one fences the others.
    const by = c === undefined ? "a newer compactor claimed the epoch" : `${compactorName(c)} claimed epoch ${c.epoch}`
    for (const old of olds) {
      const outcome = yield* w.drive(() => old.stoppedWith !== undefined, 10)
      if (outcome === "stuck") {
        return yield* w.diverge(`compactor ${compactorName(old)} (epoch ${old.epoch}) did not stop within ${w.budgetMs} ms after ${by}`)
      }
      yield* a.retireFenced(old)
    }
    if (embedded === "alive") yield* awaitEmbeddedFenced(a, by)
    w.opIndex++
    return true
  })

/** The writer's compactor must notice, and stop fenced (the database goes on without it). */
const awaitEmbeddedFenced = (a: CompactorActor, by: string): Effect.Effect<void, Diverged> =>
  Effect.gen(function*() {
    const w = a.w
    const outcome = yield* w.driveUntil(Effect.map(a.embedded, (s) => s !== "alive"), 10)
    if (outcome === "stuck") return yield* w.diverge(`the writer's compactor did not stop within ${w.budgetMs} ms after ${by}`)
    const state = yield* a.embedded
    if (state !== "fenced") return yield* w.diverge(`the writer's compactor stopped (${state}) but was not fenced after ${by}`)
    a.counts.fencedEmbedded++
    w.trace.line(`#${w.opIndex} the writer's compactor fenced: ${by} @${yield* w.now}`)
  })

// ---------------------------------------------------------------------------------------------- manual compactions

/**
 * A consecutive window of [L0 newest → oldest, runs highest → lowest id], 1-4 sources, into the lowest
 * source run (or a new run above every run): what the compactor's validation accepts, and what an operator
 * may submit. Undefined when the database has no SST.
 */
export const drawWindow = (m: Manifest, rng: SimRandom): CompactionSpec | undefined => {
  const order: Array<CompactionSource> = [
    ...m.l0.map((sst): CompactionSource => ({ kind: "l0", id: sst.id })),
    ...m.compacted.map((run): CompactionSource => ({ kind: "sr", id: run.id }))
  ]
  if (order.length === 0) return undefined
  const start = rng.int(0, order.length - 1)
  const sources = order.slice(start, start + rng.int(1, Math.min(4, order.length - start)))
  const runs = sources.flatMap((s) => (s.kind === "sr" ? [s.id] : []))
  const above = m.compacted.length === 0 ? 0 : m.compacted[0]!.id + 1
  return { sources, destination: runs.length > 0 ? Math.min(...runs) : above }
}

/** What to submit: everything (`"full"`), or a window of the latest manifest. */
const request = (a: CompactorActor, window: boolean): Effect.Effect<CompactionRequest> => {
  if (!window) return Effect.succeed("full")
  const latest = Effect.orDie(latestManifest(DB_PATH).pipe(Effect.provideService(ObjectStore, a.w.injector.inner)))
  return Effect.map(latest, (found) => {
    const m = Option.getOrUndefined(found)?.manifest
    return (m === undefined ? undefined : drawWindow(m, a.rng)) ?? "full"
  })
}

/** Submits a manual compaction; it must end within the budget; then the writer reads everything back. */
const manual = (
  a: CompactorActor,
  how: { readonly viaHandle: boolean; readonly flushFirst: boolean; readonly window: boolean }
): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const w = a.w
    if (how.flushFirst) yield* a.writer.runOps([{ _tag: "flush", type: "memtable" }], 5, "the memtable flush before a manual compaction")
    const what = yield* request(a, how.window)
    const c = how.viaHandle ? a.running : undefined
    const via = `${c === undefined ? "Admin.submitCompaction" : `${compactorName(c)}'s handle`}${
      what === "full" ? "" : ` (${describeSpec(what)})`
    }`
    const submit = c === undefined
      ? Effect.map(submitCompaction(DB_PATH, what), (s) => s.id).pipe(Effect.provideService(ObjectStore, a.admin))
      : onProc(c, c.handle.submit(what))
    const submitted = yield* w.settle(submit, `submitting a ${what === "full" ? "full" : "manual"} compaction through ${via}`)
    a.counts.manualSubmitted++
    w.event("manualCompaction")
    if (Exit.isFailure(submitted)) return yield* refused(a, submitted.cause, via, c !== undefined)
    const id = submitted.value
    const ended = yield* a.settleSupervised(
      awaitCompaction(DB_PATH, id, { pollMs: 50 }).pipe(Effect.provideService(ObjectStore, a.admin)),
      `compaction ${id} (through ${via})`
    )
    if (Exit.isFailure(ended)) return yield* w.diverge(`waiting for compaction ${id} failed: ${describeError(ended.cause)}`)
    const state = ended.value
    if (state._tag === "Completed") a.counts.manualCompleted++
    else if (state._tag === "Failed") a.counts.manualFailed++
    else a.counts.manualEnded++
    w.trace.line(`#${w.opIndex} compaction ${id} through ${via}: ${state._tag} @${yield* w.now}`)
    yield* a.readBack(`the read-back after compaction ${id}`)
    yield* a.auditNow
    w.opIndex++
    return true
  })

/**
 * A submission may be refused with `InvalidError` (nothing to compact, a spec the compactor's view does
 * not hold), or, through the handle of a standalone compactor that a newer one fenced and that has not
 * noticed yet, with `ClosedError("fenced")`. Anything else is a divergence.
 */
const refused = (a: CompactorActor, cause: Cause.Cause<unknown>, via: string, viaHandle: boolean): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const w = a.w
    const error = errorOf(Exit.failCause(cause))
    const fenced = viaHandle && error?._tag === "ClosedError" && error.reason === "fenced"
    if (error?._tag !== "InvalidError" && !fenced) {
      return yield* w.diverge(`submitting a compaction through ${via} failed: ${describeError(cause)}\n${Cause.pretty(cause)}`)
    }
    a.counts.manualRefused++
    w.trace.line(`#${w.opIndex} compaction through ${via} refused: ${describeError(cause)} @${yield* w.now}`)
    w.opIndex++
    return true
  })

/** With no compactor at all, a submission must be refused: nobody would ever run it. */
const withoutCompactor = (a: CompactorActor): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const w = a.w
    const submitted = yield* w.settle(
      submitCompaction(DB_PATH, "full").pipe(Effect.provideService(ObjectStore, a.admin)),
      `submitting a full compaction with no compactor`
    )
    a.counts.manualSubmitted++
    w.event("manualCompaction")
    if (Exit.isSuccess(submitted)) {
      return yield* w.diverge(`a full compaction (${submitted.value.id}) was accepted though no compactor ever ran: nobody will run it`)
    }
    if (errorOf(submitted)?._tag !== "InvalidError") {
      return yield* w.diverge(`a full compaction with no compactor must be refused with InvalidError, got ${describeError(submitted.cause)}`)
    }
    a.counts.manualRefused++
    w.trace.line(`#${w.opIndex} full compaction refused (no compactor): ${describeError(submitted.cause)} @${yield* w.now}`)
    w.opIndex++
    return true
  })

/** The final manual compaction of a run (everything, after a memtable flush, through `Admin`). */
export const finalCompaction = (a: CompactorActor): Effect.Effect<boolean, Diverged> =>
  manual(a, { viaHandle: false, flushFirst: true, window: false })
