/**
 * The fold of merge operands on the L0 flush and compaction paths (SlateDB's `MergeOperatorIterator` with
 * `merge_different_expire_ts = false` and a snapshot barrier; iter/MergeOperator.ts says how a fold goes).
 *
 * It reads rows in key order (any seq order within a key: it sorts each key's versions, newest first, and
 * keeps one row per seq) and, per key, newest first: a value or tombstone passes unchanged; an operand
 * whose seq is above `barrier` (a snapshot or a remote reader may still read below it) passes unchanged;
 * any other operand starts a fold of it and the older operands with the same `expireTs`, down to the first
 * base row. What it emits goes on to retention (RetentionIterator.ts), in the same order.
 *
 * An operator failure ends the iteration: `next()` answers `NEED_PULL` from then on and `pull` fails with
 * the `InvalidError`, so a consumer that runs `pull` when asked fails with it.
 */
import { Effect } from "effect"
import { type DbError, InvalidError } from "../errors.ts"
import { keysEqual } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { foldKey, type MergeOperator, newestFirst } from "./MergeOperator.ts"
import { NEED_PULL, type NeedPull, type RowIterator } from "./RowIterator.ts"

export class MergeFoldIterator implements RowIterator {
  readonly #inner: RowIterator
  readonly #operator: MergeOperator
  readonly #barrier: number | undefined
  /** The versions of the key being collected. */
  readonly #versions: Array<RowEntry> = []
  /** The rows of the last complete key, emitted from `#outIndex`. */
  readonly #out: Array<RowEntry> = []
  #outIndex = 0
  #ended = false
  #failure: InvalidError | undefined = undefined

  constructor(inner: RowIterator, operator: MergeOperator, barrier: number | undefined) {
    this.#inner = inner
    this.#operator = operator
    this.#barrier = barrier
  }

  get pull(): Effect.Effect<void, DbError> {
    return this.#failure !== undefined ? Effect.fail(this.#failure) : this.#inner.pull
  }

  next(): RowEntry | undefined | NeedPull {
    if (this.#failure !== undefined) return NEED_PULL
    const versions = this.#versions
    for (;;) {
      if (this.#outIndex < this.#out.length) return this.#out[this.#outIndex++]
      if (this.#ended) return undefined
      const row = this.#inner.next()
      if (row === NEED_PULL) return NEED_PULL
      if (row === undefined) {
        this.#ended = true
        if (versions.length > 0 && !this.#fold()) return NEED_PULL
        continue
      }
      if (versions.length > 0 && !keysEqual(versions[0]!.key, row.key) && !this.#fold()) return NEED_PULL
      this.#versions.push(row)
    }
  }

  /** Folds the collected versions of one key into `#out`; false (and `#failure` set) if the operator failed. */
  #fold(): boolean {
    const versions = newestFirst(this.#versions)
    const out = this.#out
    out.length = 0
    this.#outIndex = 0
    try {
      foldKey(this.#operator, versions, this.#barrier, out)
    } catch (e) {
      if (!(e instanceof InvalidError)) throw e
      this.#failure = e
      return false
    } finally {
      versions.length = 0
    }
    return true
  }
}
