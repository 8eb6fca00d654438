/**
 * The reader workload (`npm run bench -- --workload readers`, docs/design/benchmark.md §7): how far behind
 * its writer a `DbReader` is, and how fast it reads, for one engine and one manifest poll interval, on a
 * fresh local directory, writer and reader in one process.
 *
 * 1. Load: N keys (W1's 16-byte keys, 100-byte values) with non-durable puts, then a memtable flush (L0).
 * 2. Open the reader with `manifestPollIntervalMs = pollMs`; wait until it sees the last loaded key.
 * 3. Lag: durable puts of new keys at a steady `rate` for max(`minLagMs`, `lagPolls` × pollMs), each
 *    issued on schedule without waiting for the previous one; a put's acknowledgement time is when its
 *    promise resolved. A checker asks the reader for the next key not yet seen, every 2 ms (and at once again
 *    after a hit); its visibility time is when the reader first returned it. Lag = visibility − ack (below 0:
 *    the reader showed it before the writer's acknowledgement reached the caller).
 * 4. Reads on the same data (N + the lag keys), with no writes going on: `scans` rounds, each of `gets`
 *    point reads (W1's key order) through the writer's own `Db`, the same through the reader, then a full
 *    scan through each (the reader first in every other round); the median of each figure.
 */
import { type ReaderHandle, type ReadersEngine } from "./ReadersEngine.ts"
import { getIndex, KEY_BYTES, makeKeys, valueOf } from "./Workload.ts"

export interface ReadersSizes {
  readonly n: number
  readonly gets: number
  /** Rounds of reads (step 4). */
  readonly scans: number
  /** Durable puts per second in the lag phase. */
  readonly rate: number
  readonly pollsMs: ReadonlyArray<number>
  readonly minLagMs: number
  readonly lagPolls: number
}

export const READERS_FULL: ReadersSizes = { n: 20_000, gets: 20_000, scans: 3, rate: 50, pollsMs: [100, 1000, 10_000], minLagMs: 10_000, lagPolls: 3 }
export const READERS_QUICK: ReadersSizes = { n: 5_000, gets: 5_000, scans: 3, rate: 50, pollsMs: [100, 1000], minLagMs: 4_000, lagPolls: 3 }

export interface LagFigures {
  readonly puts: number
  /** Puts the reader showed before the phase ended (+ its grace period). */
  readonly visible: number
  /** Puts it showed before their acknowledgement reached the writer's caller. */
  readonly beforeAck: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly meanMs: number
}

export interface ReadersRunResult {
  readonly pollMs: number
  readonly openReaderMs: number
  readonly lag: LagFigures
  /** ops/s */
  readonly writerGets: number
  readonly readerGets: number
  /** rows/s */
  readonly writerScan: number
  readonly readerScan: number
  readonly rows: number
  readonly problem?: string
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const encoder = new TextEncoder()

/** The i-th key of the lag phase: 16 bytes, after every loaded key. */
export const lagKey = (i: number): Uint8Array => encoder.encode(`lag${String(i).padStart(KEY_BYTES - 3, "0")}`)

const percentile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

/** Polls `get(key)` every 2 ms until it returns a value; milliseconds taken, or undefined after `timeoutMs`. */
const waitVisible = async (get: ReaderHandle["get"], key: Uint8Array, timeoutMs: number): Promise<number | undefined> => {
  const t0 = performance.now()
  while (performance.now() - t0 < timeoutMs) {
    if ((await get(key)) !== undefined) return performance.now() - t0
    await sleep(2)
  }
  return undefined
}

/** Step 3 of the module comment. */
export const lagPhase = async (engine: ReadersEngine, reader: ReaderHandle, sizes: ReadersSizes, pollMs: number): Promise<LagFigures> => {
  const durationMs = Math.max(sizes.minLagMs, sizes.lagPolls * pollMs)
  const count = Math.round((sizes.rate * durationMs) / 1000)
  const ackAt: Array<number | undefined> = new Array(count)
  const visibleAt: Array<number | undefined> = new Array(count)
  let deadline = Number.POSITIVE_INFINITY
  const checker = (async () => {
    let next = 0
    while (next < count && performance.now() < deadline) {
      if ((await reader.get(lagKey(next))) !== undefined) visibleAt[next++] = performance.now()
      else await sleep(2)
    }
  })()
  const t0 = performance.now()
  const puts: Array<Promise<void>> = []
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / sizes.rate
    if (due > performance.now()) await sleep(due - performance.now())
    puts.push(engine.putDurable(lagKey(i), valueOf(i)).then(() => void (ackAt[i] = performance.now())))
  }
  await Promise.all(puts)
  deadline = performance.now() + 3 * pollMs + 5000
  await checker
  const lags: Array<number> = []
  for (let i = 0; i < count; i++) {
    const a = ackAt[i]
    const v = visibleAt[i]
    if (a !== undefined && v !== undefined) lags.push(v - a)
  }
  const sorted = lags.sort((a, b) => a - b)
  return {
    puts: count,
    visible: sorted.length,
    beforeAck: sorted.filter((x) => x < 0).length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    meanMs: sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length)
  }
}

interface Rates {
  readonly rate: number
  readonly missing: number
}

interface Scanned {
  readonly rate: number
  readonly rows: number
}

const getsPerSecond = async (get: ReaderHandle["get"], keys: ReadonlyArray<Uint8Array>, count: number): Promise<Rates> => {
  let missing = 0
  const t0 = performance.now()
  for (let i = 0; i < count; i++) if ((await get(keys[getIndex(i, keys.length)]!)) === undefined) missing++
  return { rate: (count / (performance.now() - t0)) * 1000, missing }
}

const scanRate = async (scanAll: () => Promise<number>): Promise<Scanned> => {
  const t0 = performance.now()
  const rows = await scanAll()
  return { rate: (rows / (performance.now() - t0)) * 1000, rows }
}

/** Runs `a` and `b`, `a` first when `aFirst`; their results as (a, b). */
const inTurn = async <A>(aFirst: boolean, a: () => Promise<A>, b: () => Promise<A>): Promise<[A, A]> => {
  if (aFirst) {
    const x = await a()
    return [x, await b()]
  }
  const y = await b()
  return [await a(), y]
}

const median = (xs: ReadonlyArray<number>): number => percentile([...xs].sort((a, b) => a - b), 0.5)

/**
 * Step 4: after a warm-up, `scans` rounds of (writer gets, reader gets, writer scan, reader scan), taking
 * turns so that a slow spell of a shared machine hits both, the reader first in every other round; the
 * median of each.
 */
const readRates = async (engine: ReadersEngine, reader: ReaderHandle, keys: ReadonlyArray<Uint8Array>, sizes: ReadersSizes) => {
  await getsPerSecond(engine.get, keys, Math.min(1000, sizes.gets))
  await getsPerSecond(reader.get, keys, Math.min(1000, sizes.gets))
  const rates = { writerGets: [] as Array<number>, readerGets: [] as Array<number>, writerScan: [] as Array<number>, readerScan: [] as Array<number> }
  const problems = new Set<string>()
  let rows = 0
  for (let round = 0; round < sizes.scans; round++) {
    // Who goes first alternates: the garbage one measurement leaves is collected during the next.
    const first = round % 2 === 0
    const [w, r] = await inTurn(first, () => getsPerSecond(engine.get, keys, sizes.gets), () => getsPerSecond(reader.get, keys, sizes.gets))
    const [ws, rs] = await inTurn(first, () => scanRate(engine.scanAll), () => scanRate(reader.scanAll))
    rates.writerGets.push(w.rate)
    rates.readerGets.push(r.rate)
    rates.writerScan.push(ws.rate)
    rates.readerScan.push(rs.rate)
    rows = rs.rows
    if (w.missing + r.missing > 0) problems.add(`gets missed ${w.missing} (writer), ${r.missing} (reader)`)
    if (ws.rows !== rs.rows) problems.add(`scans returned ${ws.rows} (writer) and ${rs.rows} (reader) rows`)
  }
  return {
    writerGets: median(rates.writerGets),
    readerGets: median(rates.readerGets),
    writerScan: median(rates.writerScan),
    readerScan: median(rates.readerScan),
    rows,
    problems: [...problems]
  }
}

/** Steps 1-4 of the module comment on `engine` (a fresh database); closes the reader, not the engine. */
export const runReaders = async (engine: ReadersEngine, sizes: ReadersSizes, pollMs: number): Promise<ReadersRunResult> => {
  const keys = makeKeys(sizes.n)
  for (let i = 0; i < sizes.n; i++) await engine.putNoDurable(keys[i]!, valueOf(i))
  await engine.flushMemtable()
  const t0 = performance.now()
  const reader = await engine.openReader(pollMs)
  try {
    const openReaderMs = performance.now() - t0
    const caughtUp = await waitVisible(reader.get, keys[sizes.n - 1]!, 3 * pollMs + 10_000)
    const lag = await lagPhase(engine, reader, sizes, pollMs)
    const problems: Array<string> = []
    if (caughtUp === undefined) problems.push("the reader never showed the loaded keys")
    if (lag.visible < lag.puts) problems.push(`the reader showed ${lag.visible} of ${lag.puts} lag puts`)
    const reads = await readRates(engine, reader, keys, sizes)
    problems.push(...reads.problems)
    return {
      pollMs,
      openReaderMs,
      lag,
      writerGets: reads.writerGets,
      readerGets: reads.readerGets,
      writerScan: reads.writerScan,
      readerScan: reads.readerScan,
      rows: reads.rows,
      ...(problems.length === 0 ? {} : { problem: problems.join("; ") })
    }
  } finally {
    await reader.close()
  }
}
