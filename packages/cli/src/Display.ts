/**
 * How the `shale` command shows bytes, sizes and times. Pure functions.
 *
 * Keys and values are shown as text when they are valid UTF-8 without control characters; otherwise (and
 * for the control characters and backslashes inside otherwise readable text) bytes are escaped
 * (`\xNN`, `\t`, `\n`, `\\`), so that every line of output is one row and nothing binary reaches the
 * terminal.
 */

const decoder = new TextDecoder("utf-8", { ignoreBOM: true })
const encoder = new TextEncoder()

export const utf8 = (s: string): Uint8Array => encoder.encode(s)

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const hex2 = (n: number): string => n.toString(16).padStart(2, "0")

const escapeChar = (c: string): string => {
  const code = c.codePointAt(0)!
  if (c === "\\") return "\\\\"
  if (c === "\n") return "\\n"
  if (c === "\t") return "\\t"
  if (c === "\r") return "\\r"
  if (code < 0x20 || code === 0x7f) return `\\x${hex2(code)}`
  return c
}

/** Bytes as readable text, escaped where needed (see the module comment). */
export const showBytes = (bytes: Uint8Array): string => {
  // Decoding replaces invalid sequences with U+FFFD, so the text re-encodes to the same bytes iff valid.
  const decoded = decoder.decode(bytes)
  const text = sameBytes(encoder.encode(decoded), bytes) ? decoded : undefined
  if (text !== undefined) {
    let out = ""
    for (const c of text) out += escapeChar(c)
    return out
  }
  let out = ""
  for (const b of bytes) out += b >= 0x20 && b < 0x7f ? escapeChar(String.fromCharCode(b)) : `\\x${hex2(b)}`
  return out
}

/** `showBytes`, cut to `max` characters with an ellipsis. */
export const showKey = (bytes: Uint8Array | undefined, max = 40): string => {
  if (bytes === undefined) return "-"
  const s = showBytes(bytes)
  return JSON.stringify(s.length > max ? `${s.slice(0, max - 1)}…` : s)
}

/** `1234` → `1.2 KiB`; exact bytes below 1 KiB. */
export const formatBytes = (n: number): string => {
  if (n < 1024) return `${n} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`
}

/** Milliseconds since the epoch as an ISO-8601 UTC time. */
export const formatTime = (ms: number): string => new Date(ms).toISOString()

/** A rate: `12,345/s`. */
export const formatRate = (count: number, ms: number): string =>
  ms <= 0 ? "-" : `${Math.round((count * 1000) / ms).toLocaleString("en-US")}/s`

/** Left-pads `s` to `n` characters. */
export const padStart = (s: string | number, n: number): string => String(s).padStart(n)

/** Right-pads `s` to `n` characters. */
export const padEnd = (s: string | number, n: number): string => String(s).padEnd(n)
