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
 * Plain synchronous TypeScript, no Effect: the runner calls it between rounds.
 */
import { FrozenState, type Incarnation } from "./Frozen.ts"
import { BASE, diffRows, diffRowsUncertain, type Held, type ObservedRow, sameCell, showCell, showSeq } from "./ModelRows.ts"
import { bytesEqual, showHexKey } from "./SimBytes.ts"

export type { ObservedRow } from "./ModelRows.ts"

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly message: string }

const OK: Verdict = { ok: true }
const fail = (message: string): Verdict => ({ ok: false, message })

export type WriteStatus = "pending" | "ok" | "failed"

export interface WriteRecord {
  /** The operation's index in the run. */
  readonly id: number
  /** Deduplicated entries: hex key → value, or undefined for a delete. */
  readonly entries: ReadonlyMap<string, Uint8Array | undefined>
  readonly awaitDurable: boolean
  readonly invokedAt: number
  respondedAt: number | undefined
  seq: number | undefined
  createTs: number | undefined
  status: WriteStatus
}

/** A key's value at some point: undefined value = deleted. `writeId` -1 = the base. */
interface Cell {
  readonly value: Uint8Array | undefined
  readonly seq: number
  readonly createTs: number | undefined
  readonly writeId: number
}

/** Which keys a read covers and how it orders and limits them. */
export interface ScanShape {
  readonly contains: (hexKey: string) => boolean
  readonly order: "asc" | "desc"
  readonly limit: number | undefined
}

export type ReadLevel = "memory" | "remote"

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

  /** Checks done, for reports. */
  readonly stats = { reads: 0, recoveries: 0, writes: 0 }

  constructor(options: { readonly checkSeqs?: boolean } = {}) {
    this.checkSeqs = options.checkSeqs ?? true
  }

  /** Advances and returns the logical clock (call it just before invoking and just after an answer). */
  tick(): number {
    return ++this.#clock
  }

  // ---------------------------------------------------------------- writes

  beginWrite(id: number, entries: ReadonlyMap<string, Uint8Array | undefined>, awaitDurable: boolean): WriteRecord {
    const record: WriteRecord = {
      id,
      entries,
      awaitDurable,
      invokedAt: this.tick(),
      respondedAt: undefined,
      seq: undefined,
      createTs: undefined,
      status: "pending"
    }
    this.#writes.push(record)
    return record
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
      cells.splice(j, 0, { value, seq, createTs, writeId: record.id })
    }
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

  /** The rows of `keys` (hex, in order) at seq `s`. */
  rowsAtSeq(contains: (hexKey: string) => boolean, order: "asc" | "desc", s: number): Array<ObservedRow> {
    const keys = this.#keys().filter(contains)
    if (order === "desc") keys.reverse()
    return this.#rowsAt(keys, s, undefined)
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
    for (const s of candidates) {
      if (sameCell(this.checkSeqs, this.#valueAt(key, s), observed)) {
        if (level === "remote") this.#noteRemote(s, respondedAt)
        return OK
      }
    }
    for (const u of this.#uncertainBefore(respondedAt)) {
      if (!u.entries.has(key)) continue
      const v = u.entries.get(key)
      if (v === undefined ? observed === undefined : observed !== undefined && bytesEqual(v, observed.value)) return OK
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
      const expected = this.#rowsAt(keys, s, shape.limit)
      const diff = uncertainKeys.size === 0
        ? diffRows(this.checkSeqs, expected, observed)
        : diffRowsUncertain(this.checkSeqs, expected, observed, uncertainKeys, shape.limit)
      if (diff === undefined) {
        if (level === "remote") this.#noteRemote(s, respondedAt)
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
      checkSeqs: this.checkSeqs
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
    const found = new Map<string, ObservedRow>()
    let maxObservedSeq = BASE
    for (const row of observed) {
      found.set(row.key, row)
      if (row.seq > maxObservedSeq) maxObservedSeq = row.seq
    }
    for (const row of observed) {
      const b = this.#base.get(row.key)
      const known = (b !== undefined && bytesEqual(b.value, row.value)) ||
        this.#writes.some((w) => {
          const v = w.entries.get(row.key)
          return v !== undefined && bytesEqual(v, row.value)
        })
      if (!known) {
        return fail(
          `after reopening, ${showHexKey(row.key)} is ${showCell(row)}: written by nobody in this incarnation ` +
            `(a lost update resurrected, or corrupt data)`
        )
      }
    }
    const L = this.#committed
    const durableFloor = this.#durable.reduce((m, d) => Math.max(m, d.seq), BASE)
    const mustInclude = Math.max(durableFloor, this.checkSeqs ? maxObservedSeq : BASE)
    let cmin = 0
    while (cmin < L.length && L[cmin]!.seq! <= mustInclude) cmin++

    // expected contents after base + L[0..c), built incrementally
    const expected = new Map<string, Held>()
    const lastTouch = new Map<string, number>()
    for (const [k, v] of this.#base) expected.set(k, v)
    const apply = (w: WriteRecord) => {
      for (const [k, v] of w.entries) {
        expected.set(k, { value: v, seq: w.seq!, createTs: w.createTs })
        lastTouch.set(k, w.seq!)
      }
    }
    for (let i = 0; i < cmin; i++) apply(L[i]!)
    const uncertain = this.uncertain
    let firstProblem: string | undefined
    for (let c = cmin; c <= L.length; c++) {
      if (c > cmin) apply(L[c - 1]!)
      const problem = this.#tryCut(c, expected, lastTouch, found, uncertain)
      if (problem === undefined) {
        this.#startIncarnation(observed, durableFloor, c > 0 ? L[c - 1]!.seq! : BASE)
        return OK
      }
      firstProblem ??= problem
    }
    const lostDurable = durableFloor === BASE ? "" : ` Writes up to seq ${durableFloor} were acknowledged as durable.`
    return fail(
      `after reopening, the database holds ${observed.length} keys matching no legal recovery point ` +
        `(cuts after ${cmin}..${L.length} of ${L.length} committed writes, ${uncertain.length} uncertain).` +
        `${lostDurable} At the durable cut: ${firstProblem}`
    )
  }

  /** Why the recovered contents cannot be the cut after `c` committed writes (undefined: they can). */
  #tryCut(
    c: number,
    expected: ReadonlyMap<string, Held>,
    lastTouch: ReadonlyMap<string, number>,
    found: ReadonlyMap<string, ObservedRow>,
    uncertain: ReadonlyArray<WriteRecord>
  ): string | undefined {
    const L = this.#committed
    const firstExcluded = c < L.length ? L[c]!.seq! : Number.POSITIVE_INFINITY
    const present = new Map<WriteRecord, number | undefined>()
    const keys = new Set<string>([...expected.keys(), ...found.keys()])
    for (const k of [...keys].sort()) {
      const e = expected.get(k)
      const visible = e !== undefined && e.value !== undefined ? e : undefined
      const o = found.get(k)
      if (sameCell(this.checkSeqs, visible, o)) continue
      if (o !== undefined) {
        const u = uncertain.find((u) => {
          const v = u.entries.get(k)
          if (v === undefined || !bytesEqual(v, o.value)) return false
          if (!this.checkSeqs) return true
          const known = present.get(u)
          return o.seq > (e?.seq ?? BASE) && o.seq < firstExcluded && (known === undefined || known === o.seq)
        })
        if (u === undefined) {
          const w = this.#whoWrote(k, o)
          return `${showHexKey(k)} is ${showCell(o)}${w}, expected ${showCell(visible)}`
        }
        present.set(u, this.checkSeqs ? o.seq : undefined)
      } else {
        const u = uncertain.find((u) => u.entries.has(k) && u.entries.get(k) === undefined)
        if (u === undefined) {
          const lost = e !== undefined && e.seq !== BASE ? this.#writeIdOfSeq(e.seq) : undefined
          return `${showHexKey(k)} is missing, expected ${showCell(visible)}${lost === undefined ? "" : ` (write #${lost})`}`
        }
        if (!present.has(u)) present.set(u, undefined)
      }
    }
    for (const [u, s] of present) {
      for (const [k, v] of u.entries) {
        const o = found.get(k)
        const reflects = v === undefined
          ? o === undefined
          : o !== undefined && bytesEqual(o.value, v) && (s === undefined || o.seq === s)
        if (reflects) continue
        const lt = lastTouch.get(k)
        const byCommitted = lt !== undefined && (s === undefined || lt > s)
        let byUncertain = false
        for (const [u2, s2] of present) {
          if (u2 !== u && u2.entries.has(k) && (s === undefined || s2 === undefined || s2 > s)) byUncertain = true
        }
        if (!byCommitted && !byUncertain) {
          return `partial batch: uncertain write #${u.id} is visible, but ${showHexKey(k)} is ${showCell(o)}, not ${
            showCell({ value: v, seq: s ?? 0 })
          }`
        }
      }
    }
    return undefined
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

  #valueAt(key: string, s: number): Held | undefined {
    const cells = this.#versions.get(key)
    if (cells !== undefined) {
      for (let i = cells.length - 1; i >= 0; i--) {
        const cell = cells[i]!
        if (cell.seq <= s) return cell.value === undefined ? undefined : cell
      }
    }
    return this.#base.get(key)
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
