/**
 * An in-memory B+ tree of rows in row order (key ascending, seq descending), specialised for the memtable.
 *
 * Why hand-written (numbers in docs/design/memtable.md): the rows themselves are the tree's keys (no
 * wrapper or pair objects), searches compare a row with a `(key, seq)` position directly (no probe row per
 * lookup), and leaves are doubly linked so cursors walk in both directions without a stack and without an
 * iterator-result object per row.
 *
 * Shape:
 * - Leaves hold up to `LEAF_MAX` rows in a packed array and are linked `prev`/`next` in row order.
 * - Internal nodes hold `children` and `keys`, where `keys[i]` (i >= 1) is the smallest row of
 *   `children[i]`; `keys[0]` is never read. Routing picks the last child whose `keys[i] <= probe`, so a
 *   row inserted into child `i >= 1` is never smaller than `keys[i]`: separators stay exact without updates.
 * - Splits cut nodes in half, except an append at the very right end of the tree, which starts a new
 *   node and leaves the full one full (sequential keys then fill leaves to 100 %, not 50 %).
 * - Nothing is ever removed: a memtable only grows until it is frozen and dropped as a whole. A row
 *   replaced in place (same key and seq) may live on as a separator; only its key and seq are read there.
 *
 * Cursor validity: every insertion bumps `version`. A cursor remembers the version under which its
 * position was computed; if the tree changed since, it re-seeks (O(log n)) from the last row it returned
 * before moving on, so concurrent inserts never make it crash, skip or repeat a row that was present when
 * it passed. Replacing a row with the same `(key, seq)` keeps its position and does not bump `version`.
 */
import { compareRowTo, keysEqual } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"

/**
 * Rows per leaf / children per internal node. On W1, leaves of 32 or 128 and internal nodes of 16 were
 * within run-to-run noise of 64 for inserts and gets; 64 keeps the structure at ~15 bytes per row.
 */
const LEAF_MAX = 64
const INTERNAL_MAX = 64
/** 64^11 rows: never reached. */
const MAX_HEIGHT = 12

export class Leaf {
  readonly rows: Array<RowEntry>
  next: Leaf | undefined = undefined
  prev: Leaf | undefined = undefined
  constructor(rows: Array<RowEntry>) {
    this.rows = rows
  }
}

class Internal {
  readonly keys: Array<RowEntry>
  readonly children: Array<Internal | Leaf>
  constructor(keys: Array<RowEntry>, children: Array<Internal | Leaf>) {
    this.keys = keys
    this.children = children
  }
}

/** Inserts `x` at `at` in a packed array without allocating (`splice` returns a new array). */
const insertAt = <A>(xs: Array<A>, at: number, x: A): void => {
  let i = xs.length
  xs.push(x)
  while (i > at) {
    xs[i] = xs[i - 1]!
    i--
  }
  xs[at] = x
}

/** Index of the child of an internal node that covers `(key, seq)`. */
const route = (keys: Array<RowEntry>, key: Uint8Array, seq: number): number => {
  let lo = 1
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareRowTo(keys[mid]!, key, seq) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

/** First index in a leaf whose row is >= `(key, seq)`; `rows.length` if none. */
const leafLowerBound = (rows: Array<RowEntry>, key: Uint8Array, seq: number): number => {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareRowTo(rows[mid]!, key, seq) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

export class RowTree {
  private root: Internal | Leaf
  private height = 0
  /** Leftmost and rightmost leaves. */
  first: Leaf
  last: Leaf
  /** Number of rows. */
  size = 0
  /** Bumped by every insertion that moves rows (not by an in-place replacement). */
  version = 0
  /** Second result of `seek`: the index within the returned leaf. */
  index = 0
  private readonly pathNodes: Array<Internal> = []
  private readonly pathIdx = new Int32Array(MAX_HEIGHT)

  constructor() {
    const leaf = new Leaf([])
    this.root = leaf
    this.first = leaf
    this.last = leaf
  }

  /**
   * Inserts `row`; if a row with the same key and seq exists, replaces it in place and returns it.
   */
  insert(row: RowEntry): RowEntry | undefined {
    const key = row.key
    const seq = row.seq
    let node = this.root
    // Right-end fast path: appending after the largest row (sequential keys) needs no comparisons on the
    // way down.
    const lastRows = this.last.rows
    const appending = lastRows.length > 0 && compareRowTo(lastRows[lastRows.length - 1]!, key, seq) < 0
    let rightDepth = 0 // pathNodes[d] is the rightmost node of its level iff d <= rightDepth
    for (let d = 0; d < this.height; d++) {
      const n = node as Internal
      const i = appending ? n.children.length - 1 : route(n.keys, key, seq)
      this.pathNodes[d] = n
      this.pathIdx[d] = i
      if (rightDepth === d && i === n.children.length - 1) rightDepth = d + 1
      node = n.children[i]!
    }
    const leaf = node as Leaf
    const rows = leaf.rows
    const len = rows.length
    let at: number
    if (appending) {
      at = len
    } else {
      let lo = 0
      let hi = len
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        const c = compareRowTo(rows[mid]!, key, seq)
        if (c < 0) lo = mid + 1
        else if (c > 0) hi = mid
        else {
          const old = rows[mid]!
          rows[mid] = row
          return old
        }
      }
      at = lo
    }
    this.size++
    this.version++
    if (len < LEAF_MAX) {
      insertAt(rows, at, row)
      return undefined
    }
    let right: Leaf
    if (at === len && leaf.next === undefined) {
      right = new Leaf([row])
    } else {
      const mid = len >>> 1
      const rightRows = rows.slice(mid)
      rows.length = mid
      if (at <= mid) insertAt(rows, at, row)
      else insertAt(rightRows, at - mid, row)
      right = new Leaf(rightRows)
    }
    right.prev = leaf
    right.next = leaf.next
    if (leaf.next === undefined) this.last = right
    else leaf.next.prev = right
    leaf.next = right
    this.addChild(right.rows[0]!, right, rightDepth)
    return undefined
  }

  /** After a split at the bottom of the recorded path, inserts the new right sibling into the parents. */
  private addChild(separator: RowEntry, child: Internal | Leaf, rightDepth: number): void {
    let sep = separator
    let node: Internal | Leaf = child
    for (let d = this.height - 1; d >= 0; d--) {
      const parent = this.pathNodes[d]!
      const at = this.pathIdx[d]! + 1
      const keys = parent.keys
      const children = parent.children
      const n = keys.length
      if (n < INTERNAL_MAX) {
        insertAt(keys, at, sep)
        insertAt(children, at, node)
        return
      }
      let right: Internal
      if (at === n && d <= rightDepth) {
        right = new Internal([sep], [node])
      } else {
        const mid = n >>> 1
        const rk = keys.slice(mid)
        const rc = children.slice(mid)
        keys.length = mid
        children.length = mid
        if (at <= mid) {
          insertAt(keys, at, sep)
          insertAt(children, at, node)
        } else {
          insertAt(rk, at - mid, sep)
          insertAt(rc, at - mid, node)
        }
        right = new Internal(rk, rc)
      }
      sep = right.keys[0]!
      node = right
    }
    const old = this.root
    const oldMin = old instanceof Leaf ? old.rows[0]! : old.keys[0]!
    this.root = new Internal([oldMin, sep], [old, node])
    this.height++
    if (this.height >= MAX_HEIGHT) throw new RangeError("RowTree: too high")
  }

  /**
   * Finds the first row >= `(key, seq)` in row order. Returns its leaf and sets `this.index`; when every
   * row is smaller, returns the last leaf with `index === rows.length`.
   */
  seek(key: Uint8Array, seq: number): Leaf {
    let node = this.root
    for (let d = 0; d < this.height; d++) {
      const n = node as Internal
      node = n.children[route(n.keys, key, seq)]!
    }
    let leaf = node as Leaf
    let i = leafLowerBound(leaf.rows, key, seq)
    if (i === leaf.rows.length && leaf.next !== undefined) {
      leaf = leaf.next
      i = 0
    }
    this.index = i
    return leaf
  }

  /** The newest row of `key` with `seq <= maxSeq`. */
  get(key: Uint8Array, maxSeq: number): RowEntry | undefined {
    if (this.size === 0) return undefined // the active memtable right after a flush
    const leaf = this.seek(key, maxSeq)
    const row = leaf.rows[this.index]
    return row !== undefined && keysEqual(row.key, key) ? row : undefined
  }

  /** Checks structural invariants (tests only). Throws on the first violation. */
  checkInvariants(): void {
    let count = 0
    let prev: RowEntry | undefined
    let prevLeaf: Leaf | undefined
    for (let leaf: Leaf | undefined = this.first; leaf !== undefined; leaf = leaf.next) {
      if (leaf.prev !== prevLeaf) throw new Error("RowTree: broken prev link")
      if (leaf.rows.length === 0 && this.size > 0) throw new Error("RowTree: empty leaf")
      for (const row of leaf.rows) {
        if (prev !== undefined && compareRowTo(prev, row.key, row.seq) >= 0) throw new Error("RowTree: order")
        prev = row
        count++
      }
      prevLeaf = leaf
    }
    if (prevLeaf !== this.last) throw new Error("RowTree: last leaf")
    if (count !== this.size) throw new Error(`RowTree: size ${this.size} but ${count} rows`)
    const walk = (node: Internal | Leaf, depth: number, lower: RowEntry | undefined): void => {
      if (node instanceof Leaf) {
        if (depth !== this.height) throw new Error("RowTree: uneven depth")
        // Compared by (key, seq), not identity: an in-place replacement leaves the old row as separator.
        const min = node.rows[0]
        if (lower !== undefined && (min === undefined || compareRowTo(min, lower.key, lower.seq) !== 0)) {
          throw new Error("RowTree: separator is not the min")
        }
        return
      }
      if (node.keys.length !== node.children.length) throw new Error("RowTree: keys/children")
      node.children.forEach((c, i) => walk(c, depth + 1, i === 0 ? lower : node.keys[i]))
    }
    walk(this.root, 0, undefined)
  }
}
