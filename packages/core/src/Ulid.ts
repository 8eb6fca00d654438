/**
 * ULIDs as SlateDB uses them: 128 bits, the top 48 a millisecond Unix timestamp and the low 80 random,
 * written as 26 Crockford base32 characters in upper case (the Rust `ulid` crate's `to_string`).
 *
 * SlateDB names compacted SSTs `compacted/<ULID>.sst` and identifies compactions by ULID; the garbage
 * collector reads the timestamp back out of those names, so ids must carry real (Clock) time.
 * The manifest stores a ULID as two u64 halves, `value = high << 64 | low`.
 *
 * `make` reads the time from the Effect `Clock` and the 80 random bits from the Effect `Random`
 * service, so under `TestClock` and `Random.withSeed` it produces the same ids every run.
 * It is not monotonic within one millisecond (neither is SlateDB's `Ulid::from_datetime_with_source`);
 * where ids must sort in the order they were made (compaction records), `ulidAfter` gives the next one.
 *
 * Parsing follows the `ulid` crate: exactly 26 characters, case-insensitive, no Crockford aliases
 * (`I`, `L`, `O`, `U` are invalid). Unlike the crate it also rejects a first character above `7`,
 * which would encode more than 128 bits.
 */
import { Clock, Effect, Random } from "effect"

/** The Crockford base32 alphabet. */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** Characters in a ULID string. */
export const ULID_LENGTH = 26

/** The largest timestamp a ULID can hold (2^48 - 1 ms, in the year 10889). */
export const MAX_ULID_TIME_MS = 2 ** 48 - 1

const DECODE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1)
  for (let i = 0; i < ALPHABET.length; i++) {
    table[ALPHABET.charCodeAt(i)] = i
    table[ALPHABET.toLowerCase().charCodeAt(i)] = i
  }
  return table
})()

const MASK_64 = (1n << 64n) - 1n
const MASK_80 = (1n << 80n) - 1n

/** A parsed ULID: its timestamp and the 128-bit value split into u64 halves. */
export interface UlidParts {
  readonly timeMs: number
  readonly high: bigint
  readonly low: bigint
}

const encode128 = (value: bigint): string => {
  let out = ""
  let v = value
  for (let i = 0; i < ULID_LENGTH; i++) {
    out = ALPHABET[Number(v & 31n)] + out
    v >>= 5n
  }
  return out
}

const decode128 = (s: string): bigint | undefined => {
  if (s.length !== ULID_LENGTH) return undefined
  let v = 0n
  for (let i = 0; i < ULID_LENGTH; i++) {
    const c = s.charCodeAt(i)
    const d = c < 128 ? DECODE[c]! : -1
    if (d < 0 || (i === 0 && d > 7)) return undefined
    v = (v << 5n) | BigInt(d)
  }
  return v
}

/** The ULID for a timestamp and 80 random bits (both masked to their widths). */
export const ulidFromParts = (timeMs: number, random80: bigint): string =>
  encode128((BigInt(Math.trunc(timeMs)) & ((1n << 48n) - 1n)) << 80n | (random80 & MASK_80))

/** The ULID whose 128-bit value is `high << 64 | low` (each half is taken modulo 2^64). */
export const ulidFromHighLow = (high: bigint, low: bigint): string =>
  encode128(((high & MASK_64) << 64n) | (low & MASK_64))

/**
 * The ULID right after `s` (its 128-bit value plus one: the same millisecond unless the random bits were
 * all ones), for ids that must sort after an earlier one made in the same millisecond. Throws on a string
 * that is not a ULID, and on the largest ULID.
 */
export const ulidAfter = (s: string): string => {
  const v = decode128(s)
  if (v === undefined) throw new RangeError(`not a ULID: ${s}`)
  if (v === (1n << 128n) - 1n) throw new RangeError("no ULID after the largest one")
  return encode128(v + 1n)
}

/** Parses a ULID string; `undefined` if it is not one. */
export const parseUlid = (s: string): UlidParts | undefined => {
  const v = decode128(s)
  if (v === undefined) return undefined
  return { timeMs: Number(v >> 80n), high: v >> 64n, low: v & MASK_64 }
}

/** A ULID's time, or 0 (the Unix epoch) when `s` is not a ULID. */
export const ulidTimeMs = (s: string): number => parseUlid(s)?.timeMs ?? 0

/** The two u64 halves of a ULID, as the manifest stores them; `undefined` if `s` is not a ULID. */
export const ulidToHighLow = (s: string): { readonly high: bigint; readonly low: bigint } | undefined => {
  const p = parseUlid(s)
  return p === undefined ? undefined : { high: p.high, low: p.low }
}

/** True when `s` is a ULID string (either case). */
export const isUlid = (s: string): boolean => decode128(s) !== undefined

/** 16 random bits from the Effect `Random` service. */
const random16 = Random.nextIntBetween(0, 0x10000, { halfOpen: true })

/** A ULID of time `timeMs` and 80 random bits from `Random`. */
const ulidAt = (timeMs: number): Effect.Effect<string> =>
  Effect.gen(function*() {
    let random = 0n
    for (let i = 0; i < 5; i++) random = (random << 16n) | BigInt(yield* random16)
    return ulidFromParts(timeMs, random)
  })

/** A fresh ULID: time from `Clock`, 80 random bits from `Random`. */
export const makeUlid: Effect.Effect<string> = Effect.flatMap(Clock.currentTimeMillis, ulidAt)

/**
 * A fresh ULID whose time is at least `floorMs`, even when the clock reads earlier (stepped back, or
 * another thread's clock behind). For names the garbage collector compares with a cutoff (gc/GcRules.ts): a
 * compaction's outputs are never older than the compaction, so the cutoff's "oldest compaction" bound
 * protects them whatever the clock does.
 */
export const makeUlidAtLeast = (floorMs: number): Effect.Effect<string> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => ulidAt(Math.max(now, floorMs)))

/** The ULID operations as one namespace: `Ulid.make`, `Ulid.parse`, ... */
export const Ulid = {
  make: makeUlid,
  parse: parseUlid,
  isValid: isUlid,
  fromParts: ulidFromParts,
  fromHighLow: ulidFromHighLow,
  toHighLow: ulidToHighLow,
  after: ulidAfter
} as const
