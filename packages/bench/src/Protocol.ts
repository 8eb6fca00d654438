/**
 * What a worker tells the harness, over the IPC channel `child_process.fork` opens: one message per
 * finished phase (for the progress lines), then exactly one of `done`, `unavailable` or `failed`.
 */
import type { Phase, WorkloadSizes } from "./Workload.ts"

/** The worker's command line: `worker.ts <implementation> <WorkerConfig as JSON>`. */
export interface WorkerConfig {
  readonly sizes: WorkloadSizes
  readonly putLatencyMs: number
  /** An empty directory the run owns (the harness deletes it afterwards). */
  readonly dir: string
}

export interface PhaseResult {
  readonly phase: Phase
  /** Operations (rows for the scan) in the phase. */
  readonly ops: number
  readonly ms: number
  /** ops/s, rows/s, or for `put_durable_seq` the mean latency in ms. */
  readonly value: number
  /** For `put_durable_seq`: median and worst latency, ms. */
  readonly p50Ms?: number
  readonly maxMs?: number
  /**
   * For `put_nodurable_seq`: the engine's durable seq when the last put returned (the background WAL
   * flushes the engine owed during the phase, done or not), where the engine reports one.
   */
  readonly durableAtEnd?: number
  /** Object store PUTs during the phase (injected-latency runs only). */
  readonly storePuts?: number
  /** A correctness problem seen during the phase (a get that found nothing, a short scan). */
  readonly problem?: string
}

export interface RunResult {
  readonly phases: ReadonlyArray<PhaseResult>
  readonly openMs: number
  readonly flushMs: number | undefined
  readonly closeMs: number
  /** Peak resident set size of the worker process, bytes. */
  readonly peakRssBytes: number
  /** RSS before the database was opened (Node, the harness and W1's keys), bytes. */
  readonly baselineRssBytes: number
}

export type WorkerMessage =
  | { readonly type: "opened"; readonly ms: number }
  | { readonly type: "phase"; readonly result: PhaseResult }
  | { readonly type: "flushed"; readonly ms: number }
  | { readonly type: "done"; readonly result: RunResult }
  | { readonly type: "unavailable"; readonly message: string }
  | { readonly type: "failed"; readonly message: string }
