/**
 * The trace of a simulation: one line per operation and event (what was asked, what came back, at which
 * simulated time), folded into a SHA-256 as it is written.
 *
 * The hash is the determinism check: the same seed must give the same hash, run after run, machine after
 * machine. Anything that leaks real time, real randomness or scheduling outside Effect's deterministic
 * scheduler into the engine shows up as two hashes for one seed. The last lines are kept, so that a
 * divergence report can show what led to it; `onLine` streams every line (`npm run sim -- --verbose`).
 */
import { createHash, type Hash } from "node:crypto"

export class Trace {
  readonly #hash: Hash = createHash("sha256")
  readonly #recent: Array<string> = []
  readonly #keep: number
  readonly #onLine: ((line: string) => void) | undefined
  #lines = 0
  /** How many operations of each kind ran, and how each ended (`put:ok`, `get:error`, ...). */
  readonly counts: Record<string, number> = {}

  constructor(options: { readonly keep?: number; readonly onLine?: (line: string) => void } = {}) {
    this.#keep = options.keep ?? 40
    this.#onLine = options.onLine
  }

  /** Appends a line to the trace (and to the hash). */
  line(text: string): void {
    this.#hash.update(text)
    this.#hash.update("\n")
    this.#lines++
    this.#recent.push(text)
    if (this.#recent.length > this.#keep) this.#recent.shift()
    this.#onLine?.(text)
  }

  count(key: string, n = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + n
  }

  get lines(): number {
    return this.#lines
  }

  /** The last lines written (the context of a divergence). */
  get recent(): ReadonlyArray<string> {
    return this.#recent.slice()
  }

  /** The hex digest of everything so far (the trace can go on afterwards). */
  digest(): string {
    return this.#hash.copy().digest("hex")
  }
}

/** A short content hash of a read's rows, for trace lines (the full rows would swamp the trace). */
export const rowsDigest = (rows: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array; readonly seq: number }>): string => {
  const h = createHash("sha256")
  for (const r of rows) {
    h.update(r.key)
    h.update(":")
    h.update(r.value)
    h.update(`@${r.seq};`)
  }
  return h.digest("hex").slice(0, 12)
}
