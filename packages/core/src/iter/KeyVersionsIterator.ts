/**
 * The shape the flush and compaction steps share (RetentionIterator.ts, MergeFoldIterator.ts): read rows
 * in key order, collect each key's versions (in whatever seq order the sources gave them), hand them to
 * `process` once the key is complete, and emit what it produced before reading on. Rows come out in key
 * order, each key's rows in the order `process` put them.
 */
import type { Effect } from "effect"
import type { DbError } from "../errors.ts"
import { keysEqual } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { NEED_PULL, type NeedPull, type RowIterator } from "./RowIterator.ts"

/** `single`'s answer when the general `process` must decide. */
export const GENERAL: unique symbol = Symbol.for("shale/iter/GENERAL")

export abstract class KeyVersionsIterator implements RowIterator {
  readonly #inner: RowIterator
  /**
   * The key being collected while it has one version (most keys): held here, not in `#versions`, so that
   * a key with one version costs no array traffic and no `process` call when `single` decides it.
   */
  #held: RowEntry | undefined = undefined
  /** The versions of the key being collected once it has two or more. */
  readonly #versions: Array<RowEntry> = []
  /** What `process` made of the last complete key, emitted from `#outIndex`. */
  readonly #out: Array<RowEntry> = []
  #outIndex = 0
  #ended = false
  #stopped = false

  constructor(inner: RowIterator) {
    this.#inner = inner
  }

  get pull(): Effect.Effect<void, DbError> {
    return this.#inner.pull
  }

  /**
   * Turns one key's versions (any seq order; the array is the caller's to reorder) into the rows to emit,
   * appended to `out`. False stops the iteration: `next()` answers `NEED_PULL` from then on (a subclass's
   * `pull` then says why).
   */
  protected abstract process(versions: Array<RowEntry>, out: Array<RowEntry>): boolean

  /**
   * A key with exactly one version: the row to emit, `undefined` to emit none, or `GENERAL` to let
   * `process` decide (the default). Must agree with `process` on a one-version array.
   */
  protected single(_row: RowEntry): RowEntry | undefined | typeof GENERAL {
    return GENERAL
  }

  next(): RowEntry | undefined | NeedPull {
    const versions = this.#versions
    for (;;) {
      if (this.#stopped) return NEED_PULL
      if (this.#outIndex < this.#out.length) return this.#out[this.#outIndex++]
      if (this.#ended) return undefined
      const row = this.#inner.next()
      if (row === NEED_PULL) return NEED_PULL
      const held = this.#held
      if (row === undefined) {
        this.#ended = true
        this.#held = undefined
        if (held !== undefined) {
          const one = this.#completeSingle(held)
          if (one !== undefined) return one
        } else if (versions.length > 0) this.#complete()
        continue
      }
      if (held !== undefined) {
        if (keysEqual(held.key, row.key)) {
          versions.push(held, row)
          this.#held = undefined
          continue
        }
        this.#held = row
        const one = this.#completeSingle(held)
        if (one !== undefined) return one
        continue
      }
      if (versions.length > 0) {
        if (keysEqual(versions[0]!.key, row.key)) {
          versions.push(row)
          continue
        }
        this.#complete()
      }
      this.#held = row
    }
  }

  /** A complete key of one version: what `single` emits, or (`GENERAL`) what `process` puts in `#out`. */
  #completeSingle(row: RowEntry): RowEntry | undefined {
    const one = this.single(row)
    if (one !== GENERAL) return one
    this.#versions.push(row)
    this.#complete()
    return undefined
  }

  /** Processes the collected key into `#out` and clears it. */
  #complete(): void {
    const out = this.#out
    out.length = 0
    this.#outIndex = 0
    if (!this.process(this.#versions, out)) this.#stopped = true
    this.#versions.length = 0
  }
}
