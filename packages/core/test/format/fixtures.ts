/**
 * Shared helpers for the format tests: text/hex conversion, fast-check arbitraries for rows, and sorted
 * row sets the way a compacted SST holds them.
 */
import { assert } from "@effect/vitest"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { type RowEntry, RowKind } from "../../src/format/RowEntry.ts"

const encoder = new TextEncoder()
export const text = (s: string): Uint8Array => encoder.encode(s)
export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")
export const str = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Asserts that `f` throws a `DataError` (optionally with a message matching `pattern`). */
export const expectDataError = (f: () => unknown, pattern?: RegExp): DataError => {
  try {
    f()
  } catch (e) {
    assert.instanceOf(e, DataError)
    if (pattern !== undefined) assert.match((e as DataError).message, pattern)
    return e as DataError
  }
  assert.fail("expected a DataError")
}

const arbTs = fc.option(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), { nil: undefined })

/** Any valid row (keys 1..40 bytes over a small alphabet so that prefixes are shared). */
export const arbRow: fc.Arbitrary<RowEntry> = fc
  .record({
    key: fc.uint8Array({ minLength: 1, maxLength: 40, min: 0x61, max: 0x64 }),
    kind: fc.constantFrom(RowKind.Value, RowKind.Tombstone, RowKind.Merge),
    value: fc.uint8Array({ maxLength: 300 }),
    seq: fc.oneof(fc.nat(1000), fc.maxSafeNat()),
    createTs: arbTs,
    expireTs: arbTs
  })
  .map((r): RowEntry => (r.kind === RowKind.Tombstone ? { ...r, value: new Uint8Array(0) } : r))

/** Orders rows as a compacted SST does: key ascending, seq descending. */
export const compareRows = (a: RowEntry, b: RowEntry): number => compareKeys(a.key, b.key) || b.seq - a.seq

/** Rows sorted and de-duplicated on (key, seq). */
export const arbSortedRows = (maxLength = 300): fc.Arbitrary<Array<RowEntry>> =>
  fc.array(arbRow, { maxLength }).map((rows) => {
    const sorted = [...rows].sort(compareRows)
    return sorted.filter((r, i) => i === 0 || compareRows(sorted[i - 1]!, r) !== 0)
  })

/** A comparable view of a row (hex strings instead of byte arrays). */
export const plain = (r: RowEntry) => ({
  key: hex(r.key),
  kind: r.kind,
  value: hex(r.value),
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})

/** W1-style key: "key" + i zero-padded to 13 digits (16 bytes). */
export const w1Key = (i: number): Uint8Array => text(`key${String(i).padStart(13, "0")}`)
