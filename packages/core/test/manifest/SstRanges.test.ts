/**
 * The SSTs of a sorted run a point read asks (`firstCandidate`, `nextCandidate`, `runCandidates`), against the
 * naive rule: every SST whose first key ≤ key ≤ its last key, in run order. Runs where a key's versions
 * end one SST and start the next (SlateDB may cut there) share boundary keys.
 */
import { assert, describe, it } from "@effect/vitest"
import type { SsTableInfo } from "../../src/format/SstMetadata.ts"
import type { CompactedSst } from "../../src/manifest/Manifest.ts"
import { firstCandidate, nextCandidate, runCandidates } from "../../src/manifest/SstRanges.ts"

const key = (i: number): Uint8Array => new TextEncoder().encode(`k${String(i).padStart(4, "0")}`)

const sst = (n: number, first: number, last: number): CompactedSst => ({
  id: `SST${n}`,
  formatVersion: 2,
  info: { firstEntry: key(first), lastEntry: key(last) } as unknown as SsTableInfo
})

/** A run of `count` SSTs over keys 0..~count·span, consecutive ones sharing a boundary key with probability `shared`. */
const randomRun = (rnd: () => number, count: number, shared: number): ReadonlyArray<CompactedSst> => {
  const ssts: Array<CompactedSst> = []
  let next = Math.floor(rnd() * 3)
  for (let n = 0; n < count; n++) {
    const first = next
    const last = first + Math.floor(rnd() * 6)
    ssts.push(sst(n, first, last))
    next = rnd() < shared ? last : last + 1 + Math.floor(rnd() * 3)
  }
  return ssts
}

const naive = (ssts: ReadonlyArray<CompactedSst>, k: number): Array<string> =>
  ssts.filter((s) => mayHoldNaive(s, k)).map((s) => s.id)

const mayHoldNaive = (s: CompactedSst, k: number): boolean => {
  const text = new TextDecoder()
  const at = text.decode(key(k))
  return text.decode(s.info.firstEntry!) <= at && at <= text.decode(s.info.lastEntry!)
}

/** What a point read visits: `firstCandidate`, then `nextCandidate` until -1. */
const visited = (ssts: ReadonlyArray<CompactedSst>, k: number): Array<string> => {
  const out: Array<string> = []
  for (let c = firstCandidate(ssts, key(k)); c >= 0; c = nextCandidate(ssts, c, key(k))) out.push(ssts[c]!.id)
  return out
}

describe("sorted run candidates", () => {
  it("are exactly the SSTs whose key range holds the key, in run order, with and without shared boundary keys", () => {
    let seed = 99
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed / 4294967296
    }
    let multi = 0
    let none = 0
    for (let round = 0; round < 300; round++) {
      const ssts = randomRun(rnd, 1 + Math.floor(rnd() * 8), round % 3 === 0 ? 0 : 0.5)
      const end = Number(new TextDecoder().decode(ssts[ssts.length - 1]!.info.lastEntry!).slice(1)) + 3
      for (let k = 0; k <= end; k++) {
        const want = naive(ssts, k)
        assert.deepStrictEqual(visited(ssts, k), want, `round ${round}, key ${k}`)
        assert.deepStrictEqual(runCandidates({ id: 0, ssts }, key(k)).map((s) => s.id), want)
        if (want.length > 1) multi++
        if (want.length === 0) none++
      }
    }
    // The rounds reached both kinds of key the search must get right.
    assert.isAbove(multi, 100)
    assert.isAbove(none, 100)
  })

  it("an empty run has none", () => {
    assert.strictEqual(firstCandidate([], key(1)), -1)
    assert.deepStrictEqual(runCandidates({ id: 0, ssts: [] }, key(1)), [])
  })
})
