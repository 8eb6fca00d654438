/**
 * The model on its own (hand-written histories), then the whole simulator against the fake Db: a clean fake
 * passes, and every deliberate bug of the fake is caught within a few seeds.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Model, type ObservedRow, runSimulation, SimTargets, type Verdict } from "../../src/Simulation.ts"

const enc = new TextEncoder()
const v = (s: string) => enc.encode(s)
const hex = (s: string) => Buffer.from(s).toString("hex")
const entries = (...kv: Array<[string, string | undefined]>) =>
  new Map(kv.map(([k, val]) => [hex(k), val === undefined ? undefined : v(val)] as const))
const row = (k: string, val: string, seq: number): ObservedRow => ({ key: hex(k), value: v(val), seq })
const everything = { contains: () => true, order: "asc" as const, limit: undefined }

const ok = (verdict: Verdict) => assert.isTrue(verdict.ok, verdict.ok ? "" : verdict.message)
const bad = (verdict: Verdict, pattern?: RegExp) => {
  assert.isFalse(verdict.ok, "the model accepted an illegal answer")
  if (!verdict.ok && pattern !== undefined) assert.match(verdict.message, pattern)
}

/** A model with `a=1@1` (durable) and `b=2@2` (not durable) written one after the other. */
const twoWrites = () => {
  const m = new Model()
  ok(m.recover([]))
  const w1 = m.beginWrite(0, entries(["a", "1"]), true)
  ok(m.completeWrite(w1, 1, m.tick()))
  const w2 = m.beginWrite(1, entries(["b", "2"]), false)
  ok(m.completeWrite(w2, 2, m.tick()))
  return m
}

describe("Model: reads", () => {
  it("a read after an answered write must see it", () => {
    const m = twoWrites()
    const i = m.tick()
    ok(m.checkGet(hex("b"), { value: v("2"), seq: 2 }, "memory", i, m.tick()))
    const j = m.tick()
    bad(m.checkGet(hex("b"), undefined, "memory", j, m.tick()), /get b/)
  })

  it("a wrong seq is a divergence", () => {
    const m = twoWrites()
    const i = m.tick()
    bad(m.checkGet(hex("a"), { value: v("1"), seq: 7 }, "memory", i, m.tick()))
  })

  it("a read concurrent with a write may see it or not", () => {
    const m = new Model()
    ok(m.recover([]))
    const readStart = m.tick()
    const w = m.beginWrite(0, entries(["a", "1"]), false)
    ok(m.completeWrite(w, 1, m.tick()))
    const readEnd = m.tick()
    ok(m.checkGet(hex("a"), undefined, "memory", readStart, readEnd))
    ok(m.checkGet(hex("a"), { value: v("1"), seq: 1 }, "memory", readStart, readEnd))
  })

  it("a read cannot see a write that started after it answered", () => {
    const m = new Model()
    ok(m.recover([]))
    const i = m.tick()
    const r = m.tick()
    const w = m.beginWrite(0, entries(["a", "1"]), false)
    ok(m.completeWrite(w, 1, m.tick()))
    bad(m.checkGet(hex("a"), { value: v("1"), seq: 1 }, "memory", i, r))
  })

  it("a remote read may miss writes not known durable, but not durable ones", () => {
    const m = twoWrites()
    const i = m.tick()
    ok(m.checkGet(hex("b"), undefined, "remote", i, m.tick()))
    const j = m.tick()
    bad(m.checkGet(hex("a"), undefined, "remote", j, m.tick()))
  })

  it("a scan must be one snapshot: part of a batch is a divergence", () => {
    const m = new Model()
    ok(m.recover([]))
    const w = m.beginWrite(0, entries(["a", "1"], ["b", "1"]), false)
    ok(m.completeWrite(w, 1, m.tick()))
    const i = m.tick()
    ok(m.checkScan(everything, [row("a", "1", 1), row("b", "1", 1)], "memory", i, m.tick(), "scan"))
    const j = m.tick()
    bad(m.checkScan(everything, [row("a", "1", 1)], "memory", j, m.tick(), "scan"), /row 1/)
  })

  it("scans respect order and limit", () => {
    const m = new Model()
    ok(m.recover([]))
    const w = m.beginWrite(0, entries(["a", "1"], ["b", "1"], ["c", "1"]), false)
    ok(m.completeWrite(w, 1, m.tick()))
    const i = m.tick()
    const desc2 = { contains: () => true, order: "desc" as const, limit: 2 }
    ok(m.checkScan(desc2, [row("c", "1", 1), row("b", "1", 1)], "memory", i, m.tick(), "scan"))
    const j = m.tick()
    bad(m.checkScan(desc2, [row("a", "1", 1), row("b", "1", 1)], "memory", j, m.tick(), "scan"))
  })

  it("a seq below one answered before the write started is a divergence", () => {
    const m = twoWrites()
    const w = m.beginWrite(2, entries(["c", "3"]), false)
    bad(m.completeWrite(w, 2, m.tick()), /seq 2/)
  })
})

describe("Model: recovery", () => {
  it("everything durable must survive; what is not durable may be lost", () => {
    ok(twoWrites().recover([row("a", "1", 1)]))
    ok(twoWrites().recover([row("a", "1", 1), row("b", "2", 2)]))
    bad(twoWrites().recover([row("b", "2", 2)]), /a is missing/)
  })

  it("recovered contents must be a prefix: a later write without an earlier one is a divergence", () => {
    const m = new Model()
    ok(m.recover([]))
    const w1 = m.beginWrite(0, entries(["a", "1"]), false)
    ok(m.completeWrite(w1, 1, m.tick()))
    const w2 = m.beginWrite(1, entries(["b", "2"]), false)
    ok(m.completeWrite(w2, 2, m.tick()))
    bad(m.recover([row("b", "2", 2)]))
  })

  it("a partial batch is a divergence", () => {
    const m = new Model()
    ok(m.recover([]))
    const w = m.beginWrite(0, entries(["a", "1"], ["b", "1"]), false)
    ok(m.completeWrite(w, 1, m.tick()))
    bad(m.recover([row("a", "1", 1)]))
  })

  it("an uncertain write may appear whole or not at all, never in part", () => {
    const make = () => {
      const m = new Model()
      ok(m.recover([]))
      m.beginWrite(0, entries(["a", "1"], ["b", "1"]), true)
      m.abandonPending()
      return m
    }
    ok(make().recover([]))
    ok(make().recover([row("a", "1", 1), row("b", "1", 1)]))
    bad(make().recover([row("a", "1", 1)]), /partial batch/)
  })

  it("a value nobody wrote is a divergence", () => {
    bad(twoWrites().recover([row("a", "1", 1), row("z", "?", 3)]), /nobody/)
  })

  it("after recovery, new writes must get seqs above the recovered ones", () => {
    const m = twoWrites()
    ok(m.recover([row("a", "1", 1), row("b", "2", 2)]))
    const w = m.beginWrite(5, entries(["c", "3"]), false)
    bad(m.completeWrite(w, 2, m.tick()), /not above/)
  })

  it("a clean close makes everything durable", () => {
    const m = twoWrites()
    m.closedCleanly()
    bad(m.recover([row("a", "1", 1)]), /b is missing/)
  })
})

describe("the simulator against the fake Db", () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8]

  it.effect("a correct fake passes every seed, with faults", () =>
    Effect.gen(function*() {
      for (const seed of seeds) {
        const r = yield* runSimulation({ seed, ops: 400, profile: "standard", target: SimTargets.fake() })
        assert.isUndefined(r.divergence, r.divergence === undefined ? "" : `${r.divergence.message}\n${r.divergence.reproduce}`)
      }
    }), 120_000)

  const caught = (bugs: Parameters<typeof SimTargets.fake>[0], within: number) =>
    Effect.gen(function*() {
      for (let seed = 1; seed <= within; seed++) {
        const r = yield* runSimulation({ seed, ops: 400, profile: "standard", target: SimTargets.fake(bugs) })
        if (r.divergence !== undefined) return r.divergence
      }
      return assert.fail(`bug ${JSON.stringify(bugs)} not caught within ${within} seeds`)
    })

  it.effect("a fake that loses an acknowledged write is caught", () =>
    Effect.gen(function*() {
      const d = yield* caught({ forgetSeqOnReplay: 1 }, 5)
      assert.match(d.message, /missing|no legal recovery point/)
    }), 60_000)

  it.effect("a fake that replays part of a batch is caught", () =>
    Effect.gen(function*() {
      yield* caught({ partialBatchReplay: true }, 5)
    }), 60_000)

  it.effect("a fake whose memory reads miss undurable writes is caught", () =>
    Effect.gen(function*() {
      const d = yield* caught({ hideUndurable: true }, 5)
      assert.match(d.message, /get|scan/)
    }), 60_000)

  it.effect("the fake honours the engine's test switches, and the simulator catches them", () =>
    Effect.gen(function*() {
      for (const sw of ["ackBeforePut", "skipLastWalReplay"] as const) {
        let found = false
        for (let seed = 1; seed <= 5 && !found; seed++) {
          const r = yield* runSimulation({ seed, ops: 400, profile: "standard", target: SimTargets.fake(), switches: { [sw]: true } })
          found = r.divergence !== undefined
        }
        assert.isTrue(found, `${sw} not caught within 5 seeds`)
      }
    }), 60_000)
})
