/**
 * The reference model the simulator checks every answer against: an ordered map of what the database
 * must contain, plus what the client knows about each write.
 *
 * What it knows (per incarnation of the database, i.e. between two opens):
 * - `base`: the contents right after the database opened, as the recovery check accepted them (with seqs);
 * - every write the client started: its entries (a batch deduplicated, last entry per key wins), when it
 *   was invoked and answered on a logical clock, and how it ended: `ok` with its sequence number,
 *   `failed`, or still `pending` (in flight when the process crashed). Failed and pending writes are
 *   *uncertain*: they may or may not have been committed, and only their values can identify them;
 * - durability evidence: "every write up to seq s is durable" at a logical time, from `awaitDurable`
 *   acknowledgements, returned `flush()` calls, a clean close, and what remote reads showed.
 *
 * What a read may legally return (SlateDB's semantics, docs/format.md §3.3): the state after a
 * prefix of the committed writes in seq order (seqs are assigned in commit order, and one batch is one
 * seq, so no read sees part of a batch). For a read invoked at `i` and answered at `r`, the prefix
 * ends at seq `p` where
 * - `p` ≥ the highest seq answered before `i` (memory level), or the highest seq known durable before
 *   `i` (remote level: `durability: "remote"` only sees durable data, and durability is a prefix too);
 * - every write up to `p` was invoked before `r` (a read cannot see a write that had not started).
 * A scan is one snapshot: all its rows come from one such prefix. Returned seqs must be the seq of the
 * write that produced the value (`checkSeqs`).
 *
 * What a reopen may legally show (the recovery check): base + the committed writes up to some cut, in seq
 * order, where the cut includes every write known durable; plus any uncertain write, applied whole, at a
 * seq consistent with the cut. Everything acknowledged as durable survives, no batch is partial, nothing
 * appears that nobody wrote, and a newer value never comes back older.
 *
 * Merges (Merges.ts): a key's value at seq s is its last put at or below s (nothing after a delete, or the
 * base) with the operands merged since folded over it in seq order; the write path's folding of a batch is
 * the write's entries (Operations.ts `foldEntries`). A value read back splits into its elements, each naming
 * its write, and where the model cannot know the exact state it compares element by element
 * (ModelRows.ts `foldMatches`): an uncertain write's elements may be anywhere (its put or delete may have
 * hidden what came before it), and a TTL'd write's elements may be gone once past their expiry (Expiry.ts).
 * Recovery (ModelRecovery.ts) folds the same way.
 *
 * Plain synchronous TypeScript, no Effect: the runner calls it between rounds.
 */
import { FrozenState, type Incarnation } from "./Frozen.ts"
import { Expiry } from "./Expiry.ts"
import { elementsOf, foldBytes } from "./Merges.ts"
import { findCut } from "./ModelRecovery.ts"
import type { ReadLevel, ScanShape, WriteExtras, WriteRecord } from "./ModelTypes.ts"
import {
  BASE,
  diffRows,
  diffRowsLoose,
  diffRowsUncertain,
  foldMatches,
  type Held,
  type Looseness,
  type ObservedRow,
  sameCell,
  showCell,
  showSeq
} from "./ModelRows.ts"
import { bytesEqual, showHexKey } from "./SimBytes.ts"

export type { ObservedRow } from "./ModelRows.ts"

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly message: string }

const OK: Verdict = { ok: true }
const fail = (message: string): Verdict => ({ ok: false, message })

/** A key's value at some point: undefined value = deleted; `merge`: an operand. `writeId` -1 = the base. */
interface Cell {
  readonly value: Uint8Array | undefined
  readonly merge: boolean
  readonly seq: number
  readonly createTs: number | undefined
  readonly writeId: number
}

export type { ReadLevel, ScanShape, WriteExtras, WriteRecord, WriteStatus } from "./ModelTypes.ts"

export class Model {
  /** Compare returned seqs with the writes' seqs (off if an engine legitimately rewrites seqs). */
  readonly checkSeqs: boolean

  #clock = 0
  #base = new Map<string, { readonly value: Uint8Array; readonly seq: number; readonly createTs: number | undefined }>()
  /** New writes must get seqs above this (the recovered contents and the durable floor). */
  #minNextSeq = 0
  #writes: Array<WriteRecord> = []
  /** `ok` writes, ascending seq. */
  #committed: Array<WriteRecord> = []
  #versions = new Map<string, Array<Cell>>()
  #durable: Array<{ readonly at: number; readonly seq: number }> = []
  #seqOwner = new Map<number, number>()
  #sortedKeys: Array<string> | undefined
  /** The incarnations before this one, oldest first (what frozen states older than the base read). */
  readonly #past: Array<Incarnation> = []
  /** Every state at a seq at or above this one is the base plus this incarnation's writes. */
  #cutSeq = BASE

  /** TTLs (Expiry.ts): which elements may have expired. */
  readonly #expiry = new Expiry()
  /** Whether `element` may be gone (its write's TTL may have run out). */
  readonly mayExpire = this.#expiry.mayExpire

  /** The simulated time now, for TTLs (the runner sets it; by default every TTL'd element may have expired). */
  set nowMs(now: () => number) {
    this.#expiry.nowMs = now
  }

  /** Checks done, for reports. */
  readonly stats = { reads: 0, recoveries: 0, writes: 0, mergeWrites: 0 }

  constructor(options: { readonly checkSeqs?: boolean } = {}) {
    this.checkSeqs = options.checkSeqs ?? true
  }

  /** Advances and returns the logical clock (call it just before invoking and just after an answer). */
  tick(): number {
    return ++this.#clock
  }

  // ---------------------------------------------------------------- writes

  beginWrite(
    id: number,
    entries: ReadonlyMap<string, Uint8Array | undefined>,
    awaitDurable: boolean,
    extras: WriteExtras = {}
  ): WriteRecord {
    const record: WriteRecord = {
      id,
      entries,
      merges: extras.merges,
      ttlMs: extras.ttlMs,
      untracked: extras.untracked,
      awaitDurable,
      invokedAt: this.tick(),
      respondedAt: undefined,
      seq: undefined,
      createTs: undefined,
      status: "pending"
    }
    this.#writes.push(record)
    this.#expiry.note(record)
    return record
  }

  /** How loosely reads of `key` compare, given the uncertain writes they may see. */
  looseness(key: string, uncertain: ReadonlyArray<WriteRecord>): Looseness {
    return this.#expiry.looseness(key, uncertain)
  }

  /** The looseness of a read answered at logical time `respondedAt`. */
  readLooseness(key: string, respondedAt: number): Looseness {
    return this.looseness(key, this.#uncertainBefore(respondedAt))
  }

  /**
   * The write was answered with `seq`. Returns a failed verdict if the seq is impossible. Call it in the
   * order the answers arrived, so that "answered before it started ⇒ smaller seq" is checked for every pair.
   */
  completeWrite(record: WriteRecord, seq: number, respondedAt: number, createTs?: number): Verdict {
    record.respondedAt = respondedAt
    record.seq = seq
    record.createTs = createTs
    record.status = "ok"
    this.stats.writes++
    if (record.merges !== undefined) this.stats.mergeWrites++
    if (!Number.isInteger(seq) || seq <= this.#minNextSeq) {
      return fail(`write #${record.id} got seq ${seq}, not above ${this.#minNextSeq} (recovered or durable data)`)
    }
    const owner = this.#seqOwner.get(seq)
    if (owner !== undefined) return fail(`seq ${seq} was given to both write #${owner} and write #${record.id}`)
    const before = this.#memoryFloor(record.invokedAt)
    if (seq <= before) {
      return fail(`write #${record.id} got seq ${seq}, below seq ${before} of a write answered before it started`)
    }
    this.#seqOwner.set(seq, record.id)
    let i = this.#committed.length
    while (i > 0 && this.#committed[i - 1]!.seq! > seq) i--
    this.#committed.splice(i, 0, record)
    for (const [key, value] of record.entries) {
      let cells = this.#versions.get(key)
      if (cells === undefined) {
        cells = []
        this.#versions.set(key, cells)
        this.#sortedKeys = undefined
      }
      let j = cells.length
      while (j > 0 && cells[j - 1]!.seq > seq) j--
      cells.splice(j, 0, { value, merge: record.merges?.has(key) === true, seq, createTs, writeId: record.id })
    }
    this.#expiry.note(record)
    if (record.awaitDurable) this.#durable.push({ at: respondedAt, seq })
    return OK
  }

  /** The write failed, or its answer was lost (crash): it may or may not have been committed. */
  failWrite(record: WriteRecord, respondedAt: number | undefined): void {
    record.respondedAt = respondedAt
    record.status = "failed"
  }

  /** The write certainly did not happen (a transaction's conflict): forget it. */
  discardWrite(record: WriteRecord): void {
    const i = this.#writes.indexOf(record)
    if (i >= 0) this.#writes.splice(i, 1)
  }

  // ---------------------------------------------------------------- snapshots and transactions (TxnChecks.ts)

  /** The committed state of `key` at seq `s` (undefined: absent or deleted). */
  valueAtSeq(key: string, s: number): Held | undefined {
    return this.#valueAt(key, s)
  }

  /** The keys the model knows that `contains` accepts, in scan order. */
  keysIn(contains: (hexKey: string) => boolean, order: "asc" | "desc"): Array<string> {
    const keys = this.#keys().filter(contains)
    if (order === "desc") keys.reverse()
    return keys
  }

  /** The writes committed with a seq in `(lo, hi)`. */
  committedBetween(lo: number, hi: number): Array<WriteRecord> {
    return this.#committed.filter((w) => w.seq! > lo && w.seq! < hi)
  }

  /** Uncertain writes that may have committed between logical times `from` and `to`. */
  uncertainDuring(from: number, to: number): Array<WriteRecord> {
    return this.#writes.filter((w) => w.status !== "ok" && w.invokedAt < to && (w.respondedAt === undefined || w.respondedAt > from))
  }

  /** A flush invoked at `invokedAt` returned at `respondedAt`: everything answered before it is durable. */
  flushed(invokedAt: number, respondedAt: number): void {
    const seq = this.#memoryFloor(invokedAt)
    if (seq !== BASE) this.#durable.push({ at: respondedAt, seq })
  }

  /** The database closed cleanly: everything committed is durable. */
  closedCleanly(): void {
    const last = this.#committed.at(-1)
    if (last !== undefined) this.#durable.push({ at: this.tick(), seq: last.seq! })
  }

  /** The highest seq answered in this incarnation (0 if none). */
  get lastAnsweredSeq(): number {
    return this.#committed.reduce((m, w) => Math.max(m, w.seq!), 0)
  }

  /** The highest seq known durable in this incarnation (0 if none). */
  get lastKnownDurableSeq(): number {
    return this.#durable.reduce((m, d) => Math.max(m, d.seq), 0)
  }

  /** Uncertain writes of this incarnation (failed or pending). */
  get uncertain(): ReadonlyArray<WriteRecord> {
    return this.#writes.filter((w) => w.status !== "ok")
  }

  /** Pending writes become failed (their process died). */
  abandonPending(): void {
    for (const w of this.#writes) if (w.status === "pending") w.status = "failed"
  }

  // ---------------------------------------------------------------- reads

  /** Checks a point read. `observed` is undefined for "not found". */
  checkGet(
    key: string,
    observed: { readonly value: Uint8Array; readonly seq: number; readonly createTs?: number | undefined } | undefined,
    level: ReadLevel,
    invokedAt: number,
    respondedAt: number
  ): Verdict {
    this.stats.reads++
    const candidates = this.#candidates(level, invokedAt, respondedAt)
    const loose = this.readLooseness(key, respondedAt)
    for (const s of candidates) {
      const expected = this.#valueAt(key, s)
      if (sameCell(this.checkSeqs, expected, observed)) {
        if (level === "remote") this.#noteRemote(s, respondedAt)
        return OK
      }
      if (foldMatches(this.checkSeqs, expected, observed, loose)) return OK
    }
    const legal = candidates.map((s) => `${showSeq(s)}→${showCell(this.#valueAt(key, s))}`)
    return fail(
      `get ${showHexKey(key)} (${level}) returned ${showCell(observed)}; legal: ${legal.slice(0, 8).join(", ")}${
        legal.length > 8 ? ", …" : ""
      }`
    )
  }

  /** Checks a scan: the rows must be exactly the range's contents at one legal prefix. */
  checkScan(
    shape: ScanShape,
    observed: ReadonlyArray<ObservedRow>,
    level: ReadLevel,
    invokedAt: number,
    respondedAt: number,
    what: string
  ): Verdict {
    this.stats.reads++
    const keys = this.#keys().filter(shape.contains)
    if (shape.order === "desc") keys.reverse()
    const candidates = this.#candidates(level, invokedAt, respondedAt)
    const uncertainKeys = new Set<string>()
    for (const u of this.#uncertainBefore(respondedAt)) for (const k of u.entries.keys()) if (shape.contains(k)) uncertainKeys.add(k)
    let best: { s: number; diff: string } | undefined
    for (const s of candidates) {
      const diff = this.diffAt(keys, s, shape.limit, observed, uncertainKeys)
      if (diff === undefined) {
        // Only an exact match proves the state at `s` durable (a fold with elements gone may match several).
        const exact = !this.#expiry.any || diffRows(this.checkSeqs, this.#rowsAt(keys, s, shape.limit), observed) === undefined
        if (level === "remote" && exact) this.#noteRemote(s, respondedAt)
        return OK
      }
      best = { s, diff }
    }
    return fail(
      `${what} (${level}) returned ${observed.length} rows, matching no legal snapshot ` +
        `(${candidates.length} tried: ${candidates.slice(0, 6).map(showSeq).join(", ")}${candidates.length > 6 ? ", …" : ""}); ` +
        `against the newest (${showSeq(best!.s)}): ${best!.diff}`
    )
  }

  /**
   * The first difference between `observed` and the rows of `keys` (in scan order) at seq `s`. Keys in
   * `uncertainKeys` (an uncertain write touched them) are left alone, and so are then keys whose value may
   * have lost an expired element; otherwise a value compares element by element (`diffRowsLoose`).
   */
  diffAt(keys: ReadonlyArray<string>, s: number, limit: number | undefined, observed: ReadonlyArray<ObservedRow>, uncertainKeys: ReadonlySet<string>): string | undefined {
    if (uncertainKeys.size === 0) return diffRowsLoose(this.checkSeqs, this.#rowsAt(keys, s, undefined), observed, limit, () => this.#expiry.exact)
    const expected = this.#rowsAt(keys, s, limit)
    let left = uncertainKeys
    if (this.#expiry.any) {
      const expiring = [...expected, ...observed].filter((r) => elementsOf(r.value).some(this.mayExpire))
      if (expiring.length > 0) left = new Set([...uncertainKeys, ...expiring.map((r) => r.key)])
    }
    return diffRowsUncertain(this.checkSeqs, expected, observed, left, limit)
  }

  /**
   * What a checkpoint made, or a read-only view opened, between logical times `invokedAt` and `respondedAt`
   * may hold, frozen for later reads (Frozen.ts): the window starts at the floor of `level` (`"history"`:
   * any state since the database was created, this incarnation's or an earlier one's) and ends at the last
   * write invoked before `respondedAt`.
   */
  freeze(level: ReadLevel | "history", invokedAt: number, respondedAt: number): FrozenState {
    const candidates = level === "history" ? this.#candidatesFrom(BASE, respondedAt) : this.#candidates(level, invokedAt, respondedAt)
    const uncertain = this.#uncertainBefore(respondedAt)
    const current: Incarnation = { base: this.#base, cutSeq: this.#cutSeq, committed: this.#committed, uncertain }
    return new FrozenState({
      chain: level === "history" ? [...this.#past, current] : [current],
      lo: candidates[0]!,
      hi: candidates.at(-1)!,
      checkSeqs: this.checkSeqs,
      mayExpire: this.mayExpire
    })
  }

  /** Every incarnation so far, oldest first, this one last (what readers and change streams follow). */
  get history(): ReadonlyArray<Incarnation> {
    return [...this.#past, { base: this.#base, cutSeq: this.#cutSeq, committed: this.#committed, uncertain: this.uncertain }]
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Checks what a freshly opened database holds (a full scan) against this incarnation's history, then
   * starts a new incarnation with it as the base.
   */
  recover(observed: ReadonlyArray<ObservedRow>): Verdict {
    this.stats.recoveries++
    const durableFloor = this.#durable.reduce((m, d) => Math.max(m, d.seq), BASE)
    const found = findCut({
      checkSeqs: this.checkSeqs,
      base: this.#base,
      writes: this.#writes,
      committed: this.#committed,
      uncertain: this.uncertain,
      durableFloor,
      looseness: (key, u) => this.looseness(key, u),
      whoWrote: (key, o) => this.#whoWrote(key, o),
      writeIdOfSeq: (seq) => this.#writeIdOfSeq(seq)
    }, observed)
    if (typeof found === "string") return fail(found)
    this.#startIncarnation(observed, durableFloor, found)
    return OK
  }

  /** `lastIncluded`: the seq of the last committed write of this incarnation the recovered state holds. */
  #startIncarnation(observed: ReadonlyArray<ObservedRow>, durableFloor: number, lastIncluded: number): void {
    this.#past.push({ base: this.#base, cutSeq: this.#cutSeq, committed: this.#committed, uncertain: this.uncertain })
    this.#base = new Map(observed.map((r) => [r.key, { value: r.value, seq: r.seq, createTs: r.createTs }] as const))
    let maxSeq = 0
    for (const r of observed) if (r.seq > maxSeq) maxSeq = r.seq
    // Where the new base starts (Frozen.ts): after everything of the old incarnation it holds.
    this.#cutSeq = this.checkSeqs ? Math.max(this.#cutSeq, lastIncluded, maxSeq) : BASE
    this.#minNextSeq = this.checkSeqs ? Math.max(this.#minNextSeq, maxSeq, durableFloor === BASE ? 0 : durableFloor) : 0
    this.#writes = []
    this.#committed = []
    this.#versions = new Map()
    this.#durable = []
    this.#seqOwner = new Map()
    this.#sortedKeys = undefined
  }

  // ---------------------------------------------------------------- internals

  /** The highest seq answered (ok) before logical time `at`. */
  #memoryFloor(at: number): number {
    let m = BASE
    for (const w of this.#committed) if (w.respondedAt! < at && w.seq! > m) m = w.seq!
    return m
  }

  /** The highest seq known durable before logical time `at`. */
  #durableFloor(at: number): number {
    let m = BASE
    for (const d of this.#durable) if (d.at < at && d.seq > m) m = d.seq
    return m
  }

  /** The prefixes (by their last seq) a read invoked at `i` and answered at `r` may have seen, ascending. */
  #candidates(level: ReadLevel, i: number, r: number): Array<number> {
    // Remote reads see durable data only, and durable data is committed: the floor is the durable one.
    return this.#candidatesFrom(level === "memory" ? this.#memoryFloor(i) : this.#durableFloor(i), r)
  }

  /** `lo`, then the seq of every committed write above it invoked before `r`, ascending. */
  #candidatesFrom(lo: number, r: number): Array<number> {
    const out = [lo]
    for (const w of this.#committed) {
      if (w.seq! <= lo) continue
      if (w.invokedAt > r) break
      out.push(w.seq!)
    }
    return out
  }

  #noteRemote(s: number, at: number): void {
    if (s !== BASE) this.#durable.push({ at, seq: s })
  }

  #uncertainBefore(at: number): Array<WriteRecord> {
    return this.#writes.filter((w) => w.status !== "ok" && w.invokedAt < at)
  }

  /** The key's value at seq `s`: its last put (or the base) with the operands merged since folded over it. */
  #valueAt(key: string, s: number): Held | undefined {
    const cells = this.#versions.get(key)
    let top = cells === undefined ? -1 : cells.length - 1
    while (top >= 0 && cells![top]!.seq > s) top--
    if (top < 0) return this.#base.get(key)
    const cell = cells![top]!
    if (!cell.merge) return cell.value === undefined ? undefined : cell
    let from = top
    while (from >= 0 && cells![from]!.merge) from--
    let value = from >= 0 ? cells![from]!.value : this.#base.get(key)?.value
    for (let i = from + 1; i <= top; i++) value = foldBytes(value, cells![i]!.value!)
    return { value, seq: cell.seq, createTs: cell.createTs }
  }

  #keys(): Array<string> {
    if (this.#sortedKeys === undefined) {
      this.#sortedKeys = [...new Set([...this.#base.keys(), ...this.#versions.keys()])].sort()
    }
    return this.#sortedKeys.slice()
  }

  #rowsAt(keys: ReadonlyArray<string>, s: number, limit: number | undefined): Array<ObservedRow> {
    const rows: Array<ObservedRow> = []
    for (const k of keys) {
      if (limit !== undefined && rows.length >= limit) break
      const c = this.#valueAt(k, s)
      if (c !== undefined && c.value !== undefined) rows.push({ key: k, value: c.value, seq: c.seq, createTs: c.createTs })
    }
    return rows
  }

  #writeIdOfSeq(seq: number): number | undefined {
    return this.#seqOwner.get(seq)
  }

  /** " (write #n)" if some known write produced this value, " (written by nobody)" otherwise. */
  #whoWrote(key: string, o: ObservedRow): string {
    for (const w of this.#writes) {
      const v = w.entries.get(key)
      if (v !== undefined && bytesEqual(v, o.value)) return ` (write #${w.id}, ${w.status}${w.seq === undefined ? "" : ` seq ${w.seq}`})`
    }
    const b = this.#base.get(key)
    if (b !== undefined && bytesEqual(b.value, o.value)) return " (the previous base)"
    return " (written by nobody in this incarnation)"
  }
}
