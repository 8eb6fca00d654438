/**
 * Retention (iter/RetentionIterator.ts) on its own: a key with one version takes a shortcut
 * (`single`, no array and no `process` call); it must decide exactly as the general path does, for every
 * kind of row, expired or not, in the last run or not, next to keys with several versions.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeMerge, makeTombstone, makeValue, type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import { GENERAL } from "../../src/iter/KeyVersionsIterator.ts"
import { RetentionIterator, type RetentionOptions } from "../../src/iter/RetentionIterator.ts"
import { NEED_PULL, type RowIterator } from "../../src/iter/RowIterator.ts"

const rng = (seed: number) => () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed / 2 ** 32
}

const key = (i: number) => new TextEncoder().encode(`k${String(i).padStart(4, "0")}`)

/** Rows in key order, each key's versions in any seq order, as a merge of sources gives them. */
const rowsOf = (rows: ReadonlyArray<RowEntry>): RowIterator => {
  let i = 0
  return { next: () => rows[i++], pull: Effect.void }
}

/** Retention that never takes the shortcut: the reference for the one that does. */
class GeneralOnly extends RetentionIterator {
  protected override single(): typeof GENERAL {
    return GENERAL
  }
}

const drain = (it: RowIterator): Array<RowEntry> => {
  const out: Array<RowEntry> = []
  for (;;) {
    const row = it.next()
    if (row === undefined) return out
    if (row === NEED_PULL) throw new Error("unexpected pull")
    out.push(row)
  }
}

const show = (rows: ReadonlyArray<RowEntry>) =>
  rows.map((r) => `${new TextDecoder().decode(r.key)}@${r.seq}:${r.kind}:${r.expireTs ?? "-"}`)

describe("RetentionIterator", () => {
  it("decides a key of one version as the general path does, among keys of several", () => {
    const random = rng(11)
    for (let round = 0; round < 200; round++) {
      const rows: Array<RowEntry> = []
      let seq = 0
      for (let k = 0; k < 40; k++) {
        const versions = random() < 0.6 ? 1 : 1 + Math.floor(random() * 4)
        const group: Array<RowEntry> = []
        for (let v = 0; v < versions; v++) {
          const s = ++seq
          const expireTs = random() < 0.3 ? Math.floor(random() * 100) : undefined
          const pick = random()
          group.push(
            pick < 0.2
              ? makeTombstone(key(k), s)
              : pick < 0.35
              ? makeMerge(key(k), new Uint8Array([v]), s, undefined, expireTs)
              : makeValue(key(k), new Uint8Array([v]), s, undefined, expireTs)
          )
        }
        // Any seq order within a key.
        group.sort(() => random() - 0.5)
        rows.push(...group)
      }
      const options: RetentionOptions = {
        retentionMinSeq: random() < 0.3 ? undefined : Math.floor(random() * seq),
        expiryCutoff: Math.floor(random() * 100),
        dropTombstones: random() < 0.5
      }
      const fast = drain(new RetentionIterator(rowsOf(rows), options))
      const general = drain(new GeneralOnly(rowsOf(rows), options))
      assert.deepStrictEqual(show(fast), show(general), `round ${round}`)
    }
  })

  it("keeps a lone value, expires it to a tombstone, and drops a lone tombstone only in the last run", () => {
    const rows = [
      makeValue(key(1), new Uint8Array([1]), 1),
      makeValue(key(2), new Uint8Array([2]), 2, undefined, 50),
      makeTombstone(key(3), 3)
    ]
    const kept = drain(new RetentionIterator(rowsOf(rows), { retentionMinSeq: undefined, expiryCutoff: 60, dropTombstones: false }))
    assert.deepStrictEqual(kept.map((r) => [r.seq, r.kind]), [[1, RowKind.Value], [2, RowKind.Tombstone], [3, RowKind.Tombstone]])
    const last = drain(new RetentionIterator(rowsOf(rows), { retentionMinSeq: undefined, expiryCutoff: 60, dropTombstones: true }))
    assert.deepStrictEqual(last.map((r) => [r.seq, r.kind]), [[1, RowKind.Value]])
  })
})
