/**
 * What the W3 worker needs from an implementation, and the implementations W3 measures. Unlike W1 and W2
 * the adapters make one call per operation (the worker times each one, for p50 and p99), through the
 * engines' Promise APIs. Adapters are imported by the worker only, so a peer's process never loads Shale.
 */
import type { RequestCounts } from "./engines/LatencyStore.ts"
import type { FlushMode } from "./W3Workload.ts"

export type KeyOf = (i: number) => Uint8Array

/** An open database. */
export interface W3Db {
  /** Puts keys [0, n) in key order, `batch` per write batch, not awaiting durability; then flushes the memtable. */
  readonly load: (n: number, batch: number, keyOf: KeyOf) => Promise<void>
  readonly get: (key: Uint8Array) => Promise<Uint8Array | undefined>
  /** An ascending scan from `start` (inclusive) of at most `rows` rows, each handed to `check`. */
  readonly scan: (start: Uint8Array, rows: number, check: (key: Uint8Array, value: Uint8Array) => void) => Promise<void>
  /**
   * The same scan fetching one block per request, one request at a time (Shale's `readAheadBytes: 1,
   * maxFetchTasks: 1`, SlateDB's defaults): the baseline of the read-ahead target. Absent: not measured.
   */
  readonly scanWithoutReadAhead?: (start: Uint8Array, rows: number, check: (key: Uint8Array, value: Uint8Array) => void) => Promise<void>
  /** A put that resolves once durable. */
  readonly put: (key: Uint8Array, value: Uint8Array) => Promise<void>
  readonly close: () => Promise<void>
}

export interface W3Engine {
  /**
   * Opens the database: `"load"` with the engine's embedded compactor; `"read"` without one (the layout
   * stays as the full compaction left it); durable writes in that flush mode.
   */
  readonly open: (mode: "load" | "read", flush: FlushMode) => Promise<W3Db>
  /** Compacts every L0 SST and sorted run into one sorted run (the database closed); how it did. */
  readonly compactFully: (awaitOneRun: () => Promise<void>) => Promise<string>
  /** What the engine itself counted of its store requests so far (Shale: its wrapper; SlateDB: its metrics). */
  readonly ownCounts: () => RequestCounts | undefined
  readonly dispose: () => Promise<void>
}

export interface W3Implementation {
  readonly name: string
  readonly family: "shale" | "peer"
  /** `"s3"`: through the counting proxy to the S3 server; `"latency"`: an in-process store with injected latency. */
  readonly store: "s3" | "latency"
  readonly description: string
  /**
   * The engine for the database `bench` in `location` (`s3://bucket/prefix`, reached as the environment
   * says; ignored by the latency store), with `shaleSettings` over Shale's defaults (Shale only).
   */
  readonly make: (location: string, shaleSettings: Readonly<Record<string, unknown>>) => Promise<W3Engine>
}

export const W3_IMPLEMENTATIONS: ReadonlyArray<W3Implementation> = [
  {
    name: "shale-s3",
    family: "shale",
    store: "s3",
    description: "Shale, Promise API, S3 store (@shale/s3) through the counting proxy",
    make: (location, settings) => import("./engines/ShaleW3.ts").then((m) => m.makeShaleW3({ location, settings }))
  },
  {
    name: "slatedb-s3",
    family: "peer",
    store: "s3",
    description: "SlateDB 0.12.1 (@slatedb/uniffi), s3:// store through the counting proxy",
    make: (location) => import("./engines/SlateDbW3.ts").then((m) => m.makeSlateDbW3(location))
  },
  {
    name: "shale-latency",
    family: "shale",
    store: "latency",
    description: "Shale, Promise API, in-memory store with S3-like latency (first byte 20 ms, 100 MB/s per request)",
    make: (_, settings) => import("./engines/ShaleW3.ts").then((m) => m.makeShaleW3({ location: undefined, settings }))
  }
]
