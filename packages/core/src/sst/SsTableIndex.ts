/**
 * The search of an SST's index (its blocks' first keys, "separators"): which block may hold a key.
 *
 * The shortcut: separators 1..n-1 share their first `skip` bytes (they are sorted, so the second and the
 * last share what all share), and `words[i]` holds the next 6 bytes of separator `i` as a big-endian
 * number (zero-padded; exact in a double), or -1 for a separator 0 without that prefix (SlateDB often
 * shortens it to the empty key: it is then below every key that has the prefix). For a key with the same
 * prefix, a different word orders the key and the separator like the bytes do; equal words fall back to
 * `compareKeys`. A binary search step is then one load from a small typed array instead of a visit to a
 * separator's bytes somewhere in the heap.
 */
import { commonPrefix } from "../format/Bytes.ts"
import { compareKeys } from "../format/KeyComparator.ts"
import type { BlockMeta } from "../format/SstMetadata.ts"

export class SstIndex {
  readonly blockMeta: ReadonlyArray<BlockMeta>
  readonly #skip: number
  readonly #words: Float64Array
  /**
   * Whether the separator of the block the last `find` returned equals its key (scratch, set by every
   * call: lookups are synchronous, so nothing runs between the call and the read of it).
   */
  foundExact = false

  constructor(blockMeta: ReadonlyArray<BlockMeta>) {
    this.blockMeta = blockMeta
    const n = blockMeta.length
    const skip = n < 2 ? 0 : commonPrefix(blockMeta[1]!.firstKey, blockMeta[n - 1]!.firstKey)
    this.#skip = skip
    this.#words = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const key = blockMeta[i]!.firstKey
      this.#words[i] = i === 0 && n >= 2 && commonPrefix(key, blockMeta[1]!.firstKey) < skip ? -1 : wordAt(key, skip)
    }
  }

  /**
   * Index of the last block whose separator is < `key` (`strict`) or ≤ `key`; 0 if none. `known`: how many
   * leading bytes `key` is known to share with separators 1..n-1.
   */
  find(key: Uint8Array, strict: boolean, known = 0): number {
    const meta = this.blockMeta
    let lo = 0
    let hi = meta.length - 1
    let found = 0
    let exact = false
    const skip = this.#skip
    let words: Float64Array | undefined = undefined
    let w = 0
    if (hi > 0 && key.length >= skip) {
      const first = meta[1]!.firstKey
      let i = known < skip ? known : skip
      while (i < skip && key[i] === first[i]) i++
      if (i === skip) {
        words = this.#words
        w = wordAt(key, skip)
      }
    }
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      let c: number
      if (words === undefined) c = compareKeys(meta[mid]!.firstKey, key)
      else {
        const x = words[mid]!
        c = x < w ? -1 : x > w ? 1 : compareKeys(meta[mid]!.firstKey, key)
      }
      if (c < 0 || (!strict && c === 0)) {
        found = mid
        exact = c === 0
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    this.foundExact = exact
    return found
  }
}

/** The 6 bytes of `b` at `o` as a big-endian number (< 2^48, exact), bytes past the end counting as 0. */
const wordAt = (b: Uint8Array, o: number): number => {
  const n = b.length
  let w = 0
  for (let i = o; i < o + 6; i++) w = w * 256 + (i < n ? b[i]! : 0)
  return w
}
