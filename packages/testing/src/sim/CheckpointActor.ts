/**
 * The checkpoint and reader actor: checkpoints made through the writer (`Db.createCheckpoint`, scope
 * `"all"` or `"durable"`) or detached (`Admin.createCheckpoint`, sometimes from another checkpoint's
 * `source`), with lifetimes (some never expire, some expire within seconds or minutes, some are deleted or
 * refreshed later: `CheckpointEvents.ts`); and read-only views (`Db.openReadOnly`) at a live checkpoint or
 * at the latest state, held open and read later — after compactions, garbage collection and pauses ran —
 * each read checked against the state the model froze when the checkpoint was made or the view opened
 * (`Frozen.ts`, `Readers.ts`).
 *
 * What it knows of each checkpoint (`TrackedCheckpoint`): the manifest version it pins, its expiry as the
 * manifest records it, whether the simulation deleted it. Live = made, not deleted, not expired. The store audit (GcAudit.ts) checks that every live one
 * is still in the latest manifest and that nothing it pins is gone; a read at a checkpoint that was live
 * all the time since its view opened must succeed.
 *
 * Events draw from a stream of their own (`<seed>/checkpoints`), so the other streams of a seed stay put.
 */
import { Effect, Exit, Scope } from "effect"
import type { ObjectStore } from "@shale/core/internal"
import { createCheckpointEvent, changeCheckpointEvent } from "./CheckpointEvents.ts"
import type { Diverged } from "./Diverged.ts"
import type { FrozenState } from "./Frozen.ts"
import type { ExpectedCheckpoint } from "./GcAudit.ts"
import { SharedFaults } from "./ProcessFaults.ts"
import { finalReads, type HeldView, openView, readView } from "./Readers.ts"
import type { SimRandom } from "./SimRandom.ts"
import { onProc, type SimWorld } from "./World.ts"
import type { WriterActor } from "./WriterActor.ts"

export type CheckpointKind = "all" | "durable" | "detached" | "source"

export interface TrackedCheckpoint {
  readonly id: string
  readonly manifestId: number
  readonly kind: CheckpointKind
  /** The operation index it was made at (its name in the trace: `cp#<op>`). */
  readonly op: number
  /** What it must hold. */
  readonly frozen: FrozenState
  /** Unix seconds, as the manifest records it; undefined: never expires. */
  expireTimeS: number | undefined
  /** Deleted by the simulation (or found gone: expired and collected). */
  deleted: boolean
}

/** Live at `nowMs`: made, not deleted, not expired. */
export const isLive = (c: TrackedCheckpoint, nowMs: number): boolean =>
  !c.deleted && (c.expireTimeS === undefined || c.expireTimeS * 1000 > nowMs)

export const checkpointName = (c: { readonly op: number }): string => `cp#${c.op}`

/** Counters of what the actor did (`SimResult.gc`). */
export interface CheckpointCounts {
  checkpoints: number
  checkpointsByKind: Record<CheckpointKind, number>
  checkpointsDeleted: number
  checkpointsRefreshed: number
  /** Views opened at a checkpoint / at the latest state, reads through views, and the final reads. */
  viewsAtCheckpoint: number
  viewsAtLatest: number
  viewReads: number
  /** Reads (or opens) that failed legitimately: the checkpoint had been deleted or had expired. */
  readsAfterEnd: number
  finalViews: number
}

/** How many views stay open at once (the oldest closes first). */
const MAX_VIEWS = 3

export class CheckpointActor {
  readonly w: SimWorld
  readonly writer: WriterActor
  readonly rng: SimRandom
  /** The admin client's store (detached checkpoints, deletes, refreshes): faulty, with retries. */
  readonly admin: ObjectStore["Service"]
  /** The readers' store faults (their own stream). */
  readonly readerFaults: SharedFaults
  readonly tracked: Array<TrackedCheckpoint> = []
  readonly views: Array<HeldView> = []
  /** Manifest version → the seq every view of it reported (a pinned version never changes). */
  readonly pinnedSeqs = new Map<number, number>()
  readonly counts: CheckpointCounts = {
    checkpoints: 0,
    checkpointsByKind: { all: 0, durable: 0, detached: 0, source: 0 },
    checkpointsDeleted: 0,
    checkpointsRefreshed: 0,
    viewsAtCheckpoint: 0,
    viewsAtLatest: 0,
    viewReads: 0,
    readsAfterEnd: 0,
    finalViews: 0
  }
  readonly #enabled: boolean
  #viewCounter = 0

  constructor(fields: { w: SimWorld; writer: WriterActor; rng: SimRandom; admin: ObjectStore["Service"]; enabled: boolean }) {
    this.w = fields.w
    this.writer = fields.writer
    this.rng = fields.rng
    this.admin = fields.admin
    this.readerFaults = new SharedFaults(`${fields.w.seed}/reader-store`, fields.w.profile.store)
    this.#enabled = fields.enabled
  }

  nextViewId(): number {
    return ++this.#viewCounter
  }

  /** The checkpoints live now, for the store audit. */
  get expectedLive(): Effect.Effect<Array<ExpectedCheckpoint>> {
    return Effect.map(this.w.now, (now) => this.tracked.filter((c) => isLive(c, now)).map((c) => ({ id: c.id, manifestId: c.manifestId })))
  }

  /** Live checkpoints that stay live for at least `marginMs` more. */
  liveFor(now: number, marginMs: number): Array<TrackedCheckpoint> {
    return this.tracked.filter((c) => isLive(c, now + marginMs))
  }

  /** Keeps `v` open (closing the oldest view beyond the limit). */
  hold(v: HeldView): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      this.views.push(v)
      while (this.views.length > MAX_VIEWS) yield* this.closeView(this.views.shift()!)
    })
  }

  closeView(v: HeldView): Effect.Effect<void> {
    return Effect.asVoid(Effect.exit(onProc(v, Scope.close(v.scope, Exit.void))))
  }

  /** Before a round: maybe one event. True when one ran (it took an operation index). */
  get beforeRound(): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const rates = this.w.profile.gc
      if (!this.#enabled || rates === undefined || this.w.phase !== "normal") return false
      const roll = this.rng.next()
      let edge = rates.checkpoint
      if (roll < edge) return yield* createCheckpointEvent(this)
      if (roll < (edge += rates.checkpointChange)) return yield* changeCheckpointEvent(this)
      if (roll < (edge += rates.readerOpen)) return yield* openView(this, this.rng.chance(0.7) ? "checkpoint" : "latest")
      if (roll < (edge += rates.readerRead) && this.views.length > 0) return yield* readView(this, this.rng.pick(this.views))
      return false
    })
  }

  /** At the end, after the final garbage collection: every live checkpoint is read whole; views close. */
  get finish(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (!this.#enabled) return
      for (const v of this.views.splice(0)) yield* this.closeView(v)
      yield* finalReads(this)
    })
  }
}
