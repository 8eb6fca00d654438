/**
 * What the W2 worker needs from an implementation, and the implementations W2 measures. As in W1
 * (Engine.ts), each method runs a whole loop the way a user of that API writes it (the Effect adapter as
 * one Effect program with a `yield*` per call, the others with an `await` per call) and the worker times
 * it from outside. Every implementation runs on a local directory store, with W2's settings
 * (W2Workload.ts); adapters are imported by the worker only, so a peer's process never loads Shale.
 */
import type { EngineGcStatus } from "./W2Protocol.ts"
import type { PassPlan, W2GcSchedule } from "./W2Workload.ts"

export type KeyOf = (i: number) => Uint8Array

/** An open database. */
export interface W2Db {
  /** The pass's operations in order, `batch` per write batch, each write awaited without awaiting durability. */
  readonly load: (plan: PassPlan, batch: number, keyOf: KeyOf) => Promise<void>
  /** Flushes the memtable to L0. */
  readonly flushMemtable: () => Promise<void>
  /** Gets `keyOf(keys[j])` for j = 0, 1, ..., each awaited, and hands each result to `check(j, value)`. */
  readonly gets: (keys: Uint32Array, keyOf: KeyOf, check: (j: number, value: Uint8Array | undefined) => void) => Promise<void>
  /** For each start s: an ascending scan from `keyOf(starts[s])` (inclusive) reading `rows` rows, each handed to `check`. */
  readonly scans: (
    starts: Uint32Array,
    rows: number,
    keyOf: KeyOf,
    check: (s: number, key: Uint8Array, value: Uint8Array) => void
  ) => Promise<void>
  /** The engine's garbage collector counters; undefined when it runs none. */
  readonly gcStatus: () => Promise<EngineGcStatus | undefined>
  readonly close: () => Promise<void>
}

/** A full compaction under way; the database itself is closed. */
export interface FullCompaction {
  /** How the engine was made to compact everything (printed with the results). */
  readonly method: string
  /** Called once the store shows no L0 SST and one sorted run: lets the compactor finish and stops it. */
  readonly finish: () => Promise<void>
}

export interface W2Engine {
  /**
   * Opens the database in the run's directory with W2's settings: `"load"` with the engine's embedded
   * compactor; `"read"` with no compactor, so that the reads see a layout that does not change under them.
   */
  readonly open: (mode: "load" | "read") => Promise<W2Db>
  /** Starts compacting every L0 SST and sorted run into one sorted run (the database must be closed). */
  readonly startFullCompaction: () => Promise<FullCompaction>
}

export interface W2Implementation {
  readonly name: string
  readonly family: "shale" | "peer"
  readonly description: string
  /**
   * The engine for the database in `dir` (an empty directory the run owns), with its garbage collector
   * on that schedule for every kind of object in every opening (null: off).
   */
  readonly make: (dir: string, gc: W2GcSchedule | null) => Promise<W2Engine>
}

export const W2_IMPLEMENTATIONS: ReadonlyArray<W2Implementation> = [
  {
    name: "shale-effect-file",
    family: "shale",
    description: "Shale, Effect API (yield* per call), local directory store; embedded compactor and garbage collector (--gc)",
    make: (dir, gc) => import("./engines/ShaleW2.ts").then((m) => m.makeShaleEffectW2(dir, gc))
  },
  {
    name: "shale-promise-file",
    family: "shale",
    description: "Shale, Promise API (await per call), local directory store; embedded compactor and garbage collector (--gc)",
    make: (dir, gc) => import("./engines/ShaleW2.ts").then((m) => m.makeShalePromiseW2(dir, gc))
  },
  {
    name: "slatedb-file",
    family: "peer",
    description: "SlateDB 0.12.1 (@slatedb/uniffi), file:// local directory; embedded compactor and garbage collector (--gc)",
    make: (dir, gc) => import("./engines/SlateDbW2.ts").then((m) => m.makeSlateDbW2(dir, gc))
  }
]
