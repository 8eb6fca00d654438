/**
 * One W3 run of one implementation, in its own process: `node worker-w3.ts <implementation> <config JSON>`,
 * started by W3Main.ts with an IPC channel. In order, on a fresh database:
 *
 * 1. load: open with the embedded compactor, N keys in key order, flush the memtable, close;
 * 2. compact: every L0 SST and sorted run into one sorted run (engine's own way, W3Engine.ts);
 * 3. reads: reopen without a compactor (timed apart), cold gets (the first reads of this opening: empty
 *    caches), the same gets again (warm), scans of `scanRows` rows; every value checked; close;
 * 4. durable writes, per flush mode: reopen in that mode, sequential durable puts, then `writers`
 *    concurrent writers; close.
 *
 * Every phase is timed here, each operation on its own (p50, p99), and the store requests it caused are
 * the difference of the counts before and after it: the proxy's (asked of the harness) and the engine's own.
 */
import { EngineUnavailable } from "./Engine.ts"
import { workerChannel } from "./Ipc.ts"
import { formatInt, formatMs } from "./Report.ts"
import type { RequestCounts } from "./engines/LatencyStore.ts"
import { type KeyOf, W3_IMPLEMENTATIONS, type W3Db, type W3Engine } from "./W3Engine.ts"
import type { W3HarnessMessage, W3PhaseResult, W3RunResult, W3WorkerConfig, W3WorkerMessage } from "./W3Protocol.ts"
import type { ProxyCounts } from "./W3Proxy.ts"
import { FLUSH_MODES, type FlushMode, quantile, readPlan, type W3Phase, type W3Sizes } from "./W3Workload.ts"
import { isW2Value, makeKeyOf, w2Value } from "./W2Workload.ts"

const channel = workerChannel<W3WorkerMessage, W3HarnessMessage>("worker-w3.ts runs under the harness: npm run bench -- --workload W3")
const log = (line: string) => channel.send({ type: "progress", line })

const serverCounts = async (): Promise<ProxyCounts | undefined> => {
  const m = await channel.ask((id) => ({ type: "counts", id }))
  return m.type === "counts" ? m.counts : undefined
}

const minus = <C extends RequestCounts>(after: C | undefined, before: C | undefined): C | undefined => {
  if (after === undefined || before === undefined) return undefined
  const out = { ...after }
  for (const k of Object.keys(out) as Array<keyof C>) (out[k] as number) = (after[k] as number) - (before[k] as number)
  return out
}

/** What a phase's body reports: operations, each one's latency, rows scanned, disagreements. */
interface Measured {
  readonly ops: number
  readonly latencies?: ReadonlyArray<number>
  readonly rows?: number
  readonly wrong?: number
}

const rate = (r: W3PhaseResult) => {
  const x = (r.ops / r.ms) * 1000
  return x >= 100 ? formatInt(x) : x.toPrecision(3)
}

const describe = (r: W3PhaseResult) => {
  const counts = r.server ?? r.own
  const requests = counts === undefined ? "" : `, ${formatInt(counts.get + counts.getRange + counts.head + counts.put + counts.list + counts.delete)} requests`
  const latency = r.p50Ms === undefined ? "" : `, p50 ${formatMs(r.p50Ms)}, p99 ${formatMs(r.p99Ms ?? 0)}`
  const rows = r.rows === undefined ? "" : ` (${formatInt(r.rows)} rows)`
  return `${r.phase} ${formatInt(r.ops)} ops${rows} in ${(r.ms / 1000).toFixed(1)} s: ${rate(r)} ops/s${latency}${requests}${r.problem === undefined ? "" : `  PROBLEM: ${r.problem}`}`
}

const makeRunner = (engine: W3Engine, phases: Array<W3PhaseResult>, problems: Array<string>) =>
  async (phase: W3Phase, body: () => Promise<Measured>): Promise<void> => {
    const [server0, own0] = [await serverCounts(), engine.ownCounts()]
    const t0 = performance.now()
    const m = await body()
    const ms = performance.now() - t0
    const [server1, own1] = [await serverCounts(), engine.ownCounts()]
    const lat = m.latencies ?? []
    const problem = (m.wrong ?? 0) > 0 ? `${formatInt(m.wrong ?? 0)} reads disagreed with what was loaded` : undefined
    const result: W3PhaseResult = {
      phase,
      ops: m.ops,
      ms,
      ...(m.rows === undefined ? {} : { rows: m.rows }),
      ...(lat.length === 0 ? {} : { p50Ms: quantile(lat, 0.5)!, p99Ms: quantile(lat, 0.99)!, meanMs: lat.reduce((a, b) => a + b, 0) / lat.length }),
      ...(server0 === undefined ? {} : { server: minus(server1, server0)! }),
      ...(own0 === undefined ? {} : { own: minus(own1, own0)! }),
      ...(problem === undefined ? {} : { problem })
    }
    if (problem !== undefined) problems.push(`${phase}: ${problem}`)
    phases.push(result)
    await log(describe(result))
  }

const timeEach = async (count: number, op: (j: number) => Promise<void>): Promise<ReadonlyArray<number>> => {
  const latencies: Array<number> = []
  for (let j = 0; j < count; j++) {
    const t0 = performance.now()
    await op(j)
    latencies.push(performance.now() - t0)
  }
  return latencies
}

const sameKey = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, k) => x === b[k])

type Run = ReturnType<typeof makeRunner>

const reads = async (run: Run, db: W3Db, sizes: W3Sizes, keyOf: KeyOf) => {
  const plan = readPlan(sizes)
  let wrong = 0
  const get = async (j: number) => {
    const i = plan.gets[j]!
    const v = await db.get(keyOf(i))
    if (v === undefined || !isW2Value(v, i, 1)) wrong++
  }
  await run("get_cold", async () => ({ ops: sizes.gets, latencies: await timeEach(sizes.gets, get), wrong }))
  wrong = 0
  await run("get_warm", async () => ({ ops: sizes.gets, latencies: await timeEach(sizes.gets, get), wrong }))
  // Without read-ahead first, on other starts: neither phase finds the other's blocks in a cache.
  if (db.scanWithoutReadAhead !== undefined) {
    const slow = db.scanWithoutReadAhead
    await run("scan_no_read_ahead", () => scans(plan.scanStartsWithoutReadAhead, sizes, keyOf, slow))
  }
  await run("scan", () => scans(plan.scanStarts, sizes, keyOf, db.scan))
}

/** Scans of `sizes.scanRows` rows from each of `starts`, every row checked. */
const scans = async (starts: Uint32Array, sizes: W3Sizes, keyOf: KeyOf, scan: W3Db["scan"]) => {
  let wrong = 0
  let rows = 0
  const one = async (s: number) => {
    const start = starts[s]!
    let next = start
    await scan(keyOf(start), sizes.scanRows, (key, value) => {
      if (!sameKey(key, keyOf(next)) || !isW2Value(value, next, 1)) wrong++
      next++
      rows++
    })
    if (next - start !== Math.min(sizes.scanRows, sizes.n - start)) wrong++
  }
  const latencies = await timeEach(starts.length, one)
  return { ops: starts.length, latencies, rows, wrong }
}

const durableWrites = async (run: Run, engine: W3Engine, flush: FlushMode, sizes: W3Sizes, keyOf: KeyOf, offset: number) => {
  const db = await engine.open("read", flush)
  try {
    const put = (i: number) => db.put(keyOf(i % sizes.n), w2Value(i % sizes.n, 2))
    await run(`put_seq_${flush}`, async () => ({ ops: sizes.durableSeq, latencies: await timeEach(sizes.durableSeq, (j) => put(offset + j)) }))
    const base = offset + sizes.durableSeq
    await run(`put_c64_${flush}`, async () => {
      const all = await Promise.all(
        Array.from({ length: sizes.writers }, (_, w) => timeEach(sizes.perWriter, (j) => put(base + w * sizes.perWriter + j)))
      )
      return { ops: sizes.writers * sizes.perWriter, latencies: all.flat() }
    })
  } finally {
    await db.close()
  }
}

const runAll = async (engine: W3Engine, sizes: W3Sizes): Promise<W3RunResult> => {
  const keyOf = makeKeyOf(sizes.n)
  const phases: Array<W3PhaseResult> = []
  const problems: Array<string> = []
  const run = makeRunner(engine, phases, problems)
  await run("load", async () => {
    const db = await engine.open("load", "interval")
    try {
      await db.load(sizes.n, sizes.batch, keyOf)
    } finally {
      await db.close()
    }
    return { ops: sizes.n }
  })
  let compaction = ""
  await run("compact", async () => {
    compaction = await engine.compactFully(async () => {
      const m = await channel.ask((id) => ({ type: "await", id }))
      if (m.type === "gave-up") throw new Error(`the full compaction did not finish: ${m.message}`)
    })
    return { ops: sizes.n }
  })
  await log(`full compaction: ${compaction}`)
  const t0 = performance.now()
  const db = await engine.open("read", "interval")
  const readOpenMs = performance.now() - t0
  await log(`reopened for the reads in ${formatMs(readOpenMs)}`)
  try {
    await reads(run, db, sizes, keyOf)
  } finally {
    await db.close()
  }
  for (const [k, flush] of FLUSH_MODES.entries()) {
    await durableWrites(run, engine, flush, sizes, keyOf, k * (sizes.durableSeq + sizes.writers * sizes.perWriter))
  }
  return { phases, compaction, readOpenMs, problems, peakRssBytes: process.resourceUsage().maxRSS * 1024 }
}

const main = async (): Promise<void> => {
  const [name, configJson] = process.argv.slice(2)
  if (name === undefined || configJson === undefined) throw new Error("usage: worker-w3.ts <implementation> <config JSON>")
  const config = JSON.parse(configJson) as W3WorkerConfig
  const implementation = W3_IMPLEMENTATIONS.find((i) => i.name === name)
  if (implementation === undefined) throw new Error(`unknown implementation ${name}`)
  let engine: W3Engine
  try {
    engine = await implementation.make(config.location, config.shaleSettings)
  } catch (e) {
    if (e instanceof EngineUnavailable) return channel.send({ type: "unavailable", message: e.message })
    throw e
  }
  try {
    await channel.send({ type: "done", result: await runAll(engine, config.sizes) })
  } finally {
    await engine.dispose()
  }
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    await channel.send({ type: "failed", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }).catch(() => console.error(e))
    process.exit(1)
  }
)
