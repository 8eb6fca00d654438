/**
 * A scan meeting a row that does not decode, inside a page it has already fetched (pages are decoded a row
 * at a time as the merge reaches them, sst/PageRows.ts): the scan's chunk fails with a `DataError` naming
 * the SST and the block (db/ReaderScan.ts `fillChunk`), not a defect thrown through the merge. The SST's
 * block 2 has a first row that claims a shared key prefix it cannot have, under a valid checksum (as a
 * buggy writer would leave it: the checksum only guards against damage after writing).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DataError } from "../../src/errors.ts"
import { crc32 } from "../../src/format/Checksum.ts"
import { compactedSstPath } from "../../src/format/Paths.ts"
import { makeValue } from "../../src/format/RowEntry.ts"
import { concatChunks, SsTableBuilder } from "../../src/format/SsTableBuilder.ts"
import { MergeIterator } from "../../src/iter/MergeIterator.ts"
import { SstSource } from "../../src/iter/SstSource.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { TableStore } from "../../src/sst/TableStore.ts"
import type { KeyValue } from "../../src/db/DbApi.ts"
import { DbIterator } from "../../src/db/DbIterator.ts"
import { fillChunk } from "../../src/db/ReaderScan.ts"

const ROOT = "db"
const NO_EXTERNAL = { externalDbs: [] }
const key = (i: number) => new TextEncoder().encode(`key${String(i).padStart(6, "0")}`)

describe("scans over a corrupt row", () => {
  it.effect("fail with a DataError naming the SST and block, after the rows before it", () =>
    Effect.gen(function*() {
      const builder = new SsTableBuilder({ blockSize: 512 })
      for (let i = 0; i < 200; i++) builder.add(makeValue(key(i), new TextEncoder().encode(`value-${i}`.padEnd(40, ".")), i + 1))
      const chunks = builder.finish().chunks.map((c) => c.slice())
      // Block 2: its first row shares 200 bytes with a predecessor it does not have; the CRC is redone.
      const block = chunks[2]!
      block[0] = 200
      const crc = crc32(block.subarray(0, block.length - 4))
      block.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], block.length - 4)
      const store = makeMemory()
      yield* store.put(compactedSstPath(ROOT, "c"), concatChunks(chunks))
      const tables = new TableStore(store, ROOT, 0)

      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const scope = yield* Effect.scope
        const merge = new DbIterator(new MergeIterator([new SstSource(tables, NO_EXTERNAL, [[{ id: "c" }, {}]], scope, Number.MAX_SAFE_INTEGER)]))
        const out: Array<KeyValue> = []
        for (;;) {
          const status = fillChunk(merge, out, 16)
          if (status === "pull") yield* merge.pull
          else if (status === "done") return { rows: out.length, error: undefined }
          else if (status !== "more") return { rows: out.length, error: status }
        }
      }))
      assert.isTrue(outcome.error instanceof DataError, String(outcome.error))
      const e = outcome.error as DataError
      assert.strictEqual(e.object, compactedSstPath(ROOT, "c"))
      assert.strictEqual(e.section, "block 2")
      assert.isAbove(outcome.rows, 0, "the rows of blocks 0 and 1 came out first")
    }))
})
