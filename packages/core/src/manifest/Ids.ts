/**
 * ULID and UUID values as SlateDB's FlatBuffers store them: tables `{high: u64 (slot 0), low: u64
 * (slot 1)}` (docs/format.md §2.4). In memory both are strings:
 * - ULID: 26-character Crockford base32, upper case (the `ulid` crate's `to_string`); the 128-bit value
 *   is `high << 64 | low`.
 * - UUID: lower-case hyphenated hex (the `uuid` crate's `Display`); `high` = the first 8 bytes, big-endian.
 *
 * ULID string conversions come from `src/Ulid.ts`; UUIDs are only ever stored in manifests, so their
 * conversions live here.
 */
import { Effect, Random } from "effect"
import type { Builder, FbTable } from "../format/FlatBuffers.ts"
import { InvalidError } from "../errors.ts"
import { ulidFromHighLow, ulidToHighLow } from "../Ulid.ts"

const ulidHalves = (s: string): { readonly high: bigint; readonly low: bigint } => {
  const hl = ulidToHighLow(s)
  if (hl === undefined) throw new InvalidError({ message: `not a ULID: ${JSON.stringify(s)}` })
  return hl
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

export const uuidToHighLow = (s: string): { readonly high: bigint; readonly low: bigint } => {
  if (!UUID_RE.test(s)) throw new InvalidError({ message: `not a UUID: ${JSON.stringify(s)}` })
  const hex = s.replaceAll("-", "")
  return { high: BigInt("0x" + hex.slice(0, 16)), low: BigInt("0x" + hex.slice(16)) }
}

export const uuidFromHighLow = (high: bigint, low: bigint): string => {
  const hex = high.toString(16).padStart(16, "0") + low.toString(16).padStart(16, "0")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

// The `Ulid`/`Uuid` tables. Rust's generated `create` adds `low` then `high`; zero halves are omitted.
const HIGH = 0
const LOW = 1

const writeHighLow = (b: Builder, hl: { readonly high: bigint; readonly low: bigint }): number => {
  b.startObject(2)
  b.addFieldInt64(LOW, hl.low, 0n)
  b.addFieldInt64(HIGH, hl.high, 0n)
  return b.endObject()
}

export const writeUlid = (b: Builder, ulid: string): number => writeHighLow(b, ulidHalves(ulid))
export const writeUuid = (b: Builder, uuid: string): number => writeHighLow(b, uuidToHighLow(uuid))

export const readUlid = (t: FbTable): string => ulidFromHighLow(t.u64Big(HIGH), t.u64Big(LOW))
export const readUuid = (t: FbTable): string => uuidFromHighLow(t.u64Big(HIGH), t.u64Big(LOW))

/** A fresh version-4 UUID from the Effect `Random` service (checkpoint ids). */
export const makeUuid: Effect.Effect<string> = Effect.gen(function*() {
  const bytes = new Uint8Array(16)
  for (let i = 0; i < 16; i++) bytes[i] = yield* Random.nextIntBetween(0, 256, { halfOpen: true })
  bytes[6] = (bytes[6]! & 0x0f) | 0x40 // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80 // RFC 4122 variant
  let hex = ""
  for (const b of bytes) hex += b.toString(16).padStart(2, "0")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
})
