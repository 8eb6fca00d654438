/**
 * The engine's clock: ticks in milliseconds since the Unix epoch, read from the Effect `Clock` and made
 * monotonic (SlateDB's `MonotonicClock`, docs/format.md §3.11). Every row the engine writes gets
 * `createTs = now`.
 *
 * Guarantees:
 * - `now` never returns a tick below an earlier one (equal ticks are allowed). If the `Clock` reads behind
 *   the last tick, `now` sleeps `min(10 s, 2 × lag)` on the `Clock` (so `TestClock` drives it) and reads
 *   once more; if it is still behind, it fails with `InvalidError` (SlateDB's `InvalidClockTick`).
 * - `lastDurableTick` only moves forward (`advanceLastDurableTick` keeps the maximum). The WAL buffer raises
 *   it to a WAL's last row tick once that WAL SST is written.
 * - `setLastTick` (used by replay) fails with `InvalidError` instead of moving the last tick backwards.
 *
 * Both ticks start at the given initial tick: the manifest's `last_l0_clock_tick`, which SlateDB
 * initialises to `i64::MIN` (`MIN_TICK` here, exactly representable as a double).
 */
import { Clock, Context, Effect, Layer } from "effect"
import { InvalidError } from "./errors.ts"

/** SlateDB's `i64::MIN` "no tick yet": -2^63, exact as a JavaScript number. */
export const MIN_TICK = -9223372036854775808

/** After this many ms behind, `now` gives up waiting for the clock to catch up (SlateDB: 10 s). */
const MAX_CLOCK_SYNC_MS = 10_000

export class MonotonicClock extends Context.Service<MonotonicClock, {
  /** The current tick: the `Clock`'s milliseconds, never below the last tick. */
  readonly now: Effect.Effect<number, InvalidError>
  readonly lastTick: Effect.Effect<number>
  readonly lastDurableTick: Effect.Effect<number>
  /** Raises the last tick to `tick` (replay); fails if that would move it backwards. */
  readonly setLastTick: (tick: number) => Effect.Effect<number, InvalidError>
  /** Raises the last durable tick to `tick`; never lowers it. */
  readonly advanceLastDurableTick: (tick: number) => Effect.Effect<void>
}>()("shale/MonotonicClock") {
  static readonly layer = (initialTick: number = MIN_TICK): Layer.Layer<MonotonicClock> =>
    Layer.sync(MonotonicClock, () => makeMonotonicClock(initialTick))
}

/** Builds a clock directly (for wrappers and tests that need the value, not the layer). */
export const makeMonotonicClock = (initialTick: number = MIN_TICK): MonotonicClock["Service"] => {
  let lastTick = initialTick
  let lastDurableTick = initialTick

  const invalid = (last: number, next: number) =>
    new InvalidError({ message: `invalid clock tick: ${next} is behind the last tick ${last}` })

  /** SlateDB's `enforce_monotonic`: fetch-max, then fail if `tick` was behind. */
  const enforce = (tick: number): number | undefined => {
    if (tick >= lastTick) {
      lastTick = tick
      return tick
    }
    return undefined
  }

  const now: Effect.Effect<number, InvalidError> = Effect.flatMap(Clock.currentTimeMillis, (tick) => {
    if (enforce(tick) !== undefined) return Effect.succeed(tick)
    const lag = lastTick - tick
    return Effect.sleep(Math.min(MAX_CLOCK_SYNC_MS, 2 * lag)).pipe(
      Effect.andThen(Clock.currentTimeMillis),
      Effect.flatMap((again) =>
        enforce(again) !== undefined ? Effect.succeed(again) : Effect.fail(invalid(lastTick, again))
      )
    )
  })

  return MonotonicClock.of({
    now,
    lastTick: Effect.sync(() => lastTick),
    lastDurableTick: Effect.sync(() => lastDurableTick),
    setLastTick: (tick) =>
      Effect.suspend(() => enforce(tick) !== undefined ? Effect.succeed(tick) : Effect.fail(invalid(lastTick, tick))),
    advanceLastDurableTick: (tick) =>
      Effect.sync(() => {
        if (tick > lastDurableTick) lastDurableTick = tick
      })
  })
}
