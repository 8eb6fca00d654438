/**
 * The sequence tracker (RFC-0012): a bounded, sampled map from sequence numbers to wall-clock seconds,
 * stored in the manifest's `sequence_tracker` bytes (docs/format.md §2.6).
 *
 * Semantics (as SlateDB 0.12.1):
 * - `insert` records a point at most once per 60 s: a point whose timestamp is less than 60 s after the
 *   last recorded one is dropped (this also drops timestamps that go backwards). Points must be
 *   monotonic in both seq and time; SlateDB panics otherwise, we drop the point.
 * - At most 8192 points: when a 8193rd is added, every other point is kept (indices 0, 2, 4, …; the
 *   newest survives because the count is odd).
 * - `merge(into, other)` inserts `other`'s points one by one (so the same sampling applies).
 * - Deviation: SlateDB remembers the last *recorded* timestamp only in memory (not after decoding), so
 *   the first insert after loading a manifest skips the 60 s check. We use the newest stored timestamp
 *   instead, which is the same thing except right after a decode. Sampling is advisory; nothing in the
 *   format depends on it.
 *
 * Encoding: `u8 version = 1 | u32 LE n | Gorilla(seqs) | Gorilla(timestamps)`, each Gorilla stream an
 * MSB-first bit stream padded to a byte: u32 count, first value in 64 bits, then per value the
 * delta-of-delta as `0` (0), `10`+7 bits, `110`+9 bits, `1110`+12 bits, `1111`+32 bits. Version 1's
 * 32-bit fallback truncates delta-of-deltas outside i32 (a SlateDB limitation we reproduce for
 * byte-compatibility; it needs > 2^31 writes between two samples a minute apart, or a 68-year clock
 * jump). Version 2 (newer SlateDB: 64-bit fallback) is also read. Only version 1 is written, because
 * 0.12.1 rejects anything else.
 */
import { DataError, InvalidError } from "../errors.ts"

export interface SequenceTracker {
  /** Sequence numbers, ascending (non-strictly). */
  readonly seqs: ReadonlyArray<number>
  /** Unix seconds, ascending (non-strictly), parallel to `seqs`. */
  readonly timestamps: ReadonlyArray<number>
}

export type FindOption = "RoundUp" | "RoundDown"

const CAPACITY = 8192
const INTERVAL_SECS = 60
const VERSION_1 = 1
const VERSION_2 = 2

const empty: SequenceTracker = { seqs: [], timestamps: [] }

const insert = (tracker: SequenceTracker, seq: number, timestampSeconds: number): SequenceTracker => {
  const n = tracker.seqs.length
  if (n > 0) {
    const lastTs = tracker.timestamps[n - 1]!
    if (timestampSeconds - lastTs < INTERVAL_SECS) return tracker
    if (seq < tracker.seqs[n - 1]!) return tracker
  }
  let seqs = [...tracker.seqs, seq]
  let timestamps = [...tracker.timestamps, timestampSeconds]
  if (seqs.length > CAPACITY) {
    seqs = seqs.filter((_, i) => i % 2 === 0)
    timestamps = timestamps.filter((_, i) => i % 2 === 0)
  }
  return { seqs, timestamps }
}

const merge = (into: SequenceTracker, other: SequenceTracker): SequenceTracker => {
  let t = into
  for (let i = 0; i < other.seqs.length; i++) t = insert(t, other.seqs[i]!, other.timestamps[i]!)
  return t
}

/** Index of `x` in ascending `xs` (any match), or `-(insertion point) - 1`, like Rust's `binary_search`. */
const binarySearch = (xs: ReadonlyArray<number>, x: number): number => {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const v = xs[mid]!
    if (v < x) lo = mid + 1
    else if (v > x) hi = mid
    else return mid
  }
  return -lo - 1
}

const find = (
  keys: ReadonlyArray<number>,
  values: ReadonlyArray<number>,
  key: number,
  option: FindOption
): number | undefined => {
  if (keys.length === 0) return undefined
  const r = binarySearch(keys, key)
  if (r >= 0) return values[r]
  const idx = -r - 1
  if (option === "RoundUp") return idx < keys.length ? values[idx] : undefined
  return idx > 0 ? values[idx - 1] : undefined
}

/** The timestamp (Unix seconds) recorded for `seq`, rounding to a neighbouring point when not exact. */
const findTs = (tracker: SequenceTracker, seq: number, option: FindOption): number | undefined =>
  find(tracker.seqs, tracker.timestamps, seq, option)

/** The seq recorded at `timestampSeconds`, rounding to a neighbouring point when not exact. */
const findSeq = (tracker: SequenceTracker, timestampSeconds: number, option: FindOption): number | undefined =>
  find(tracker.timestamps, tracker.seqs, timestampSeconds, option)

// ---------------------------------------------------------------------------------------------------
// Gorilla bit streams

class BitWriter {
  bytes = new Uint8Array(64)
  bitLen = 0

  private ensure(extraBits: number): void {
    const need = (this.bitLen + extraBits + 7) >>> 3
    if (need > this.bytes.length) {
      const next = new Uint8Array(Math.max(need, this.bytes.length * 2))
      next.set(this.bytes)
      this.bytes = next
    }
  }

  /** Pushes the low `bits` (≤ 32) bits of `value`, most significant first. */
  push(value: number, bits: number): void {
    this.ensure(bits)
    for (let i = bits - 1; i >= 0; i--) {
      if ((value >>> i) & 1) this.bytes[this.bitLen >>> 3]! |= 0x80 >>> (this.bitLen & 7)
      this.bitLen++
    }
  }

  push64(value: bigint): void {
    const u = BigInt.asUintN(64, value)
    this.push(Number(u >> 32n), 32)
    this.push(Number(u & 0xffffffffn), 32)
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, (this.bitLen + 7) >>> 3)
  }
}

const encodeGorilla = (w: BitWriter, values: ReadonlyArray<number>): void => {
  w.push(values.length, 32)
  if (values.length === 0) return
  w.push64(BigInt(values[0]!))
  for (let i = 1; i < values.length; i++) {
    const v = values[i]!
    const prev = values[i - 1]!
    const delta = v - prev
    const prevDelta = i === 1 ? 0 : prev - values[i - 2]!
    const dod = delta - prevDelta
    if (!Number.isSafeInteger(delta) || !Number.isSafeInteger(prevDelta) || dod > 2047 || dod < -2047) {
      // The 32-bit fallback. Computed exactly (doubles are inexact beyond 2^53); version 1 stores the
      // low 32 bits, as SlateDB 0.12.1 does.
      const big = BigInt(v) - BigInt(prev) - (i === 1 ? 0n : BigInt(prev) - BigInt(values[i - 2]!))
      w.push(0b1111, 4)
      w.push(Number(BigInt.asUintN(32, big)), 32)
      continue
    }
    if (dod === 0) w.push(0, 1)
    else if (dod >= -63 && dod <= 63) {
      w.push(0b10, 2)
      w.push(dod & 0x7f, 7)
    } else if (dod >= -255 && dod <= 255) {
      w.push(0b110, 3)
      w.push(dod & 0x1ff, 9)
    } else {
      w.push(0b1110, 4)
      w.push(dod & 0xfff, 12)
    }
  }
}

/** Encodes the tracker in the version-1 format SlateDB 0.12.1 reads. */
const encode = (tracker: SequenceTracker): Uint8Array => {
  const n = tracker.seqs.length
  if (tracker.timestamps.length !== n) {
    throw new InvalidError({ message: "sequence tracker: seqs and timestamps differ in length" })
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isSafeInteger(tracker.seqs[i]) || tracker.seqs[i]! < 0 || !Number.isSafeInteger(tracker.timestamps[i])) {
      throw new InvalidError({ message: `sequence tracker: point ${i} is not a pair of safe integers` })
    }
  }
  const seqs = new BitWriter()
  encodeGorilla(seqs, tracker.seqs)
  const ts = new BitWriter()
  encodeGorilla(ts, tracker.timestamps)
  const a = seqs.finish()
  const b = ts.finish()
  const out = new Uint8Array(5 + a.length + b.length)
  out[0] = VERSION_1
  new DataView(out.buffer).setUint32(1, n, true)
  out.set(a, 5)
  out.set(b, 5 + a.length)
  return out
}

const fail = (message: string): never => {
  throw new DataError({ message: `invalid sequence tracker: ${message}`, section: "sequence_tracker" })
}

class BitReader {
  readonly bytes: Uint8Array
  readonly end: number
  pos: number

  constructor(bytes: Uint8Array, startByte: number) {
    this.bytes = bytes
    this.end = bytes.length * 8
    this.pos = startByte * 8
  }

  read(bits: number): number {
    if (this.pos + bits > this.end) fail("unexpected end of data")
    let v = 0
    for (let i = 0; i < bits; i++) {
      v = v * 2 + ((this.bytes[this.pos >>> 3]! >>> (7 - (this.pos & 7))) & 1)
      this.pos++
    }
    return v
  }

  bit(): number {
    return this.read(1)
  }

  /** A 64-bit two's-complement value; must be a safe integer. */
  readI64(): number {
    const hi = this.read(32)
    const lo = this.read(32)
    const v = (hi | 0) * 4294967296 + lo
    if (!Number.isSafeInteger(v)) fail("value does not fit in a safe integer")
    return v
  }
}

const signExtend = (raw: number, bits: number): number => (raw >= 2 ** (bits - 1) ? raw - 2 ** bits : raw)

const decodeGorilla = (r: BitReader, wideFallback: boolean, maxCount: number): Array<number> => {
  const count = r.read(32)
  // Each value takes at least one bit, which bounds `count` by the data left.
  if (count > maxCount) fail(`stream count ${count} exceeds the data`)
  const values = new Array<number>(count)
  if (count === 0) return values
  let prev = r.readI64()
  values[0] = prev
  let prevDelta = 0
  for (let i = 1; i < count; i++) {
    let dod: number
    if (r.bit() === 0) dod = 0
    else if (r.bit() === 0) dod = signExtend(r.read(7), 7)
    else if (r.bit() === 0) dod = signExtend(r.read(9), 9)
    else if (r.bit() === 0) dod = signExtend(r.read(12), 12)
    else dod = wideFallback ? r.readI64() : signExtend(r.read(32), 32)
    const delta = prevDelta + dod
    const v = prev + delta
    if (!Number.isSafeInteger(delta) || !Number.isSafeInteger(v)) fail("value does not fit in a safe integer")
    values[i] = v
    prev = v
    prevDelta = delta
  }
  // Each stream is padded to a byte boundary.
  r.pos = (r.pos + 7) & ~7
  return values
}

/** Decodes tracker bytes (versions 1 and 2); throws `DataError` on malformed input. */
const decode = (bytes: Uint8Array): SequenceTracker => {
  if (bytes.length === 0) fail("empty buffer")
  const version = bytes[0]!
  if (version !== VERSION_1 && version !== VERSION_2) fail(`unsupported version ${version}`)
  if (bytes.length < 5) fail("buffer too small for length")
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1, true)
  const r = new BitReader(bytes, 5)
  const maxCount = bytes.length * 8
  const seqs = decodeGorilla(r, version === VERSION_2, maxCount)
  if (seqs.length !== n) fail(`expected ${n} sequence numbers, got ${seqs.length}`)
  const timestamps = decodeGorilla(r, version === VERSION_2, maxCount)
  if (timestamps.length !== n) fail(`expected ${n} timestamps, got ${timestamps.length}`)
  for (const s of seqs) if (s < 0) fail("negative sequence number")
  return { seqs, timestamps }
}

/** Operations on `SequenceTracker` values (all pure; trackers are immutable). */
export const SequenceTracker = {
  empty,
  capacity: CAPACITY,
  intervalSeconds: INTERVAL_SECS,
  insert,
  merge,
  findTs,
  findSeq,
  encode,
  decode
} as const
