/**
 * One W2 run of one implementation, in its own process: `node worker-w2.ts <implementation> <config JSON>`,
 * started by W2Main.ts with an IPC channel. In order, on a fresh database in the run's directory:
 *
 * 1. load: open with the embedded compactor (and the garbage collector, `--gc`), run the passes, flush the
 *    memtable, then ask the harness to say when the store has settled (it reads the manifests;
 *    W2Store.ts); with the collector on, hold the database open a while longer (`holdMs`) for it; close.
 *    Meanwhile, every `sampleMs`, the engine's own collector counters;
 * 2. steady reads: reopen without a compactor, gets then scans, checked against the model; close;
 * 3. full compaction (the database closed): start it, ask the harness to say when the store shows one
 *    sorted run and no L0 SST, stop it;
 * 4. compacted reads: as 2.
 *
 * Each step is timed here from outside the adapter; the harness adds what it read from the store.
 */
import { EngineUnavailable } from "./Engine.ts"
import { workerChannel } from "./Ipc.ts"
import { formatInt, formatMs } from "./Report.ts"
import { type KeyOf, W2_IMPLEMENTATIONS, type W2Db, type W2Engine } from "./W2Engine.ts"
import type {
  EngineGcStatus,
  FullCompactionResult,
  GcLoadResult,
  LoadResult,
  ReadResult,
  ReadResults,
  Until,
  W2HarnessMessage,
  W2RunResult,
  W2WorkerConfig,
  W2WorkerMessage
} from "./W2Protocol.ts"
import {
  isW2Value,
  type LoadPlan,
  makeKeyOf,
  type PassPlan,
  planLoad,
  randomKeys,
  READ_SEEDS,
  slicePass,
  WARMUP_SHARE,
  type W2Sizes
} from "./W2Workload.ts"

const channel = workerChannel<W2WorkerMessage, W2HarnessMessage>("worker-w2.ts runs under the harness: npm run bench -- --workload W2")
const send = channel.send

const log = (line: string) => send({ type: "progress", line })

/** Asks the harness to say when the store reaches `until`; the epoch ms at which it did, or undefined. */
const awaitStore = async (until: Until, sinceEpochMs: number, problems: Array<string>): Promise<number | undefined> => {
  const m = await channel.ask((id) => ({ type: "await", id, until, sinceEpochMs }))
  if (m.type === "settled") {
    await log(`store: ${m.l0} L0 SSTs, ${m.sortedRuns} sorted runs`)
    return m.atEpochMs
  }
  problems.push(m.message)
  await log(`PROBLEM: ${m.message}`)
  return undefined
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const rate = (ops: number, ms: number) => (ops / ms) * 1000

const timed = async <A>(f: () => Promise<A>): Promise<{ readonly result: A; readonly ms: number }> => {
  const t0 = performance.now()
  const result = await f()
  return { result, ms: performance.now() - t0 }
}

/** A paced load writes in slices of this many operations, sleeping after a slice that got ahead of the pace. */
const PACE_SLICE = 1000

/**
 * Writes `pass` as fast as the engine goes, or (`paceOpsPerSec`) no faster than the pace counted from
 * `startMs` with `doneBefore` operations already written.
 */
const loadPass = async (db: W2Db, pass: PassPlan, sizes: W2Sizes, keyOf: KeyOf, startMs: number, doneBefore: number) => {
  const pace = sizes.paceOpsPerSec
  if (pace === undefined) return db.load(pass, sizes.batch, keyOf)
  for (let from = 0; from < pass.keys.length; from += PACE_SLICE) {
    const to = Math.min(from + PACE_SLICE, pass.keys.length)
    await db.load(slicePass(pass, from, to), sizes.batch, keyOf)
    const ahead = startMs + ((doneBefore + to) / pace) * 1000 - performance.now()
    if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead))
  }
}

const runLoad = async (
  db: W2Db,
  plan: LoadPlan,
  sizes: W2Sizes,
  keyOf: KeyOf,
  holdMs: number,
  problems: Array<string>
): Promise<LoadResult> => {
  const startEpochMs = Date.now()
  const cpuAtStart = process.cpuUsage()
  const passMs: Array<number> = []
  const startMs = performance.now()
  let done = 0
  for (const pass of plan.passes) {
    const { ms } = await timed(() => loadPass(db, pass, sizes, keyOf, startMs, done))
    passMs.push(ms)
    const ops = pass.puts + pass.deletes
    done += ops
    await log(`load pass ${pass.pass}: ${formatInt(pass.puts)} puts, ${formatInt(pass.deletes)} deletes in ${seconds(ms)}: ${formatInt(rate(ops, ms))} ops/s`)
  }
  const writeMs = passMs.reduce((a, b) => a + b, 0)
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage()
  const { ms: flushMs } = await timed(() => db.flushMemtable())
  const flushedEpochMs = Date.now()
  await log(`memtable flush in ${formatMs(flushMs)}; waiting for the compactor to settle`)
  const settledEpochMs = await awaitStore("steady", flushedEpochMs, problems)
  const cpu = process.cpuUsage(cpuAtStart)
  const cpuMs = settledEpochMs === undefined ? undefined : (cpu.user + cpu.system) / 1000
  const waitMs = settledEpochMs === undefined ? undefined : Math.max(0, settledEpochMs - flushedEpochMs)
  const puts = plan.passes.reduce((a, p) => a + p.puts, 0)
  const deletes = plan.passes.reduce((a, p) => a + p.deletes, 0)
  const total = waitMs === undefined ? "-" : `${formatInt(rate(puts + deletes, writeMs + flushMs + waitMs))} ops/s`
  await log(`load: ${formatInt(rate(puts + deletes, writeMs))} ops/s writing; settled ${waitMs === undefined ? "never" : seconds(waitMs)} after the flush: ${total} with flush and wait`)
  const memoryAfterWrites = { rss, heapUsed, external, arrayBuffers }
  let holdEndEpochMs: number | undefined
  if (holdMs > 0 && settledEpochMs !== undefined) {
    await log(`holding the database open ${seconds(holdMs)} for the garbage collector`)
    await new Promise((resolve) => setTimeout(resolve, holdMs))
    holdEndEpochMs = Date.now()
  }
  return { puts, deletes, writeMs, passMs, flushMs, waitMs, memoryAfterWrites, cpuMs, startEpochMs, settledEpochMs, holdMs, holdEndEpochMs }
}

/** Reads the engine's collector counters every `sampleMs` until stopped; undefined when it reports none. */
const sampleGc = (db: W2Db, sampleMs: number) => {
  const samples: Array<{ readonly atEpochMs: number; readonly status: EngineGcStatus }> = []
  let busy = false
  const take = async () => {
    const atEpochMs = Date.now()
    const status = await db.gcStatus()
    if (status !== undefined) samples.push({ atEpochMs, status })
  }
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    take().catch(() => undefined).finally(() => (busy = false))
  }, sampleMs)
  let stopped: Promise<GcLoadResult | undefined> | undefined
  return {
    /** Stops sampling and reads the counters once more (once, however often it is called). */
    stop: (): Promise<GcLoadResult | undefined> => {
      clearInterval(timer)
      stopped ??= db.gcStatus().then((final) => (final === undefined ? undefined : { samples, final }))
      return stopped
    }
  }
}

const sameKey = (a: Uint8Array, b: Uint8Array) => {
  if (a.length !== b.length) return false
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false
  return true
}

const runGets = async (db: W2Db, keys: Uint32Array, model: Uint8Array, keyOf: KeyOf): Promise<ReadResult> => {
  let found = 0
  let wrong = 0
  const { ms } = await timed(() =>
    db.gets(keys, keyOf, (j, value) => {
      const i = keys[j]!
      const pass = model[i]!
      if (value !== undefined) found++
      if (value === undefined ? pass !== 0 : pass === 0 || !isW2Value(value, i, pass)) wrong++
    })
  )
  const problem = wrong === 0 ? undefined : `${formatInt(wrong)} of ${formatInt(keys.length)} gets disagreed with the model`
  return { ops: keys.length, ms, value: rate(keys.length, ms), found, ...(problem === undefined ? {} : { problem }) }
}

/** Rows each scan must return: `rows`, or fewer when fewer live keys follow its start. */
const expectedRows = (starts: Uint32Array, rows: number, model: Uint8Array): Uint32Array =>
  starts.map((start) => {
    let n = 0
    for (let i = start; i < model.length && n < rows; i++) if (model[i] !== 0) n++
    return n
  })

const runScans = async (db: W2Db, starts: Uint32Array, rows: number, model: Uint8Array, keyOf: KeyOf): Promise<ReadResult> => {
  const expected = expectedRows(starts, rows, model)
  const seen = new Uint32Array(starts.length)
  let wrong = 0
  let scan = -1
  let cursor = 0
  const { ms } = await timed(() =>
    db.scans(starts, rows, keyOf, (s, key, value) => {
      if (s !== scan) {
        scan = s
        cursor = starts[s]!
      }
      while (cursor < model.length && model[cursor] === 0) cursor++
      if (cursor >= model.length || !sameKey(key, keyOf(cursor)) || !isW2Value(value, cursor, model[cursor]!)) wrong++
      cursor++
      seen[s]!++
    })
  )
  const total = seen.reduce((a, b) => a + b, 0)
  const short = seen.filter((n, s) => n !== expected[s]).length
  const problem = wrong === 0 && short === 0
    ? undefined
    : `scans: ${formatInt(wrong)} rows disagreed with the model, ${formatInt(short)} scans returned the wrong number of rows`
  return { ops: total, ms, value: rate(total, ms), ...(problem === undefined ? {} : { problem }) }
}

/**
 * The shortest a timed read phase may last. A phase that ends sooner runs again with other random keys
 * (each round checked like the first) until the rounds add up to this long; the figure is all the rounds'
 * operations over their time. Shale's rounds take 0.1-0.8 s, where a pause of a few milliseconds moves a
 * rate by several percent; SlateDB's take 3-30 s (one round).
 */
const MIN_PHASE_MS = 2000

/** Round `round`'s key seed (round 0: the phase's own; the others apart from every seed in READ_SEEDS). */
const roundSeed = (seed: number, round: number): number => seed + 1000 * round

const forAtLeast = async (run: (round: number) => Promise<ReadResult>): Promise<ReadResult & { readonly rounds: number }> => {
  let { ops, ms, found, problem } = await run(0)
  let rounds = 1
  while (ms < MIN_PHASE_MS) {
    const next = await run(rounds++)
    ops += next.ops
    ms += next.ms
    if (found !== undefined) found += next.found ?? 0
    problem ??= next.problem
  }
  return { ops, ms, value: rate(ops, ms), rounds, ...(found === undefined ? {} : { found }), ...(problem === undefined ? {} : { problem }) }
}

const runReads = async (engine: W2Engine, label: string, plan: LoadPlan, sizes: W2Sizes, keyOf: KeyOf, problems: Array<string>): Promise<ReadResults> => {
  const { result: db, ms: openMs } = await timed(() => engine.open("read"))
  try {
    // Warm-up (JIT, index and filter blocks): other keys, not timed; what it finds is checked all the same.
    const warmup = (count: number) => Math.max(1, Math.round(count * WARMUP_SHARE))
    const warmGets = await runGets(db, randomKeys(sizes.n, warmup(sizes.gets), READ_SEEDS.warmupGets), plan.model, keyOf)
    const warmScans = await runScans(db, randomKeys(sizes.n, warmup(sizes.scans), READ_SEEDS.warmupScans), sizes.scanRows, plan.model, keyOf)
    for (const p of [warmGets.problem, warmScans.problem]) if (p !== undefined) problems.push(`${label} warm-up: ${p}`)
    const gets = await forAtLeast((round) => runGets(db, randomKeys(sizes.n, sizes.gets, roundSeed(READ_SEEDS.gets, round)), plan.model, keyOf))
    await log(`${label} get: ${formatInt(gets.ops)} gets (${formatInt(gets.found ?? 0)} found) in ${seconds(gets.ms)}: ${formatInt(gets.value)} ops/s${gets.problem === undefined ? "" : `  PROBLEM: ${gets.problem}`}`)
    const scans = await forAtLeast((round) =>
      runScans(db, randomKeys(sizes.n, sizes.scans, roundSeed(READ_SEEDS.scans, round)), sizes.scanRows, plan.model, keyOf)
    )
    await log(`${label} scan: ${formatInt(scans.rounds * sizes.scans)} scans, ${formatInt(scans.ops)} rows in ${seconds(scans.ms)}: ${formatInt(scans.value)} rows/s${scans.problem === undefined ? "" : `  PROBLEM: ${scans.problem}`}`)
    for (const p of [gets.problem, scans.problem]) if (p !== undefined) problems.push(`${label}: ${p}`)
    return { gets, scans, openMs }
  } finally {
    await db.close()
  }
}

const runFullCompaction = async (engine: W2Engine, problems: Array<string>): Promise<FullCompactionResult> => {
  const startEpochMs = Date.now()
  const full = await engine.startFullCompaction()
  const doneEpochMs = await awaitStore("full", startEpochMs, problems)
  const { ms: finishMs } = await timed(() => full.finish())
  const ms = doneEpochMs === undefined ? undefined : doneEpochMs - startEpochMs
  await log(`full compaction (${full.method}): ${ms === undefined ? "did not finish" : seconds(ms)}; stopped in ${formatMs(finishMs)}`)
  return { method: full.method, ms, startEpochMs, doneEpochMs, finishMs }
}

const main = async (): Promise<void> => {
  const [name, configJson] = process.argv.slice(2)
  if (name === undefined || configJson === undefined) throw new Error("usage: worker-w2.ts <implementation> <config JSON>")
  const config = JSON.parse(configJson) as W2WorkerConfig
  const implementation = W2_IMPLEMENTATIONS.find((i) => i.name === name)
  if (implementation === undefined) throw new Error(`unknown implementation ${name}`)
  const { sizes } = config
  const keyOf = makeKeyOf(sizes.n)
  const plan = planLoad(sizes)
  const baselineRssBytes = process.memoryUsage().rss
  const problems: Array<string> = []

  let engine: W2Engine
  let opened: { readonly result: W2Db; readonly ms: number }
  try {
    engine = await implementation.make(config.dir, config.gc)
    opened = await timed(() => engine.open("load"))
  } catch (e) {
    if (e instanceof EngineUnavailable) return send({ type: "unavailable", message: e.message })
    throw e
  }
  await log(`opened in ${formatMs(opened.ms)}`)
  let load: LoadResult
  let gc: GcLoadResult | undefined
  const gcSampler = sampleGc(opened.result, config.sampleMs)
  try {
    load = await runLoad(opened.result, plan, sizes, keyOf, config.holdMs, problems)
    gc = await gcSampler.stop()
    if (gc !== undefined) {
      const d = gc.final.deleted
      await log(`garbage collector over the load and the hold: ${gc.final.passes ?? "?"} passes, deleted ${d.manifests} manifests, ${d.wal} WAL SSTs, ${d.compacted} compacted SSTs, ${d.compactions} compactions files`)
    }
  } finally {
    await gcSampler.stop().catch(() => undefined)
    await opened.result.close()
  }
  const steady = await runReads(engine, "steady", plan, sizes, keyOf, problems)
  const full = load.settledEpochMs === undefined ? undefined : await runFullCompaction(engine, problems)
  const compacted = full?.doneEpochMs === undefined ? undefined : await runReads(engine, "compacted", plan, sizes, keyOf, problems)
  const result: W2RunResult = {
    openMs: opened.ms,
    load,
    gc,
    steady,
    full,
    compacted,
    problems,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    baselineRssBytes
  }
  await send({ type: "done", result })
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    await send({ type: "failed", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }).catch(() => console.error(e))
    process.exit(1)
  }
)
