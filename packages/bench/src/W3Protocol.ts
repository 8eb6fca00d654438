/**
 * W3's messages between the harness and a worker (`child_process.fork`'s IPC channel). As in W2 the
 * worker asks and the harness answers: the proxy's request counts, which live in the harness
 * (W3Proxy.ts), at the start and end of every phase; and, for SlateDB's full compaction, when the store
 * shows one sorted run and no L0 SST (the harness reads the manifest).
 */
import type { RequestCounts } from "./engines/LatencyStore.ts"
import type { Common } from "./Ipc.ts"
import type { ProxyCounts } from "./W3Proxy.ts"
import type { W3Phase, W3Sizes } from "./W3Workload.ts"

/** The worker's command line: `worker-w3.ts <implementation> <W3WorkerConfig as JSON>`. */
export interface W3WorkerConfig {
  readonly sizes: W3Sizes
  /** `s3://bucket/prefix` of the run (S3 implementations), or "". */
  readonly location: string
  /** `--shale-settings`, over Shale's defaults (Shale implementations only). */
  readonly shaleSettings: Readonly<Record<string, unknown>>
}

export interface W3PhaseResult {
  readonly phase: W3Phase
  /** Operations: keys loaded or compacted, gets, scans, durable puts. */
  readonly ops: number
  /** Rows the scans returned. */
  readonly rows?: number
  readonly ms: number
  /** Per-operation latency (gets, scans, puts), ms. */
  readonly p50Ms?: number
  readonly p99Ms?: number
  readonly meanMs?: number
  /** What reached the S3 server during the phase (the proxy's count); undefined off S3. */
  readonly server?: ProxyCounts
  /** What the engine counted itself (Shale: its store wrapper; SlateDB: its metrics, which count no listings). */
  readonly own?: RequestCounts
  /** Reads that disagreed with what was loaded. */
  readonly problem?: string
}

export interface W3RunResult {
  readonly phases: ReadonlyArray<W3PhaseResult>
  /** How the full compaction was done. */
  readonly compaction: string
  /** Opening the database for the reads (before the cold gets, not in them), ms. */
  readonly readOpenMs: number
  readonly problems: ReadonlyArray<string>
  readonly peakRssBytes: number
}

export type W3WorkerMessage =
  | Common<W3RunResult>
  | { readonly type: "counts"; readonly id: number }
  | { readonly type: "await"; readonly id: number }

export type W3HarnessMessage =
  | { readonly type: "counts"; readonly id: number; readonly counts: ProxyCounts | undefined }
  | { readonly type: "settled"; readonly id: number }
  | { readonly type: "gave-up"; readonly id: number; readonly message: string }
