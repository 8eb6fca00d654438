/**
 * The logical row every layer of the engine passes around: WAL buffers, memtables, SST blocks.
 *
 * Invariants:
 * - `key` is 1..65535 bytes and compares as raw bytes.
 * - `seq`, `createTs` and `expireTs` are JavaScript numbers holding safe integers (SlateDB stores them as
 *   u64/i64; decoders reject values outside the safe range with a typed `Data` error, so nothing is silently
 *   rounded). Sequence numbers would need 2^53 writes to overflow.
 * - `value` is the empty array for tombstones.
 * - Rows have one fixed shape (every field always present) so V8 keeps them monomorphic in hot loops.
 */

/** What a row holds. Numeric so that codecs and comparators stay allocation-free. */
export const RowKind = {
  Value: 0,
  Tombstone: 1,
  Merge: 2
} as const
export type RowKind = (typeof RowKind)[keyof typeof RowKind]

export interface RowEntry {
  readonly key: Uint8Array
  readonly kind: RowKind
  /** The value or merge operand; empty for tombstones. */
  readonly value: Uint8Array
  readonly seq: number
  /** Milliseconds (the engine's clock tick) when the row was written, if recorded. */
  readonly createTs: number | undefined
  /** Milliseconds after which the row expires, if it has a TTL. */
  readonly expireTs: number | undefined
}

const EMPTY = new Uint8Array(0)

/**
 * Every `RowEntry` the engine makes (writes, decoders). A class, not an object literal: V8 decides per
 * literal allocation site, from how many of its first objects survive a young collection, to allocate
 * that site's objects straight in the old generation, and a class's instances have no such site. Rows
 * decoded from blocks are mostly short-lived, yet a scan process could flip the decoder's literal to
 * "tenured" at random, after which every decoded row was an old object holding its key, value and block
 * until a full collection (docs/design/benchmark.md §5.2, "Rows born old"). One class also gives every
 * row one shape, whoever made it.
 */
export class Row implements RowEntry {
  readonly key: Uint8Array
  readonly kind: RowKind
  readonly value: Uint8Array
  readonly seq: number
  readonly createTs: number | undefined
  readonly expireTs: number | undefined
  constructor(key: Uint8Array, kind: RowKind, value: Uint8Array, seq: number, createTs: number | undefined, expireTs: number | undefined) {
    this.key = key
    this.kind = kind
    this.value = value
    this.seq = seq
    this.createTs = createTs
    this.expireTs = expireTs
  }
}

export const makeValue = (
  key: Uint8Array,
  value: Uint8Array,
  seq: number,
  createTs?: number,
  expireTs?: number
): RowEntry => new Row(key, RowKind.Value, value, seq, createTs, expireTs)

export const makeTombstone = (key: Uint8Array, seq: number, createTs?: number): RowEntry =>
  new Row(key, RowKind.Tombstone, EMPTY, seq, createTs, undefined)

export const makeMerge = (
  key: Uint8Array,
  operand: Uint8Array,
  seq: number,
  createTs?: number,
  expireTs?: number
): RowEntry => new Row(key, RowKind.Merge, operand, seq, createTs, expireTs)

/**
 * SlateDB's size estimate of a row (`RowEntry::estimated_size`): key + value + 8 (seq) + 8 per present
 * timestamp. Used for WAL/memtable size triggers and backpressure, never for encoding.
 */
export const estimatedSize = (row: RowEntry): number =>
  row.key.length + row.value.length + 8 + (row.createTs === undefined ? 0 : 8) +
  (row.expireTs === undefined ? 0 : 8)

/**
 * What a row held in memory (memtable, WAL buffer) costs in the heap, as measured on Node 22 x64
 * (docs/design/db.md, "Memory limits"): its key and value bytes plus about 300 bytes for the row object,
 * the two byte-array views over the engine's slab, a boxed timestamp and its slot in the memtable's tree.
 * The memtable's size trigger and the backpressure limit count this, so that the configured bytes bound
 * the memory the engine really uses, not the smaller size the rows would take on disk.
 */
export const ROW_MEMORY_OVERHEAD = 300

export const memorySize = (row: RowEntry): number => row.key.length + row.value.length + ROW_MEMORY_OVERHEAD
