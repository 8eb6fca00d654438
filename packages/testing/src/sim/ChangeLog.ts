/**
 * What a change-stream consumer must have seen (ChangesActor.ts), against the model's history
 * (`Model.history`: every incarnation, its base, its committed and its uncertain writes).
 *
 * The durable history is a sequence of writes in seq order: of each incarnation but the last, the
 * committed writes the next one recovered (seq ≤ its `cutSeq`: recovery keeps a prefix, Model.ts), then
 * the last one's. A consumer reads it from a seq on, across runs (a run is one stream, on the writer or
 * on a `DbReader`; the next run starts after the last seq handled). Each array of rows a run yields (one
 * WAL SST's) is checked at once:
 * - rows come in groups of one seq; each group's seq is above every earlier one (each row once, in seq
 *   order) and at or above the floor (where the consumer started, or resumed after a gap);
 * - a group is exactly one write: a committed write with that seq, or an uncertain one (a failed or lost
 *   answer: it may have been committed), with the same keys, values and kinds (a tombstone for a delete, a
 *   merge row for an operand, as the write path folded the batch: Operations.ts `entriesOf`), each key once;
 * - no gap: every durable committed write whose seq lies between the previous group (or the floor) and
 *   this one was yielded.
 * A `ChangesGapError` moves the floor to its `resumeFrom` (ChangesActor.ts checks the gap is real).
 *
 * Plain synchronous TypeScript, no Effect.
 */
import type { Incarnation } from "./Frozen.ts"
import type { WriteRecord } from "./Model.ts"
import { bytesEqual, showHexKey } from "./SimBytes.ts"

/** One row a change stream yielded (the key in hex, as the model keeps it). */
export interface ChangeRow {
  readonly kind: "value" | "tombstone" | "merge"
  readonly key: string
  readonly value: Uint8Array | undefined
  readonly seq: number
}

/** The history's writes by seq: committed ones (durable or not), the durable ones in seq order, the uncertain ones. */
export class HistoryIndex {
  readonly #bySeq = new Map<number, Array<WriteRecord>>()
  readonly #durable: Array<WriteRecord> = []
  readonly #uncertain: Array<WriteRecord> = []

  constructor(history: ReadonlyArray<Incarnation>) {
    history.forEach((inc, i) => {
      const bound = i === history.length - 1 ? Infinity : history[i + 1]!.cutSeq
      for (const w of inc.committed) {
        const same = this.#bySeq.get(w.seq!)
        if (same === undefined) this.#bySeq.set(w.seq!, [w])
        else same.push(w)
        if (w.seq! <= bound) this.#durable.push(w)
      }
      this.#uncertain.push(...inc.uncertain)
    })
    this.#durable.sort((a, b) => a.seq! - b.seq!)
  }

  /** The write `rows` (one seq's) are, if any. */
  writeOf(seq: number, rows: ReadonlyArray<ChangeRow>): WriteRecord | undefined {
    const is = (w: WriteRecord) =>
      rows.length === w.entries.size && new Set(rows.map((r) => r.key)).size === rows.length && rows.every((r) => {
        if (!w.entries.has(r.key)) return false
        const v = w.entries.get(r.key)
        // The write path folds a batch's entries per key (Operations.ts `entriesOf`): an operand stays one.
        const kind = w.merges?.has(r.key) === true ? "merge" : "value"
        return v === undefined ? r.kind === "tombstone" : r.kind === kind && r.value !== undefined && bytesEqual(v, r.value)
      })
    return (this.#bySeq.get(seq) ?? []).find(is) ?? this.#uncertain.find(is)
  }

  /** The first durable committed write with a seq in `(lo, hi)`. */
  missedBetween(lo: number, hi: number): WriteRecord | undefined {
    return this.#durable.find((w) => w.seq! > lo && w.seq! < hi)
  }
}

const showRows = (rows: ReadonlyArray<ChangeRow>): string =>
  rows.map((r) => `${r.kind} ${showHexKey(r.key)}${r.value === undefined ? "" : `=${new TextDecoder().decode(r.value).slice(0, 24)}`}`).join(", ")

/** One consumer's progress through the durable history. */
export class ChangeLog {
  /** Rows below it must not appear, and writes below it are not owed. */
  floor: number
  /** The seq of the last group yielded. */
  lastSeq: number | undefined
  /** Rows yielded so far. */
  rows = 0

  constructor(fromSeq: number) {
    this.floor = fromSeq
  }

  /** Where the next run starts. */
  get next(): number {
    return this.lastSeq === undefined ? this.floor : Math.max(this.floor, this.lastSeq + 1)
  }

  /** Checks an array of rows a run yielded (whole groups); the problem, or undefined. */
  add(rows: ReadonlyArray<ChangeRow>, index: HistoryIndex): string | undefined {
    let i = 0
    while (i < rows.length) {
      const seq = rows[i]!.seq
      let j = i
      while (j < rows.length && rows[j]!.seq === seq) j++
      const problem = this.#group(seq, rows.slice(i, j), index)
      if (problem !== undefined) return problem
      i = j
    }
    return undefined
  }

  #group(seq: number, rows: ReadonlyArray<ChangeRow>, index: HistoryIndex): string | undefined {
    if (seq < this.floor) return `it yielded seq ${seq}, below ${this.floor}, where it started (${showRows(rows)})`
    if (this.lastSeq !== undefined && seq <= this.lastSeq) {
      return `it yielded seq ${seq} after seq ${this.lastSeq}: not once each, in seq order (${showRows(rows)})`
    }
    if (index.writeOf(seq, rows) === undefined) return `its rows at seq ${seq} are no write's (${showRows(rows)})`
    const missed = index.missedBetween(Math.max(this.lastSeq ?? -Infinity, this.floor - 1), seq)
    if (missed !== undefined) {
      return `it yielded seq ${seq} after ${this.lastSeq ?? `its start at ${this.floor}`}, without durable write #${missed.id} (seq ${missed.seq})`
    }
    this.lastSeq = seq
    this.rows += rows.length
    return undefined
  }
}
