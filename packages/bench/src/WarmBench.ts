/**
 * Hot reads right after a compaction switch, block cache warming on vs off (docs/design/benchmark.md §6,
 * "W3 warm"): `node --conditions=@shale/source packages/bench/src/WarmBench.ts [--keys N] [--hot H]
 * [--reads R] [--rounds K] [--location s3://bucket/prefix]`.
 *
 * One round per mode, the modes alternating (on, off, on, off, ...), each on a fresh in-memory store
 * behind `withRequestCounts` (engines/LatencyStore.ts) with W3's S3-like latency (20 ms to the first byte,
 * 100 MB/s) on for the measured steps:
 * 1. load (no latency): 4 L0 SSTs of N keys (W3's keys and 100-byte values), the writer then closed;
 * 2. reopen the writer (no compactor; latency on) and read the H hot keys (random keys) once: their blocks
 *    are in the block cache;
 * 3. a standalone compactor (`Compactor.layer`, its own store wrapper, no latency: it runs elsewhere)
 *    compacts the 4 L0 SSTs into one sorted run;
 * 4. the switch: one put and a memtable flush, whose manifest write meets the compactor's version and
 *    merges it (timed: with warming on, it includes the warming, up to `compactionWarmupMs`);
 * With `--location`, the store is that one (`Shale.stores.resolve`, e.g. radosgw with the S3 tests'
 * variables; a fresh prefix per round under it), counted the same way, with no latency added.
 * 5. R point reads of hot keys, the first after the switch: each hot key once in a random order, then (if
 *    R > H) random hot keys: p50 / p99 and store GETs per 1,000 reads.
 */
import { Compactor, ObjectStore as Store, type Settings, Shale } from "@shale/core"
import { Layer, ManagedRuntime } from "effect"
import { emptyCounts, type LatencyProfile, withRequestCounts } from "./engines/LatencyStore.ts"
import { W3_LATENCY } from "./W3Workload.ts"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const KEYS = arg("keys", 50_000)
const HOT = arg("hot", 1000)
const READS = arg("reads", HOT)
const ROUNDS = arg("rounds", 3)
const LOCATION = process.argv.includes("--location") ? process.argv[process.argv.indexOf("--location") + 1] : undefined
let roundNo = 0

const enc = new TextEncoder()
const key = (k: number) => enc.encode(`key${String(k).padStart(13, "0")}`)
const value = (batch: number, k: number) => enc.encode(`${batch}-${k}-`.padEnd(100, "x"))
const ND = { awaitDurable: false } as const
const PATH = "bench"

/** A deterministic PRNG (mulberry32), so both modes read the same keys. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

interface Result {
  readonly mode: "on" | "off"
  readonly switchMs: number
  readonly p50: number
  readonly p99: number
  readonly getsPer1000: number
  readonly hotLoadGets: number
  /** Requests during the switch (the flush's own are HEAD-free: its L0 SST is adopted). */
  readonly switchGets: number
}

const round = async (warm: boolean): Promise<Result> => {
  roundNo++
  const memory = LOCATION === undefined ? Store.memory() : Shale.stores.resolve(`${LOCATION}/warm-${Date.now()}-${roundNo}`)
  const counts = emptyCounts()
  let latency: LatencyProfile | undefined
  const store = withRequestCounts(memory, counts, () => latency)
  const settings = (extra: Settings.SettingsInput): Settings.SettingsInput => ({
    compactor: null,
    compactionWarmupMs: warm ? 500 : null,
    ...extra
  })
  // 1. load
  const loader = await Shale.open(PATH, { store, settings: settings({}) })
  for (let batch = 1; batch <= 4; batch++) {
    for (let k = 0; k < KEYS; k += 100) {
      const b = new Shale.WriteBatch()
      for (let j = k; j < Math.min(KEYS, k + 100); j++) b.put(key(j), value(batch, j))
      await loader.write(b, ND)
    }
    await loader.flush({ type: "memtable" })
  }
  await loader.close()
  // 2. hot reads
  const random = rng(42)
  const hot = Array.from({ length: HOT }, () => Math.floor(random() * KEYS))
  const db = await Shale.open(PATH, { store, settings: settings({}) })
  latency = LOCATION === undefined ? W3_LATENCY : undefined
  const before = counts.get + counts.getRange
  for (const k of hot) await db.get(key(k))
  const hotLoadGets = counts.get + counts.getRange - before
  // 3. compaction elsewhere
  const compactorCounts = emptyCounts()
  const runtime = ManagedRuntime.make(
    Compactor.Compactor.layer({ path: PATH, settings: { compactor: {} } }).pipe(Layer.provide(withRequestCounts(memory, compactorCounts)))
  )
  try {
    await runtime.runPromise(Compactor.Compactor.use((c) => c.awaitIdle))
  } finally {
    await runtime.dispose()
  }
  // 4. the switch
  const t0 = performance.now()
  const switchGets0 = counts.get + counts.getRange + counts.head
  await db.put(key(0), value(4, 0), ND)
  await db.flush({ type: "memtable" })
  const switchMs = performance.now() - t0
  const switchGets = counts.get + counts.getRange + counts.head - switchGets0
  const status = await db.status()
  if (status.sortedRuns !== 1) throw new Error(`expected the writer to read one sorted run, got ${status.sortedRuns}`)
  // 5. hot reads right after
  const times: Array<number> = []
  const gets0 = counts.get + counts.getRange
  const order = [...hot]
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  for (let i = 0; i < READS; i++) {
    const k = i < order.length ? order[i]! : hot[Math.floor(random() * hot.length)]!
    const t = performance.now()
    const v = await db.get(key(k))
    times.push(performance.now() - t)
    if (v === undefined || new TextDecoder().decode(v) !== new TextDecoder().decode(value(4, k))) throw new Error(`wrong value for ${k}`)
  }
  const gets = counts.get + counts.getRange - gets0
  latency = undefined
  await db.close()
  times.sort((a, b) => a - b)
  return { mode: warm ? "on" : "off", switchMs, p50: percentile(times, 0.5), p99: percentile(times, 0.99), getsPer1000: (gets * 1000) / READS, hotLoadGets, switchGets }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const results: Array<Result> = []
  for (let r = 0; r < ROUNDS; r++) {
    for (const warm of [true, false]) {
      const res = await round(warm)
      results.push(res)
      process.stdout.write(
        `round ${r + 1} warming ${res.mode.padEnd(3)}: switch ${res.switchMs.toFixed(0)} ms (${res.switchGets} reads), hot reads after: p50 ${res.p50.toFixed(2)} ms, p99 ${res.p99.toFixed(2)} ms, ${res.getsPer1000.toFixed(0)} GETs / 1,000 reads (hot set loaded with ${res.hotLoadGets} GETs)\n`
      )
    }
  }
  process.stdout.write(`\n${KEYS} keys × 4 L0 SSTs, ${HOT} hot keys, ${READS} reads after the switch, ${ROUNDS} rounds each, medians:\n`)
  process.stdout.write(`| warming | switch (ms) | reads during the switch | p50 (ms) | p99 (ms) | GETs / 1,000 reads |\n|---|---|---|---|---|---|\n`)
  for (const mode of ["on", "off"] as const) {
    const rs = results.filter((r) => r.mode === mode)
    process.stdout.write(
      `| ${mode} | ${median(rs.map((r) => r.switchMs)).toFixed(0)} | ${median(rs.map((r) => r.switchGets))} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${median(rs.map((r) => r.getsPer1000)).toFixed(0)} |\n`
    )
  }
}

await main()
