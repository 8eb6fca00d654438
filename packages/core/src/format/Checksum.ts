/**
 * SlateDB's section checksum: standard CRC-32 (IEEE, reflected 0xEDB88320, the zlib `crc32`), stored as
 * 4 big-endian bytes after the bytes it covers. Every SST section (data blocks, filter, index, stats, info)
 * is framed this way; the CRC covers the stored (compressed) bytes.
 *
 * Guarantees: `verifyChecksum` returns the covered bytes (a zero-copy view) only when the CRC matches;
 * otherwise, and for a section too short to hold a CRC, it throws a `DataError` naming the object and the
 * section.
 */
import { crc32 as zlibCrc32 } from "node:zlib"
import { DataError } from "../errors.ts"
import { readU32, writeU32 } from "./BigEndian.ts"

export const CHECKSUM_SIZE = 4

export const crc32 = (bytes: Uint8Array): number => zlibCrc32(bytes) >>> 0

/** Returns `bytes ++ crc32(bytes)` in a new array. */
export const appendChecksum = (bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(bytes.length + CHECKSUM_SIZE)
  out.set(bytes, 0)
  writeU32(out, bytes.length, crc32(bytes))
  return out
}

/** Where a checksum failure happened, for the error message. */
export interface ChecksumContext {
  readonly object?: string | undefined
  readonly section: string
}

/** Checks `framed = payload ++ crc` and returns `payload` (a view into `framed`). */
export const verifyChecksum = (framed: Uint8Array, context: ChecksumContext): Uint8Array => {
  if (framed.length < CHECKSUM_SIZE) {
    throw new DataError({
      message: `${context.section}: ${framed.length} bytes cannot hold a checksum`,
      ...(context.object === undefined ? {} : { object: context.object }),
      section: context.section
    })
  }
  const end = framed.length - CHECKSUM_SIZE
  const payload = framed.subarray(0, end)
  const stored = readU32(framed, end)
  const actual = crc32(payload)
  if (stored !== actual) {
    throw new DataError({
      message: `${context.section}: checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`,
      ...(context.object === undefined ? {} : { object: context.object }),
      section: context.section
    })
  }
  return payload
}

const hex32 = (v: number): string => v.toString(16).padStart(8, "0")
