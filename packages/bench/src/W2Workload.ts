/**
 * Workload W2 (docs/design/benchmark.md §5): a steady state in which the compactor runs many times, then
 * reads on the layout it leaves and on the same data fully compacted.
 *
 * - Keys: W1's (16 bytes, `"key" + i` zero-padded to 13 digits), made on demand as views into one buffer
 *   (a million separate key objects would add ~100 MB to every process). Values: 100 bytes, a fresh array
 *   per put; bytes 0-3 hold the key's index, byte 4 the pass that wrote it, so a read can be checked.
 * - Load: `passes` passes of write batches (`batch` operations each, not awaiting durability). Pass 1
 *   puts every key once, in a random order; each later pass, in a new random order, overwrites a random
 *   `overwriteShare` of the keys and deletes another `deleteShare` (a deleted key may come back in a later
 *   pass). Every choice comes from a seeded generator, so each engine gets exactly the same operations.
 * - The model: per key, the pass of its last put, or 0 when it has none (never written, or deleted).
 * - Reads: `gets` gets of uniformly random keys (live and deleted ones), `scans` scans of `scanRows` rows
 *   from random keys; every value and every scanned key is checked against the model. Before them, a
 *   warm-up of half as many gets and scans of other random keys, not timed (worker-w2.ts).
 */
import { KEY_BYTES, VALUE_BYTES } from "./Workload.ts"

export interface W2Sizes {
  /** Keys: the key space 0..N-1. */
  readonly n: number
  readonly passes: number
  /** Share of the keys each pass after the first overwrites. */
  readonly overwriteShare: number
  /** Share of the keys each pass after the first deletes. */
  readonly deleteShare: number
  /** Operations per write batch. */
  readonly batch: number
  readonly gets: number
  readonly scans: number
  readonly scanRows: number
  /**
   * `--pace`: the load writes at most this many operations per second (both engines alike), so that their
   * compactors are compared under the same stream of writes; undefined: as fast as each engine goes.
   */
  readonly paceOpsPerSec?: number
}

export const W2_FULL: W2Sizes = {
  n: 1_000_000,
  passes: 3,
  overwriteShare: 0.5,
  deleteShare: 0.1,
  batch: 100,
  gets: 100_000,
  scans: 1_000,
  scanRows: 100
}
export const W2_QUICK: W2Sizes = { ...W2_FULL, n: 100_000, gets: 10_000, scans: 500 }

const KiB = 1024
const MiB = 1024 * KiB

/**
 * The settings both engines run W2 with (Shale's names; engines/SlateDbW2.ts spells them SlateDB's way):
 * small L0 SSTs and a fast compactor poll, so that compaction runs many times. Everything else is the
 * engines' default (WAL flush every 100 ms, 4 KiB blocks, no compression, bloom filters at 10 bits/key).
 */
export const W2_SETTINGS = {
  l0SstSizeBytes: 1 * MiB,
  l0MaxSsts: 8,
  compactor: {
    pollIntervalMs: 200,
    maxSstSizeBytes: 256 * MiB,
    maxConcurrentCompactions: 4,
    minCompactionSources: 4,
    maxCompactionSources: 8,
    includeSizeThreshold: 4
  }
} as const

/**
 * The garbage collector's schedule in W2 (`--gc on`), the same for every kind of object (manifests, WAL
 * SSTs, compacted SSTs, compactions files) and for both engines. Not the engines' defaults (each kind
 * every 60 s, objects older than 300 s): W2's load lasts one to two minutes (`--quick`: about ten
 * seconds), so that collector would delete nothing while it is measured. Full W2: every 5 s, objects
 * older than 10 s (what nothing pins is gone at most 15 s after it was written, or within 5 s of
 * becoming garbage); `--quick`: every 1 s, older than 2 s, the same ratios. Pinned objects stay: each
 * compaction pins the manifest it replaces with a 15-minute checkpoint, in both engines (SlateDB's
 * design), and with it the compacted SSTs and WAL SSTs that manifest references (`--gc-hold`).
 */
export interface W2GcSchedule {
  readonly intervalMs: number
  readonly minAgeMs: number
}

export const W2_GC_DEFAULT: W2GcSchedule = { intervalMs: 5_000, minAgeMs: 10_000 }
export const W2_GC_QUICK: W2GcSchedule = { intervalMs: 1_000, minAgeMs: 2_000 }

/**
 * With the collector on, how long the database stays open after the store settled (the hold): the
 * minimum age and two intervals, time for the collector to delete what the load left behind. Nothing
 * is written meanwhile; the harness goes on listing the store.
 */
export const gcHoldMs = (gc: W2GcSchedule | null): number => (gc === null ? 0 : gc.minAgeMs + 2 * gc.intervalMs)

/** The four kinds of objects, in Shale's names (SlateDB's: manifest, wal, compacted, compactions). */
export type StoreKind = "manifests" | "wal" | "compacted" | "compactions"
export const STORE_KINDS: ReadonlyArray<StoreKind> = ["manifests", "wal", "compacted", "compactions"]

/**
 * How often the harness lists the store and the worker reads the engine's collector counters: every 2 s,
 * and at least twice per minimum age, so that every object is seen at least once before it may be deleted
 * (the harness keeps the store's history from what it saw: W2Watch.ts).
 */
export const gcSampleMs = (gc: W2GcSchedule | null): number =>
  gc === null ? 2_000 : Math.max(250, Math.min(2_000, Math.floor(gc.minAgeMs / 2)))

/** How long the store must look idle (L0 below its trigger, no compaction active) to count as settled. */
export const settleMs = (): number => Math.max(500, 3 * W2_SETTINGS.compactor.pollIntervalMs)

// ---- keys, values, seeded choices ----------------------------------------------------------------------

/**
 * Key i of 0..n-1 (`"key" + i` zero-padded to 13 digits, W1's keys), as a fresh view into one shared
 * buffer. The digits are written directly: a string per key would leave ~50 MB of garbage behind.
 */
export const makeKeyOf = (n: number): (i: number) => Uint8Array => {
  const buffer = new Uint8Array(n * KEY_BYTES)
  for (let i = 0; i < n; i++) {
    const at = i * KEY_BYTES
    buffer[at] = 0x6b // k
    buffer[at + 1] = 0x65 // e
    buffer[at + 2] = 0x79 // y
    for (let d = KEY_BYTES - 1, x = i; d >= 3; d--, x = Math.floor(x / 10)) buffer[at + d] = 0x30 + (x % 10)
  }
  return (i) => buffer.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES)
}

const VALUE_TEMPLATE = Uint8Array.from({ length: VALUE_BYTES }, (_, j) => 0x61 + (j % 26))

/** A fresh 100-byte value for key i written by pass `pass` (1-based). */
export const w2Value = (i: number, pass: number): Uint8Array => {
  const v = VALUE_TEMPLATE.slice()
  v[0] = i & 0xff
  v[1] = (i >>> 8) & 0xff
  v[2] = (i >>> 16) & 0xff
  v[3] = (i >>> 24) & 0xff
  v[4] = pass
  return v
}

/** Whether `value` is what pass `pass` wrote for key i. */
export const isW2Value = (value: Uint8Array, i: number, pass: number): boolean =>
  value.length === VALUE_BYTES && value[0] === (i & 0xff) && value[1] === ((i >>> 8) & 0xff) &&
  value[2] === ((i >>> 16) & 0xff) && value[3] === ((i >>> 24) & 0xff) && value[4] === pass

/** mulberry32: a small seeded generator of floats in [0, 1). */
const generator = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const permutation = (n: number, random: () => number): Uint32Array => {
  const p = new Uint32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = p[i]!
    p[i] = p[j]!
    p[j] = t
  }
  return p
}

// ---- the load plan and the model -----------------------------------------------------------------------

export const OP_PUT = 0
export const OP_DELETE = 1

/** One pass: the key of each operation and whether it is a put (`OP_PUT`) or a delete (`OP_DELETE`). */
export interface PassPlan {
  /** 1-based; the value of a put carries it. */
  readonly pass: number
  readonly keys: Uint32Array
  readonly kinds: Uint8Array
  readonly puts: number
  readonly deletes: number
}

/** Operations `[from, to)` of `pass`, as a pass of their own (a paced load writes a pass in slices). */
export const slicePass = (pass: PassPlan, from: number, to: number): PassPlan => {
  const kinds = pass.kinds.subarray(from, to)
  let puts = 0
  for (let j = 0; j < kinds.length; j++) if (kinds[j] === OP_PUT) puts++
  return { pass: pass.pass, keys: pass.keys.subarray(from, to), kinds, puts, deletes: kinds.length - puts }
}

export interface LoadPlan {
  readonly passes: ReadonlyArray<PassPlan>
  /** Per key: the pass of its last put, 0 when it has none. */
  readonly model: Uint8Array
}

/** Every pass of the load and the model of what the database holds after it. */
export const planLoad = (sizes: W2Sizes, seed = 2): LoadPlan => {
  const random = generator(seed)
  const model = new Uint8Array(sizes.n)
  const passes: Array<PassPlan> = []
  for (let pass = 1; pass <= sizes.passes; pass++) {
    const order = permutation(sizes.n, random)
    const keys = new Uint32Array(sizes.n)
    const kinds = new Uint8Array(sizes.n)
    let ops = 0
    let puts = 0
    for (const i of order) {
      const r = pass === 1 ? 0 : random()
      if (r < sizes.overwriteShare || pass === 1) {
        keys[ops] = i
        kinds[ops++] = OP_PUT
        model[i] = pass
        puts++
      } else if (r < sizes.overwriteShare + sizes.deleteShare) {
        keys[ops] = i
        kinds[ops++] = OP_DELETE
        model[i] = 0
      }
    }
    passes.push({ pass, keys: keys.subarray(0, ops), kinds: kinds.subarray(0, ops), puts, deletes: ops - puts })
  }
  return { passes, model }
}

/** `count` uniformly random keys of 0..N-1 (live and deleted alike): what the gets read, where the scans start. */
export const randomKeys = (n: number, count: number, seed: number): Uint32Array => {
  const random = generator(seed)
  return Uint32Array.from({ length: count }, () => Math.floor(random() * n))
}

/** The seeds of the reads: the measured ones, and the warm-up before them (other keys, half as many). */
export const READ_SEEDS = { gets: 3, scans: 5, warmupGets: 7, warmupScans: 11 } as const
export const WARMUP_SHARE = 0.5

/** Live keys in the model (what a full scan would count). */
export const liveKeys = (model: Uint8Array): number => {
  let live = 0
  for (const v of model) if (v !== 0) live++
  return live
}
