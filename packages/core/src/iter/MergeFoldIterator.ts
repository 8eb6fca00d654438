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
import type { RowEntry } from "../format/RowEntry.ts"
import { KeyVersionsIterator } from "./KeyVersionsIterator.ts"
import { foldKey, type MergeOperator, newestFirst } from "./MergeOperator.ts"
import type { RowIterator } from "./RowIterator.ts"

export class MergeFoldIterator extends KeyVersionsIterator {
  readonly #operator: MergeOperator
  readonly #barrier: number | undefined
  /** The `mergeFoldReversesOperands` test switch (testing/TestSwitches.ts). */
  readonly #wrongOrder: boolean
  #failure: InvalidError | undefined = undefined

  constructor(inner: RowIterator, operator: MergeOperator, barrier: number | undefined, wrongOrder = false) {
    super(inner)
    this.#operator = operator
    this.#barrier = barrier
    this.#wrongOrder = wrongOrder
  }

  override get pull(): Effect.Effect<void, DbError> {
    return this.#failure !== undefined ? Effect.fail(this.#failure) : super.pull
  }

  /** Folds one key's versions (see the module comment); false (and `#failure` set) if the operator failed. */
  protected process(versions: Array<RowEntry>, out: Array<RowEntry>): boolean {
    try {
      foldKey(this.#operator, newestFirst(versions), this.#barrier, out, this.#wrongOrder)
      return true
    } catch (e) {
      if (!(e instanceof InvalidError)) throw e
      this.#failure = e
      return false
    }
  }
}
