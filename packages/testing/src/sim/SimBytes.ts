/**
 * Byte helpers of the simulator: keys live in the model as lower-case hex strings, whose string order is
 * the byte order (every byte is two characters, and a proper prefix sorts first in both orders), and show
 * up in traces in a readable escaped form.
 */

const HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

export const toHex = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

export const fromHex = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

export const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const encoder = new TextEncoder()
export const utf8 = (s: string): Uint8Array => encoder.encode(s)

/** Printable ASCII as is, everything else as `\xNN`; long values are cut with their length shown. */
export const showBytes = (bytes: Uint8Array, max = 24): string => {
  let s = ""
  const n = Math.min(bytes.length, max)
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!
    s += b >= 0x21 && b <= 0x7e && b !== 0x5c ? String.fromCharCode(b) : `\\x${HEX[b]}`
  }
  return bytes.length > max ? `${s}…(${bytes.length}B)` : s
}

export const showHexKey = (hex: string): string => showBytes(fromHex(hex), 40)
