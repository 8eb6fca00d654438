/**
 * The file format of the disk cache's part files (`CachedObjectStore`): one file holds one part of one
 * object (bytes `[index * partSize, index * partSize + length)`), behind a header that lets a reader tell a
 * whole, correct file from a truncated, corrupt or foreign one without trusting anything it has not checked.
 *
 * Layout (little-endian), `headerSize(partSize)` bytes of header, then the payload:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `SHPC` |
 * | 4 | 2 | format version (1) |
 * | 6 | 2 | reserved (0) |
 * | 8 | 4 | part size |
 * | 12 | 4 | part index (`HEAD_PART` for the object's head) |
 * | 16 | 4 | payload length (≤ part size; shorter only for the object's last part, 0 past its end) |
 * | 20 | 4 | chunk size (`CHUNK_SIZE`) |
 * | 24 | 4 | CRC32 of bytes [0, 24) and [28, header end) |
 * | 28 | 4 × chunks | CRC32 of each `CHUNK_SIZE` chunk of the payload (unused slots 0) |
 *
 * Per-chunk checksums let a read of a few KiB (one SST block) check only the chunks it reads, instead of the
 * whole part (4 MiB by default). The header's own checksum covers the lengths, so a flipped bit there is
 * caught too; the part index and the part size in the header must match what the file name says, so a file
 * renamed or written for another part size is never served. A payload shorter than the part size says
 * where the object ends, so the cache needs no object size to serve a range (only suffix ranges need one).
 *
 * Pure functions over bytes, no I/O.
 */
import { crc32 } from "node:zlib"

export const MAGIC = 0x43504853 // "SHPC" read little-endian
export const VERSION = 1
/** Payload bytes per checksum. */
export const CHUNK_SIZE = 64 * 1024
/** The part index of the head file (the object's metadata as JSON). */
export const HEAD_PART = 0xffffffff
const FIXED = 28

/** The header's length for parts of `partSize` bytes (one checksum slot per chunk of a full part). */
export const headerSize = (partSize: number): number => FIXED + 4 * Math.ceil(Math.max(partSize, 1) / CHUNK_SIZE)

export interface PartHeader {
  readonly partSize: number
  readonly index: number
  readonly length: number
  /** The CRC32 of each chunk of the payload. */
  readonly crcs: Uint32Array
}

/** The whole file: header, then `payload`. */
export const encodePart = (partSize: number, index: number, payload: Uint8Array): Uint8Array => {
  if (payload.length > partSize) throw new RangeError(`part payload of ${payload.length} bytes exceeds the part size ${partSize}`)
  const hs = headerSize(partSize)
  const out = new Uint8Array(hs + payload.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, MAGIC, true)
  view.setUint16(4, VERSION, true)
  view.setUint32(8, partSize, true)
  view.setUint32(12, index, true)
  view.setUint32(16, payload.length, true)
  view.setUint32(20, CHUNK_SIZE, true)
  for (let c = 0, at = 0; at < payload.length; c++, at += CHUNK_SIZE) {
    view.setUint32(FIXED + 4 * c, crc32(payload.subarray(at, Math.min(at + CHUNK_SIZE, payload.length))), true)
  }
  view.setUint32(24, headerCrc(out, hs), true)
  out.set(payload, hs)
  return out
}

const headerCrc = (header: Uint8Array, size: number): number =>
  crc32(header.subarray(FIXED, size), crc32(header.subarray(0, 24)))

/**
 * The header in `bytes` (at least `headerSize(partSize)` long), if it is intact and describes part `index`
 * of a `partSize` cache; undefined otherwise.
 */
export const decodeHeader = (bytes: Uint8Array, partSize: number, index: number): PartHeader | undefined => {
  const hs = headerSize(partSize)
  if (bytes.length < hs) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, hs)
  if (view.getUint32(0, true) !== MAGIC || view.getUint16(4, true) !== VERSION) return undefined
  if (view.getUint32(24, true) !== headerCrc(bytes, hs)) return undefined
  if (view.getUint32(8, true) !== partSize || view.getUint32(12, true) !== index) return undefined
  if (view.getUint32(20, true) !== CHUNK_SIZE) return undefined
  const length = view.getUint32(16, true)
  if (length > partSize) return undefined
  const chunks = Math.ceil(length / CHUNK_SIZE)
  if (FIXED + 4 * chunks > hs) return undefined
  const crcs = new Uint32Array(chunks)
  for (let c = 0; c < chunks; c++) crcs[c] = view.getUint32(FIXED + 4 * c, true)
  return { partSize, index, length, crcs }
}

/** The chunk-aligned payload span `[from, to)` that covers payload bytes `[start, end)`. */
export const chunkSpan = (header: PartHeader, start: number, end: number): readonly [number, number] => {
  const from = Math.floor(start / CHUNK_SIZE) * CHUNK_SIZE
  const to = Math.min(header.length, Math.ceil(end / CHUNK_SIZE) * CHUNK_SIZE)
  return [from, Math.max(from, to)]
}

/**
 * Whether `span` (payload bytes from `from`, chunk-aligned, as `chunkSpan` gives) is whole and matches
 * the checksums of the chunks it covers.
 */
export const verifySpan = (header: PartHeader, from: number, span: Uint8Array): boolean => {
  const [, to] = chunkSpan(header, from, from + span.length)
  if (from % CHUNK_SIZE !== 0 || from + span.length !== to) return false
  for (let at = 0; at < span.length; at += CHUNK_SIZE) {
    const chunk = span.subarray(at, Math.min(at + CHUNK_SIZE, span.length))
    if (crc32(chunk) !== header.crcs[(from + at) / CHUNK_SIZE]) return false
  }
  return true
}
