/**
 * What the model (Model.ts) records of writes and reads: a write's entries and outcome, the shape of a scan,
 * the read levels.
 */

export type WriteStatus = "pending" | "ok" | "failed"

export interface WriteRecord {
  /** The operation's index in the run. */
  readonly id: number
  /**
   * Deduplicated entries, as the write path folds a batch: hex key → value (a put, or a merge operand for
   * the keys in `merges`), or undefined for a delete.
   */
  readonly entries: ReadonlyMap<string, Uint8Array | undefined>
  /** Keys whose entry is a merge operand (folded over the key's value at the write's seq). */
  readonly merges: ReadonlySet<string> | undefined
  /** The write's TTL (its rows expire at `createTs + ttlMs`). */
  readonly ttlMs: number | undefined
  /** A transaction's keys kept out of conflict checks (`unmarkWrite`). */
  readonly untracked: ReadonlySet<string> | undefined
  readonly awaitDurable: boolean
  readonly invokedAt: number
  respondedAt: number | undefined
  seq: number | undefined
  createTs: number | undefined
  status: WriteStatus
}

/** Which keys a read covers and how it orders and limits them. */
export interface ScanShape {
  readonly contains: (hexKey: string) => boolean
  readonly order: "asc" | "desc"
  readonly limit: number | undefined
}

export type ReadLevel = "memory" | "remote"

/** What a write carries besides its entries. */
export interface WriteExtras {
  readonly merges?: ReadonlySet<string> | undefined
  readonly ttlMs?: number | undefined
  readonly untracked?: ReadonlySet<string> | undefined
}
