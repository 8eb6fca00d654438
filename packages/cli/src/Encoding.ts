/**
 * Keys and values on the command line and in output: UTF-8 text (the default), hex or base64.
 *
 * - Arguments (`put <key> <value>`, `--prefix`, `--start`, `--end`) are decoded with the chosen encoding;
 *   a string that is not valid hex or base64 is a usage error.
 * - Text output shows UTF-8 as readable text with escapes (./Display.ts), hex as lowercase hex, base64 as
 *   standard base64 (with padding).
 * - JSON output (`--json`, `export`) writes each key and value as a string in the chosen encoding. Under
 *   UTF-8 a key or value that is not valid UTF-8 is written `{"base64": "..."}` instead, so JSON output
 *   is always lossless; `import` reads both forms (and `{"hex": "..."}` and `{"utf8": "..."}`).
 */
import { Buffer } from "node:buffer"
import { showBytes } from "./Display.ts"

export const ENCODINGS = ["utf8", "hex", "base64"] as const
export type Encoding = (typeof ENCODINGS)[number]

const encoder = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const HEX = /^(?:[0-9a-fA-F]{2})*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Text in `encoding` → bytes; a problem (a sentence) if it is not valid in that encoding. */
export const decodeText = (text: string, encoding: Encoding): Uint8Array | string => {
  switch (encoding) {
    case "utf8":
      return encoder.encode(text)
    case "hex":
      return HEX.test(text) ? new Uint8Array(Buffer.from(text, "hex")) : `not valid hex (an even number of 0-9a-f digits)`
    case "base64":
      return BASE64.test(text) ? new Uint8Array(Buffer.from(text, "base64")) : `not valid base64`
  }
}

/** Bytes → text in `encoding`; undefined under UTF-8 when the bytes are not valid UTF-8. */
export const encodeBytes = (bytes: Uint8Array, encoding: Encoding): string | undefined => {
  switch (encoding) {
    case "utf8":
      try {
        return strictUtf8.decode(bytes)
      } catch {
        return undefined
      }
    case "hex":
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")
    case "base64":
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
  }
}

/** Bytes as the text output shows them (one line: UTF-8 is escaped). */
export const showEncoded = (bytes: Uint8Array, encoding: Encoding): string =>
  encoding === "utf8" ? showBytes(bytes) : encodeBytes(bytes, encoding)!

/** Bytes as a JSON value: a string in `encoding`, or `{ base64 }` for bytes that are not UTF-8. */
export const toJsonBytes = (bytes: Uint8Array, encoding: Encoding): string | { readonly base64: string } =>
  encodeBytes(bytes, encoding) ?? { base64: encodeBytes(bytes, "base64")! }

/** A JSON value written by `toJsonBytes` (or by hand) → bytes; a problem if it is not one. */
export const fromJsonBytes = (value: unknown, encoding: Encoding): Uint8Array | string => {
  if (typeof value === "string") return decodeText(value, encoding)
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const entries = Object.entries(value)
    const [name, text] = entries[0] ?? []
    if (entries.length === 1 && typeof text === "string" && (ENCODINGS as ReadonlyArray<string>).includes(name!)) {
      return decodeText(text, name as Encoding)
    }
  }
  return `expected a string or {"base64"|"hex"|"utf8": string}, got ${JSON.stringify(value)}`
}
