/**
 * The checkpoint events (CheckpointActor.ts runs them between rounds; rates per round in
 * `FaultProfile.gc`). Each takes an operation index.
 *
 * - create: through the writer (`Db.createCheckpoint`, scope `"all"` 35%, `"durable"` 20%), detached
 *   (`Admin.createCheckpoint`, 25%), or from the `source` of a live checkpoint (20%, through either; it
 *   pins the same version, so it holds the same state). A lifetime of 1 s to 5 minutes, or none (40%). The
 *   model freezes what it must hold (Frozen.ts); its expiry is read back from the latest manifest. Half
 *   the time a view opens on it at once.
 * - change: a checkpoint made earlier is deleted (`Admin.deleteCheckpoint`) or refreshed
 *   (`Admin.refreshCheckpoint`, a new lifetime or none). Refreshing one that expired and was collected
 *   must fail with `DataError` (checkpoint missing), and so may one that expired while the refresh was
 *   under way; one that expired but is still listed comes back to life. Any other failure is a divergence.
 */
import { Cause, Effect, Exit, Option } from "effect"
import { Admin } from "@shale/core"
import { latestManifest, ObjectStore } from "@shale/core/internal"
import { type CheckpointActor, type CheckpointKind, checkpointName, isLive, type TrackedCheckpoint } from "./CheckpointActor.ts"
import type { Diverged } from "./Diverged.ts"
import type { FrozenState } from "./Frozen.ts"
import { describeError, errorOf } from "./Operations.ts"
import { openViewAt } from "./Readers.ts"
import { DB_PATH, onProc } from "./World.ts"

const LIFETIMES = [1000, 5000, 20_000, 60_000, 300_000]

/** How long a source must still live to be used (the creation takes a few store round trips). */
const SOURCE_MARGIN_MS = 60_000

interface Made {
  readonly id: string
  readonly manifestId: number
  readonly frozen: FrozenState
}

/** Makes a checkpoint (see the module comment). */
export const createCheckpointEvent = (a: CheckpointActor): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const { w, rng } = a
    const roll = rng.next()
    const sources = a.liveFor(yield* w.now, SOURCE_MARGIN_MS)
    const kind: CheckpointKind = roll < 0.35 ? "all" : roll < 0.55 ? "durable" : roll < 0.8 || sources.length === 0 ? "detached" : "source"
    const lifetimeMs = rng.chance(0.4) ? undefined : rng.pick(LIFETIMES)
    const source = kind === "source" ? rng.pick(sources) : undefined
    const viaDb = kind === "all" || kind === "durable" || (kind === "source" && rng.chance(0.5))
    const op = w.opIndex
    const startMs = yield* w.now
    const what = `checkpoint ${kind}${source === undefined ? "" : ` from ${checkpointName(source)}`}${
      lifetimeMs === undefined ? "" : `, lifetime ${lifetimeMs} ms`
    } through ${viaDb ? "the writer" : "Admin"}`
    const invokedAt = w.model.tick()
    const made = yield* (viaDb ? viaWriter(a, kind, lifetimeMs, source) : detached(a, lifetimeMs, source))
    const respondedAt = w.model.tick()
    if (Exit.isFailure(made)) return yield* w.diverge(`${what} failed: ${describeError(made.cause)}\n${Cause.pretty(made.cause)}`)
    const { id, manifestId } = made.value
    const frozen = source?.frozen ??
      w.model.freeze(kind === "all" ? "memory" : kind === "durable" ? "remote" : "history", invokedAt, respondedAt)
    if (source !== undefined && manifestId !== source.manifestId) {
      return yield* w.diverge(`${what} pins manifest ${manifestId}, not ${source.manifestId} as its source does`)
    }
    const c: TrackedCheckpoint = { id, manifestId, kind, op, frozen, expireTimeS: undefined, deleted: false }
    const listed = yield* expiryOf(a, c, lifetimeMs, startMs)
    a.tracked.push(c)
    a.counts.checkpoints++
    a.counts.checkpointsByKind[kind]++
    w.event("checkpoint")
    w.trace.line(
      `#${op} ${checkpointName(c)}: ${what}: ${id} pins manifest ${manifestId}${
        c.expireTimeS === undefined ? "" : `, expires at ${c.expireTimeS} s`
      }${listed ? "" : " (already collected)"} @${yield* w.now}`
    )
    w.opIndex++
    if (listed && rng.chance(0.5)) yield* openViewAt(a, c)
    return true
  })

const viaWriter = (a: CheckpointActor, kind: CheckpointKind, lifetimeMs: number | undefined, source: TrackedCheckpoint | undefined) => {
  const p = a.writer.proc
  const options = {
    scope: kind === "durable" ? "durable" as const : "all" as const,
    ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
    ...(source === undefined ? {} : { source: source.id })
  }
  return a.w.settle(
    Effect.map(onProc(p, p.db.createCheckpoint(options)), (made): Omit<Made, "frozen"> => made),
    `Db.createCheckpoint on p${p.id}`
  )
}

const detached = (a: CheckpointActor, lifetimeMs: number | undefined, source: TrackedCheckpoint | undefined) =>
  a.w.settle(
    Admin.createCheckpoint(DB_PATH, {
      ...(lifetimeMs === undefined ? {} : { lifetimeMs }),
      ...(source === undefined ? {} : { source: source.id })
    }).pipe(
      Effect.map((c): Omit<Made, "frozen"> => ({ id: c.id, manifestId: c.manifestId })),
      Effect.provideService(ObjectStore, a.admin)
    ),
    `Admin.createCheckpoint`
  )

/**
 * Reads the checkpoint's expiry from the latest manifest. False when it is not listed any more: only
 * legal if it may have expired already (a collector may have removed it since): made at `startMs` or
 * later, it expires at the earliest one second (the expiry is in whole seconds) before `startMs + lifetime`.
 */
const expiryOf = (
  a: CheckpointActor,
  c: TrackedCheckpoint,
  lifetimeMs: number | undefined,
  startMs: number
): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const { w } = a
    const latest = Option.getOrUndefined(yield* Effect.orDie(latestManifest(DB_PATH).pipe(Effect.provideService(ObjectStore, w.injector.inner))))
    const listed = latest?.manifest.checkpoints.find((x) => x.id === c.id)
    if (listed !== undefined) {
      c.expireTimeS = listed.expireTimeS
      if (listed.manifestId !== c.manifestId) {
        return yield* w.diverge(`${checkpointName(c)} was made pinning manifest ${c.manifestId}, the manifest says ${listed.manifestId}`)
      }
      return true
    }
    const now = yield* w.now
    if (lifetimeMs === undefined || now < startMs + lifetimeMs - 1000) {
      return yield* w.diverge(`${checkpointName(c)} (${c.id}) is not in the latest manifest right after it was made`)
    }
    c.expireTimeS = Math.floor(now / 1000)
    c.deleted = true
    return false
  })

/** Deletes or refreshes a checkpoint made earlier (see the module comment). */
export const changeCheckpointEvent = (a: CheckpointActor): Effect.Effect<boolean, Diverged> =>
  Effect.gen(function*() {
    const { w, rng } = a
    const candidates = a.tracked.filter((c) => !c.deleted)
    if (candidates.length === 0) return false
    const c = rng.pick(candidates)
    const now = yield* w.now
    const wasLive = isLive(c, now)
    if (rng.chance(0.5)) {
      const done = yield* w.settle(Admin.deleteCheckpoint(DB_PATH, c.id).pipe(Effect.provideService(ObjectStore, a.admin)), `deleting ${checkpointName(c)}`)
      if (Exit.isFailure(done)) return yield* w.diverge(`deleting ${checkpointName(c)} failed: ${describeError(done.cause)}`)
      c.deleted = true
      a.counts.checkpointsDeleted++
      w.trace.line(`#${w.opIndex} ${checkpointName(c)} deleted @${yield* w.now}`)
    } else {
      const lifetimeMs = rng.chance(0.4) ? undefined : rng.pick(LIFETIMES)
      const done = yield* w.settle(
        Admin.refreshCheckpoint(DB_PATH, c.id, lifetimeMs).pipe(Effect.provideService(ObjectStore, a.admin)),
        `refreshing ${checkpointName(c)}`
      )
      if (Exit.isFailure(done)) {
        const missing = errorOf(done)?._tag === "DataError"
        // Live at the end as well: it had not expired at any point of the call. One that expired while the
        // refresh was under way (store faults make it slow) may have been collected before it was read.
        const liveThroughout = wasLive && isLive(c, yield* w.now)
        if (liveThroughout || !missing) {
          return yield* w.diverge(
            `refreshing ${checkpointName(c)} (${wasLive ? "live" : "expired"}) failed: ${describeError(done.cause)}\n${Cause.pretty(done.cause)}`
          )
        }
        c.deleted = true
        w.trace.line(`#${w.opIndex} ${checkpointName(c)} refresh: gone (expired and collected) @${yield* w.now}`)
      } else {
        c.expireTimeS = done.value.expireTimeS
        a.counts.checkpointsRefreshed++
        w.trace.line(
          `#${w.opIndex} ${checkpointName(c)} refreshed${c.expireTimeS === undefined ? ", never expires" : `, expires at ${c.expireTimeS} s`}` +
            `${wasLive ? "" : " (it had expired)"} @${yield* w.now}`
        )
      }
    }
    w.event("checkpointChange")
    w.opIndex++
    return true
  })
