/**
 * Write backpressure (SlateDB's `max_unflushed_bytes`, docs/format.md §3.6): a write may start while the
 * unflushed bytes (WAL buffers not yet released plus frozen memtables not yet in L0) are below the limit;
 * otherwise it waits until flushes bring them down. The limit is read at each check: the database closes
 * the gate (limit 0) while the immutable memtables hold `maxImmutableMemtableBytes` (docs/design/compaction.md §6).
 *
 * Waiting writers queue in arrival order and cost O(1) each: one entry in a FIFO and one suspended fiber,
 * no loop, no timer. Progress (a WAL written and released, a memtable in L0) calls `wake`, which admits
 * writers from the front while the total stays below the limit, one wake-up per admitted writer. A new
 * writer never overtakes queued ones: it queues behind them even when the total would let it in.
 *
 * Admitted writers have not added their rows yet, so each reserves its bytes until `release` (called once
 * its rows are in the WAL buffer, or it failed): a wake never admits more than the headroom. As in
 * SlateDB the limit is soft: a write admitted below it may take the total above it.
 *
 * `failAll` (the database closed) fails every waiter and every later `admit` with the closing error.
 */
import { Effect } from "effect"
import type { DbError } from "../errors.ts"

interface Waiter {
  readonly bytes: number
  readonly resume: (effect: Effect.Effect<void, DbError>) => void
  cancelled: boolean
}

export class Backpressure {
  readonly #limit: () => number
  readonly #unflushed: () => number
  /** Bytes of admitted writers whose rows are not in the WAL buffer yet. */
  #reserved = 0
  /** FIFO: live entries are `#queue[#head..]`; cancelled ones are skipped when reached. */
  #queue: Array<Waiter | undefined> = []
  #head = 0
  #closed: DbError | undefined = undefined

  /** `limit` and `unflushed`: the current threshold and total, synchronously. */
  constructor(limit: () => number, unflushed: () => number) {
    this.#limit = limit
    this.#unflushed = unflushed
  }

  /** True when writers are queued (new writers must queue behind them). */
  get hasWaiters(): boolean {
    return this.#head < this.#queue.length
  }

  /** Waiting writers (cancelled ones not yet skipped included). */
  get waiting(): number {
    return this.#queue.length - this.#head
  }

  /** Whether a write may start now without queueing. */
  get isOpen(): boolean {
    return !this.hasWaiters && this.#unflushed() + this.#reserved < this.#limit()
  }

  /**
   * Queues a writer of `bytes` and completes when it is admitted; from then on its bytes are reserved
   * until `release(bytes)`. Interrupting a waiting writer removes it (lazily) from the queue.
   */
  admit(bytes: number): Effect.Effect<void, DbError> {
    return Effect.callback<void, DbError>((resume) => {
      if (this.#closed !== undefined) {
        resume(Effect.fail(this.#closed))
        return
      }
      const waiter: Waiter = { bytes, resume, cancelled: false }
      this.#queue.push(waiter)
      this.wake()
      return Effect.sync(() => {
        waiter.cancelled = true
      })
    })
  }

  /** An admitted writer's rows are in the WAL buffer now (or it failed): its reservation ends. */
  release(bytes: number): void {
    this.#reserved -= bytes
    if (this.hasWaiters) this.wake()
  }

  /** True while `wake` resumes writers (which may call `release`, and so `wake`, synchronously). */
  #waking = false
  #wakeAgain = false

  /**
   * Admits queued writers from the front while the total is below the limit. Synchronous, cheap when
   * idle. Resuming a writer may run it at once (its commit then calls `release`): such nested calls only
   * ask for another round, so the queue is never walked by two loops and the stack never grows.
   */
  wake(): void {
    if (this.#waking) {
      this.#wakeAgain = true
      return
    }
    this.#waking = true
    try {
      do {
        this.#wakeAgain = false
        const admitted: Array<Waiter> = []
        const queue = this.#queue
        const limit = this.#limit()
        while (this.#head < queue.length) {
          const w = queue[this.#head]!
          if (!w.cancelled) {
            if (this.#unflushed() + this.#reserved >= limit) break
            this.#reserved += w.bytes
            admitted.push(w)
          }
          queue[this.#head++] = undefined
        }
        this.#compact()
        for (const w of admitted) w.resume(Effect.void)
      } while (this.#wakeAgain)
    } finally {
      this.#waking = false
    }
  }

  /** Fails every waiter, and every later `admit`, with `error`. */
  failAll(error: DbError): void {
    if (this.#closed === undefined) this.#closed = error
    const queue = this.#queue
    const head = this.#head
    this.#queue = []
    this.#head = 0
    for (let i = head; i < queue.length; i++) {
      const w = queue[i]!
      if (!w.cancelled) w.resume(Effect.fail(error))
    }
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }
}
