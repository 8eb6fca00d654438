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
import { compareKeyParts, keyPartsEqual } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { RowCursor } from "../memtable/RowCursor.ts"
import { NEED_PULL, type NeedPull, type RowIterator } from "./RowIterator.ts"

/**
 * One input of the merge: a current row (`head`) and a way to move on. The merge orders sources by the
 * head's key and seq, read apart from the head (`hasHead`, `keyBytes[0..keyLen)`, `headSeq`), so that a
 * source over SST blocks (SstSource.ts, PageSource.ts) need not build a row the merge then drops
 * (`MergeOptions.shadows`).
 */
export interface Source {
  /** The current row, undefined at the end; valid until `advance`. */
  readonly head: RowEntry | undefined
  /** Whether there is a current row (false at the end). */
  readonly hasHead: boolean
  /** The current row's key is `keyBytes[0..keyLen)` (the array may be reused by `advance`). */
  readonly keyBytes: Uint8Array
  readonly keyLen: number
  readonly headSeq: number
  /** True until the first page is fetched (SST sources). */
  readonly startsPending: boolean
  /** Moves past `head`. False when the next row must be fetched with `pull` first. */
  advance(): boolean
  /** Fetches the next page; afterwards `head` is the next row or undefined at the end. */
  readonly pull: Effect.Effect<void, DbError>
}

/** A source whose head is always a built row (memtables, the compactor's pages): the merge reads that. */
export abstract class EagerSource implements Source {
  head: RowEntry | undefined = undefined
  abstract readonly startsPending: boolean
  abstract advance(): boolean
  abstract readonly pull: Effect.Effect<void, DbError>

  get hasHead(): boolean {
    return this.head !== undefined
  }

  get keyBytes(): Uint8Array {
    return this.head!.key
  }

  get keyLen(): number {
    return this.head!.key.length
  }

  get headSeq(): number {
    return this.head!.seq
  }
}

export class CursorSource extends EagerSource {
  readonly startsPending = false
  readonly #cursor: RowCursor
  constructor(cursor: RowCursor) {
    super()
    this.#cursor = cursor
    this.head = cursor.next()
  }
  advance(): boolean {
    this.head = this.#cursor.next()
    return true
  }
  readonly pull: Effect.Effect<void> = Effect.void
}

/**
 * A tournament ("loser") tree over the sources, ordered by their head's key: `winner` is the source with
 * the smallest head (largest when descending); a source whose head is undefined (ended) loses to every
 * other. Each internal node keeps the loser of the match played there, so after the winner's head moves
 * only the matches on its leaf's path to the root are replayed: one key comparison per level, where a
 * binary heap's sift-down makes up to two (docs/design/compaction.md).
 *
 * Shape: balanced (every leaf ⌈log2 k⌉ or ⌊log2 k⌋ matches from the root) unless the sources come with
 * weights (`MergeOptions.weights`, the share of the rows each is expected to yield): then a Huffman tree
 * over the weights, so that a source yielding most rows (a scan's largest sorted run beside a few small
 * ones) sits near the root and its rows cost one or two comparisons instead of the balanced depth.
 * Internal nodes are `1..k-1` (1 the root), leaves `k..2k-1` (source `i` at `k + i`); `#parent` links them.
 */
class LoserTree {
  readonly #sources: ReadonlyArray<Source>
  readonly #sign: number
  /** `#nodes[0]`: the winner; `#nodes[1..k-1]`: each match's loser (source indices). */
  readonly #nodes: Int32Array
  /** The parent of each internal node and leaf (`#parent[1]` is 0: the root has none). */
  readonly #parent: Int32Array

  constructor(sources: ReadonlyArray<Source>, descending: boolean, weights: ReadonlyArray<number> | undefined) {
    this.#sources = sources
    this.#sign = descending ? -1 : 1
    const k = sources.length
    this.#nodes = new Int32Array(Math.max(1, k))
    const children = k > 2 && weights !== undefined ? huffmanChildren(weights) : undefined
    this.#parent = new Int32Array(2 * k)
    // Winners of each subtree, bottom-up (a node's children are leaves or nodes numbered above it), and
    // each child's parent on the way.
    const winners = scratch.winners.length >= 2 * k ? scratch.winners : (scratch.winners = new Int32Array(4 * k))
    for (let i = 0; i < k; i++) winners[k + i] = i
    for (let j = k - 1; j >= 1; j--) {
      const left = children === undefined ? 2 * j : children[2 * j]!
      const right = children === undefined ? 2 * j + 1 : children[2 * j + 1]!
      this.#parent[left] = j
      this.#parent[right] = j
      const a = winners[left]!
      const b = winners[right]!
      const aWins = this.#beats(a, b)
      winners[j] = aWins ? a : b
      this.#nodes[j] = aWins ? b : a
    }
    this.#nodes[0] = k === 1 ? 0 : winners[1]!
  }

  /**
   * Whether source `a`'s head comes before source `b`'s (an ended source comes after everything). Equal
   * keys come out in source order: the read path lists its sources newest first, so a key's newest version
   * usually comes first and `shadows` drops the others unbuilt.
   */
  #beats(a: number, b: number): boolean {
    const x = this.#sources[a]!
    if (!x.hasHead) return false
    const y = this.#sources[b]!
    if (!y.hasHead) return true
    const c = this.#sign * compareKeyParts(x.keyBytes, x.keyLen, y.keyBytes, y.keyLen)
    return c < 0 || (c === 0 && a < b)
  }

  /** The source with the first head (its head is undefined when every source has ended). */
  get winner(): number {
    return this.#nodes[0]!
  }

  /** Restores the order after source `s`'s head changed. */
  replay(s: number): void {
    const nodes = this.#nodes
    const parent = this.#parent
    let winner = s
    for (let j = parent[s + this.#sources.length]!; j >= 1; j = parent[j]!) {
      const other = nodes[j]!
      if (this.#beats(other, winner)) {
        nodes[j] = winner
        winner = other
      }
    }
    nodes[0] = winner
  }
}

/**
 * Scratch arrays of the tree's construction (it is synchronous, and every tree keeps only `#nodes` and
 * `#parent`): a scan builds one tree, and allocating these per scan cost more than the matches it saves.
 */
const scratch = {
  winners: new Int32Array(32),
  leaves: new Int32Array(16),
  weightOf: new Float64Array(32),
  children: new Int32Array(32)
}

/**
 * The children of a Huffman tree over `weights` (k of them, k > 2): `children[2j]` and `children[2j + 1]`
 * for internal node j (1..k-1, numbered in the order LoserTree builds them: each node's children are leaves
 * `k + i` or nodes numbered above it). Two queues: the leaves by weight, and the nodes made so far (made
 * as k-1, k-2, ..., their weights ascending); each step joins the two lightest heads. The answer is
 * `scratch.children`, valid until the next call.
 */
const huffmanChildren = (weights: ReadonlyArray<number>): Int32Array => {
  const k = weights.length
  if (scratch.leaves.length < k) {
    scratch.leaves = new Int32Array(2 * k)
    scratch.weightOf = new Float64Array(4 * k)
    scratch.children = new Int32Array(4 * k)
  }
  const { leaves, weightOf, children } = scratch
  // The leaves by weight (ties by index): an insertion sort, k being a handful of sources.
  for (let i = 0; i < k; i++) {
    const w = weights[i]!
    weightOf[k + i] = w
    let at = i
    while (at > 0 && weightOf[k + leaves[at - 1]!]! > w) {
      leaves[at] = leaves[at - 1]!
      at--
    }
    leaves[at] = i
  }
  let l = 0 // the next leaf (in `leaves`)
  let m = k - 1 // the lightest node made and not yet joined; none while m === j (j: the node being made)
  for (let j = k - 1; j >= 1; j--) {
    // Node j's two children: each the lighter of the next leaf and the lightest node not yet joined.
    for (let c = 2 * j; c <= 2 * j + 1; c++) {
      children[c] = l < k && (m === j || weightOf[k + leaves[l]!]! <= weightOf[m]!) ? k + leaves[l++]! : m--
    }
    weightOf[j] = weightOf[children[2 * j]!]! + weightOf[children[2 * j + 1]!]!
  }
  return children
}

/** What the merge yields. */
export interface MergeOptions {
  readonly descending?: boolean
  /**
   * Whether a yielded row hides the older versions of its key from the merge's reader: the merge then
   * drops, without building them, the rows of that key with a lower seq that come after it (as long as it
   * is the last row yielded). The read path's (db/ReaderScan.ts): a value or a tombstone (the newest
   * version decides; a merge operand needs the older ones). The compactor's (compactor/CompactionJob.ts):
   * the same, at or below the oldest snapshot (what retention would drop, iter/RetentionIterator.ts).
   * Versions of a key that arrive oldest first are all yielded; the reader decides.
   */
  readonly shadows?: (row: RowEntry) => boolean
  /**
   * The share of the rows each source is expected to yield (any non-negative unit, e.g. bytes), one per
   * source: the tree is then shaped so that heavy sources need fewer comparisons per row (`LoserTree`).
   * The order of the rows does not depend on it.
   */
  readonly weights?: ReadonlyArray<number>
}

/** The merge (see the module comment). */
export class MergeIterator implements RowIterator {
  readonly #sources: ReadonlyArray<Source>
  readonly #descending: boolean
  readonly #shadows: ((row: RowEntry) => boolean) | undefined
  readonly #weights: ReadonlyArray<number> | undefined
  /** Built once no source is pending any more (SST sources start pending). */
  #tree: LoserTree | undefined = undefined
  /** Indices of the sources whose next page must be fetched before the merge can go on. */
  readonly #pending: Array<number> = []
  /** The row yielded last, when it hides its key's older versions (`shadows`). */
  #last: RowEntry | undefined = undefined
  /** Rows taken from the sources: yielded or dropped (`shadows`). */
  rowsRead = 0

  constructor(sources: ReadonlyArray<Source>, options: MergeOptions = {}) {
    this.#sources = sources
    this.#descending = options.descending === true
    this.#shadows = options.shadows
    this.#weights = options.weights?.length === sources.length ? options.weights : undefined
    sources.forEach((s, i) => {
      if (s.startsPending) this.#pending.push(i)
    })
  }

  next(): RowEntry | undefined | NeedPull {
    for (;;) {
      if (this.#pending.length > 0) return NEED_PULL
      const tree = this.#tree ?? (this.#tree = new LoserTree(this.#sources, this.#descending, this.#weights))
      const w = tree.winner
      const top = this.#sources[w]
      if (top === undefined || !top.hasHead) return undefined
      const last = this.#last
      const hidden = last !== undefined && top.headSeq < last.seq && keyPartsEqual(top.keyBytes, top.keyLen, last.key)
      const row = hidden ? undefined : top.head!
      this.rowsRead++
      // Only the winner moves, so only it can become pending; its matches are replayed after its pull.
      if (top.advance()) tree.replay(w)
      else this.#pending.push(w)
      if (row === undefined) continue
      const shadows = this.#shadows
      if (shadows !== undefined) this.#last = shadows(row) ? row : undefined
      return row
    }
  }

  /**
   * Fetches the next page of every source that needs one, all at once: at the start every source does
   * (opening its SST, then its first page), and one after the other their round trips added up.
   */
  readonly pull: Effect.Effect<void, DbError> = Effect.suspend(() => {
    const pending = this.#pending.splice(0, this.#pending.length)
    const sources = this.#sources
    const pulls = pending.length === 1
      ? sources[pending[0]!]!.pull
      : Effect.forEach(pending, (i) => sources[i]!.pull, { discard: true, concurrency: "unbounded" })
    return pulls.pipe(
      Effect.map(() => {
        const tree = this.#tree
        if (tree !== undefined) for (const i of pending) tree.replay(i)
      })
    )
  })
}
