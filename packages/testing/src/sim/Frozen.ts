/**
 * A frozen state: what a checkpoint, or a read-only view, must hold for as long as it is read — long after
 * the model has moved on to later writes and later incarnations (a crash, a reopen), and after
 * compactions and garbage collection rewrote and deleted the objects behind it.
 *
 * The model freezes it when the checkpoint is made or the view opens (`Model.freeze`): this
 * incarnation's base, its committed writes (ascending seq), the legal window of states — from a floor `lo`
 * to `hi`, the last write invoked before the call answered — and the uncertain writes (failed or lost
 * answers, which may or may not be in it). Which window, by kind (docs/design/simulation.md, §3c):
 * - `Db.createCheckpoint({ scope: "all" })` flushes the WAL and the memtables first: every write answered
 *   before the call is in it, nothing invoked after it answered is (the window of a `memory` read);
 * - `scope: "durable"`: every write known durable before the call, at most what was committed (a `remote`
 *   read's window);
 * - a detached checkpoint (`Admin.createCheckpoint`) pins the latest manifest with the WAL SSTs it
 *   replays, and the writer writes a manifest version only now and then (an L0 flush, an open, a
 *   checkpoint of its own, a compactor's merge): what it holds may be older than what the writer recovered
 *   when it opened, so its window starts at the beginning of history (`"history"`: the states of earlier
 *   incarnations too) and ends at what was committed;
 * - a view of the latest state: the latest manifest and every WAL after it, so a `remote` read's window.
 *
 * A view reports the highest seq it holds (`ReadOnlyDb.seq`, `p`): the state it must show is exactly
 * base + the committed writes with seq ≤ p, and p must be in the window: no write it must hold is
 * missing, none made after it is covered (the model's later writes of the same incarnation tell). A checkpoint holds one state forever: every view of it
 * must report the same p (CheckpointActor.ts).
 */
import type { ScanShape, Verdict, WriteRecord } from "./Model.ts"
import { elementsOf, foldBytes } from "./Merges.ts"
import { diffRowsLoose, diffRowsUncertain, foldMatches, type Held, type Looseness, type ObservedRow, showCell, showSeq } from "./ModelRows.ts"
import { showHexKey } from "./SimBytes.ts"

const OK: Verdict = { ok: true }
const fail = (message: string): Verdict => ({ ok: false, message })

/** One incarnation of the database (between two opens): its base and its committed writes (ascending seq). */
export interface Incarnation {
  readonly base: ReadonlyMap<string, Held>
  /** Every state at a seq at or above this is the base plus writes of this incarnation (BASE: the first). */
  readonly cutSeq: number
  /** The model's own array: it grows while the incarnation lasts. */
  readonly committed: ReadonlyArray<WriteRecord>
  /** Its writes that failed or lost their answer (maybe committed, maybe not). */
  readonly uncertain: ReadonlyArray<WriteRecord>
}

export class FrozenState {
  /** Oldest first; the last is the incarnation the state was frozen in. */
  readonly #chain: ReadonlyArray<Incarnation>
  /** The current incarnation's writes the state may hold (seq ≤ hi). */
  readonly #committed: ReadonlyArray<WriteRecord>
  readonly #checkSeqs: boolean
  /** Elements that may have expired (a TTL'd write's, Model.ts). */
  readonly #loose: Looseness
  /** The window's ends (seqs; `lo` may be BASE). */
  readonly lo: number
  readonly hi: number
  readonly #states = new Map<string, Map<string, Held>>()

  constructor(fields: {
    readonly chain: ReadonlyArray<Incarnation>
    readonly lo: number
    readonly hi: number
    readonly checkSeqs: boolean
    readonly mayExpire: (element: string) => boolean
  }) {
    this.#chain = fields.chain
    this.#committed = fields.chain.at(-1)!.committed.filter((w) => w.seq! <= fields.hi)
    this.#checkSeqs = fields.checkSeqs
    this.#loose = { mayExpire: fields.mayExpire }
    this.lo = fields.lo
    this.hi = fields.hi
  }

  /** Whether uncertain writes make the current incarnation's states inexact (keys they touched are not checked). */
  get uncertain(): boolean {
    return this.#current.uncertain.length > 0
  }

  get #current(): Incarnation {
    return this.#chain.at(-1)!
  }

  /** The incarnation a state at seq `p` belongs to (the newest whose cut it reaches), and its index. */
  #incarnationOf(p: number): number {
    for (let i = this.#chain.length - 1; i > 0; i--) if (p >= this.#chain[i]!.cutSeq) return i
    return 0
  }

  /** How many of `writes` a state at seq `p` holds. */
  #count(writes: ReadonlyArray<WriteRecord>, p: number): number {
    let c = 0
    while (c < writes.length && writes[c]!.seq! <= p) c++
    return c
  }

  /** Why a view holding everything up to seq `p` is not a legal state of this window, or undefined. */
  windowProblem(p: number): string | undefined {
    const window = `window ${showSeq(this.lo)}..${showSeq(this.hi)}`
    if (p < this.#current.cutSeq) {
      if (this.#chain.length > 1) return undefined // an earlier incarnation's state: legal for this window
      return `it holds seqs up to ${p}, older than what the database recovered when it opened (seq ${this.#current.cutSeq}; ${window})`
    }
    const have = this.#count(this.#committed, p)
    const need = this.#count(this.#committed, this.lo)
    if (have < need) {
      const missed = this.#committed[have]!
      return `it holds seqs up to ${p}, without write #${missed.id} (seq ${missed.seq}), which it must hold (${window})`
    }
    const later = this.#current.committed.find((w) => w.seq! > this.hi && w.seq! <= p)
    if (later !== undefined && !this.uncertain) {
      return `it holds seqs up to ${p}, so write #${later.id} (seq ${later.seq}), made after it, too (${window})`
    }
    return undefined
  }

  /** The seqs from `lo` to `hi` a state can be at: both ends and every committed write's between, ascending. */
  statesIn(lo: number, hi: number): Array<number> {
    const seqs = new Set([lo, hi])
    this.#chain.forEach((inc, i) => {
      for (const w of i === this.#chain.length - 1 ? this.#committed : inc.committed) if (w.seq! > lo && w.seq! < hi) seqs.add(w.seq!)
    })
    return [...seqs].sort((a, b) => a - b)
  }

  /** The state holding everything up to `p`. */
  #state(p: number): Map<string, Held> {
    const i = this.#incarnationOf(p)
    const inc = this.#chain[i]!
    const writes = i === this.#chain.length - 1 ? this.#committed : inc.committed
    const c = this.#count(writes, p)
    const key = `${i}:${c}`
    let state = this.#states.get(key)
    if (state === undefined) {
      state = new Map(inc.base)
      for (let j = 0; j < c; j++) {
        const w = writes[j]!
        for (const [k, v] of w.entries) {
          const value = w.merges?.has(k) === true ? foldBytes(state.get(k)?.value, v!) : v
          state.set(k, { value, seq: w.seq!, createTs: w.createTs })
        }
      }
      this.#states.set(key, state)
    }
    return state
  }
  /** Keys the uncertain writes of the state's incarnation touched. */
  #uncertainKeys(p: number, contains: (key: string) => boolean): Set<string> {
    const keys = new Set<string>()
    for (const u of this.#chain[this.#incarnationOf(p)]!.uncertain) for (const k of u.entries.keys()) if (contains(k)) keys.add(k)
    return keys
  }

  /** A scan of the view holding everything up to `p`: exactly the range's rows of that state. */
  checkScan(shape: ScanShape, observed: ReadonlyArray<ObservedRow>, p: number, what: string): Verdict {
    const state = this.#state(p)
    const keys = [...state.keys()].filter(shape.contains).sort()
    if (shape.order === "desc") keys.reverse()
    const expected: Array<ObservedRow> = []
    for (const k of keys) {
      const c = state.get(k)!
      if (c.value !== undefined) expected.push({ key: k, value: c.value, seq: c.seq, createTs: c.createTs })
    }
    const uncertainKeys = this.#uncertainKeys(p, shape.contains)
    let diff: string | undefined
    if (uncertainKeys.size === 0) diff = diffRowsLoose(this.#checkSeqs, expected, observed, shape.limit, () => this.#loose)
    else {
      // Keys whose value may have lost an expired element are left alone too.
      for (const r of [...expected, ...observed]) if (elementsOf(r.value).some(this.#loose.mayExpire)) uncertainKeys.add(r.key)
      diff = diffRowsUncertain(this.#checkSeqs, shape.limit === undefined ? expected : expected.slice(0, shape.limit), observed, uncertainKeys, shape.limit)
    }
    return diff === undefined ? OK : fail(`${what} returned ${observed.length} rows, not the state at seq ${p}: ${diff}`)
  }

  /** A point read of the view holding everything up to `p`. */
  checkGet(key: string, observed: ObservedRow | undefined, p: number, what: string): Verdict {
    const expected = this.#state(p).get(key)
    if (foldMatches(this.#checkSeqs, expected, observed, this.#loose)) return OK
    if (this.#uncertainKeys(p, (k) => k === key).size > 0) return OK
    return fail(`${what}: get ${showHexKey(key)} returned ${showCell(observed)}, the state at seq ${p} holds ${showCell(expected)}`)
  }
}
