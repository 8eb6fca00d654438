/**
 * What the model checks of snapshots and transactions (TxnActor.ts runs them):
 *
 * - A snapshot read (a snapshot's, or a transaction's of a key it has not written) returns the committed
 *   state at the snapshot's seq, exactly (value and seq), whatever was written, flushed or compacted since:
 *   every read of one transaction comes from that one state, so each transaction read a consistent snapshot.
 *   A key an uncertain write (failed, or lost in a crash) touched may also hold that write's value.
 * - A committed transaction (started at seq `S`, committed at seq `C`): no write committed with a seq in
 *   `(S, C)` (another transaction's or a plain write's) wrote one of its keys: no two committed
 *   transactions wrote the same key concurrently (snapshot isolation's first-committer-wins).
 * - Under `serializable` (and for keys marked read at either level): no write in `(S, C)` wrote a key it
 *   read, nor a key inside one of its scans' returned ranges (first to last key): what it read still held
 *   just before it committed, so it is equivalent to running alone at its commit seq; together with the
 *   plain writes, the committed serializable transactions serialize in commit-seq order. (As SlateDB, a
 *   write just outside a scan's first..last returned keys is not a conflict.)
 *
 * - A read-only transaction that commits (SSI: an empty write set still fails if what it read changed): no
 *   write answered before its commit started and committed after its snapshot touched what it read.
 * - Its reads of keys it wrote (put, delete, merge; `checkOwnRead`): its own version — its last put, or
 *   nothing after its delete, or the snapshot's value — with its operands folded over it.
 * - `unmarkWrite`: a key it unmarked is in no conflict check, its own nor the others' (`WriteRecord.untracked`).
 *
 * The commit checks are skipped (counted) when an uncertain write may have committed inside the window.
 */
import { foldBytes } from "./Merges.ts"
import { type Model, type ObservedRow, type Verdict, type WriteRecord } from "./Model.ts"
import { foldMatches, showCell } from "./ModelRows.ts"
import { showHexKey } from "./SimBytes.ts"

const OK: Verdict = { ok: true }
const fail = (message: string): Verdict => ({ ok: false, message })

export interface TxnScan {
  readonly contains: (hexKey: string) => boolean
  readonly rows: ReadonlyArray<ObservedRow>
}

/** What the actor knows of one transaction. */
export interface TxnRecord {
  readonly name: string
  readonly isolation: "snapshot" | "serializable"
  readonly startSeq: number
  /** Logical time at `begin`. */
  readonly beganAt: number
  /** Keys whose reads are tracked for conflicts (every get under serializable, marked keys at both levels). */
  readonly readKeys: Set<string>
  /** First and last key every non-empty scan returned (tracked under serializable). */
  readonly ranges: Array<readonly [string, string]>
  /** Every key it wrote (put, delete or merge), with what its own reads must see. */
  readonly writes: Map<string, OwnKey>
  /** Its writes in order (Operations.ts `foldEntries` makes the commit's entries of them). */
  readonly ops: Array<{ readonly key: Uint8Array; readonly kind: "put" | "delete" | "merge"; readonly value?: Uint8Array | undefined }>
  /** Keys it kept out of conflict checks (`unmarkWrite`). */
  readonly untracked: Set<string>
}

/** A read at `seq` (see the module comment); `respondedAt` bounds the uncertain writes it may see. */
export const checkReadAt = (
  model: Model,
  key: string,
  observed: ObservedRow | undefined,
  seq: number,
  respondedAt: number,
  what: string
): Verdict => {
  const expected = model.valueAtSeq(key, seq)
  if (foldMatches(model.checkSeqs, expected, observed, model.readLooseness(key, respondedAt))) return OK
  return fail(`${what}: get ${showHexKey(key)} at seq ${seq} returned ${showCell(observed)}, expected ${showCell(expected)}`)
}

/** A scan at `seq`: exactly the range's rows then. */
export const checkScanAt = (model: Model, scan: TxnScan, order: "asc" | "desc", seq: number, respondedAt: number, what: string): Verdict => {
  const uncertain = new Set<string>()
  for (const u of model.uncertainDuring(Number.NEGATIVE_INFINITY, respondedAt)) for (const k of u.entries.keys()) if (scan.contains(k)) uncertain.add(k)
  const diff = model.diffAt(model.keysIn(scan.contains, order), seq, undefined, scan.rows, uncertain)
  return diff === undefined ? OK : fail(`${what}: scan at seq ${seq}: ${diff}`)
}

/** The first write of `writes` `t` conflicts with (write-write unless `readOnly`; read-write when its reads are tracked). */
const conflict = (t: TxnRecord, writes: ReadonlyArray<WriteRecord>, readOnly: boolean): string | undefined => {
  const checkReads = t.isolation === "serializable" || t.readKeys.size > 0
  for (const w of writes) {
    for (const key of w.entries.keys()) {
      if (w.untracked?.has(key) === true) continue // kept out of conflict checks by its transaction (`unmarkWrite`)
      if (!readOnly && t.writes.has(key) && !t.untracked.has(key)) {
        return `write #${w.id} (seq ${w.seq}) wrote ${showHexKey(key)} meanwhile (write-write)`
      }
      if (!checkReads) continue
      if (t.readKeys.has(key)) return `write #${w.id} (seq ${w.seq}) changed ${showHexKey(key)}, which it read (read-write)`
      for (const [first, last] of t.ranges) {
        if (key >= first && key <= last) {
          return `write #${w.id} (seq ${w.seq}) wrote ${showHexKey(key)} inside its scanned range ${showHexKey(first)}..${showHexKey(last)}`
        }
      }
    }
  }
  return undefined
}

/** The commit checks of a transaction committed at `commitSeq` (answered at `committedAt`); "skipped" when not checkable. */
export const checkCommitted = (model: Model, t: TxnRecord, commitSeq: number, committedAt: number): Verdict | "skipped" => {
  if (commitSeq <= t.startSeq) return fail(`${t.name} committed at seq ${commitSeq}, not after its snapshot ${t.startSeq}`)
  if (model.uncertainDuring(t.beganAt, committedAt).length > 0) return "skipped"
  const problem = conflict(t, model.committedBetween(t.startSeq, commitSeq), false)
  return problem === undefined ? OK : fail(`${t.name} (${t.isolation}, seq ${t.startSeq}→${commitSeq}) committed although ${problem}`)
}

/**
 * A transaction that wrote nothing committed (answered at `committedAt`); every write answered before its
 * commit started (seq ≤ `answeredSeq`) was there for its check: none may touch what it read.
 */
export const checkReadOnlyCommit = (model: Model, t: TxnRecord, answeredSeq: number, committedAt: number): Verdict | "skipped" => {
  if (model.uncertainDuring(t.beganAt, committedAt).length > 0) return "skipped"
  const problem = conflict(t, model.committedBetween(t.startSeq, answeredSeq + 1), true)
  return problem === undefined ? OK : fail(`${t.name} (${t.isolation}, read-only, seq ${t.startSeq}) committed although ${problem}`)
}

/** What a transaction wrote to one key, as its own reads see it: its last put or delete (or the snapshot's value), then its operands. */
export interface OwnKey {
  readonly base: { readonly value: Uint8Array | undefined } | "snapshot"
  readonly operands: Array<Uint8Array>
}

/** A transaction's read of a key it wrote: its own version (value only: own rows carry no seq of theirs). */
export const checkOwnRead = (
  model: Model,
  key: string,
  own: OwnKey,
  observed: ObservedRow | undefined,
  startSeq: number,
  respondedAt: number,
  what: string
): Verdict => {
  let value = own.base === "snapshot" ? model.valueAtSeq(key, startSeq)?.value : own.base.value
  for (const o of own.operands) value = foldBytes(value, o)
  const expected = value === undefined ? undefined : { value, seq: 0 }
  const seen = observed === undefined ? undefined : { value: observed.value, seq: 0 }
  if (foldMatches(false, expected, seen, own.base === "snapshot" ? model.readLooseness(key, respondedAt) : { mayExpire: model.mayExpire })) return OK
  return fail(`${what}: its own write: got ${showCell(observed)}, expected ${showCell(expected)}`)
}
