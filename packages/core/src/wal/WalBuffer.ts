/**
 * One WAL buffer: the rows of one future WAL SST, kept in arrival order (not sorted by key: replay only
 * needs sequence order), and the durability cell its writers await (SlateDB's `WalBuffer`,
 * docs/format.md §5.1).
 *
 * Guarantees and invariants:
 * - Rows are kept exactly in the order they were appended. The buffer never reorders, drops or copies
 *   them; it does not validate that sequence numbers are non-decreasing (the single writer task hands them
 *   out in order; SlateDB leaves the same check as a TODO).
 * - Rows are only ever appended, so a snapshot is just a length: `snapshot()` and iterators taken earlier
 *   keep seeing exactly the rows that were there when they were taken (SlateDB copies; we do not need to).
 * - `lastSeq` is the seq of the latest row (0 = no row yet; SlateDB's seqs start at 1). `lastTick` is the
 *   `createTs` of the latest row that had one (`MIN_TICK` until then): a row without `createTs` does not
 *   reset it. `entriesSize` is the sum of `estimatedSize(row)`, used for size triggers only.
 * - The durability cell is written at most once; the first outcome wins (`notifyDurable` returns false
 *   for every later attempt). Every watcher obtained before or after the outcome sees that same outcome.
 *
 * This is a plain class, not an Effect service: `append` is on the write path of every batch and costs one
 * array push per row and no other allocation. Owners (the `WalBufferManager`) decide when a buffer stops
 * receiving rows ("frozen"); the buffer itself does not enforce it.
 */
import { Deferred, Effect, Exit } from "effect"
import type { ClosedError } from "../errors.ts"
import { estimatedSize, type RowEntry } from "../format/RowEntry.ts"
import { MIN_TICK } from "../MonotonicClock.ts"

/**
 * What a writer holds to learn that its write is durable. `await` succeeds once the WAL holding the
 * write, and every WAL before it, is in the object store; it fails with the `ClosedError` that stopped
 * the WAL buffer (clean close, fenced, or fatal flush failure). It may be awaited any number of times.
 */
export class DurableWatcher {
  readonly #deferred: Deferred.Deferred<void, ClosedError>
  /** Waits for the outcome. */
  readonly await: Effect.Effect<void, ClosedError>

  constructor(deferred: Deferred.Deferred<void, ClosedError>) {
    this.#deferred = deferred
    this.await = Deferred.await(deferred)
  }

  /** True once the outcome (durable or failed) is known. */
  get isDone(): boolean {
    return Deferred.isDoneUnsafe(this.#deferred)
  }
}

function* rowsUpTo(rows: ReadonlyArray<RowEntry>, end: number): Generator<RowEntry, void, undefined> {
  for (let i = 0; i < end; i++) yield rows[i]!
}

export class WalBuffer {
  readonly #rows: Array<RowEntry> = []
  readonly #durable: Deferred.Deferred<void, ClosedError> = Deferred.makeUnsafe<void, ClosedError>()
  /** The watcher every writer of this buffer receives (one object per buffer, not per write). */
  readonly watcher: DurableWatcher = new DurableWatcher(this.#durable)
  /** `createTs` of the latest row that had one; `MIN_TICK` until then. */
  lastTick: number = MIN_TICK
  /** `createTs` of the first row that had one; `MIN_TICK` until then (how long the buffer has waited). */
  firstTick: number = MIN_TICK
  /** Seq of the latest row; 0 while empty. */
  lastSeq = 0
  /** Sum of `estimatedSize` over the rows. */
  entriesSize = 0

  /** Appends one row. */
  append(row: RowEntry): void {
    this.#rows.push(row)
    if (row.createTs !== undefined) {
      if (this.firstTick === MIN_TICK) this.firstTick = row.createTs
      this.lastTick = row.createTs
    }
    this.lastSeq = row.seq
    this.entriesSize += estimatedSize(row)
  }

  /** Appends every row of one write batch, in order. */
  appendAll(rows: ReadonlyArray<RowEntry>): void {
    for (let i = 0; i < rows.length; i++) this.append(rows[i]!)
  }

  get length(): number {
    return this.#rows.length
  }

  get isEmpty(): boolean {
    return this.#rows.length === 0
  }

  /**
   * The rows as a live read-only view: it grows while the buffer still receives rows. The manager hands
   * this view to the WAL SST encoder only after freezing the buffer, when it no longer changes.
   */
  get rows(): ReadonlyArray<RowEntry> {
    return this.#rows
  }

  /** The rows present now, as a copy that later appends do not change. */
  snapshot(): Array<RowEntry> {
    return this.#rows.slice()
  }

  /** Iterates over the rows present when the iterator was created, in arrival order. */
  iterator(): Generator<RowEntry, void, undefined> {
    // The length is read now, not at the first `next()` (a generator body starts lazily).
    return rowsUpTo(this.#rows, this.#rows.length)
  }

  /** Records the durability outcome. Returns false (and changes nothing) if one was already recorded. */
  notifyDurable(outcome: Exit.Exit<void, ClosedError>): boolean {
    return Deferred.doneUnsafe(this.#durable, outcome)
  }

  /** Marks the buffer durable. */
  notifyDurableSuccess(): boolean {
    return Deferred.doneUnsafe(this.#durable, Exit.void)
  }

  /** Marks the buffer failed with `error`. */
  notifyDurableFailure(error: ClosedError): boolean {
    return Deferred.doneUnsafe(this.#durable, Exit.fail(error))
  }

  /** Waits for the durability outcome (same as `watcher.await`). */
  get awaitDurable(): Effect.Effect<void, ClosedError> {
    return this.watcher.await
  }
}
