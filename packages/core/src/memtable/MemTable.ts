/**
 * The memtable: every row written since the last L0 flush, in row order (key ascending, seq descending),
 * many versions per key. SlateDB's `KVTable` (mem_table.rs), docs/format.md §3.4.
 *
 * Guarantees and invariants:
 * - `put(row)` inserts a row; a later put with the same `(key, seq)` replaces the earlier row (a batch
 *   never writes a key twice, so this only happens on replay). Rows are not copied: callers must not
 *   mutate a row's `key`/`value` bytes afterwards.
 * - `get(key, maxSeq)` returns the newest version of `key` with `seq <= maxSeq`, whatever its kind
 *   (tombstones and merge operands included: the read path decides what they mean).
 * - Metadata is maintained on every put in O(1): row count, `Σ estimatedSize` (a replaced row's size is
 *   subtracted), smallest and largest seq, last tick (largest `createTs`).
 * - `freeze()` ends the table's writable life and returns an `ImmutableMemTable` over the same rows. The
 *   rows never change afterwards, so any number of cursors can walk it while a new memtable takes writes;
 *   further `put`s on the frozen table throw (a bug in the caller).
 * - Cursors on the ACTIVE memtable stay valid while puts happen between their steps (JavaScript is
 *   single-threaded, so "concurrent" means interleaved): a cursor never crashes, never returns a row
 *   twice and never skips a row that was in the table when it was created and has `seq <= maxSeq`.
 *   Rows inserted after its creation may or may not be seen; the Db reads with `maxSeq <=` the last
 *   committed seq at cursor creation and assigns seqs in increasing order, so for it every cursor on
 *   the active table behaves as a snapshot. A row replaced in place (same key and seq) may be seen in
 *   either version.
 *
 * The structure is a hand-written B+ tree (./RowTree.ts); docs/design/memtable.md has the measurements
 * against `sorted-btree` and a skiplist.
 */
import type { KeyRange } from "../format/KeyRange.ts"
import { MAX_SEQ } from "../format/KeyComparator.ts"
import { estimatedSize, memorySize, type RowEntry } from "../format/RowEntry.ts"
import { estimateCompactedSstSize, type SstSizeOptions } from "../format/SsTableBuilder.ts"
import { type RowCursor, TreeCursor } from "./RowCursor.ts"
import { RowTree } from "./RowTree.ts"

export type { RowCursor } from "./RowCursor.ts"

export interface CursorOptions {
  /** `"asc"` (default): key ascending. `"desc"`: key descending. Within a key, newest version first. */
  readonly order?: "asc" | "desc"
  /** Only rows with `seq <= maxSeq` (default: all). */
  readonly maxSeq?: number
  /** `"all"` (default): every visible version. `"latest"`: only the newest visible version per key. */
  readonly versions?: "all" | "latest"
}

/** Read access shared by the active memtable and frozen ones. */
export interface MemTableReader {
  /** Number of rows (every version counts). */
  readonly entryCount: number
  /** `Σ estimatedSize(row)`: SlateDB's `size`, the input of the size estimates. */
  readonly estimatedBytes: number
  /** `Σ memorySize(row)`: what the rows cost in the heap (the memtable's size trigger counts this). */
  readonly memoryBytes: number
  /** Smallest and largest seq of the rows; undefined while empty. */
  readonly firstSeq: number | undefined
  readonly lastSeq: number | undefined
  /** Largest `createTs` of the rows; undefined if no row had one. */
  readonly lastTick: number | undefined
  readonly isEmpty: boolean
  /** The newest version of `key` with `seq <= maxSeq` (default: any seq). */
  get(key: Uint8Array, maxSeq?: number): RowEntry | undefined
  /** A cursor over the rows whose keys are in `range` (default: all). */
  cursor(range?: KeyRange, options?: CursorOptions): RowCursor
  /** SlateDB's `estimate_encoded_size_compacted(entries, size)`: the L0 SST this table would become. */
  estimateEncodedSizeCompacted(options: SstSizeOptions): number
}

const UNBOUNDED: KeyRange = {}

const makeCursor = (tree: RowTree, range: KeyRange, options: CursorOptions | undefined): RowCursor =>
  new TreeCursor(
    tree,
    {
      start: range.start,
      startInclusive: range.startInclusive ?? true,
      end: range.end,
      endInclusive: range.endInclusive ?? false
    },
    options?.order !== "desc",
    options?.versions === "latest",
    options?.maxSeq ?? MAX_SEQ
  )

export class MemTable implements MemTableReader {
  private readonly tree = new RowTree()
  private bytes = 0
  private memory = 0
  private minSeq: number | undefined = undefined
  private maxSeq: number | undefined = undefined
  private tick: number | undefined = undefined
  private frozen: ImmutableMemTable | undefined = undefined

  /** Inserts a row (replacing one with the same key and seq). Throws if the table is frozen. */
  put(row: RowEntry): void {
    if (this.frozen !== undefined) throw new Error("MemTable.put on a frozen memtable")
    const old = this.tree.insert(row)
    this.bytes += estimatedSize(row)
    this.memory += memorySize(row)
    if (old !== undefined) {
      this.bytes -= estimatedSize(old)
      this.memory -= memorySize(old)
    }
    const seq = row.seq
    if (this.maxSeq === undefined || seq > this.maxSeq) this.maxSeq = seq
    if (this.minSeq === undefined || seq < this.minSeq) this.minSeq = seq
    const ts = row.createTs
    if (ts !== undefined && (this.tick === undefined || ts > this.tick)) this.tick = ts
  }

  get entryCount(): number {
    return this.tree.size
  }
  get estimatedBytes(): number {
    return this.bytes
  }
  get memoryBytes(): number {
    return this.memory
  }
  get firstSeq(): number | undefined {
    return this.minSeq
  }
  get lastSeq(): number | undefined {
    return this.maxSeq
  }
  get lastTick(): number | undefined {
    return this.tick
  }
  get isEmpty(): boolean {
    return this.tree.size === 0
  }
  get isFrozen(): boolean {
    return this.frozen !== undefined
  }

  get(key: Uint8Array, maxSeq: number = MAX_SEQ): RowEntry | undefined {
    return this.tree.get(key, maxSeq)
  }

  cursor(range: KeyRange = UNBOUNDED, options?: CursorOptions): RowCursor {
    return makeCursor(this.tree, range, options)
  }

  estimateEncodedSizeCompacted(options: SstSizeOptions): number {
    return estimateCompactedSstSize(this.tree.size, this.bytes, options)
  }

  /** Stops writes and returns the read-only view (the same one on every call). */
  freeze(): ImmutableMemTable {
    if (this.frozen === undefined) this.frozen = new ImmutableMemTable(this)
    return this.frozen
  }

  /** Structural self-check for tests. */
  checkInvariants(): void {
    this.tree.checkInvariants()
  }
}

/** A frozen memtable: read-only, its rows never change. Waits in the imm queue for its L0 flush. */
export class ImmutableMemTable implements MemTableReader {
  private readonly table: MemTable
  constructor(table: MemTable) {
    this.table = table
  }
  get entryCount(): number {
    return this.table.entryCount
  }
  get estimatedBytes(): number {
    return this.table.estimatedBytes
  }
  get memoryBytes(): number {
    return this.table.memoryBytes
  }
  get firstSeq(): number | undefined {
    return this.table.firstSeq
  }
  get lastSeq(): number | undefined {
    return this.table.lastSeq
  }
  get lastTick(): number | undefined {
    return this.table.lastTick
  }
  get isEmpty(): boolean {
    return this.table.isEmpty
  }
  get(key: Uint8Array, maxSeq?: number): RowEntry | undefined {
    return this.table.get(key, maxSeq)
  }
  cursor(range?: KeyRange, options?: CursorOptions): RowCursor {
    return this.table.cursor(range, options)
  }
  estimateEncodedSizeCompacted(options: SstSizeOptions): number {
    return this.table.estimateEncodedSizeCompacted(options)
  }
}
