/**
 * Workload W1 (docs/design/benchmark.md §0): the keys, values, phase names and sizes every implementation runs.
 *
 * - Keys: 16 bytes, `"key" + i` zero-padded to 13 digits. Values: 100 bytes, a fresh array per put (so an
 *   engine that keeps the caller's bytes holds as much memory as one that copies them).
 * - Phases, in order, on one freshly created database:
 *   1. `put_nodurable_seq`: N puts of keys 0..N-1, each awaited, not waiting for durability;
 *   2. `put_durable_c256`: C puts (overwrites of keys 0..C-1) awaiting durability, 256 in flight;
 *   3. `put_durable_seq`: S durable puts one after another (overwrites); the figure is the mean latency;
 *   4. a memtable flush (timed, not a phase), then `get_random_seq`: G gets of keys `(i * 7919) % N`;
 *   5. `scan_all`: one full ascending scan, counting rows.
 *
 * The durable phases overwrite existing keys, so the key space stays 0..N-1: every get must find its key
 * and the scan must count exactly N rows, which the worker checks.
 */

export const PHASES = ["put_nodurable_seq", "put_durable_c256", "put_durable_seq", "get_random_seq", "scan_all"] as const
export type Phase = (typeof PHASES)[number]

/** The phases of the injected-latency experiment (durable puts only), in the order they run. */
export const LATENCY_PHASES = ["put_durable_c256", "put_durable_seq"] as const satisfies ReadonlyArray<Phase>

/** How a phase's figure reads: throughput (higher is better) or mean latency in ms (lower is better). */
export const phaseUnit = (phase: Phase): "ops/s" | "rows/s" | "ms" =>
  phase === "put_durable_seq" ? "ms" : phase === "scan_all" ? "rows/s" : "ops/s"

export interface WorkloadSizes {
  /** Keys written by `put_nodurable_seq`; the key space of the gets and the scan. */
  readonly n: number
  /** Durable puts in `put_durable_c256`. */
  readonly c256: number
  /** Durable puts in flight in `put_durable_c256`. */
  readonly inFlight: number
  /** Sequential durable puts in `put_durable_seq`. */
  readonly seq: number
  /** Gets in `get_random_seq`. */
  readonly gets: number
}

export const FULL: WorkloadSizes = { n: 100_000, c256: 20_000, inFlight: 256, seq: 20, gets: 50_000 }
export const QUICK: WorkloadSizes = { n: 10_000, c256: 2_000, inFlight: 256, seq: 10, gets: 5_000 }

/** Sizes with N overridden; the durable phases overwrite existing keys, so they are capped at N. */
export const withN = (sizes: WorkloadSizes, n: number): WorkloadSizes => ({
  ...sizes,
  n,
  c256: Math.min(sizes.c256, n),
  seq: Math.min(sizes.seq, n)
})

export const KEY_BYTES = 16
export const VALUE_BYTES = 100
/** The stride of `get_random_seq`: a prime, so `(i * 7919) % N` visits keys in a scattered order. */
export const GET_STRIDE = 7919

const encoder = new TextEncoder()

/**
 * All N keys, built once before the clock starts: views into one buffer, which keeps the harness's own
 * share of every process's RSS small (100,000 separately allocated arrays cost ~25 MB more).
 */
export const makeKeys = (n: number): ReadonlyArray<Uint8Array> => {
  const buffer = new Uint8Array(n * KEY_BYTES)
  return Array.from({ length: n }, (_, i) => {
    const key = buffer.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES)
    encoder.encodeInto(`key${String(i).padStart(KEY_BYTES - 3, "0")}`, key)
    return key
  })
}

const VALUE_TEMPLATE = Uint8Array.from({ length: VALUE_BYTES }, (_, j) => 0x61 + (j % 26))

/** A fresh 100-byte value for the put of key i (its first four bytes hold i). */
export const valueOf = (i: number): Uint8Array => {
  const v = VALUE_TEMPLATE.slice()
  v[0] = i & 0xff
  v[1] = (i >>> 8) & 0xff
  v[2] = (i >>> 16) & 0xff
  v[3] = (i >>> 24) & 0xff
  return v
}

/** The key index of the i-th get. */
export const getIndex = (i: number, n: number): number => (i * GET_STRIDE) % n
