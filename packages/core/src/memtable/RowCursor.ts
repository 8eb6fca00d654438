/**
 * Cursors over a `RowTree` (RowTree.ts): the pull-cursor shape the read path's k-way merge consumes, and
 * the tree's own cursor, which walks the linked leaves in either direction and re-seeks after inserts.
 */
import { compareKeys, keysEqual, MAX_SEQ } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { Leaf, RowTree } from "./RowTree.ts"

/** Where a scan starts and stops; absent bounds are unbounded. */
export interface RowBounds {
  readonly start: Uint8Array | undefined
  readonly startInclusive: boolean
  readonly end: Uint8Array | undefined
  readonly endInclusive: boolean
}

/**
 * A pull cursor over rows, the shape the read path's k-way merge consumes.
 *
 * `peek()` shows the row the cursor is on without moving; `next()` returns it and moves on; both return
 * `undefined` once the cursor is exhausted. `seek(key)` repositions to the first row whose key is `>= key`
 * (ascending) or `<= key` (descending), clamped to the cursor's range.
 */
export interface RowCursor extends Iterable<RowEntry> {
  peek(): RowEntry | undefined
  next(): RowEntry | undefined
  seek(key: Uint8Array): void
}

/**
 * Cursor over a `RowTree`.
 *
 * Order: ascending = key asc, seq desc (tree order). Descending = key DESC, and within a key still seq desc
 * (newest version first), so a merge can de-duplicate the same way in both directions.
 * Versions: `all` returns every version with `seq <= maxSeq`; `latest` only the newest such version per key.
 */
export class TreeCursor implements RowCursor {
  private readonly tree: RowTree
  private readonly bounds: RowBounds
  private readonly ascending: boolean
  private readonly latest: boolean
  private readonly maxSeq: number
  private version: number
  /** Position of `cur`. */
  private leaf: Leaf | undefined = undefined
  private idx = 0
  private cur: RowEntry | undefined = undefined
  /** Ascending: every row of `leaf` is inside the end bound (saves a key comparison per row). */
  private leafInRange = false
  /** Descending: the position just before the current key's group (`prevLeaf === undefined`: none). */
  private prevLeaf: Leaf | undefined = undefined
  private prevIdx = -1

  constructor(tree: RowTree, bounds: RowBounds, ascending: boolean, latest: boolean, maxSeq: number) {
    this.tree = tree
    this.bounds = bounds
    this.ascending = ascending
    this.latest = latest
    this.maxSeq = maxSeq
    this.version = tree.version
    this.position(undefined)
  }

  peek(): RowEntry | undefined {
    return this.cur
  }

  next(): RowEntry | undefined {
    const r = this.cur
    if (r !== undefined) {
      if (this.ascending) this.advanceAsc(r)
      else this.advanceDesc(r)
    }
    return r
  }

  seek(key: Uint8Array): void {
    this.version = this.tree.version
    this.position(key)
  }

  *[Symbol.iterator](): Iterator<RowEntry> {
    for (let r = this.next(); r !== undefined; r = this.next()) yield r
  }

  private finish(): void {
    this.cur = undefined
    this.leaf = undefined
  }

  /** Positions on the first row at or after `target` (clamped to the bounds), or the range start. */
  private position(target: Uint8Array | undefined): void {
    const tree = this.tree
    const { start, startInclusive, end, endInclusive } = this.bounds
    if (this.ascending) {
      let leaf: Leaf
      if (target !== undefined && (start === undefined || compareKeys(target, start) > 0)) {
        leaf = tree.seek(target, MAX_SEQ)
      } else if (start !== undefined) {
        leaf = tree.seek(start, startInclusive ? MAX_SEQ : -1)
      } else {
        leaf = tree.first
        tree.index = 0
      }
      this.fillAsc(leaf, tree.index, true)
    } else {
      let leaf: Leaf
      let i: number
      if (target !== undefined && (end === undefined || compareKeys(target, end) < 0)) {
        leaf = tree.seek(target, -1)
        i = tree.index - 1
      } else if (end !== undefined) {
        leaf = tree.seek(end, endInclusive ? -1 : MAX_SEQ)
        i = tree.index - 1
      } else {
        leaf = tree.last
        i = leaf.rows.length - 1
      }
      if (i < 0) {
        const p = leaf.prev
        if (p === undefined) return this.finish()
        leaf = p
        i = p.rows.length - 1
      }
      this.establishDesc(leaf, i)
    }
  }

  // -- ascending ------------------------------------------------------------------------------------------

  /** From (leaf, idx) forward: skip invisible rows, stop at the end bound, land on the next row to return. */
  private fillAsc(leaf: Leaf, idx: number, enteringLeaf: boolean): void {
    const end = this.bounds.end
    const maxSeq = this.maxSeq
    let rows = leaf.rows
    if (enteringLeaf) this.leafInRange = this.inEndBound(rows)
    for (;;) {
      if (idx >= rows.length) {
        const nx = leaf.next
        if (nx === undefined) return this.finish()
        leaf = nx
        rows = nx.rows
        idx = 0
        this.leafInRange = this.inEndBound(rows)
        continue
      }
      const row = rows[idx]!
      if (!this.leafInRange && end !== undefined) {
        const c = compareKeys(row.key, end)
        if (c > 0 || (c === 0 && !this.bounds.endInclusive)) return this.finish()
      }
      if (row.seq > maxSeq) {
        idx++
        continue
      }
      this.leaf = leaf
      this.idx = idx
      this.cur = row
      return
    }
  }

  /** Whether the last row of a leaf (hence every row) is within the end bound. */
  private inEndBound(rows: Array<RowEntry>): boolean {
    const end = this.bounds.end
    if (end === undefined) return true
    const lastRow = rows[rows.length - 1]
    if (lastRow === undefined) return false
    const c = compareKeys(lastRow.key, end)
    return c < 0 || (c === 0 && this.bounds.endInclusive)
  }

  private advanceAsc(r: RowEntry): void {
    const tree = this.tree
    if (tree.version !== this.version) {
      // The tree changed under us: find our place again, strictly after `r` (or after its key).
      this.version = tree.version
      const leaf = tree.seek(r.key, this.latest ? -1 : r.seq - 1)
      return this.fillAsc(leaf, tree.index, true)
    }
    let leaf = this.leaf!
    let idx = this.idx + 1
    if (this.latest) {
      // Skip the older versions of r's key.
      for (;;) {
        if (idx >= leaf.rows.length) {
          const nx = leaf.next
          if (nx === undefined) return this.finish()
          leaf = nx
          idx = 0
          this.leafInRange = this.inEndBound(nx.rows)
        }
        if (!keysEqual(leaf.rows[idx]!.key, r.key)) break
        idx++
      }
    }
    this.fillAsc(leaf, idx, leaf !== this.leaf)
  }

  // -- descending -----------------------------------------------------------------------------------------

  /**
   * (leaf, idx) is the last row (oldest version) of some key's group. Walk the group leftwards to its
   * newest visible version and the position before the group; land on that version, or move on to the
   * previous group if none is visible. Stops at the start bound.
   */
  private establishDesc(leaf: Leaf, idx: number): void {
    const { start, startInclusive } = this.bounds
    const maxSeq = this.maxSeq
    for (;;) {
      const k = leaf.rows[idx]!.key
      if (start !== undefined) {
        const c = compareKeys(k, start)
        if (c < 0 || (c === 0 && !startInclusive)) return this.finish()
      }
      let cand: RowEntry | undefined
      let candLeaf = leaf
      let candIdx = idx
      let l: Leaf | undefined = leaf
      let i = idx
      for (;;) {
        const row: RowEntry = l.rows[i]!
        if (row.seq <= maxSeq) {
          cand = row
          candLeaf = l
          candIdx = i
        }
        if (i > 0) {
          i--
        } else {
          const p: Leaf | undefined = l.prev
          if (p === undefined) {
            l = undefined
            break
          }
          l = p
          i = p.rows.length - 1
        }
        if (!keysEqual(l.rows[i]!.key, k)) break
      }
      this.prevLeaf = l
      this.prevIdx = i
      if (cand !== undefined) {
        this.leaf = candLeaf
        this.idx = candIdx
        this.cur = cand
        return
      }
      if (l === undefined) return this.finish()
      leaf = l
      idx = i
    }
  }

  private advanceDesc(r: RowEntry): void {
    const tree = this.tree
    if (tree.version !== this.version) {
      this.version = tree.version
      if (!this.latest) {
        // Next older version of the same key, if any (all are visible: seq < r.seq <= maxSeq).
        const leaf = tree.seek(r.key, r.seq - 1)
        const row = leaf.rows[tree.index]
        if (row !== undefined && keysEqual(row.key, r.key)) {
          this.leaf = leaf
          this.idx = tree.index
          this.cur = row
          // Recompute the position before the group lazily: find it when the group ends.
          this.prevLeaf = undefined
          this.prevIdx = -2
          return
        }
      }
      return this.descBefore(r.key)
    }
    if (!this.latest) {
      let leaf = this.leaf!
      let idx = this.idx + 1
      if (idx >= leaf.rows.length && leaf.next !== undefined) {
        leaf = leaf.next
        idx = 0
      }
      const row = leaf.rows[idx]
      if (row !== undefined && keysEqual(row.key, r.key)) {
        this.leaf = leaf
        this.idx = idx
        this.cur = row
        return
      }
    }
    if (this.prevIdx === -2) return this.descBefore(r.key)
    const p = this.prevLeaf
    if (p === undefined) return this.finish()
    this.establishDesc(p, this.prevIdx)
  }

  /** Moves to the last group whose key is < `key`. */
  private descBefore(key: Uint8Array): void {
    const tree = this.tree
    let leaf = tree.seek(key, MAX_SEQ)
    let i = tree.index - 1
    if (i < 0) {
      const p = leaf.prev
      if (p === undefined) return this.finish()
      leaf = p
      i = p.rows.length - 1
    }
    this.establishDesc(leaf, i)
  }
}
