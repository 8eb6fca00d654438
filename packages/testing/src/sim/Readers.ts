/**
 * Read-only views in the simulation (`Db.openReadOnly`, SlateDB's `DbReader`): each a process of its own
 * (its view of the bucket with its own store faults, behind the engine's retrying wrapper, and its view of
 * the clock), opened at a checkpoint or at the latest state, held open across rounds and read later.
 *
 * What a view must show (Frozen.ts): the view reports the highest seq it holds (`seq`, p); every read
 * returns exactly the frozen state at p — the checkpoint's, or, at the latest state, what the model froze
 * when the view opened — and p must lie in the state's window. Every view of one manifest version reports
 * the same p (`CheckpointActor.pinnedSeqs`).
 *
 * Failures:
 * - at a checkpoint that was live from the view's open to the end of the read (not deleted, not expired):
 *   none is legal — in particular not a missing object (a `DataError`): the collector deleted something
 *   the checkpoint pins;
 * - at a checkpoint that was deleted or expired meanwhile: any failure is legal (its objects may be gone);
 *   a read that succeeds must still be exact;
 * - at the latest state: a missing object (`DataError`) is legal — the view pins nothing, and once a
 *   compaction or an L0 flush replaced what it reads, a collector may delete it (ReadOnlyDb.ts says so);
 *   anything else is a divergence.
 */
import { Cause, type Clock, Effect, Exit, Scope, Stream } from "effect"
import { Db } from "@shale/core"
import { type KeyRange, ObjectStore } from "@shale/core/internal"
import { type CheckpointActor, checkpointName, isLive, type TrackedCheckpoint } from "./CheckpointActor.ts"
import type { Diverged } from "./Diverged.ts"
import type { FrozenState } from "./Frozen.ts"
import type { ObservedRow, Verdict } from "./Model.ts"
import { describeError, errorOf, rangeShape, toRows } from "./Operations.ts"
import { makeProcessFaults } from "./ProcessFaults.ts"
import { toHex } from "./SimBytes.ts"
import type { SimRandom } from "./SimRandom.ts"
import { makeProcessStore, type ProcessStore } from "./SimStore.ts"
import { rowsDigest } from "./TraceHash.ts"
import { DB_PATH, onProc } from "./World.ts"

export interface HeldView {
  readonly id: number
  /** The checkpoint it reads at (undefined: the latest state when it opened). */
  readonly at: TrackedCheckpoint | undefined
  readonly frozen: FrozenState
  readonly db: Db.ReadOnlyDb
  readonly scope: Scope.Closeable
  readonly clock: Clock.Clock
  readonly view: ProcessStore
  /** Its checkpoint stayed live from the open until the last read. */
  liveThroughout: boolean
}

const viewName = (v: { readonly id: number }): string => `v${v.id}`

const target = (at: TrackedCheckpoint | undefined): string => (at === undefined ? "the latest state" : checkpointName(at))

/** A missing object: what a view that pins nothing may hit once a collector ran. */
export const isMissingObject = (exit: Exit.Exit<unknown, unknown>): boolean => {
  const e = errorOf(exit) as { readonly _tag?: string; readonly message?: string } | undefined
  return e?._tag === "DataError" && e.message?.startsWith("object not found") === true
}

/** Opens a view (at a checkpoint drawn among those not deleted, or at the latest state); true: it took an index. */
export const openView = (a: CheckpointActor, at: "checkpoint" | "latest"): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const candidates = a.tracked.filter((c) => !c.deleted)
    if (at === "checkpoint" && candidates.length === 0) return false
    yield* openViewAt(a, at === "checkpoint" ? a.rng.pick(candidates) : undefined)
    return true
  })

/** Opens a view at `c` (undefined: the latest state) and scans it whole; it stays open. Takes an index. */
export const openViewAt = (a: CheckpointActor, c: TrackedCheckpoint | undefined): Effect.Effect<void, Diverged> =>
  Effect.gen(function*() {
    const { w } = a
    const id = a.nextViewId()
    const view = makeProcessStore(makeProcessFaults(w.injector.inner, a.readerFaults).store)
    const clock = view.clock(w.clock.clock)
    const scope = yield* Scope.make()
    const liveAtStart = c === undefined || isLive(c, yield* w.now)
    const invokedAt = w.model.tick()
    const open = Db.openReadOnly({
      root: DB_PATH,
      ...(c === undefined ? {} : { checkpointId: c.id }),
      mergeOperator: w.mergeOperator,
      settings: { blockCacheBytes: a.rng.pick([0, 64 * 1024]) }
    }).pipe(Effect.provideService(ObjectStore, view.store), Effect.provideService(Scope.Scope, scope))
    const opened = yield* w.settle(onProc({ clock }, open), `opening view v${id} at ${target(c)}`)
    const respondedAt = w.model.tick()
    const liveThroughout = liveAtStart && (c === undefined || isLive(c, yield* w.now))
    if (c === undefined) a.counts.viewsAtLatest++
    else a.counts.viewsAtCheckpoint++
    w.event("viewOpen")
    if (Exit.isFailure(opened)) {
      view.kill()
      yield* ended(a, c, liveThroughout, opened, `opening view v${id} at ${target(c)}`)
      w.opIndex++
      return
    }
    const frozen = c?.frozen ?? w.model.freeze("remote", invokedAt, respondedAt)
    const v: HeldView = { id, at: c, frozen, db: opened.value, scope, clock, view, liveThroughout }
    yield* checkSeq(a, v)
    w.trace.line(`#${w.opIndex} ${viewName(v)} opens at ${target(c)}: manifest ${v.db.manifestId}, seq ${v.db.seq} @${yield* w.now}`)
    yield* a.hold(v)
    yield* read(a, v, wholeScan("asc"))
    w.opIndex++
  })

/** The view's seq must be in its state's window, and the same as every other view of its version. */
const checkSeq = (a: CheckpointActor, v: HeldView): Effect.Effect<void, Diverged> =>
  Effect.gen(function*() {
    const { w } = a
    const p = v.db.seq
    const problem = v.frozen.windowProblem(p)
    if (problem !== undefined) return yield* w.diverge(`${viewName(v)} at ${target(v.at)} (manifest ${v.db.manifestId}): ${problem}`)
    if (v.at === undefined) return
    if (v.db.manifestId !== v.at.manifestId) {
      return yield* w.diverge(`${viewName(v)} at ${checkpointName(v.at)} reads manifest ${v.db.manifestId}, the checkpoint pins ${v.at.manifestId}`)
    }
    const seen = a.pinnedSeqs.get(v.at.manifestId)
    if (seen === undefined) a.pinnedSeqs.set(v.at.manifestId, p)
    else if (seen !== p) {
      return yield* w.diverge(`${viewName(v)} at ${checkpointName(v.at)} holds seqs up to ${p}; an earlier view of manifest ${v.at.manifestId} held ${seen}`)
    }
  })

/** One read through a read-only view or a `DbReader`: a scan (a range, an order, maybe a limit) or a get. */
export type ViewRead =
  | { readonly _tag: "scan"; readonly range: KeyRange; readonly order: "asc" | "desc"; readonly limit: number | undefined }
  | { readonly _tag: "get"; readonly key: Uint8Array }

/** A whole scan. */
export const wholeScan = (order: "asc" | "desc"): ViewRead => ({ _tag: "scan", range: {}, order, limit: undefined })

/** What a reader reads when it reads: a whole scan, a range with maybe a limit, or a few gets. */
export const drawViewReads = (rng: SimRandom, keys: ReadonlyArray<Uint8Array>): Array<ViewRead> => {
  const roll = rng.next()
  if (roll < 0.4) return [wholeScan(rng.chance(0.5) ? "asc" : "desc")]
  if (roll < 0.7) {
    const [x, y] = [rng.pick(keys), rng.pick(keys)].sort((p, q) => Buffer.compare(p, q))
    const startInclusive = rng.chance(0.7) || Buffer.compare(x!, y!) === 0 // [k, k] is the one non-empty range on one key
    const range: KeyRange = { start: x!, startInclusive, end: y!, endInclusive: true }
    return [{ _tag: "scan", range, order: rng.chance(0.5) ? "asc" : "desc", limit: rng.chance(0.5) ? rng.int(1, 5) : undefined }]
  }
  return Array.from({ length: rng.int(1, 4) }, () => ({ _tag: "get", key: rng.pick(keys) }))
}

/** `r` in words, for the trace and divergences. */
export const describeViewRead = (r: ViewRead): string =>
  r._tag === "get" ? `get ${toHex(r.key)}` : `scan ${r.order}${r.limit === undefined ? "" : ` limit ${r.limit}`}`

/** Runs `r` through `db`: the rows it returned. */
export const runViewRead = (db: Pick<Db.ReadOnlyDb, "getKeyValue" | "scan">, r: ViewRead) =>
  r._tag === "get"
    ? Effect.map(db.getKeyValue(r.key), (kv) => (kv === undefined ? [] : [kv]))
    : Stream.runCollect(r.limit === undefined ? db.scan(r.range, { order: r.order }) : Stream.take(db.scan(r.range, { order: r.order }), r.limit))

/** The verdict on `rows`, what `r` returned, against the frozen state at `p`. */
export const checkViewRead = (frozen: FrozenState, r: ViewRead, rows: ReadonlyArray<ObservedRow>, p: number, what: string): Verdict =>
  r._tag === "get" ? frozen.checkGet(toHex(r.key), rows[0], p, what) : frozen.checkScan(rangeShape(r.range, r.order, r.limit), rows, p, what)

/** A view opened earlier reads: a scan (whole, or a range with a limit) or a few gets. Takes an index. */
export const readView = (a: CheckpointActor, v: HeldView): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    for (const r of drawViewReads(a.rng, a.w.workload.config.keys)) yield* read(a, v, r)
    a.w.opIndex++
    return true
  })

/** One read through `v`, checked (see the module comment). */
const read = (a: CheckpointActor, v: HeldView, r: ViewRead): Effect.Effect<void, Diverged> =>
  Effect.gen(function*() {
    const { w } = a
    const liveAtStart = v.at === undefined || isLive(v.at, yield* w.now)
    const what = `${viewName(v)} at ${target(v.at)}: ${describeViewRead(r)}`
    const exit = yield* w.settle(onProc(v, runViewRead(v.db, r)), what)
    v.liveThroughout &&= liveAtStart && (v.at === undefined || isLive(v.at, yield* w.now))
    a.counts.viewReads++
    if (Exit.isFailure(exit)) return yield* ended(a, v.at, v.liveThroughout, exit, what)
    const rows = toRows(exit.value)
    const p = v.db.seq
    const verdict = checkViewRead(v.frozen, r, rows, p, what)
    w.trace.line(`#${w.opIndex} ${what} -> ${rows.length} rows #${rowsDigest(rows)} @${yield* w.now}`)
    if (!verdict.ok) return yield* w.diverge(verdict.message)
  })

/** A failed open or read: legal only as the module comment says. */
const ended = (
  a: CheckpointActor,
  c: TrackedCheckpoint | undefined,
  liveThroughout: boolean,
  exit: Exit.Failure<unknown, unknown>,
  what: string
): Effect.Effect<void, Diverged> =>
  Effect.gen(function*() {
    const { w } = a
    const legal = c === undefined ? isMissingObject(exit) : !liveThroughout
    if (!legal) {
      const why = c === undefined ? "" : `, though ${checkpointName(c)} was live all along (expires ${c.expireTimeS ?? "never"})`
      return yield* w.diverge(`${what} failed${why}: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`)
    }
    a.counts.readsAfterEnd++
    w.trace.line(`#${w.opIndex} ${what} failed (legal: ${c === undefined ? "it pins nothing" : "its checkpoint ended"}): ${describeError(exit.cause)} @${yield* w.now}`)
  })

/** At the end: every live checkpoint, read whole through a new view (both orders). */
export const finalReads = (a: CheckpointActor): Effect.Effect<void, Diverged> =>
  Effect.gen(function*() {
    const now = yield* a.w.now
    for (const c of a.tracked.filter((c) => isLive(c, now))) {
      yield* openViewAt(a, c)
      const v = a.views.at(-1)
      if (v !== undefined && v.at === c) {
        yield* read(a, v, wholeScan("desc"))
        a.views.pop()
        yield* a.closeView(v)
      }
      a.counts.finalViews++
    }
  })
