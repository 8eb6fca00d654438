/**
 * The write path's critical section: a FIFO mutex, SlateDB's single writer task without the task.
 *
 * Why a lock in single-threaded JavaScript: Effect's scheduler may yield a fiber at any Effect boundary
 * (every 2048 operations by default), so two writers could interleave between "take a sequence number"
 * and "append to the WAL" / "insert into the memtable", and rows would reach the WAL or the memtable out of
 * sequence order. Recovery relies on that order (a memtable frozen with seq 6 must never miss seq 5).
 *
 * Guarantees:
 * - At most one `run` body executes at a time; waiters are served in arrival order.
 * - The body runs uninterruptibly, so a commit is never left half done (in the WAL but not the memtable).
 *   Waiting for the lock is interruptible; a waiter interrupted after being handed the lock passes it on.
 * - Uncontended, acquiring costs no allocation beyond the region itself (no Deferred, no fiber switch).
 */
import { Effect, type Exit } from "effect"

interface Waiter {
  readonly resume: (effect: Effect.Effect<void>) => void
  granted: boolean
}

export class WriteLock {
  #held = false
  readonly #waiters: Array<Waiter> = []

  readonly #release = (_exit: Exit.Exit<unknown, unknown>): undefined => {
    this.#handOff()
    return undefined
  }

  #handOff(): void {
    const next = this.#waiters.shift()
    if (next === undefined) {
      this.#held = false
      return
    }
    next.granted = true
    next.resume(Effect.void)
  }

  readonly #acquireSlow: Effect.Effect<void> = Effect.callback<void>((resume) => {
    const waiter: Waiter = { resume, granted: false }
    this.#waiters.push(waiter)
    return Effect.sync(() => {
      if (waiter.granted) {
        this.#handOff()
      } else {
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
      }
    })
  })

  /** True while a body runs. */
  get isHeld(): boolean {
    return this.#held
  }

  /** Runs `body` alone and uninterruptibly (see the module comment). */
  run<A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptible(Effect.suspend(() => {
      if (!this.#held) {
        this.#held = true
        return Effect.onExitPrimitive(body, this.#release)
      }
      return Effect.flatMap(this.#acquireInterruptibly, () => Effect.onExitPrimitive(body, this.#release))
    }))
  }

  /** Waiting is the only interruptible part. */
  readonly #acquireInterruptibly: Effect.Effect<void> = Effect.interruptible(this.#acquireSlow)
}
