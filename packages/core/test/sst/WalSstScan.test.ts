/**
 * Scans of a WAL SST with key bounds: its rows are in insertion order, not key order, so the bounds filter
 * rows and nothing is skipped by a seek (sst/SsTableScan.ts). A seek (a binary search over the block's
 * restart points, then a walk to the first key ≥ `start`) assumes sorted keys and would skip rows.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import { makeValue } from "../../src/format/RowEntry.ts"
import { buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { putAndOpen, scanAll } from "./readerFixtures.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const text = (b: Uint8Array): string => dec.decode(b)

describe("WAL SST scans with bounds", () => {
  // 40 rows in one block (restart points at rows 0, 16 and 32): rows 0-15 are "n..." (≥ "m"), row 16 is
  // "a" and the rest "b..." (< "m"). A binary search of the restart keys for "m" lands on row 32.
  const keys = Array.from({ length: 40 }, (_, i) => (i < 16 ? `n${i}` : i === 16 ? "a" : `b${i}`))
  const rows = keys.map((k, i) => makeValue(enc.encode(k), enc.encode(`v${i}`), i + 1))
  const { bytes } = buildWalSsTable(rows)

  it.effect("a start bound keeps every row at or after it, in insertion order", () =>
    Effect.gen(function*() {
      const reader = yield* putAndOpen("wal.sst", bytes)
      assert.strictEqual(reader.isWal, true)
      assert.strictEqual(reader.numBlocks, 1)
      const start = enc.encode("m")
      const scanned = Array.from(yield* scanAll(reader, { start })).map((r) => text(r.key))
      const expected = keys.filter((k) => compareKeys(enc.encode(k), start) >= 0)
      assert.deepStrictEqual(scanned, expected)
      assert.strictEqual(scanned.length, 16)
      const bounded = Array.from(yield* scanAll(reader, { start: enc.encode("b2"), end: enc.encode("b3") }))
      assert.deepStrictEqual(bounded.map((r) => text(r.key)), keys.filter((k) => k >= "b2" && k < "b3"))
    }).pipe(Effect.provide(ObjectStore.layerMemory)))
})
