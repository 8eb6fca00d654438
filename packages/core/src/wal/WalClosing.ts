/**
 * Closing the WAL buffer manager (WalBufferManager.ts, invariant 7): a clean `close`, a `stop` that lets
 * the WAL write in flight finish, and the flush fiber's own exit on a fatal error. Whichever comes first
 * records its error in the state; all of them end in `cleanup`, which answers every request and fails
 * every WAL not yet durable, so that nothing waits forever.
 */
import { Deferred, Effect, Exit, Fiber, Queue, Ref } from "effect"
import type { ClosedError } from "../errors.ts"
import { type FlushRequest, NO_REQUESTS, TICK, type WalCore } from "./WalBufferState.ts"
import { withDurability } from "./WalWrite.ts"

export interface Closing {
  /** The flush fiber's exit on a fatal error (it cannot interrupt itself, so it cleans up itself). */
  readonly failFatally: (error: ClosedError) => Effect.Effect<void>
  /** Closes with `error` after interrupting the flush fiber (a WAL write in flight is cut short). */
  readonly close: (error: ClosedError) => Effect.Effect<void>
  /** Closes with `error` after the flush fiber finishes the WAL write in flight. */
  readonly stop: (error: ClosedError) => Effect.Effect<void>
}

/**
 * `freezeCurrentWal` is the flush fiber's (WalFlush.ts); `flushFiber` is read when `close` or `stop` runs,
 * after the fiber was forked.
 */
export const makeClosing = (
  core: WalCore,
  freezeCurrentWal: Effect.Effect<void>,
  flushFiber: () => Fiber.Fiber<void>
): Closing => {
  const { state } = core

  /** Records the closing error; false if the manager was already closed. */
  const markClosed = (error: ClosedError): Effect.Effect<boolean> =>
    Ref.modify(state, (s) => s.closed !== undefined ? [false, s] : [true, { ...s, closed: error }])

  /**
   * SlateDB's `cleanup`: answer every request, freeze, fail every WAL not yet durable (its writers learn
   * whether their write may be durable: see `withDurability`).
   */
  const cleanup = (error: ClosedError): Effect.Effect<void> =>
    Effect.gen(function*() {
      const failed = Exit.fail(error)
      const answer = (r: FlushRequest) => {
        if (r._tag === "Flush") Deferred.doneUnsafe(r.reply, failed)
      }
      core.inFlight.forEach(answer)
      core.inFlight = NO_REQUESTS
      ;(yield* Queue.clear(core.requests)).forEach(answer)
      core.queued = 0
      yield* Queue.shutdown(core.requests)
      yield* freezeCurrentWal
      const s = Ref.getUnsafe(state)
      const notDurable = withDurability(error, "no")
      const lastFailure = core.failedWal
      for (const imm of s.immutables) {
        if (imm.id <= s.recentFlushedWalId) continue
        const unknown = lastFailure !== undefined && lastFailure.id === imm.id && lastFailure.durable === "unknown"
        imm.wal.notifyDurableFailure(unknown ? withDurability(error, "unknown") : notDurable)
      }
      // The current WAL is empty now (frozen above, and appends fail once closed); a watcher someone took
      // from it (`maybeTriggerFlush`, an empty `append`) would otherwise wait forever.
      s.current.notifyDurableFailure(notDurable)
      yield* Deferred.succeed(core.terminated, undefined)
    })

  const stopTicker: Effect.Effect<void> = Effect.suspend(() => {
    const ticker = core.tickerFiber
    return ticker === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(ticker))
  })

  const failFatally = (error: ClosedError): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.gen(function*() {
      if (!(yield* markClosed(error))) return
      yield* Effect.logError("WAL buffer closed after a fatal flush failure", error)
      yield* stopTicker
      yield* cleanup(error)
    }))

  const close = (error: ClosedError): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.gen(function*() {
      if (!(yield* markClosed(error))) return yield* Deferred.await(core.terminated)
      yield* stopTicker
      yield* Fiber.interrupt(flushFiber())
      yield* cleanup(error)
    }))

  const stop = (error: ClosedError): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.gen(function*() {
      if (!(yield* markClosed(error))) return yield* Deferred.await(core.terminated)
      yield* stopTicker
      Queue.offerUnsafe(core.requests, TICK) // wakes an idle flush fiber, which sees the manager closed and stops
      yield* Fiber.await(flushFiber())
      yield* cleanup(error)
    }))

  return { failFatally, close, stop }
}
