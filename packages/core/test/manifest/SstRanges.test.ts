/**
 * The SSTs of a sorted run a point read asks (`firstCandidate`, `nextCandidate`, `runCandidates`), against the
 * naive rule: every SST whose first key ≤ key ≤ its last key, in run order. Runs where a key's versions
 * end one SST and start the next (SlateDB may cut there) share boundary keys. And the SSTs a scan reads
 * (`RunScan`, found one at a time): every SST whose key range meets the scan's bounds, in scan order.
 */
import { assert, describe, it } from "@effect/vitest"
import type { SsTableInfo } from "../../src/format/SstMetadata.ts"
import type { CompactedSst } from "../../src/manifest/Manifest.ts"
import { type Bounds, firstCandidate, nextCandidate, runCandidates, RunScan } from "../../src/manifest/SstRanges.ts"

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

/** A seeded generator (an LCG), so that a failing round can be run again. */
const lcg = (seed: number) => () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed / 4294967296
}

describe("sorted run candidates", () => {
  it("are exactly the SSTs whose key range holds the key, in run order, with and without shared boundary keys", () => {
    const rnd = lcg(99)
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

/** The naive rule for a scan: the SSTs whose [first, last] meets the bounds, in run order (reversed when descending). */
const naiveScan = (ssts: ReadonlyArray<CompactedSst>, bounds: Bounds, descending: boolean): Array<string> => {
  const text = new TextDecoder()
  const at = (k: Uint8Array | undefined) => (k === undefined ? undefined : text.decode(k))
  const [start, end] = [at(bounds.start), at(bounds.end)]
  const ids = ssts.filter((s) => {
    const [first, last] = [at(s.info.firstEntry)!, at(s.info.lastEntry)!]
    const afterStart = start === undefined || (bounds.startInclusive ? last >= start : last > start)
    const beforeEnd = end === undefined || (bounds.endInclusive ? first <= end : first < end)
    return afterStart && beforeEnd
  }).map((s) => s.id)
  return descending ? ids.reverse() : ids
}

const scanned = (scan: RunScan): Array<string> => {
  const out: Array<string> = []
  for (let part = scan.next(); part !== undefined; part = scan.next()) out.push(part[0].id)
  return out
}

describe("a scan's SSTs of a sorted run (RunScan)", () => {
  it("are exactly those whose key range meets the bounds, in scan order: both orders, open and closed ends", () => {
    const rnd = lcg(7)
    let several = 0
    let none = 0
    for (let round = 0; round < 300; round++) {
      const ssts = randomRun(rnd, Math.floor(rnd() * 9), round % 3 === 0 ? 0 : 0.5)
      const top = ssts.length === 0 ? 5 : Number(new TextDecoder().decode(ssts[ssts.length - 1]!.info.lastEntry!).slice(1)) + 3
      for (let q = 0; q < 40; q++) {
        const a = Math.floor(rnd() * top)
        const b = a + Math.floor(rnd() * 12)
        const bounds: Bounds = {
          start: rnd() < 0.15 ? undefined : key(a),
          startInclusive: rnd() < 0.5,
          end: rnd() < 0.15 ? undefined : key(b),
          endInclusive: rnd() < 0.5
        }
        for (const descending of [false, true]) {
          const want = naiveScan(ssts, bounds, descending)
          const got = scanned(new RunScan({ id: 0, ssts }, bounds, descending))
          assert.deepStrictEqual(got, want, `round ${round}, ${JSON.stringify({ a, b, ...bounds, start: undefined, end: undefined, descending })}`)
          if (want.length > 1) several++
          if (want.length === 0) none++
        }
      }
    }
    assert.isAbove(several, 1000)
    assert.isAbove(none, 100)
  })

  it("clips each SST's options to the bounds and adds the scan's own", () => {
    const ssts = [sst(0, 0, 9), sst(1, 10, 19), sst(2, 20, 29)]
    const bounds: Bounds = { start: key(12), startInclusive: true, end: key(25), endInclusive: false }
    const scan = new RunScan({ id: 0, ssts }, bounds, false, { cacheBlocks: true, maxFetchTasks: 2 })
    const first = scan.next()!
    assert.strictEqual(first[0].id, "SST1")
    assert.deepStrictEqual(first[1], { start: key(12), startInclusive: true, end: key(25), endInclusive: false, descending: false, cacheBlocks: true, maxFetchTasks: 2 })
    assert.strictEqual(scan.next()![0].id, "SST2")
    assert.isUndefined(scan.next())
    assert.isUndefined(scan.next(), "and stays done")
  })
})
