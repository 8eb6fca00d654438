/**
 * Rows produced synchronously for as long as they are in memory: the protocol of the engine's iterators
 * (MergeIterator.ts, RetentionIterator.ts, db/DbIterator.ts). `next()` returns the next row, `undefined`
 * at the end, or `NEED_PULL` when something must be fetched first; the caller then runs `pull` (an Effect:
 * reading a page of blocks from the store) and calls `next()` again. A scan of cached blocks or memtables
 * thus costs no Effect per row, and a consumer that reads from the store waits only where it must.
 */
import { Effect } from "effect"
import type { DbError } from "../errors.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { RowCursor } from "../memtable/RowCursor.ts"

export const NEED_PULL: unique symbol = Symbol.for("shale/iter/NEED_PULL")
export type NeedPull = typeof NEED_PULL

export interface RowIterator {
  /** The next row, `undefined` at the end, or `NEED_PULL` when `pull` must run first. */
  next(): RowEntry | undefined | NeedPull
  /** Fetches what the last `NEED_PULL` waited for. */
  readonly pull: Effect.Effect<void, DbError>
}

/** A memtable cursor as a `RowIterator` (it never needs a pull). */
export const cursorRows = (cursor: RowCursor): RowIterator => ({
  next: () => cursor.next(),
  pull: Effect.void
})
