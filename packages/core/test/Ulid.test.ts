import { assert, describe, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import { TestClock } from "effect/testing"
import {
  isUlid,
  makeUlid,
  makeUlidAtLeast,
  MAX_ULID_TIME_MS,
  parseUlid,
  Ulid,
  ulidAfter,
  ulidFromHighLow,
  ulidFromParts,
  ulidTimeMs,
  ulidToHighLow
} from "../src/internal.ts"

describe("Ulid", () => {
  it.effect("makeUlidAtLeast: the clock's time, or the floor when the clock reads earlier", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      assert.strictEqual(ulidTimeMs(yield* makeUlidAtLeast(1_600_000_000_000)), 1_700_000_000_000)
      assert.strictEqual(ulidTimeMs(yield* makeUlidAtLeast(1_800_000_000_000)), 1_800_000_000_000)
      assert.strictEqual(ulidTimeMs("not a ulid"), 0)
    }))

  it("encodes the all-zero and all-one values", () => {
    assert.strictEqual(ulidFromHighLow(0n, 0n), "00000000000000000000000000")
    assert.deepStrictEqual(parseUlid("00000000000000000000000000"), { timeMs: 0, high: 0n, low: 0n })
    const max = (1n << 64n) - 1n
    assert.strictEqual(ulidFromHighLow(max, max), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
    assert.deepStrictEqual(parseUlid("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), { timeMs: MAX_ULID_TIME_MS, high: max, low: max })
  })

  it("matches known vectors", () => {
    // From the ULID spec: ulid(1469918176385) starts with 01ARYZ6S41.
    const s = ulidFromParts(1469918176385, 0n)
    assert.strictEqual(s, "01ARYZ6S410000000000000000")
    assert.strictEqual(parseUlid("01ARYZ6S41TSV4RRFFQ69G5FAV")?.timeMs, 1469918176385)
    // From the Rust `ulid` crate's tests: 0x4141...41.
    const a = 0x4141414141414141n
    assert.strictEqual(ulidFromHighLow(a, a), "21850M2GA1850M2GA1850M2GA1")
    assert.deepStrictEqual(ulidToHighLow("21850M2GA1850M2GA1850M2GA1"), { high: a, low: a })
    // The low half sits in the last 64 bits: value 1 is the last character.
    assert.strictEqual(ulidFromHighLow(0n, 1n), "00000000000000000000000001")
    assert.strictEqual(ulidFromHighLow(1n, 0n), "0000000000000G000000000000")
  })

  it("round-trips high/low halves and keeps the 80 random bits", () => {
    const cases: ReadonlyArray<readonly [bigint, bigint]> = [
      [0x0123456789abcdefn, 0xfedcba9876543210n],
      [0x00000190a1b2c3d4n, 0x0000000000000001n],
      [0xffffffffffff0000n, 0x8000000000000000n]
    ]
    for (const [high, low] of cases) {
      const s = ulidFromHighLow(high, low)
      assert.strictEqual(s.length, 26)
      assert.match(s, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/)
      assert.deepStrictEqual(ulidToHighLow(s), { high, low })
      assert.strictEqual(parseUlid(s)?.timeMs, Number(high >> 16n))
    }
    const r = (1n << 80n) - 3n
    const p = parseUlid(ulidFromParts(1700000000000, r))!
    assert.strictEqual(p.timeMs, 1700000000000)
    assert.strictEqual(((p.high & 0xffffn) << 64n) | p.low, r)
  })

  it("ulidAfter: the next value, carrying across characters, in the same millisecond", () => {
    assert.strictEqual(ulidAfter("01ARZ3NDEKTSV4RRFFQ69G5FAV"), "01ARZ3NDEKTSV4RRFFQ69G5FAW")
    assert.strictEqual(ulidAfter("01ARZ3NDEKTSV4RRFFQ69G5FAZ"), "01ARZ3NDEKTSV4RRFFQ69G5FB0")
    const last = ulidFromParts(1_700_000_000_000, (1n << 80n) - 2n)
    const next = ulidAfter(last)
    assert.isTrue(next > last)
    assert.strictEqual(ulidTimeMs(next), 1_700_000_000_000)
    // Lower case in, canonical upper case out; nothing after the largest ULID.
    assert.strictEqual(ulidAfter("01arz3ndektsv4rrffq69g5fav"), "01ARZ3NDEKTSV4RRFFQ69G5FAW")
    assert.throws(() => ulidAfter("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), RangeError)
    assert.throws(() => ulidAfter("not a ulid"), RangeError)
  })

  it("orders lexicographically by time", () => {
    const a = ulidFromParts(1000, (1n << 80n) - 1n)
    const b = ulidFromParts(1001, 0n)
    assert.isTrue(a < b)
  })

  it("parses lower case like the ulid crate, rejects everything else", () => {
    assert.deepStrictEqual(parseUlid("01aryz6s41tsv4rrffq69g5fav"), parseUlid("01ARYZ6S41TSV4RRFFQ69G5FAV"))
    for (
      const bad of [
        "",
        "01ARYZ6S41TSV4RRFFQ69G5FA", // 25 chars
        "01ARYZ6S41TSV4RRFFQ69G5FAVX", // 27 chars
        "01ARYZ6S41TSV4RRFFQ69G5FAI", // I is not in the alphabet
        "01ARYZ6S41TSV4RRFFQ69G5FAL",
        "01ARYZ6S41TSV4RRFFQ69G5FAO",
        "01ARYZ6S41TSV4RRFFQ69G5FAU",
        "01ARYZ6S41TSV4RRFFQ69G5FA-",
        "80000000000000000000000000", // more than 128 bits
        "00000000000000000000000000.sst",
        "0000000000000000000000000é"
      ]
    ) {
      assert.isUndefined(parseUlid(bad), bad)
      assert.isUndefined(ulidToHighLow(bad), bad)
      assert.isFalse(isUlid(bad), bad)
    }
  })

  it.effect("make takes the time from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1469918176385)
      const id = yield* makeUlid
      assert.isTrue(id.startsWith("01ARYZ6S41"), id)
      assert.strictEqual(parseUlid(id)?.timeMs, 1469918176385)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(parseUlid(yield* Ulid.make)?.timeMs, 1469918176386)
    }))

  it.effect("make is deterministic under a seed and varies its random bits", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1700000000000)
      const run = Effect.all([makeUlid, makeUlid, makeUlid])
      const first = yield* run.pipe(Random.withSeed(42))
      const second = yield* run.pipe(Random.withSeed(42))
      const other = yield* run.pipe(Random.withSeed(43))
      assert.deepStrictEqual(first, second)
      assert.notDeepEqual(first, other)
      assert.strictEqual(new Set(first).size, 3)
      for (const id of first) {
        assert.isTrue(isUlid(id), id)
        assert.strictEqual(parseUlid(id)?.timeMs, 1700000000000)
      }
    }))

  it.effect("make fills all 80 random bits", () =>
    Effect.gen(function*() {
      let orBits = 0n
      let andBits = (1n << 80n) - 1n
      for (let i = 0; i < 64; i++) {
        const p = parseUlid(yield* makeUlid)!
        const r = ((p.high & 0xffffn) << 64n) | p.low
        orBits |= r
        andBits &= r
      }
      assert.strictEqual(orBits, (1n << 80n) - 1n)
      assert.strictEqual(andBits, 0n)
    }).pipe(Random.withSeed(7)))
})
