/**
 * Byte-string helpers shared by the format code. Keys compare as raw unsigned bytes (SlateDB has no custom
 * comparators), shorter-is-smaller on a common prefix.
 */

/** Lexicographic comparison of unsigned bytes: negative, 0 or positive. */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const la = a.length
  const lb = b.length
  const n = la < lb ? la : lb
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return la - lb
}

export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  const n = a.length
  if (n !== b.length) return false
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
  return true
}

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
