/**
 * The k-way merge every reader of several sorted sources shares: scans (db/DbIterator.ts), the memtable
 * flusher and the compactor (through RetentionIterator.ts). SlateDB's `merge_iterator.rs`.
 *
 * Sources:
 * - `CursorSource`: a memtable cursor, read synchronously in place;
 * - `PageSource` (PageSource.ts): the compactor's SSTs, pages of blocks decoded a row at a time;
 * - `SstSource` (SstSource.ts): the read path's SSTs (an L0 SST, a sorted run's SSTs one after the
 *   other), synchronous over cached blocks.
 * Each source yields its rows in key order (ascending, or descending for descending scans); the merge
 * yields every row of every source in key order. Rows of one key may come from several sources and arrive
 * in any seq order: consumers that care (the read path takes the newest visible version, retention sorts a
 * key's versions) look at all of a key's rows before deciding.
 *
 * It is a `RowIterator`: synchronous until a source needs its next page (`NEED_PULL`), so that scanning
 * cached blocks or memtables costs no Effect per row.
 */
import { Effect } from "effect"
import type { DbError } from "../errors.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { RowCursor } from "../memtable/RowCursor.ts"
import { NEED_PULL, type NeedPull, type RowIterator } from "./RowIterator.ts"

/** One input of the merge: a current row (`head`) and a way to move on. */
export interface Source {
  head: RowEntry | undefined
  /** True until the first page is fetched (SST sources). */
  readonly startsPending: boolean
  /** Moves past `head`. False when the next row must be fetched with `pull` first. */
  advance(): boolean
  /** Fetches the next page; afterwards `head` is the next row or undefined at the end. */
  readonly pull: Effect.Effect<void, DbError>
}

export class CursorSource implements Source {
  head: RowEntry | undefined
  readonly startsPending = false
  readonly #cursor: RowCursor
  constructor(cursor: RowCursor) {
    this.#cursor = cursor
    this.head = cursor.next()
  }
  advance(): boolean {
    this.head = this.#cursor.next()
    return true
  }
  readonly pull: Effect.Effect<void> = Effect.void
}

/** A binary heap of sources ordered by their head's key. */
class SourceHeap {
  readonly items: Array<Source> = []
  readonly #sign: number
  constructor(descending: boolean) {
    this.#sign = descending ? -1 : 1
  }
  #less(a: Source, b: Source): boolean {
    return this.#sign * compareKeys(a.head!.key, b.head!.key) < 0
  }
  push(s: Source): void {
    const items = this.items
    items.push(s)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(items[i]!, items[parent]!)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }
  get top(): Source | undefined {
    return this.items[0]
  }
  /** Restores the order after the top's head changed (it must still be defined). */
  siftTop(): void {
    const items = this.items
    const n = items.length
    let i = 0
    while (true) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && this.#less(items[l]!, items[m]!)) m = l
      if (r < n && this.#less(items[r]!, items[m]!)) m = r
      if (m === i) return
      ;[items[i], items[m]] = [items[m]!, items[i]!]
      i = m
    }
  }
  popTop(): void {
    const items = this.items
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      this.siftTop()
    }
  }
}

/** The merge (see the module comment). */
export class MergeIterator implements RowIterator {
  readonly #heap: SourceHeap
  readonly #pending: Array<Source> = []

  constructor(sources: ReadonlyArray<Source>, descending = false) {
    this.#heap = new SourceHeap(descending)
    for (const s of sources) this.#place(s, !s.startsPending)
  }

  /** Puts a source back where it belongs after its head moved. */
  #place(s: Source, ready: boolean): void {
    if (!ready) this.#pending.push(s)
    else if (s.head !== undefined) this.#heap.push(s)
  }

  next(): RowEntry | undefined | NeedPull {
    if (this.#pending.length > 0) return NEED_PULL
    const heap = this.#heap
    const top = heap.top
    if (top === undefined) return undefined
    const row = top.head!
    const ready = top.advance()
    if (ready && top.head !== undefined) heap.siftTop()
    else {
      heap.popTop()
      if (!ready) this.#pending.push(top)
    }
    return row
  }

  /**
   * Fetches the next page of every source that needs one, all at once: at the start every source does
   * (opening its SST, then its first page), and one after the other their round trips added up.
   */
  readonly pull: Effect.Effect<void, DbError> = Effect.suspend(() => {
    const pending = this.#pending.splice(0, this.#pending.length)
    const pulls = pending.length === 1 ? pending[0]!.pull : Effect.forEach(pending, (s) => s.pull, { discard: true, concurrency: "unbounded" })
    return pulls.pipe(
      Effect.map(() => {
        for (const s of pending) this.#place(s, true)
      })
    )
  })
}
