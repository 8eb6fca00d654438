/**
 * A standalone garbage-collection pass in the simulation: what `shale gc` (`Admin.runGcOnce`, one pass of
 * `collectOnce` over every kind the options enable) does when an operator or a cron job runs it. Each pass
 * is a process of its own, like a database process: its own view of the bucket (with its own store faults
 * and its own crash, `ProcessFaults.ts`, behind the engine's retrying wrapper, as `GarbageCollector.layer`
 * has it) and its own view of the clock (`SimStore.ts`).
 *
 * Killing it mid-pass (`killGcPass`) is a crash: the process is cut off (nothing it has in flight lands or
 * answers, none of its timers fires again) and its fiber is interrupted. Whatever it had deleted stays
 * deleted; the next pass picks up the rest.
 */
import { Clock, Effect, type Exit, Fiber } from "effect"
import { Admin, type GarbageCollector } from "@shale/core"
import { ObjectStore, withRetries } from "@shale/core/internal"
import { makeProcessFaults, type ProcessFaults, type SharedFaults } from "./ProcessFaults.ts"
import { makeProcessStore, type ProcessStore } from "./SimStore.ts"
import { DB_PATH, type SimWorld } from "./World.ts"

export interface GcPassProc {
  readonly id: number
  readonly view: ProcessStore
  readonly faults: ProcessFaults
  readonly clock: Clock.Clock
  fiber: Fiber.Fiber<void> | undefined
  /** How the pass ended (undefined while it runs, or after a crash). */
  exit: Exit.Exit<GarbageCollector.GcRunStats, unknown> | undefined
  state: "running" | "done" | "crashed"
}

/** Starts pass `id` in a process of its own; it runs while the runner drives the clock. */
export const launchGcPass = (
  w: SimWorld,
  shared: SharedFaults,
  id: number,
  options: GarbageCollector.GcOptions
): Effect.Effect<GcPassProc> =>
  Effect.gen(function*() {
    const faults = makeProcessFaults(w.injector.inner, shared)
    const view = makeProcessStore(faults.store)
    const clock = view.clock(w.clock.clock)
    const pass = Admin.runGcOnce(DB_PATH, { options }).pipe(
      Effect.provideService(ObjectStore, withRetries(view.store)),
      Effect.provideService(Clock.Clock, clock),
      Effect.exit
    )
    const p: GcPassProc = { id, view, faults, clock, fiber: undefined, exit: undefined, state: "running" }
    p.fiber = yield* Effect.forkDetach(Effect.flatMap(pass, (exit) =>
      Effect.sync(() => {
        if (!view.isAlive()) return
        p.exit = exit
        p.state = "done"
      })))
    return p
  })

/** Kills the pass's process (see the module comment). */
export const killGcPass = (p: GcPassProc): Effect.Effect<void> =>
  Effect.gen(function*() {
    p.view.kill()
    p.faults.crash()
    p.state = "crashed"
    if (p.fiber !== undefined) yield* Fiber.interrupt(p.fiber)
  })
