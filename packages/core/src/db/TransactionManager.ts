/**
 * Conflict detection for transactions (SlateDB's `transaction_manager.rs`, docs/design/transactions.md):
 * which transactions are open, what they wrote and read, and what committed while they were open.
 *
 * - A transaction starts at the last committed seq (`startedSeq`: it reads that snapshot).
 * - At commit (in the writer's critical section, before its seq is taken) it conflicts with every write
 *   that committed after `startedSeq` (a transaction's or a plain `put`/`delete`/`write`'s):
 *   - write-write (both isolation levels): the committed write shares a key with this transaction's
 *     tracked writes (its write set minus the keys `unmarkWrite` excluded);
 *   - read-write (whenever this transaction tracked reads: every `get` and scan under `serializable`,
 *     `markRead` under both levels): the committed write wrote a key this transaction read, or a key inside
 *     one of its scanned ranges (a scan's range is its first to its last returned key, inclusive).
 * - Every commit is recorded (`recordCommitted`, with its seq and written keys) only while some transaction
 *   is open: with none open nothing can conflict with it. So plain writes cost one comparison when no
 *   transaction is open.
 * - A record is dropped once every open transaction started at or after its seq (it can no longer
 *   conflict); with no transaction open, all are dropped.
 *
 * `minStartedSeq` (with the snapshots' `SnapshotRegistry.minSeq`) is the retention floor: flushes keep
 * the versions an open transaction reads, and the manifest's `recent_snapshot_min_seq` tells compaction.
 * Everything here is synchronous; JavaScript's single thread makes each call atomic.
 */
import { compareKeys } from "../format/KeyComparator.ts"

export type IsolationLevel = "snapshot" | "serializable"

/** A key as a string (one char per byte), so that sets and maps can hold keys. */
export const keyId = (key: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < key.length; i += 4096) {
    s += String.fromCharCode.apply(null, key.subarray(i, i + 4096) as unknown as Array<number>)
  }
  return s
}

/** The keys of a set, by `keyId`. */
export type KeySet = Map<string, Uint8Array>

/** A scanned range, both ends inclusive (SlateDB's range tracker: first to last key returned). */
export interface ReadRange {
  readonly first: Uint8Array
  readonly last: Uint8Array
}

/** An open transaction's state, as the manager tracks it. */
export class TxnState {
  readonly id: string
  readonly startedSeq: number
  readonly isolation: IsolationLevel
  /** Tracked write keys (set at commit: the write set minus the unmarked keys). */
  writeKeys: KeySet = new Map()
  readonly readKeys: KeySet = new Map()
  readonly readRanges: Array<ReadRange> = []
  constructor(id: string, startedSeq: number, isolation: IsolationLevel) {
    this.id = id
    this.startedSeq = startedSeq
    this.isolation = isolation
  }
}

/** A write that committed while a transaction was open. */
interface CommittedWrite {
  readonly seq: number
  readonly keys: KeySet
}

const inRange = (key: Uint8Array, r: ReadRange): boolean => compareKeys(key, r.first) >= 0 && compareKeys(key, r.last) <= 0

export class TransactionManager {
  readonly #active = new Set<TxnState>()
  /** Commits since the oldest open transaction started, in commit (seq) order. */
  #committed: Array<CommittedWrite> = []
  /** Test-only (`TestSwitches.txnIgnoresConflicts`): no commit ever conflicts. */
  readonly #ignoreConflicts: boolean

  constructor(options?: { readonly ignoreConflicts?: boolean }) {
    this.#ignoreConflicts = options?.ignoreConflicts === true
  }

  /** How many transactions are open (the writer records commits only when this is not 0). */
  get activeCount(): number {
    return this.#active.size
  }

  /** Registers a transaction starting at `committedSeq` (its snapshot). */
  begin(id: string, committedSeq: number, isolation: IsolationLevel): TxnState {
    const txn = new TxnState(id, committedSeq, isolation)
    this.#active.add(txn)
    return txn
  }

  /** Whether `txn` is still open (neither committed nor dropped). */
  isActive(txn: TxnState): boolean {
    return this.#active.has(txn)
  }

  /** Forgets an open transaction (rollback, or a failed commit) and drops records no one needs. */
  drop(txn: TxnState): void {
    if (!this.#active.delete(txn)) return
    this.#recycle()
  }

  /** The lowest `startedSeq` of the open transactions, if any. */
  minStartedSeq(): number | undefined {
    let min: number | undefined
    for (const t of this.#active) if (min === undefined || t.startedSeq < min) min = t.startedSeq
    return min
  }

  /** Whether `txn` would conflict if it committed now (see the module comment). */
  hasConflict(txn: TxnState): boolean {
    const checkReads = txn.readKeys.size > 0 || txn.readRanges.length > 0
    if ((txn.writeKeys.size === 0 && !checkReads) || this.#ignoreConflicts) return false
    for (const c of this.#committed) {
      if (c.seq <= txn.startedSeq) continue
      for (const [id, key] of c.keys) {
        if (txn.writeKeys.has(id) || txn.readKeys.has(id)) return true
        for (const r of txn.readRanges) if (inRange(key, r)) return true
      }
    }
    return false
  }

  /**
   * Records a commit at `seq` that wrote `keys` (called in the writer's critical section, as the write
   * becomes visible). `txn`, when the commit is a transaction's, stops being open.
   */
  recordCommitted(seq: number, keys: KeySet, txn?: TxnState): void {
    if (txn !== undefined) this.#active.delete(txn)
    if (this.#active.size === 0) {
      this.#committed = []
      return
    }
    this.#committed.push({ seq, keys })
    if (txn !== undefined) this.#recycle()
  }

  /** Drops records every open transaction started at or after (they cannot conflict with them). */
  #recycle(): void {
    const min = this.minStartedSeq()
    if (min === undefined) {
      this.#committed = []
      return
    }
    let i = 0
    while (i < this.#committed.length && this.#committed[i]!.seq < min) i++
    if (i > 0) this.#committed = this.#committed.slice(i)
  }

  /** Records kept for conflict checks (tests). */
  get recordedCount(): number {
    return this.#committed.length
  }
}

/** The open snapshots (SlateDB's `snapshot_manager.rs`): their seqs, for the retention floor. */
export class SnapshotRegistry {
  readonly #open = new Map<symbol, number>()

  register(seq: number): symbol {
    const id = Symbol("snapshot")
    this.#open.set(id, seq)
    return id
  }

  release(id: symbol): boolean {
    return this.#open.delete(id)
  }

  /** The lowest seq of the open snapshots, if any. */
  minSeq(): number | undefined {
    let min: number | undefined
    for (const s of this.#open.values()) if (min === undefined || s < min) min = s
    return min
  }

  get size(): number {
    return this.#open.size
  }
}

/** The seq at or below which every open snapshot and transaction reads (undefined: none is open). */
export const retentionFloor = (snapshots: SnapshotRegistry, txns: TransactionManager): number | undefined => {
  const a = snapshots.minSeq()
  const b = txns.minStartedSeq()
  if (a === undefined) return b
  return b === undefined || a < b ? a : b
}
