/** Runs a merge (iter/MergeIterator.ts) to its end: every row it emits, and how many pulls it took. */
import { Effect } from "effect"
import type { DbError } from "../../src/errors.ts"
import type { RowEntry } from "../../src/format/RowEntry.ts"
import type { MergeIterator } from "../../src/iter/MergeIterator.ts"
import { NEED_PULL } from "../../src/iter/RowIterator.ts"

export const drainMerge = (merge: MergeIterator): Effect.Effect<{ rows: Array<RowEntry>; pulls: number }, DbError> =>
  Effect.gen(function*() {
    const rows: Array<RowEntry> = []
    let pulls = 0
    for (;;) {
      const row = merge.next()
      if (row === undefined) return { rows, pulls }
      if (row === NEED_PULL) {
        pulls++
        yield* merge.pull
      } else rows.push(row)
    }
  })
