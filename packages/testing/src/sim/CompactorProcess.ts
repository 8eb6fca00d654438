/**
 * A standalone compactor process (`Compactor.layer`, what `shale compactor` runs) in the simulation: like a
 * database process it has its own view of the bucket (with its own store faults and its own crash,
 * `ProcessFaults.ts`) and its own view of the clock (`SimStore.ts`), so that killing it stops it dead —
 * nothing it has in flight lands or answers, none of its timers fires again — without touching the writer.
 *
 * The process records every manifest version and compactions file it wrote (a put that took effect, even
 * if its answer was lost; but not one that recreated a version a collector had deleted below the latest,
 * which nobody reads: StoreLedger.ts), and watches its handle's `done`: the reason it stopped (a newer
 * compactor fenced it, or the run stopped it cleanly).
 */
import { Clock, Context, Effect, Exit, Layer, Scope } from "effect"
import {
  type ClosedError,
  Compactor,
  type CompactorHandle,
  type CompactorSettings,
  ObjectStore,
  parseCompactionsId,
  parseManifestId,
  type SettingsInput
} from "@shale/core/internal"
import type { Diverged } from "./Diverged.ts"
import { makeProcessFaults, type ProcessFaults, type SharedFaults } from "./ProcessFaults.ts"
import { makeProcessStore, type ProcessStore } from "./SimStore.ts"
import { DB_PATH, onProc, type SimWorld } from "./World.ts"

export type CompactorState = "running" | "crashed" | "fenced" | "stopped"

export interface CompactorProc {
  readonly id: number
  readonly view: ProcessStore
  readonly faults: ProcessFaults
  readonly clock: Clock.Clock
  readonly scope: Scope.Closeable
  readonly handle: CompactorHandle
  /** The compactor epoch it claimed. */
  readonly epoch: number
  /** Manifest versions and compactions files it wrote. */
  readonly manifestWrites: Array<number>
  readonly compactionsWrites: Array<number>
  /** How `done` failed, once it has. */
  stoppedWith: ClosedError | undefined
  state: CompactorState
  /** It ran until idle after its start, and the writer read everything back (restarts). */
  verified: boolean
}

/** The name a compactor process has in the trace. */
export const compactorName = (c: { readonly id: number }): string => `c${c.id}`

/**
 * Starts compactor process `id` on the bucket's inner store: the process, or the failure (then nothing of
 * it is left running). It does not drive the clock: run it under `SimWorld.settle`, or in a fiber of its
 * own while the runner drives the clock (a supervisor restarting a dead compactor).
 */
export const launchCompactorProc = (
  w: SimWorld,
  shared: SharedFaults,
  id: number,
  settings: SettingsInput
): Effect.Effect<Exit.Exit<CompactorProc, unknown>> =>
  Effect.gen(function*() {
    const manifestWrites: Array<number> = []
    const compactionsWrites: Array<number> = []
    const faults = makeProcessFaults(w.injector.inner, shared, (path) => {
      // A version recreated below the latest (a view older than the collector's minimum age) is never read.
      if (w.ledger.wasRecreated(path)) return
      const manifest = parseManifestId(path)
      if (manifest !== undefined) manifestWrites.push(manifest)
      const compactions = parseCompactionsId(path)
      if (compactions !== undefined) compactionsWrites.push(compactions)
    })
    const view = makeProcessStore(faults.store)
    const clock = view.clock(yield* Clock.clockWith(Effect.succeed))
    const scope = yield* Scope.make()
    const opened = yield* Effect.exit(
      Effect.gen(function*() {
        const context = yield* Layer.buildWithScope(Compactor.layer({ path: DB_PATH, settings, mergeOperator: w.mergeOperator }), scope)
        const handle = Context.get(context, Compactor)
        return { handle, epoch: (yield* handle.status).epoch }
      }).pipe(Effect.provideService(ObjectStore, view.store), Effect.provideService(Clock.Clock, clock))
    )
    if (Exit.isFailure(opened)) {
      view.kill()
      faults.crash()
      return Exit.failCause(opened.cause)
    }
    const c: CompactorProc = {
      id,
      view,
      faults,
      clock,
      scope,
      handle: opened.value.handle,
      epoch: opened.value.epoch,
      manifestWrites,
      compactionsWrites,
      stoppedWith: undefined,
      state: "running",
      verified: false
    }
    yield* Effect.forkDetach(
      Effect.flatMap(Effect.flip(onProc(c, c.handle.done)), (e) => Effect.sync(() => void (c.stoppedWith = e)))
    )
    return Exit.succeed(c)
  })

/** `launchCompactorProc`, driving the clock until it has opened (stuck: a divergence). */
export const openCompactorProc = (
  w: SimWorld,
  shared: SharedFaults,
  id: number,
  settings: SettingsInput,
  what: string
): Effect.Effect<Exit.Exit<CompactorProc, unknown>, Diverged> =>
  Effect.map(
    w.settle(launchCompactorProc(w, shared, id, settings), `opening compactor c${id} (${what})`),
    (exit): Exit.Exit<CompactorProc, unknown> => (Exit.isSuccess(exit) ? exit.value : Exit.failCause(exit.cause))
  )

/** Kills the process as in a crash: nothing it has in flight lands or answers, nothing it starts runs. */
export const killCompactor = (c: CompactorProc): void => {
  c.view.kill()
  c.faults.crash()
}

/**
 * Retires a fenced process: its timers stop and nothing answers it any more, but what it has in flight may
 * still land, as a real zombie's would (the fencing protocol must make that harmless).
 */
export const retireCompactor = (c: CompactorProc): void => {
  c.view.kill()
}

/** The settings a standalone compactor runs with: the database's, with its own compactor settings. */
export const standaloneSettings = (settings: SettingsInput, compactor: Partial<CompactorSettings>): SettingsInput => ({
  ...settings,
  compactor
})
