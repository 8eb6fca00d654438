/**
 * FlatBuffers plumbing shared by the SST metadata, manifest and compactions codecs
 * (docs/design/flatbuffers.md explains why the tables are hand-written).
 *
 * Writing goes through the official `flatbuffers` runtime `Builder`, which implements the same
 * back-to-front layout algorithm as the Rust builder SlateDB uses (same alignment, same vtable
 * de-duplication, same string padding); the codecs add fields in Rust's order so output can be
 * byte-identical.
 *
 * Reading does NOT use the runtime `ByteBuffer`: it does no bounds checking, so a corrupt buffer would
 * read `undefined` bytes as zeros and decode to a silently wrong value. `FbBuffer`/`FbTable` check every
 * access instead, the way Rust's FlatBuffer verifier does:
 * - every offset, vtable, table, vector and string lies inside the buffer;
 * - vtables are well-formed (even length >= 4; the table's inline size lies inside the buffer);
 * - strings are NUL-terminated, valid UTF-8;
 * - u64 values must be safe integers (Shale holds ids, epochs and seqs in JS numbers);
 * - the total decoding work is bounded by the buffer size ("apparent size" limit), so overlapping
 *   offsets in a hostile buffer cannot blow up time or memory.
 * Any violation throws a `DataError` naming the section; nothing here throws a `RangeError`/`TypeError`.
 * Alignment is not checked (DataView reads unaligned values correctly).
 */
import { Builder } from "flatbuffers"
import { DataError, InvalidError } from "../errors.ts"

const TWO_32 = 4294967296
/** Largest `hi` word of a u64 that still gives a safe integer (2^53 - 1 = 0x1FFFFF_FFFFFFFF). */
const MAX_SAFE_HI = 0x1fffff
const I64_MIN = -9223372036854775808

const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/** A FlatBuffer under decoding: a byte range plus the section name used in errors. */
export class FbBuffer {
  readonly bytes: Uint8Array
  readonly view: DataView
  readonly length: number
  readonly section: string
  /** Remaining decoding work (bytes copied + 8 per table visited) before we call the buffer hostile. */
  private budget: number

  constructor(bytes: Uint8Array, section: string) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.length = bytes.byteLength
    this.section = section
    this.budget = 16 * bytes.byteLength + 4096
  }

  fail(message: string): never {
    throw new DataError({ message: `invalid FlatBuffer: ${message}`, section: this.section })
  }

  charge(units: number): void {
    this.budget -= units
    if (this.budget < 0) this.fail("apparent size exceeds the buffer size (overlapping or cyclic offsets)")
  }

  check(pos: number, width: number, what: string): void {
    if (pos < 0 || pos + width > this.length) this.fail(`${what} at ${pos} (+${width}) is outside the buffer (${this.length} bytes)`)
  }

  u8(pos: number): number {
    this.check(pos, 1, "u8")
    return this.view.getUint8(pos)
  }

  u16(pos: number): number {
    this.check(pos, 2, "u16")
    return this.view.getUint16(pos, true)
  }

  u32(pos: number): number {
    this.check(pos, 4, "u32")
    return this.view.getUint32(pos, true)
  }

  i32(pos: number): number {
    this.check(pos, 4, "i32")
    return this.view.getInt32(pos, true)
  }

  /** A u64 that must be a safe integer. */
  u64(pos: number, what: string): number {
    this.check(pos, 8, what)
    const lo = this.view.getUint32(pos, true)
    const hi = this.view.getUint32(pos + 4, true)
    if (hi > MAX_SAFE_HI) this.fail(`${what} does not fit in a safe integer`)
    return hi * TWO_32 + lo
  }

  /** An i64 that must be a safe integer, or exactly i64::MIN (represented exactly as -2^63). */
  i64(pos: number, what: string): number {
    this.check(pos, 8, what)
    const lo = this.view.getUint32(pos, true)
    const hi = this.view.getInt32(pos + 4, true)
    if (hi === -0x80000000 && lo === 0) return I64_MIN
    const v = hi * TWO_32 + lo
    if (!Number.isSafeInteger(v)) this.fail(`${what} does not fit in a safe integer`)
    return v
  }

  /** The root table (`finish(root)` with no identifier and no size prefix). */
  root(): FbTable {
    if (this.length < 4) this.fail("buffer shorter than the root offset")
    return this.tableAt(this.u32(0))
  }

  tableAt(pos: number): FbTable {
    this.charge(8)
    this.check(pos, 4, "table")
    const vt = pos - this.view.getInt32(pos, true)
    this.check(vt, 4, "vtable")
    const vtLen = this.view.getUint16(vt, true)
    const inlineLen = this.view.getUint16(vt + 2, true)
    if (vtLen < 4 || (vtLen & 1) !== 0) this.fail(`vtable at ${vt} has bad length ${vtLen}`)
    this.check(vt, vtLen, "vtable")
    if (inlineLen < 4) this.fail(`table at ${pos} has bad inline size ${inlineLen}`)
    this.check(pos, inlineLen, "table")
    return new FbTable(this, pos, vt, vtLen)
  }

  /** Follows the uoffset stored at `pos`. */
  deref(pos: number): number {
    return pos + this.u32(pos)
  }
}

/** A vector inside the buffer: `length` elements of `elemSize` bytes starting at `start`. */
export interface FbVector {
  readonly start: number
  readonly length: number
}

/** One table: typed field accessors that apply schema defaults and check bounds. */
export class FbTable {
  readonly buf: FbBuffer
  readonly pos: number
  private readonly vt: number
  private readonly vtLen: number

  constructor(buf: FbBuffer, pos: number, vt: number, vtLen: number) {
    this.buf = buf
    this.pos = pos
    this.vt = vt
    this.vtLen = vtLen
  }

  /** Absolute position of field `slot`, or 0 when absent. */
  field(slot: number): number {
    const vo = 4 + 2 * slot
    if (vo >= this.vtLen) return 0
    const fo = this.buf.view.getUint16(this.vt + vo, true)
    return fo === 0 ? 0 : this.pos + fo
  }

  has(slot: number): boolean {
    return this.field(slot) !== 0
  }

  bool(slot: number): boolean {
    const p = this.field(slot)
    return p === 0 ? false : this.buf.u8(p) !== 0
  }

  u8(slot: number, dflt = 0): number {
    const p = this.field(slot)
    return p === 0 ? dflt : this.buf.u8(p)
  }

  i8(slot: number, dflt = 0): number {
    const p = this.field(slot)
    if (p === 0) return dflt
    this.buf.check(p, 1, "i8")
    return this.buf.view.getInt8(p)
  }

  u16(slot: number, dflt = 0): number {
    const p = this.field(slot)
    return p === 0 ? dflt : this.buf.u16(p)
  }

  /** An optional scalar (`= null` in the schema): undefined when absent. */
  u16Opt(slot: number): number | undefined {
    const p = this.field(slot)
    return p === 0 ? undefined : this.buf.u16(p)
  }

  u32(slot: number, dflt = 0): number {
    const p = this.field(slot)
    return p === 0 ? dflt : this.buf.u32(p)
  }

  u64(slot: number, what: string): number {
    const p = this.field(slot)
    return p === 0 ? 0 : this.buf.u64(p, what)
  }

  i64(slot: number, what: string): number {
    const p = this.field(slot)
    return p === 0 ? 0 : this.buf.i64(p, what)
  }

  /** A full-range u64 (ULID/UUID halves). */
  u64Big(slot: number): bigint {
    const p = this.field(slot)
    if (p === 0) return 0n
    this.buf.check(p, 8, "u64")
    return this.buf.view.getBigUint64(p, true)
  }

  table(slot: number): FbTable | undefined {
    const p = this.field(slot)
    return p === 0 ? undefined : this.buf.tableAt(this.buf.deref(p))
  }

  requiredTable(slot: number, what: string): FbTable {
    const t = this.table(slot)
    if (t === undefined) this.buf.fail(`required field ${what} is missing`)
    return t
  }

  vector(slot: number, elemSize: number): FbVector | undefined {
    const p = this.field(slot)
    if (p === 0) return undefined
    const at = this.buf.deref(p)
    const length = this.buf.u32(at)
    this.buf.check(at + 4, length * elemSize, "vector")
    return { start: at + 4, length }
  }

  requiredVector(slot: number, elemSize: number, what: string): FbVector {
    const v = this.vector(slot, elemSize)
    if (v === undefined) this.buf.fail(`required field ${what} is missing`)
    return v
  }

  /** A `[ubyte]` field, copied out of the buffer. */
  bytes(slot: number): Uint8Array | undefined {
    const v = this.vector(slot, 1)
    if (v === undefined) return undefined
    this.buf.charge(v.length)
    // A fresh plain Uint8Array (Buffer#slice would return a view into the input).
    const out = new Uint8Array(v.length)
    out.set(this.buf.bytes.subarray(v.start, v.start + v.length))
    return out
  }

  requiredBytes(slot: number, what: string): Uint8Array {
    const b = this.bytes(slot)
    if (b === undefined) this.buf.fail(`required field ${what} is missing`)
    return b
  }

  string(slot: number): string | undefined {
    const v = this.vector(slot, 1)
    if (v === undefined) return undefined
    this.buf.check(v.start + v.length, 1, "string terminator")
    if (this.buf.view.getUint8(v.start + v.length) !== 0) this.buf.fail("string is not NUL-terminated")
    this.buf.charge(v.length)
    try {
      return utf8Decoder.decode(this.buf.bytes.subarray(v.start, v.start + v.length))
    } catch {
      return this.buf.fail("string is not valid UTF-8")
    }
  }

  requiredString(slot: number, what: string): string {
    const s = this.string(slot)
    if (s === undefined) this.buf.fail(`required field ${what} is missing`)
    return s
  }

  /** A vector of tables, each element decoded by `f`. */
  tables<A>(slot: number, f: (t: FbTable) => A): Array<A> | undefined {
    const v = this.vector(slot, 4)
    if (v === undefined) return undefined
    const out = new Array<A>(v.length)
    for (let i = 0; i < v.length; i++) {
      const at = v.start + 4 * i
      out[i] = f(this.buf.tableAt(at + this.buf.view.getUint32(at, true)))
    }
    return out
  }

  requiredTables<A>(slot: number, what: string, f: (t: FbTable) => A): Array<A> {
    const out = this.tables(slot, f)
    if (out === undefined) this.buf.fail(`required field ${what} is missing`)
    return out
  }

  u32s(slot: number): Array<number> | undefined {
    const v = this.vector(slot, 4)
    if (v === undefined) return undefined
    this.buf.charge(v.length)
    const out = new Array<number>(v.length)
    for (let i = 0; i < v.length; i++) out[i] = this.buf.view.getUint32(v.start + 4 * i, true)
    return out
  }
}

// ---------------------------------------------------------------------------------------------------
// Writing helpers

export { Builder }

/** An i64 field value: a safe integer, or exactly i64::MIN (-2^63). */
export const i64 = (value: number, what: string): bigint => {
  if (value === I64_MIN) return -9223372036854775808n
  if (!Number.isSafeInteger(value)) throw new InvalidError({ message: `${what} must be a safe integer, got ${value}` })
  return BigInt(value)
}

export const u32 = (value: number, what: string): number => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InvalidError({ message: `${what} must be a u32, got ${value}` })
  }
  return value
}

export const u16 = (value: number, what: string): number => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new InvalidError({ message: `${what} must be a u16, got ${value}` })
  }
  return value
}

/**
 * Adds a u64 field from a JS number (omitted when 0, the schema default), without allocating a BigInt:
 * exactly what `addFieldInt64` does (align to 8, write 8 bytes LE, record the slot).
 */
export const addU64Field = (b: Builder, slot: number, value: number, what: string): void => {
  if (value === 0) return
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidError({ message: `${what} must be a non-negative safe integer, got ${value}` })
  }
  b.prep(8, 0)
  b.writeInt32(Math.floor(value / TWO_32) | 0) // high word first: the buffer grows downwards
  b.writeInt32(value % TWO_32 | 0)
  b.slot(slot)
}

/** Creates a vector of table offsets (elements in the given order). */
export const createOffsetVector = (b: Builder, offsets: ReadonlyArray<number>): number => {
  b.startVector(4, offsets.length, 4)
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!)
  return b.endVector()
}

/** Creates a `[uint32]` vector. */
export const createU32Vector = (b: Builder, values: ReadonlyArray<number>): number => {
  b.startVector(4, values.length, 4)
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(u32(values[i]!, "u32 vector element") | 0)
  return b.endVector()
}

/** Adds an optional-scalar (`= null`) u16 field: written whenever present, even when 0. */
export const addU16Always = (b: Builder, slot: number, value: number): void => {
  b.addInt16(value)
  b.slot(slot)
}

/** Finishes the buffer with `root` and returns a tight copy of the bytes. */
export const finish = (b: Builder, root: number): Uint8Array => {
  b.finish(root)
  return b.asUint8Array().slice()
}

/** Like `finish`, with `prefix` (e.g. a u16 BE format version) placed before the FlatBuffer. */
export const finishWithPrefix = (b: Builder, root: number, prefix: Uint8Array): Uint8Array => {
  b.finish(root)
  const fb = b.asUint8Array()
  const out = new Uint8Array(prefix.length + fb.length)
  out.set(prefix, 0)
  out.set(fb, prefix.length)
  return out
}
