/**
 * Merges in the simulation (Merges.ts, the model's folds, docs/design/simulation.md §3f): the operator
 * and how a value splits back into its writes; the model's checks of merged values by hand (order, loss,
 * a fold over a put, a tombstone or nothing, TTL expiry, uncertain operands, recovery); then seeds of the
 * real engine whose merges are folded by L0 flushes and compactions and checked on every read, and the
 * `mergeFoldReversesOperands` switch caught.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { elementsOf, simMergeOperator } from "../../src/sim/Merges.ts"
import { diffRowsLoose, foldMatches } from "../../src/sim/ModelRows.ts"
import { foldEntries } from "../../src/sim/Operations.ts"
import { Model, runSimulation, type Verdict } from "../../src/Simulation.ts"

const enc = new TextEncoder()
const v = (s: string) => enc.encode(s)
const hex = (s: string) => Buffer.from(s).toString("hex")
const K = hex("k")

const ok = (verdict: Verdict) => assert.isTrue(verdict.ok, verdict.ok ? "" : verdict.message)
const bad = (verdict: Verdict) => assert.isFalse(verdict.ok, "the model accepted an illegal answer")

/** Writes one entry on `k` and answers it with `seq` (createTs = seq). */
const write = (m: Model, id: number, value: string | undefined, seq: number, kind: "put" | "merge" = "put", ttlMs?: number) => {
  const merges = kind === "merge" ? new Set([K]) : undefined
  const w = m.beginWrite(id, new Map([[K, value === undefined ? undefined : v(value)]]), false, { merges, ttlMs })
  ok(m.completeWrite(w, seq, m.tick(), seq))
  return w
}

const get = (m: Model, value: string | undefined, seq = 0) => {
  const i = m.tick()
  return m.checkGet(K, value === undefined ? undefined : { value: v(value), seq, createTs: seq }, "memory", i, m.tick())
}

describe("Merges: the operator and elements", () => {
  it("concatenates (associative) and splits back into the base and the operands", () => {
    const op = simMergeOperator()
    const key = v("k")
    const left = op.merge(key, op.merge(key, v("v1.0:ab"), v("|m2.0")), v("|m3.0"))
    const right = op.mergeBatch!(key, v("v1.0:ab"), [op.merge(key, undefined, v("|m2.0")), v("|m3.0")])
    assert.deepStrictEqual(left, right)
    assert.deepStrictEqual(elementsOf(left), ["v1.0:ab", "|m2.0", "|m3.0"])
    assert.deepStrictEqual(elementsOf(v("|m2.0|m3.0")), ["|m2.0", "|m3.0"])
  })

  it("a batch's entries fold per key as the write path folds them", () => {
    const k = v("k")
    const put = foldEntries([{ key: k, kind: "put", value: v("v1.0:a") }, { key: k, kind: "merge", value: v("|m1.1") }])
    assert.deepStrictEqual(put.entries.get(K), v("v1.0:a|m1.1"))
    assert.isUndefined(put.merges)
    const overDelete = foldEntries([{ key: k, kind: "delete" }, { key: k, kind: "merge", value: v("|m1.1") }])
    assert.deepStrictEqual(overDelete.entries.get(K), v("|m1.1"))
    assert.isUndefined(overDelete.merges, "a tombstone base is consumed: a value")
    const two = foldEntries([{ key: k, kind: "merge", value: v("|m1.0") }, { key: k, kind: "merge", value: v("|m1.1") }])
    assert.deepStrictEqual(two.entries.get(K), v("|m1.0|m1.1"))
    assert.isTrue(two.merges?.has(K))
    const replaced = foldEntries([{ key: k, kind: "merge", value: v("|m1.0") }, { key: k, kind: "put", value: v("v1.1:b") }])
    assert.deepStrictEqual(replaced.entries.get(K), v("v1.1:b"))
    assert.isUndefined(replaced.merges)
  })
})

describe("Merges: the model", () => {
  it("folds operands over a put, a tombstone and nothing, in seq order", () => {
    const m = new Model()
    ok(m.recover([]))
    write(m, 0, "|m0.0", 1, "merge")
    ok(get(m, "|m0.0", 1))
    write(m, 1, "v1.0:a", 2)
    write(m, 2, "|m2.0", 3, "merge")
    write(m, 3, "|m3.0", 4, "merge")
    ok(get(m, "v1.0:a|m2.0|m3.0", 4))
    bad(get(m, "v1.0:a|m3.0|m2.0", 4)) // order
    bad(get(m, "v1.0:a|m3.0", 4)) // a lost operand
    bad(get(m, "v1.0:a|m2.0|m3.0", 3)) // the seq is the newest operand's
    write(m, 4, undefined, 5)
    write(m, 5, "|m5.0", 6, "merge")
    ok(get(m, "|m5.0", 6))
    bad(get(m, "v1.0:a|m2.0|m3.0|m5.0", 6))
  })

  it("an element past its TTL may be gone, one before it may not", () => {
    const m = new Model()
    let now = 0
    m.nowMs = () => now
    ok(m.recover([]))
    write(m, 0, "v0.0:a", 10)
    write(m, 1, "|m1.0", 20, "merge", 100) // expires at 120
    write(m, 2, "|m2.0", 30, "merge")
    now = 100
    ok(get(m, "v0.0:a|m1.0|m2.0", 30))
    bad(get(m, "v0.0:a|m2.0", 30))
    now = 120
    ok(get(m, "v0.0:a|m1.0|m2.0", 30))
    ok(get(m, "v0.0:a|m2.0", 30))
    bad(get(m, "v0.0:a", 30))
    write(m, 3, "v3.0:b", 40, "put", 10) // a put expires into a tombstone: nothing older comes back
    now = 200
    ok(get(m, "v3.0:b", 40))
    ok(get(m, undefined))
    bad(get(m, "v0.0:a|m2.0", 30))
  })

  it("an expired element the model's state lost (a recovered base) may still show elsewhere", () => {
    const expected = { value: v("v0.0:a|m2.0"), seq: 2 }
    const observed = { value: v("v0.0:a|m1.0|m2.0"), seq: 2 }
    assert.isTrue(foldMatches(true, expected, observed, { mayExpire: (e) => e === "|m1.0" }))
    assert.isFalse(foldMatches(true, expected, observed, { mayExpire: () => false }))
    // A whole row of expired elements where the model holds none; not one with a live element.
    const rows = (...r: Array<[string, string]>) => r.map(([k, val]) => ({ key: hex(k), value: v(val), seq: 1 }))
    const loose = () => ({ mayExpire: (e: string) => e === "|m1.0" })
    assert.isUndefined(diffRowsLoose(true, rows(["a", "v0.0:a"]), rows(["a", "v0.0:a"], ["b", "|m1.0"]), undefined, loose))
    assert.isDefined(diffRowsLoose(true, rows(["a", "v0.0:a"]), rows(["a", "v0.0:a"], ["b", "|m1.0|m3.0"]), undefined, loose))
  })

  it("an uncertain operand may be in a fold or not, nowhere else", () => {
    const m = new Model()
    ok(m.recover([]))
    write(m, 0, "v0.0:a", 1)
    const lost = m.beginWrite(1, new Map([[K, v("|m1.0")]]), false, { merges: new Set([K]) })
    m.failWrite(lost, m.tick())
    write(m, 2, "|m2.0", 3, "merge")
    ok(get(m, "v0.0:a|m2.0", 3))
    ok(get(m, "v0.0:a|m1.0|m2.0", 3))
    bad(get(m, "v0.0:a|m1.0", 3))
    bad(get(m, "v0.0:a|m2.0|m2.0", 3))
  })

  it("recovery: folded values, an uncertain operand, a lost durable operand", () => {
    /** A durable put, a durable operand, and an operand whose answer was lost. */
    const history = () => {
      const m = new Model()
      ok(m.recover([]))
      const w0 = m.beginWrite(0, new Map([[K, v("v0.0:a")]]), true)
      ok(m.completeWrite(w0, 1, m.tick(), 1))
      const w1 = m.beginWrite(1, new Map([[K, v("|m1.0")]]), true, { merges: new Set([K]) })
      ok(m.completeWrite(w1, 2, m.tick(), 2))
      m.failWrite(m.beginWrite(2, new Map([[K, v("|m2.0")]]), false, { merges: new Set([K]) }), undefined)
      return m
    }
    const recovered = (value: string, seq: number) => [{ key: K, value: v(value), seq, createTs: seq }]
    ok(history().recover(recovered("v0.0:a|m1.0", 2)))
    ok(history().recover(recovered("v0.0:a|m1.0|m2.0", 3)))
    bad(history().recover(recovered("v0.0:a", 1))) // a durable operand lost
    bad(history().recover(recovered("v0.0:a|m2.0|m1.0", 3))) // reordered
    bad(history().recover(recovered("v0.0:a|m1.0|m9.0", 3))) // written by nobody
  })
})

describe("Merges: the simulation", () => {
  it.effect("seeds write merges (single, batched, in transactions), folded by flushes and compactions, every read checked", () =>
    Effect.gen(function*() {
      const totals: Record<string, number> = {}
      for (const seed of [1, 2, 3]) {
        const r = yield* runSimulation({ seed, ops: 400, profile: "standard" })
        assert.isUndefined(r.divergence, r.divergence?.message)
        for (const [k, n] of Object.entries(r.merges)) totals[k] = (totals[k] ?? 0) + n
        totals["ownReads"] = (totals["ownReads"] ?? 0) + r.txns.ownReads
        totals["readOnlyChecks"] = (totals["readOnlyChecks"] ?? 0) + r.txns.readOnlyChecks
      }
      for (const k of ["written", "flush", "compaction", "read", "ownReads", "readOnlyChecks"]) {
        assert.isAbove(totals[k]!, 0, `${k}: ${JSON.stringify(totals)}`)
      }
    }), 300_000)

  it.effect("a flush and compaction fold that reverses operands is caught", () =>
    Effect.gen(function*() {
      for (const seed of [1, 2, 3, 4, 5]) {
        const broken = yield* runSimulation({ seed, ops: 400, profile: "standard", switches: { mergeFoldReversesOperands: true } })
        if (broken.divergence === undefined) continue
        assert.match(broken.divergence.message, /returned|matching no legal|no legal recovery point|holds/)
        assert.include(broken.divergence.reproduce, "--switch mergeFoldReversesOperands")
        const clean = yield* runSimulation({ seed, ops: 400, profile: "standard" })
        assert.isUndefined(clean.divergence, clean.divergence?.message)
        return
      }
      assert.fail("the simulator did not catch mergeFoldReversesOperands within seeds 1-5")
    }), 300_000)
})
