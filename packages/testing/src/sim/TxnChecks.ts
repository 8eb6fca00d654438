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
 * The commit checks are skipped (counted) when an uncertain write may have committed inside the window.
 */
import { type Model, type ObservedRow, type Verdict } from "./Model.ts"
import { diffRowsUncertain, sameCell, showCell } from "./ModelRows.ts"
import { bytesEqual, showHexKey } from "./SimBytes.ts"

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
  /** hex key → value (undefined: delete). */
  readonly writes: Map<string, Uint8Array | undefined>
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
  if (sameCell(model.checkSeqs, expected, observed)) return OK
  for (const u of model.uncertainDuring(Number.NEGATIVE_INFINITY, respondedAt)) {
    if (!u.entries.has(key)) continue
    const v = u.entries.get(key)
    if (v === undefined ? observed === undefined : observed !== undefined && bytesEqual(v, observed.value)) return OK
  }
  return fail(`${what}: get ${showHexKey(key)} at seq ${seq} returned ${showCell(observed)}, expected ${showCell(expected)}`)
}

/** A scan at `seq`: exactly the range's rows then. */
export const checkScanAt = (model: Model, scan: TxnScan, order: "asc" | "desc", seq: number, respondedAt: number, what: string): Verdict => {
  const uncertain = new Set<string>()
  for (const u of model.uncertainDuring(Number.NEGATIVE_INFINITY, respondedAt)) for (const k of u.entries.keys()) if (scan.contains(k)) uncertain.add(k)
  const diff = diffRowsUncertain(model.checkSeqs, model.rowsAtSeq(scan.contains, order, seq), scan.rows, uncertain, undefined)
  return diff === undefined ? OK : fail(`${what}: scan at seq ${seq}: ${diff}`)
}

/** The commit checks of a transaction committed at `commitSeq` (answered at `committedAt`); "skipped" when not checkable. */
export const checkCommitted = (model: Model, t: TxnRecord, commitSeq: number, committedAt: number): Verdict | "skipped" => {
  if (commitSeq <= t.startSeq) return fail(`${t.name} committed at seq ${commitSeq}, not after its snapshot ${t.startSeq}`)
  if (model.uncertainDuring(t.beganAt, committedAt).length > 0) return "skipped"
  const checkReads = t.isolation === "serializable" || t.readKeys.size > 0
  for (const w of model.committedBetween(t.startSeq, commitSeq)) {
    for (const key of w.entries.keys()) {
      if (t.writes.has(key)) {
        return fail(`${t.name} (${t.isolation}, seq ${t.startSeq}→${commitSeq}) committed although write #${w.id} (seq ${w.seq}) wrote ${showHexKey(key)} meanwhile (write-write)`)
      }
      if (!checkReads) continue
      if (t.readKeys.has(key)) {
        return fail(`${t.name} (${t.isolation}, seq ${t.startSeq}→${commitSeq}) committed although write #${w.id} (seq ${w.seq}) changed ${showHexKey(key)}, which it read (read-write)`)
      }
      for (const [first, last] of t.ranges) {
        if (key >= first && key <= last) {
          return fail(`${t.name} committed although write #${w.id} (seq ${w.seq}) wrote ${showHexKey(key)} inside its scanned range ${showHexKey(first)}..${showHexKey(last)}`)
        }
      }
    }
  }
  return OK
}
