/**
 * Retention (SlateDB's `retention_iterator.rs`, docs/format.md §3.11): which versions of each key an L0
 * flush or a compaction keeps. It reads rows in key order (any seq order within a key: it sorts each key's
 * versions, newest first) and, per key:
 *
 * 1. Expiry: a version whose `expire_ts ≤ expiryCutoff` becomes a tombstone (same key, seq and create_ts,
 *    no expiry) if it is a value; an expired merge operand is dropped (and does not count below).
 * 2. Versions, newest first: the newest is kept; each following version is kept while the previous kept
 *    one is above `retentionMinSeq` (a snapshot may still read below it) or is a merge operand; the
 *    first version at or below `retentionMinSeq` is kept and everything older is dropped. With no
 *    `retentionMinSeq`, only the newest version (and the merge operands above it) survive.
 * 3. With `dropTombstones` (the output is the last sorted run: nothing older can be hidden), trailing
 *    tombstones are removed, so a key whose newest version is a tombstone disappears altogether.
 *
 * Two versions with the same seq (one row read from two overlapping inputs) count once. Rows come out in
 * key order, each key's kept versions newest first: the order SSTs store them in.
 *
 * The time-window retention SlateDB's iterator also has is not implemented: no SlateDB 0.12.1 caller
 * enables it.
 */
import { makeTombstone, type RowEntry, RowKind } from "../format/RowEntry.ts"
import { GENERAL, KeyVersionsIterator } from "./KeyVersionsIterator.ts"
import type { RowIterator } from "./RowIterator.ts"

export interface RetentionOptions {
  /** Versions above it stay readable (oldest snapshot; the durable seq at flush). Undefined: newest only. */
  readonly retentionMinSeq: number | undefined
  /** Rows with `expire_ts` at or below it expire (the memtable's last tick at flush, `last_l0_clock_tick` in compaction). */
  readonly expiryCutoff: number
  /** Remove trailing tombstones (compaction into the last sorted run). */
  readonly dropTombstones: boolean
}

const bySeqDesc = (a: RowEntry, b: RowEntry): number => b.seq - a.seq

export class RetentionIterator extends KeyVersionsIterator {
  readonly #options: RetentionOptions

  constructor(inner: RowIterator, options: RetentionOptions) {
    super(inner)
    this.#options = options
  }

  /** A key with one version: kept, unless it is a tombstone in the last run; an expired one goes to `process`. */
  protected override single(row: RowEntry): RowEntry | undefined | typeof GENERAL {
    if (row.expireTs !== undefined && row.expireTs <= this.#options.expiryCutoff) return GENERAL
    return this.#options.dropTombstones && row.kind === RowKind.Tombstone ? undefined : row
  }

  /** Applies retention to the collected versions of one key, into `out`. */
  protected process(versions: Array<RowEntry>, out: Array<RowEntry>): boolean {
    if (versions.length > 1) versions.sort(bySeqDesc)
    const { retentionMinSeq, expiryCutoff, dropTombstones } = this.#options
    let lastSeq = -1
    for (let i = 0; i < versions.length; i++) {
      let row = versions[i]!
      if (row.seq === lastSeq) continue
      lastSeq = row.seq
      const isMerge = row.kind === RowKind.Merge
      if (row.expireTs !== undefined && row.expireTs <= expiryCutoff) {
        if (isMerge) continue
        row = makeTombstone(row.key, row.seq, row.createTs)
      }
      out.push(row)
      const keepGoing = (retentionMinSeq !== undefined && row.seq > retentionMinSeq) || isMerge
      if (!keepGoing) break
    }
    if (dropTombstones) {
      while (out.length > 0 && out[out.length - 1]!.kind === RowKind.Tombstone) out.pop()
    }
    return true
  }
}
