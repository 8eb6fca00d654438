/**
 * Workload W3 (docs/design/benchmark.md §6): reads and durable writes on object storage.
 *
 * - Data: N keys (W1's and W2's 16-byte keys, `makeKeyOf`), 100-byte values (`w2Value(i, 1)`: bytes 0-3
 *   the key's index, so every read is checked), loaded in key order in write batches of `batch` that do
 *   not await durability, flushed, then fully compacted into one sorted run.
 * - Reads, on the database reopened without a compactor: `gets` point reads of random keys right after
 *   opening (cold: empty caches), the same keys again (warm), then `scans` scans of `scanRows` rows from
 *   random keys (at most N - scanRows, so every scan returns `scanRows` rows).
 * - Durable writes, per flush mode (interval, eager): `durableSeq` puts one after another, then
 *   `writers` writers each putting `perWriter` keys one after another (64 × ... in flight).
 */
import { randomKeys } from "./W2Workload.ts"

export interface W3Sizes {
  readonly n: number
  /** Operations per write batch of the load. */
  readonly batch: number
  readonly gets: number
  readonly scans: number
  readonly scanRows: number
  /** Durable puts one after another, per flush mode. */
  readonly durableSeq: number
  /** Concurrent durable writers, and puts each of them makes one after another, per flush mode. */
  readonly writers: number
  readonly perWriter: number
}

export const W3_FULL: W3Sizes = {
  n: 1_000_000,
  batch: 100,
  gets: 5_000,
  scans: 20,
  scanRows: 10_000,
  durableSeq: 100,
  writers: 64,
  perWriter: 50
}
export const W3_QUICK: W3Sizes = { ...W3_FULL, n: 100_000, gets: 500, scans: 3, durableSeq: 40, perWriter: 20 }

/** The injected latency of `shale-latency` (engines/LatencyStore.ts `withRequestCounts`). */
export const W3_LATENCY = { firstByteMs: 20, bytesPerSecond: 100e6 } as const

/** How a durable put is made durable: Shale's `durableFlush`; SlateDB's nearest is a 1 ms `flush_interval`. */
export type FlushMode = "interval" | "eager"
export const FLUSH_MODES: ReadonlyArray<FlushMode> = ["interval", "eager"]

export const W3_PHASES = [
  "load",
  "compact",
  "get_cold",
  "get_warm",
  "scan",
  "scan_no_read_ahead",
  "put_seq_interval",
  "put_c64_interval",
  "put_seq_eager",
  "put_c64_eager"
] as const
export type W3Phase = (typeof W3_PHASES)[number]

export const W3_SEEDS = { gets: 13, scans: 17, puts: 19, scansWithoutReadAhead: 23 } as const

/** The keys of the gets and the starts of the scans. */
export const readPlan = (s: W3Sizes) => ({
  gets: randomKeys(s.n, s.gets, W3_SEEDS.gets),
  scanStarts: randomKeys(Math.max(1, s.n - s.scanRows), s.scans, W3_SEEDS.scans),
  /** Other starts, for the scans without read-ahead (run first: neither finds the other's blocks cached). */
  scanStartsWithoutReadAhead: randomKeys(Math.max(1, s.n - s.scanRows), s.scans, W3_SEEDS.scansWithoutReadAhead)
})

/** The p-quantile (0..1) of `xs` by the nearest-rank method; undefined when empty. */
export const quantile = (xs: ReadonlyArray<number>, p: number): number | undefined => {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]
}
