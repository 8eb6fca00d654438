import { assert, describe, it } from "@effect/vitest"
import { medianRun } from "../src/W3Median.ts"
import type { W3PhaseResult, W3RunResult } from "../src/W3Protocol.ts"

const counts = (getRange: number) => ({ get: 0, getRange, head: 1, put: 0, list: 2, delete: 0, bytesRead: 10 * getRange, bytesWritten: 0, other: 0 })

const run = (p50: number, p99: number, getRange: number, extra: Partial<W3RunResult> = {}): W3RunResult => ({
  phases: [
    { phase: "get_cold", ops: 500, ms: p50 * 500, p50Ms: p50, p99Ms: p99, server: counts(getRange) } satisfies W3PhaseResult,
    { phase: "scan", ops: 3, rows: 30_000, ms: 100 + p50, p50Ms: 30 + p50 }
  ],
  compaction: "full",
  readOpenMs: p50 * 10,
  problems: [],
  peakRssBytes: 1000 * p50,
  ...extra
})

describe("W3Median", () => {
  it("takes each figure's median over the runs, phase by phase and count by count", () => {
    const m = medianRun([run(3, 9, 460), run(2, 12, 450), run(5, 8, 470)])
    const cold = m.phases.find((p) => p.phase === "get_cold")!
    assert.strictEqual(cold.p50Ms, 3)
    assert.strictEqual(cold.p99Ms, 9)
    assert.strictEqual(cold.ms, 1500)
    assert.strictEqual(cold.ops, 500)
    assert.deepStrictEqual(cold.server, counts(460))
    const scan = m.phases.find((p) => p.phase === "scan")!
    assert.strictEqual(scan.p50Ms, 33)
    assert.strictEqual(scan.rows, 30_000)
    assert.isUndefined(scan.server)
    assert.strictEqual(m.readOpenMs, 30)
    assert.strictEqual(m.peakRssBytes, 5000)
  })

  it("an even number of runs takes the mean of the middle two; problems are kept with their run", () => {
    const m = medianRun([run(2, 8, 450), run(4, 10, 470, { problems: ["late"] })])
    assert.strictEqual(m.phases[0]!.p50Ms, 3)
    assert.strictEqual(m.phases[0]!.p99Ms, 9)
    assert.deepStrictEqual(m.problems, ["run 2: late"])
    const one = run(7, 7, 7)
    assert.strictEqual(medianRun([one]), one)
  })
})
