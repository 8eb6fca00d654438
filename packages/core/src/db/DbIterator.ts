/**
 * What a scan returns (SlateDB's `db_iter.rs`): over the merged rows of every source (iter/MergeIterator.ts,
 * each source already capped at the read's sequence number), for each key the version with the highest
 * seq; a tombstone hides the key, a value is returned as a `KeyValue` (copies of the key and value bytes,
 * which the caller may keep or change). When the newest version is a merge operand, the key's versions are
 * folded with the merge operator (iter/MergeOperator.ts, whatever their `expireTs`, down to the newest
 * value or tombstone: SlateDB's read path) and the result is returned with the newest operand's seq, the
 * largest `createTs` and the smallest `expireTs`; without an operator the scan fails with `InvalidError`
 * ("merge operator missing"). Only with an operator are a key's versions kept while it is read.
 *
 * `fill` works synchronously until the merge needs a page from a source; the scan's stream then runs
 * `pull` and calls `fill` again.
 */
import type { Effect } from "effect"
import { type DbError, InvalidError, mergeOperatorMissing } from "../errors.ts"
import { keysEqual } from "../format/KeyComparator.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import { foldFrom, type MergeOperator, newestFirst } from "../iter/MergeOperator.ts"
import { NEED_PULL, type RowIterator } from "../iter/RowIterator.ts"
import { SCAN_KEYS } from "../iter/SstSource.ts"
import { type ByteSlab, readSlab } from "../format/ByteSlab.ts"
import type { KeyValue } from "./DbApi.ts"

export { mergeOperatorMissing }

/**
 * `row` as a `KeyValue` of its own bytes (copies into `slab`). `ownKeys`: the slab that made the keys of
 * rows nobody else holds (the scans' `SCAN_KEYS`): such a key, made recently, is returned without another
 * copy.
 */
export const toKeyValue = (row: RowEntry, slab: ByteSlab, ownKeys?: ByteSlab): KeyValue =>
  new ReadKeyValue(
    ownKeys !== undefined && ownKeys.madeRecently(row.key) ? row.key : slab.copy(row.key),
    slab.copy(row.value),
    row.seq,
    row.createTs ?? 0,
    row.expireTs
  )

/**
 * Every `KeyValue` a read returns. A class, not an object literal, so that V8 never allocates them straight in
 * the old generation: it decides that per allocation site (a literal has one, a class's instances do not)
 * from how many of the site's first objects survive a young collection, so an application that keeps the
 * rows of its first scans (a prefix loaded at start) would otherwise make every later row an old object,
 * freed only by full collections (docs/design/benchmark.md §5.2, "A collected scan's rows in the old
 * generation"). One class also gives every returned row one shape.
 */
export class ReadKeyValue implements KeyValue {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly seq: number
  readonly createTs: number
  readonly expireTs: number | undefined
  constructor(key: Uint8Array, value: Uint8Array, seq: number, createTs: number, expireTs: number | undefined) {
    this.key = key
    this.value = value
    this.seq = seq
    this.createTs = createTs
    this.expireTs = expireTs
  }
}

/**
 * Where every scan copies the keys and values it returns: one slab for all of them, as point reads share
 * theirs (db/Reader.ts). A slab per scan cost each scan a fresh 16 KiB `ArrayBuffer`, most of it unused by
 * a short scan (in a microbenchmark, 0.7-3 µs per scan on top of the ~9 µs a 100-row scan's copies take);
 * a kept value pins its slab either way. The key of a row built from an SST block is already the row's own
 * copy (iter/SstSource.ts `SCAN_KEYS`) and is returned as it is: one copy less per row (~40 ns of ~160 in a
 * microbenchmark of building and returning a row), and a kept key pins that slab instead.
 */
const SCAN_VALUES = readSlab()

export class DbIterator {
  readonly #rows: RowIterator
  /** The key whose versions are being collected, and its newest version so far. */
  #key: Uint8Array | undefined = undefined
  #best: RowEntry | undefined = undefined
  readonly #operator: MergeOperator | undefined
  /** With an operator: every version of the key being collected (the fold needs the older ones). */
  readonly #versions: Array<RowEntry> = []

  constructor(rows: RowIterator, operator?: MergeOperator) {
    this.#rows = rows
    this.#operator = operator
  }

  /** Fetches what the merge waits for (after `fill` said "pull"). */
  get pull(): Effect.Effect<void, DbError> {
    return this.#rows.pull
  }

  /** Emits up to `limit` rows into `out`; "pull" when sources need pages, "done" at the end. */
  fill(out: Array<KeyValue>, limit: number): "more" | "pull" | "done" | InvalidError {
    const rows = this.#rows
    const collect = this.#operator !== undefined
    for (;;) {
      const row = rows.next()
      if (row === NEED_PULL) return "pull"
      const key = this.#key
      if (row !== undefined && key !== undefined && keysEqual(row.key, key)) {
        if (row.seq > this.#best!.seq) this.#best = row
        if (collect) this.#versions.push(row)
        continue
      }
      if (key !== undefined) {
        const best = this.#best!
        if (best.kind === RowKind.Value) out.push(toKeyValue(best, SCAN_VALUES, SCAN_KEYS))
        else if (best.kind === RowKind.Merge) {
          const merged = this.#merged()
          if (merged instanceof InvalidError) return merged
          out.push(toKeyValue(merged, SCAN_VALUES, SCAN_KEYS))
        }
      }
      if (row === undefined) {
        this.#key = undefined
        this.#best = undefined
        return "done"
      }
      this.#key = row.key
      this.#best = row
      if (collect) {
        this.#versions.length = 0
        this.#versions.push(row)
      }
      if (out.length >= limit) return "more"
    }
  }

  /** The key's operands folded down to its newest value or tombstone (iter/MergeOperator.ts), or why not. */
  #merged(): RowEntry | InvalidError {
    const operator = this.#operator
    if (operator === undefined) return mergeOperatorMissing()
    try {
      return foldFrom(operator, newestFirst(this.#versions), 0, false).row
    } catch (e) {
      if (e instanceof InvalidError) return e
      throw e
    }
  }
}
