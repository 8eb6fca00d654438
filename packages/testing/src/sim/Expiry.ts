/**
 * TTLs in the model (docs/format.md §3.11): rows expire only when an L0 flush or a compaction rewrites
 * them with a cutoff past their `expire_ts` (a value becomes a tombstone, an operand is dropped), never on
 * reads. So once its expiry has passed, an element (Merges.ts) of a TTL'd write *may* be gone from any read,
 * and must still be there before. The registry runs over the whole run (elements are unique to their write),
 * so the base of a later incarnation, which holds folded values, still knows which of its elements expire.
 */
import type { WriteRecord } from "./Model.ts"
import type { Looseness } from "./ModelRows.ts"
import { elementsOf } from "./Merges.ts"

export class Expiry {
  /** Element → its expiry (undefined: not known, its write is uncertain). */
  readonly #at = new Map<string, number | undefined>()
  /** The simulated time now (the runner sets it; by default every TTL'd element may have expired). */
  nowMs: () => number = () => Number.POSITIVE_INFINITY

  /** Whether any write had a TTL. */
  get any(): boolean {
    return this.#at.size > 0
  }

  /** Registers the elements of a TTL'd write with their expiry (once its createTs is known). */
  note(record: WriteRecord): void {
    if (record.ttlMs === undefined) return
    const at = record.createTs === undefined ? undefined : record.createTs + record.ttlMs
    for (const v of record.entries.values()) if (v !== undefined) for (const e of elementsOf(v)) this.#at.set(e, at)
  }

  /** Whether `element` may be gone (its write had a TTL that may have run out by now). */
  readonly mayExpire = (element: string): boolean => {
    if (!this.#at.has(element)) return false
    const at = this.#at.get(element)
    return at === undefined || at <= this.nowMs()
  }

  /** Elements may expire; nothing else differs. */
  readonly exact: Looseness = { mayExpire: this.mayExpire }

  /** How loosely reads of `key` compare, given the uncertain writes they may see. */
  looseness(key: string, uncertain: ReadonlyArray<WriteRecord>): Looseness {
    let elements: Set<string> | undefined
    let resets = false
    for (const u of uncertain) {
      if (!u.entries.has(key)) continue
      elements ??= new Set()
      const v = u.entries.get(key)
      if (v !== undefined) for (const e of elementsOf(v)) elements.add(e)
      if (u.merges?.has(key) !== true) resets = true
    }
    return elements === undefined ? this.exact : { mayExpire: this.mayExpire, uncertain: { elements, resets } }
  }
}
