/**
 * The fold of merge operands (iter/MergeOperator.ts) and its iterator on the flush and compaction paths
 * (iter/MergeFoldIterator.ts), against SlateDB 0.12.1's `MergeOperatorIterator` semantics: batches of 100,
 * the base row, `expireTs` boundaries, the snapshot barrier, and the metadata of the result.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { InvalidError } from "../../src/errors.ts"
import { makeMerge, makeTombstone, makeValue, type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import { MergeFoldIterator } from "../../src/iter/MergeFoldIterator.ts"
import { foldFrom, foldKey, type MergeOperator } from "../../src/iter/MergeOperator.ts"
import { NEED_PULL, type NeedPull, type RowIterator } from "../../src/iter/RowIterator.ts"
import { concatBytes, concatOperator } from "../support/merge.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const b = (s: string) => enc.encode(s)
const s = (u: Uint8Array) => dec.decode(u)


/** Concatenation, recording every call as SlateDB's operator would see it. */
const recording = () => {
  const calls: Array<string> = []
  const operator: MergeOperator = {
    merge: (_key, existing, operand) => {
      calls.push(`merge(${existing === undefined ? "-" : s(existing)},${s(operand)})`)
      return concatBytes(existing, operand)
    }
  }
  return { operator, calls }
}


const k = b("k")
const m = (v: string, seq: number, expireTs?: number, createTs = seq) => makeMerge(k, b(v), seq, createTs, expireTs)
const show = (r: RowEntry) =>
  `${["V", "T", "M"][r.kind]}:${s(r.value)}@${r.seq}${r.expireTs === undefined ? "" : `~${r.expireTs}`}`

const rowsOf = (rows: ReadonlyArray<RowEntry>): RowIterator => {
  let i = 0
  return { next: () => rows[i++], pull: Effect.void }
}

const drain = (it: RowIterator): Array<RowEntry> | NeedPull => {
  const out: Array<RowEntry> = []
  for (;;) {
    const r = it.next()
    if (r === undefined) return out
    if (r === NEED_PULL) return NEED_PULL
    out.push(r)
  }
}

describe("foldFrom", () => {
  it("folds operands oldest first onto the base value; the result is a value with the newest seq", () => {
    const { operator, calls } = recording()
    const versions = [m("c", 4, undefined, 40), m("b", 3, undefined, 30), makeValue(k, b("a"), 2, 20), makeValue(k, b("old"), 1, 10)]
    const folded = foldFrom(operator, versions, 0, true)
    assert.strictEqual(show(folded.row), "V:abc@4")
    assert.strictEqual(folded.row.createTs, 40)
    assert.strictEqual(folded.next, 3) // the older value is left for retention
    // SlateDB's call shape: the batch from nothing, then the batch result onto the base.
    assert.deepStrictEqual(calls, ["merge(-,b)", "merge(b,c)", "merge(a,bc)"])
  })

  it("without a base the result stays an operand; a tombstone base is consumed and yields a value", () => {
    assert.strictEqual(show(foldFrom(concatOperator, [m("y", 2), m("x", 1)], 0, true).row), "M:xy@2")
    const overDelete = foldFrom(concatOperator, [m("y", 3), makeTombstone(k, 2, 2), makeValue(k, b("gone"), 1)], 0, true)
    assert.strictEqual(show(overDelete.row), "V:y@3")
    assert.strictEqual(overDelete.next, 2)
  })

  it("merges 100 operands per batch, then the batch results onto the base", () => {
    let batches = 0
    const sizes: Array<number> = []
    const operator: MergeOperator = {
      merge: () => assert.fail("mergeBatch is given"),
      mergeBatch: (_key, existing, operands) => {
        batches++
        sizes.push(operands.length)
        let acc = existing
        for (const o of operands) acc = concatBytes(acc, o)
        return acc!
      }
    }
    const versions: Array<RowEntry> = []
    for (let seq = 250; seq >= 1; seq--) versions.push(m(String.fromCharCode(65 + (seq % 26)), seq))
    versions.push(makeValue(k, b("base:"), 0))
    const folded = foldFrom(operator, versions, 0, true)
    let expected = "base:"
    for (let seq = 1; seq <= 250; seq++) expected += String.fromCharCode(65 + (seq % 26))
    assert.strictEqual(s(folded.row.value), expected)
    assert.strictEqual(batches, 4)
    assert.deepStrictEqual(sizes, [100, 100, 50, 3])
  })

  it("with sameExpiry, stops at a version whose expireTs differs; reads fold regardless", () => {
    const versions = [m("c", 4, 100), m("b", 3, 100), m("a", 2, 200), makeValue(k, b("v"), 1, 200)]
    const flush = foldFrom(concatOperator, versions, 0, true)
    assert.strictEqual(show(flush.row), "M:bc@4~100")
    assert.strictEqual(flush.next, 2)
    const read = foldFrom(concatOperator, versions, 0, false)
    assert.strictEqual(show(read.row), "V:vabc@4~100")
    // A base with another expiry is not a base on the write/flush/compaction paths.
    const withTtlBase = foldFrom(concatOperator, [m("x", 2), makeValue(k, b("v"), 1, 1, 50)], 0, true)
    assert.strictEqual(show(withTtlBase.row), "M:x@2")
  })

  it("the result's createTs is the largest and expireTs the smallest of the folded rows, base included", () => {
    const versions = [makeMerge(k, b("b"), 3, 30, undefined), makeMerge(k, b("a"), 2, 50, undefined), makeValue(k, b("v"), 1, 10, undefined)]
    const r = foldFrom(concatOperator, versions, 0, true).row
    assert.strictEqual(r.createTs, 50)
    assert.strictEqual(r.expireTs, undefined)
    const read = foldFrom(concatOperator, [makeMerge(k, b("b"), 3, 30, 900), makeValue(k, b("v"), 1, 10, 500)], 0, false).row
    assert.strictEqual(read.expireTs, 500)
  })

  it("an operator that throws or returns no bytes fails with InvalidError", () => {
    const throwing: MergeOperator = { merge: () => { throw new Error("boom") } }
    assert.throws(() => foldFrom(throwing, [m("a", 1)], 0, true), InvalidError, /merge operator failed: boom/)
    const bad = { merge: () => "nope" } as unknown as MergeOperator
    assert.throws(() => foldFrom(bad, [m("a", 1)], 0, true), InvalidError, /not a Uint8Array/)
  })
})

describe("foldKey", () => {
  it("leaves operands above the barrier unmerged and folds the rest", () => {
    const out: Array<RowEntry> = []
    foldKey(concatOperator, [m("d", 5), m("c", 4), m("b", 3), makeValue(k, b("a"), 2), makeValue(k, b("z"), 1)], 3, out)
    assert.deepStrictEqual(out.map(show), ["M:d@5", "M:c@4", "V:ab@3", "V:z@1"])
    const none: Array<RowEntry> = []
    foldKey(concatOperator, [m("d", 5), m("c", 4), makeValue(k, b("a"), 2)], undefined, none)
    assert.deepStrictEqual(none.map(show), ["V:acd@5"])
  })
})

describe("MergeFoldIterator", () => {
  it("sorts each key's versions newest first (sources arrive in any seq order) and folds per key", () => {
    const j = b("j")
    const rows = [
      makeValue(j, b("1"), 1), makeMerge(j, b("2"), 3), makeMerge(j, b("3"), 5), makeMerge(j, b("3"), 5),
      makeMerge(k, b("x"), 2), makeTombstone(k, 4), makeMerge(k, b("y"), 6)
    ]
    const out = drain(new MergeFoldIterator(rowsOf(rows), concatOperator, undefined))
    assert.notStrictEqual(out, NEED_PULL)
    // j: one copy of seq 5 (a row read from two inputs), folded onto the value; k: the tombstone is the base.
    assert.deepStrictEqual((out as Array<RowEntry>).map((r) => `${s(r.key)}/${show(r)}`), ["j/V:123@5", "k/V:y@6", "k/M:x@2"])
  })

  it("an operator failure becomes the pull's failure", () => {
    const it = new MergeFoldIterator(rowsOf([m("a", 1)]), { merge: () => { throw new Error("no") } }, undefined)
    assert.strictEqual(it.next(), NEED_PULL)
    const exit = Effect.runSyncExit(it.pull)
    assert.isTrue(Exit.isFailure(exit))
    assert.strictEqual(it.next(), NEED_PULL)
  })

  it("a value is not an operand: kinds pass through unchanged", () => {
    const rows = [makeValue(k, b("v"), 2), makeMerge(k, b("older"), 1)]
    const out = drain(new MergeFoldIterator(rowsOf(rows), concatOperator, undefined)) as Array<RowEntry>
    assert.deepStrictEqual(out.map((r) => r.kind), [RowKind.Value, RowKind.Merge])
  })
})
