/**
 * The simulation's workload: a seeded generator of rounds of operations.
 *
 * A round is either a set of operations that run concurrently (puts, deletes, batches, gets, scans in both
 * orders over random ranges, prefix scans, flushes, invalid calls), or one disruptive event (a clock jump, a
 * clean close and reopen, a second writer, a permanent store failure). A crash is attached to a round of
 * operations: it strikes after a drawn number of clock steps, usually while writes are in flight.
 *
 * Swarm testing (as FoundationDB and TigerBeetle do): each seed also draws its own mix (operation weights,
 * concurrency, key-space size, value sizes, share of durable writes and remote reads) and its own engine
 * settings (flush interval, memtable and L0 sizes, block size, compression, cache), so that a few hundred
 * seeds cover corners a single fixed mix would never reach.
 *
 * Determinism: the generator draws only from its own stream and never looks at results, so the first `n`
 * operations of a seed are the same whatever `--ops` says and whatever the database answers.
 */
import type { DbScanOptions, KeyRange, SettingsInput } from "@shale/core/internal"
import type { ReadLevel } from "./Model.ts"
import type { FaultProfile } from "./Profiles.ts"
import { SimRandom } from "./SimRandom.ts"
import { utf8 } from "./SimBytes.ts"

export type BatchEntry =
  | { readonly _tag: "put"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly _tag: "delete"; readonly key: Uint8Array }
  | { readonly _tag: "merge"; readonly key: Uint8Array; readonly operand: Uint8Array }

export type SimOp =
  | {
    readonly _tag: "put"
    readonly key: Uint8Array
    readonly value: Uint8Array
    readonly awaitDurable: boolean
    /** A TTL (its row expires that long after it was written). */
    readonly ttlMs?: number | undefined
  }
  | {
    readonly _tag: "merge"
    readonly key: Uint8Array
    /** `|m<op>.0` (Merges.ts). */
    readonly operand: Uint8Array
    readonly awaitDurable: boolean
    readonly ttlMs?: number | undefined
  }
  | { readonly _tag: "delete"; readonly key: Uint8Array; readonly awaitDurable: boolean }
  | { readonly _tag: "batch"; readonly entries: ReadonlyArray<BatchEntry>; readonly awaitDurable: boolean }
  | { readonly _tag: "get"; readonly key: Uint8Array; readonly durability: ReadLevel }
  | {
    readonly _tag: "scan"
    readonly range: KeyRange
    readonly order: NonNullable<DbScanOptions["order"]>
    readonly durability: ReadLevel
    readonly limit: number | undefined
    /** Milliseconds to sleep after each row (0: read at once); a slow reader races flushes and writes. */
    readonly paceMs: number
  }
  | {
    readonly _tag: "scanPrefix"
    readonly prefix: Uint8Array
    readonly order: NonNullable<DbScanOptions["order"]>
    readonly durability: ReadLevel
    readonly limit: number | undefined
    readonly paceMs: number
  }
  | { readonly _tag: "flush"; readonly type: "wal" | "memtable" }
  | { readonly _tag: "invalid"; readonly variant: "emptyBatch" | "emptyKey" }

export type SimOpKind = SimOp["_tag"]

export type WriteOp = Extract<SimOp, { _tag: "put" | "delete" | "merge" | "batch" }>

export const isWriteOp = (op: SimOp): op is WriteOp =>
  op._tag === "put" || op._tag === "delete" || op._tag === "merge" || op._tag === "batch"

export type Round =
  /** Operations started together; with `crashAfterSteps`, the process crashes after that many clock steps. */
  | {
    readonly _tag: "ops"
    readonly ops: ReadonlyArray<SimOp>
    readonly stepMs: number
    readonly crashAfterSteps: number | undefined
  }
  /** Jumps the clock (timers, manifest polls, compaction and GC ticks fire). */
  | { readonly _tag: "advance"; readonly ms: number }
  /** Closes the database cleanly and reopens it. */
  | { readonly _tag: "reopen" }
  /** A second writer opens the database while the first one runs `ops` (writes); the first must be fenced. */
  | { readonly _tag: "fence"; readonly ops: ReadonlyArray<SimOp>; readonly stepMs: number }
  /**
   * The store starts failing permanently after `failAfter` more operations; `rounds` more rounds run, then a
   * durable write must fail, the database must be closed as fatal, and a restart must lose nothing acknowledged.
   */
  | { readonly _tag: "fatal"; readonly failAfter: number; readonly rounds: number }
  /**
   * Non-durable writes in a loop that never yields on its own while `stepMs` pass per write and no timer
   * runs: a Promise-API loop that never returns to the event loop. The writes must still be flushed.
   */
  | { readonly _tag: "burst"; readonly ops: ReadonlyArray<SimOp>; readonly stepMs: number }
  /** A clean close, then the newest WAL SST (or every one) disappears from the store before the reopen. */
  | { readonly _tag: "loseWal"; readonly which: "newest" | "all" }

/** One seed's mix (swarm testing). */
export interface WorkloadConfig {
  readonly keys: ReadonlyArray<Uint8Array>
  readonly prefixes: ReadonlyArray<Uint8Array>
  readonly weights: Readonly<Record<SimOpKind, number>>
  readonly maxConcurrency: number
  readonly awaitDurableRate: number
  readonly remoteReadRate: number
  readonly largeValueRate: number
  /** Share of single puts and merges written with a TTL, and the TTLs drawn. */
  readonly ttlRate: number
  readonly ttlsMs: ReadonlyArray<number>
  /** Share of batch entries that are merges. */
  readonly batchMergeRate: number
  readonly stepsMs: ReadonlyArray<number>
  /** Engine settings over `Settings.default`. */
  readonly settings: SettingsInput
}

const KiB = 1024

/** Draws the seed's settings: small sizes so that freezes, L0 flushes and compactions happen often. */
const drawSettings = (rng: SimRandom): SettingsInput => {
  const durableFlush = rng.pick(["interval", "eager"] as const)
  const l0MaxSsts = rng.pick([2, 4, 8])
  return {
    flushIntervalMs: rng.pick([2, 10, 50, 100]),
    durableFlush,
    manifestPollIntervalMs: rng.pick([50, 250, 1000]),
    l0SstSizeBytes: rng.pick([512, 2 * KiB, 8 * KiB, 64 * KiB, 64 * KiB * KiB]),
    l0MaxSsts,
    maxUnflushedBytes: rng.pick([16 * KiB, 256 * KiB, 1024 * KiB * KiB]),
    blockSize: rng.pick([1 * KiB, 4 * KiB] as const),
    minFilterKeys: rng.pick([0, 4, 1000]),
    compression: rng.chance(0.7) ? "none" : rng.pick(["snappy", "zlib", "lz4", "zstd"] as const),
    blockCacheBytes: rng.pick([0, 16 * KiB, 64 * KiB * KiB]),
    // The embedded compactor: small SSTs and quick polls, so that compactions run, split and resume often.
    compactor: rng.chance(0.1) ? null : {
      pollIntervalMs: rng.pick([20, 100, 1000]),
      maxSstSizeBytes: rng.pick([1 * KiB, 4 * KiB, 256 * KiB * KiB]),
      maxConcurrentCompactions: rng.pick([1, 2, 4]),
      maxFetchTasks: rng.pick([0, 1, 4]),
      minCompactionSources: rng.pick([2, 4]),
      maxCompactionSources: rng.pick([4, 8])
    },
    // The immutable memtables' bound: l0MaxSsts × l0SstSizeBytes (the default), none (as SlateDB), or very little.
    ...stallLimit(rng.pick(["default", "none", "small"] as const))
  }
}

const stallLimit = (pick: "default" | "none" | "small"): SettingsInput =>
  pick === "default" ? {} : { maxImmutableMemtableBytes: pick === "none" ? null : 4 * KiB }

/** Key space: `k000`... plus keys with 0x00 and 0xff suffixes, to exercise prefix carries and ordering. */
const drawKeys = (rng: SimRandom): { keys: Array<Uint8Array>; prefixes: Array<Uint8Array> } => {
  const n = rng.pick([4, 16, 64, 256])
  const keys: Array<Uint8Array> = []
  for (let i = 0; i < n; i++) {
    const base = utf8(`k${String(i).padStart(3, "0")}`)
    keys.push(base)
    if (i % 7 === 3) keys.push(Uint8Array.of(...base, 0xff))
    if (i % 11 === 5) keys.push(Uint8Array.of(...base, 0x00, 0x01))
  }
  if (rng.chance(0.3)) keys.push(Uint8Array.of(0xff, 0xff), Uint8Array.of(0xff))
  const prefixes: Array<Uint8Array> = [utf8("k"), utf8("k0"), utf8("k00"), utf8("k01"), utf8("k1"), new Uint8Array(0)]
  for (let i = 0; i < 4; i++) prefixes.push(rng.pick(keys))
  prefixes.push(Uint8Array.of(0xff))
  return { keys, prefixes }
}

/** Draws one seed's mix. */
export const drawWorkloadConfig = (rng: SimRandom): WorkloadConfig => {
  const { keys, prefixes } = drawKeys(rng)
  const w = (base: number) => (rng.chance(0.15) ? 0 : base * (0.5 + rng.next()))
  const weights: Record<SimOpKind, number> = {
    put: 30 * (0.5 + rng.next()),
    delete: w(8),
    // Merges one seed in five not at all (w(…) switches a kind off one time in seven, too).
    merge: rng.chance(0.2) ? 0 : w(15),
    batch: w(10),
    get: 25 * (0.5 + rng.next()),
    scan: w(12),
    scanPrefix: w(5),
    flush: w(4),
    invalid: rng.chance(0.5) ? 0.5 : 0
  }
  return {
    keys,
    prefixes,
    weights,
    maxConcurrency: rng.pick([1, 2, 4, 8]),
    awaitDurableRate: rng.pick([0.1, 0.5, 0.9]),
    remoteReadRate: rng.pick([0, 0.2, 0.5]),
    largeValueRate: rng.pick([0, 0.02, 0.1]),
    ttlRate: rng.pick([0, 0.1, 0.3]),
    ttlsMs: rng.pick([[20, 200], [100, 1000, 5000], [2000, 60_000]]),
    batchMergeRate: rng.pick([0, 0.3, 0.6]),
    stepsMs: rng.pick([[1], [1, 10], [5, 50], [1, 20, 200]]),
    settings: drawSettings(rng)
  }
}

/** A merge operand unique to (operation, entry): `|m<op>.<entry>` (Merges.ts). */
export const operandOf = (index: number, entry: number): Uint8Array => utf8(`|m${index}.${entry}`)

/** The generator: `next` returns the next round, given the index of its first operation. */
export class Workload {
  readonly config: WorkloadConfig
  readonly #rng: SimRandom
  readonly #profile: FaultProfile

  constructor(seed: number | string, profile: FaultProfile) {
    const root = new SimRandom(seed)
    this.config = drawWorkloadConfig(root.derive("config"))
    this.#rng = root.derive("workload")
    this.#profile = profile
  }

  /** The next round; `firstOp` is the index its first operation gets (values carry it, so they are unique). */
  next(firstOp: number): Round {
    const rng = this.#rng
    const events = this.#profile.events
    const roll = rng.next()
    let edge = events.reopen
    if (roll < edge) return { _tag: "reopen" }
    if (roll < (edge += events.fence)) {
      const n = rng.int(0, 3)
      const ops: Array<SimOp> = []
      for (let i = 0; i < n; i++) ops.push(this.#write(firstOp + i))
      return { _tag: "fence", ops, stepMs: rng.pick(this.config.stepsMs) }
    }
    if (roll < (edge += events.fatal)) return { _tag: "fatal", failAfter: rng.int(0, 40), rounds: rng.int(1, 4) }
    if (roll < (edge += 0.03)) return { _tag: "advance", ms: rng.pick([100, 1000, 5000, 20_000]) }
    if (roll < (edge += 0.02)) return this.#burst(firstOp)
    if (roll < (edge += events.reopen * 0.5)) return { _tag: "loseWal", which: rng.chance(0.7) ? "newest" : "all" }
    const crash = rng.next() < events.crash
    const n = rng.int(1, this.config.maxConcurrency)
    const ops: Array<SimOp> = []
    for (let i = 0; i < n; i++) ops.push(this.#op(firstOp + i))
    return {
      _tag: "ops",
      ops,
      stepMs: rng.pick(this.config.stepsMs),
      crashAfterSteps: crash ? rng.pick([0, 0, 1, 2, 5, 20]) : undefined
    }
  }

  #op(index: number): SimOp {
    const rng = this.#rng
    const kind = rng.weighted(this.config.weights)
    switch (kind) {
      case "put":
      case "delete":
      case "merge":
      case "batch":
        return this.#write(index, kind)
      case "get":
        return { _tag: "get", key: this.#key(), durability: this.#level() }
      case "scan":
        return {
          _tag: "scan",
          range: this.#range(),
          order: rng.chance(0.5) ? "asc" : "desc",
          durability: this.#level(),
          limit: this.#limit(),
          paceMs: this.#pace()
        }
      case "scanPrefix":
        return {
          _tag: "scanPrefix",
          prefix: rng.pick(this.config.prefixes),
          order: rng.chance(0.5) ? "asc" : "desc",
          durability: this.#level(),
          limit: this.#limit(),
          paceMs: this.#pace()
        }
      case "flush":
        return { _tag: "flush", type: rng.chance(0.7) ? "wal" : "memtable" }
      case "invalid":
        return { _tag: "invalid", variant: rng.chance(0.5) ? "emptyBatch" : "emptyKey" }
    }
  }

  /** 20-150 non-durable writes spanning about five WAL flush intervals. */
  #burst(firstOp: number): Round {
    const rng = this.#rng
    const n = rng.int(20, 150)
    const ops: Array<SimOp> = []
    for (let i = 0; i < n; i++) {
      const op = this.#write(firstOp + i, rng.chance(0.85) ? "put" : "delete")
      ops.push({ ...op, awaitDurable: false } as SimOp)
    }
    const interval = this.config.settings.flushIntervalMs ?? 100
    return { _tag: "burst", ops, stepMs: Math.max(1, Math.ceil((5 * interval) / n)) }
  }

  #write(index: number, kind: "put" | "delete" | "merge" | "batch" = "put"): SimOp {
    const rng = this.#rng
    const awaitDurable = rng.chance(this.config.awaitDurableRate)
    switch (kind) {
      case "put":
        return { _tag: "put", key: this.#key(), value: this.#value(index, 0), awaitDurable, ttlMs: this.#ttl() }
      case "delete":
        return { _tag: "delete", key: this.#key(), awaitDurable }
      case "merge":
        return { _tag: "merge", key: this.#key(), operand: operandOf(index, 0), awaitDurable, ttlMs: this.#ttl() }
      case "batch": {
        const n = rng.int(1, 8)
        const entries: Array<BatchEntry> = []
        for (let i = 0; i < n; i++) {
          const key = this.#key()
          if (rng.chance(this.config.batchMergeRate)) entries.push({ _tag: "merge", key, operand: operandOf(index, i) })
          else if (rng.chance(0.3)) entries.push({ _tag: "delete", key })
          else entries.push({ _tag: "put", key, value: this.#value(index, i) })
        }
        return { _tag: "batch", entries, awaitDurable }
      }
    }
  }

  /** A TTL, for the seed's share of single puts and merges (batches carry none: see Operations.ts `entriesOf`). */
  #ttl(): number | undefined {
    const rng = this.#rng
    return rng.chance(this.config.ttlRate) ? rng.pick(this.config.ttlsMs) : undefined
  }

  #key(): Uint8Array {
    return this.#rng.pick(this.config.keys)
  }

  #level(): ReadLevel {
    return this.#rng.chance(this.config.remoteReadRate) ? "remote" : "memory"
  }

  #pace(): number {
    return this.#rng.chance(0.25) ? this.#rng.pick([1, 5, 20]) : 0
  }

  #limit(): number | undefined {
    return this.#rng.chance(0.3) ? this.#rng.int(1, 10) : undefined
  }

  /** A value unique to (operation, entry): `v<op>.<entry>:` then filler up to the drawn length. */
  #value(index: number, entry: number): Uint8Array {
    const rng = this.#rng
    const tag = utf8(`v${index}.${entry}:`)
    const length = rng.chance(this.config.largeValueRate) ? rng.int(1024, 8192) : rng.int(0, 48)
    const out = new Uint8Array(tag.length + length)
    out.set(tag)
    for (let i = tag.length; i < out.length; i++) out[i] = 0x61 + rng.int(0, 25)
    return out
  }

  /** A random non-empty range: bounds from the key space (or near it), each maybe open, maybe inclusive. */
  #range(): KeyRange {
    const rng = this.#rng
    const bound = (): Uint8Array => {
      const k = rng.pick(this.config.keys)
      switch (rng.int(0, 3)) {
        case 0:
          return k.subarray(0, Math.max(1, k.length - 1)) // a prefix of a key
        case 1:
          return Uint8Array.of(...k, 0x00) // just after a key
        default:
          return k
      }
    }
    const compare = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b)
    let start = rng.chance(0.2) ? undefined : bound()
    let end = rng.chance(0.2) ? undefined : bound()
    if (start !== undefined && end !== undefined) {
      const c = compare(start, end)
      if (c > 0) [start, end] = [end, start]
      if (c === 0) {
        // A single key: [k, k] is the only non-empty range with equal bounds.
        return { start, startInclusive: true, end, endInclusive: true }
      }
    }
    const range: { start?: Uint8Array; startInclusive?: boolean; end?: Uint8Array; endInclusive?: boolean } = {}
    if (start !== undefined) {
      range.start = start
      if (rng.chance(0.3)) range.startInclusive = rng.chance(0.5)
    }
    if (end !== undefined) {
      range.end = end
      if (rng.chance(0.3)) range.endInclusive = rng.chance(0.5)
    }
    // (k, k\x00) holds no key at all; keep every generated range non-empty.
    if (
      start !== undefined && end !== undefined && range.startInclusive === false && range.endInclusive !== true &&
      end.length === start.length + 1 && end[start.length] === 0 && compare(start, end.subarray(0, start.length)) === 0
    ) range.startInclusive = true
    return range
  }
}
