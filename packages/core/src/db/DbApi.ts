/**
 * The public vocabulary of the database: options, ranges, results and write batches. The `Db` service
 * (./Db.ts) and the Promise API (./Shale.ts) both speak it, so the two APIs cannot drift apart.
 *
 * Defaults follow SlateDB 0.12.1 (docs/format.md §4.3): writes await durability unless told
 * otherwise, reads see committed (not necessarily durable) data, scans ascend.
 */
import { InvalidError } from "../errors.ts"
import type { GcRunStats } from "../gc/GcPass.ts"

/** Time to live of a put. `"default"` uses `Settings.defaultTtlMs`; a number is milliseconds from now. */
export type Ttl = "default" | "none" | { readonly afterMs: number } | { readonly atMs: number }

export interface PutOptions {
  readonly ttl?: Ttl
  /** Wait until the write is durable in the object store (default true, as SlateDB). */
  readonly awaitDurable?: boolean
}

/** `Db.merge` (SlateDB's `MergeOptions`): the operand's TTL, and whether to wait for durability. */
export interface MergeOptions {
  readonly ttl?: Ttl
  /** Wait until the write is durable in the object store (default true, as SlateDB). */
  readonly awaitDurable?: boolean
}

export type { MergeOperator } from "../iter/MergeOperator.ts"

export interface WriteOptions {
  readonly awaitDurable?: boolean
}

export type DurabilityLevel = "memory" | "remote"

export interface ReadOptions {
  /** `"memory"` (default): committed data. `"remote"`: only data already durable in the object store. */
  readonly durability?: DurabilityLevel
  /** Also see writes that are applied but not yet committed (SlateDB's `dirty`). */
  readonly dirty?: boolean
}

export interface ScanOptions extends ReadOptions {
  readonly order?: "asc" | "desc"
  /**
   * Bytes each SST fetches per request once a scan runs long (SlateDB's `read_ahead_bytes`, in whole blocks,
   * at least one). Default: 16 blocks; requests grow to it from one block (sst/SsTableScan.ts).
   */
  readonly readAheadBytes?: number
  /**
   * Requests each SST keeps in flight ahead of the scan (SlateDB's `max_fetch_tasks`). Default 4 (SlateDB's
   * is 1: one block per round trip); the first request of each SST is always alone.
   */
  readonly maxFetchTasks?: number
  /**
   * Put the data blocks the scan reads into the block cache (SlateDB's `cache_blocks`): true caches every
   * block it reads, false none. Default: only the blocks of the database's smallest sources (L0 SSTs and
   * sorted runs, smallest first, together at most a quarter of the block cache), which every scan from any
   * key reads a block of; the large ones are left to point reads (SlateDB's default is false). Either way
   * the cached blocks a scan uses count as block cache hits and stay recently used.
   */
  readonly cacheBlocks?: boolean
}

export type { KeyRange } from "../format/KeyRange.ts"

export interface KeyValue {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly seq: number
  /** 0 when the row carries no create timestamp (as SlateDB). */
  readonly createTs: number
  readonly expireTs: number | undefined
}

export interface WriteHandle {
  readonly seq: number
  readonly createTs: number
}

export type FlushType = "wal" | "memtable"

export interface DbStatus {
  readonly durableSeq: number
  readonly lastCommittedSeq: number
  readonly manifestId: number
  readonly writerEpoch: number
  readonly nextWalId: number
  readonly l0Ssts: number
  readonly sortedRuns: number
  /** Memtable uploads wait because L0 holds `l0MaxSsts` SSTs (until compaction makes room). */
  readonly l0Stalled: boolean
  /** The embedded compactor's state; undefined when the `compactor` setting is null (or another compactor fenced it as it started). */
  readonly compactor: EmbeddedCompactorStatus | undefined
  /** The embedded garbage collector's state; undefined when the `garbageCollector` setting is null. */
  readonly garbageCollector: EmbeddedGcStatus | undefined
  readonly immutableMemtables: number
  /** Undefined while open. */
  readonly closeReason: "clean" | "fenced" | "fatal" | undefined
}

/** What `DbStatus` says of the embedded garbage collector. */
export interface EmbeddedGcStatus {
  /** Passes run since the database opened (one kind each on the schedule). */
  readonly passes: number
  /** Objects deleted, by kind. */
  readonly deleted: { readonly manifests: number; readonly wal: number; readonly compacted: number; readonly compactions: number }
  readonly expiredCheckpoints: number
  /** Failed deletions and kinds not collected (logged; the next pass tries again). */
  readonly errors: number
  /** The latest pass (its deletions, store requests and duration); absent before the first. */
  readonly lastPass?: GcRunStats
  /** Store requests and time of every pass, summed (divided by `passes`: the mean of a pass). */
  readonly requests: number
  readonly durationMs: number
  /** The most requests and the longest time of one pass. */
  readonly maxRequests: number
  readonly maxDurationMs: number
}

/**
 * `Db.createCheckpoint` (SlateDB's `create_checkpoint(scope, CheckpointOptions)`).
 * - `scope`: `"all"` (default) flushes the WAL and the memtables to L0 first, so the checkpoint's manifest
 *   holds every write made before the call in SSTs; `"durable"` flushes nothing and pins what is durable
 *   now (L0 and sorted runs, plus the WAL SSTs the manifest replays).
 * - `lifetimeMs`: expires that long after creation (then the garbage collector removes it); absent: never.
 * - `source`: pin the same manifest as this existing checkpoint (by id) instead of the current one.
 */
export interface CheckpointOptions {
  readonly scope?: "all" | "durable"
  readonly lifetimeMs?: number
  readonly name?: string
  readonly source?: string
}

/** A checkpoint made: its id (a UUID) and the manifest version it pins. */
export interface CheckpointCreated {
  readonly id: string
  readonly manifestId: number
}

/** What `DbStatus` says of the embedded compactor. */
export interface EmbeddedCompactorStatus {
  readonly epoch: number
  /** Compactions running now. */
  readonly running: number
  readonly completed: number
  readonly failed: number
  /** Bytes of SSTs written by finished compactions since the database opened. */
  readonly bytesWritten: number
  /** Set once the compactor stopped (a newer compactor fenced it): the database goes on without one. */
  readonly stopped: "fenced" | "fatal" | undefined
}

export type BatchOp =
  | { readonly _tag: "put"; readonly key: Uint8Array; readonly value: Uint8Array; readonly ttl: Ttl }
  | { readonly _tag: "delete"; readonly key: Uint8Array }
  | { readonly _tag: "merge"; readonly key: Uint8Array; readonly value: Uint8Array; readonly ttl: Ttl }

/**
 * Puts, deletes and merges applied atomically: one WAL batch, one sequence number for all of them. As in
 * SlateDB, a put or delete replaces every earlier op on the same key in the batch, and a merge adds an
 * operand after them (with a merge operator configured, the write folds a key's operands onto the put or
 * delete before them: docs/design/merge.md). Validation happens when the batch is written, so nothing of
 * an invalid batch is written.
 *
 * A batch is consumed by the write that takes it (as in SlateDB, whose `write` takes the batch by value):
 * writing it again, or adding to it afterwards, is an `InvalidError` ("write batch has already been
 * consumed"), so a batch can never be applied twice by mistake. `consume()` is how a write takes it.
 */
export class WriteBatch {
  readonly ops: Array<BatchOp> = []
  #consumed = false
  put(key: Uint8Array, value: Uint8Array, options?: { readonly ttl?: Ttl }): this {
    if (this.#consumed) throw consumedError()
    this.ops.push({ _tag: "put", key, value, ttl: options?.ttl ?? "default" })
    return this
  }
  delete(key: Uint8Array): this {
    if (this.#consumed) throw consumedError()
    this.ops.push({ _tag: "delete", key })
    return this
  }
  /** Adds a merge operand for `key` (SlateDB's `merge_with_options`). */
  merge(key: Uint8Array, operand: Uint8Array, options?: { readonly ttl?: Ttl }): this {
    if (this.#consumed) throw consumedError()
    this.ops.push({ _tag: "merge", key, value: operand, ttl: options?.ttl ?? "default" })
    return this
  }
  get isEmpty(): boolean {
    return this.ops.length === 0
  }
  /** Whether a write has taken this batch. */
  get consumed(): boolean {
    return this.#consumed
  }
  /** Marks the batch as taken by a write; an `InvalidError` if a write already took it. */
  consume(): InvalidError | undefined {
    if (this.#consumed) return consumedError()
    this.#consumed = true
    return undefined
  }
}

const consumedError = () => new InvalidError({ message: "write batch has already been consumed" })
