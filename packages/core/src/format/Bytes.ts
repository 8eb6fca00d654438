/**
 * Byte-string helpers shared by the format code. Comparing and testing keys for equality is
 * `KeyComparator.ts`'s job (`compareKeys`, `keysEqual`): one implementation for the whole engine.
 */

/** Length of the common prefix of `a` and `b`. */
export const commonPrefix = (a: Uint8Array, b: Uint8Array): number => {
  const n = a.length < b.length ? a.length : b.length
  let i = 0
  while (i < n && a[i] === b[i]) i++
  return i
}

export const concatBytes = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}
