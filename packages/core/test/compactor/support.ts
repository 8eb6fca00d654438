/** Helpers of the compactor tests. */
import { assert } from "@effect/vitest"
import { Effect } from "effect"

/** Lets background fibers run until `done` holds (no clock: the memory store needs none). */
export const eventually = (what: string, done: () => Effect.Effect<boolean, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 20_000; i++) {
      if (yield* Effect.orDie(done())) return
      yield* Effect.yieldNow
    }
    assert.fail(`timed out waiting for ${what}`)
  })
