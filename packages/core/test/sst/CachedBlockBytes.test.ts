/**
 * What a cached block keeps alive (sst/SsTableBlocks.ts `#decode`): a block read alone keeps the buffer
 * the store returned (its CRC is the only other bytes in it; a copy would cost a second allocation per
 * miss), and a block read with others, or handed out as a view of a larger buffer, gets its own copy, so
 * that the cache never pins more than the block.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { Block } from "../../src/format/Block.ts"
import { makeValue } from "../../src/format/RowEntry.ts"
import { buildSsTable } from "../../src/format/SsTableBuilder.ts"
import { clipRange, makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { SstBlockCache } from "../../src/sst/SsTableReader.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { w1Key } from "../format/fixtures.ts"

/** A memory store whose ranged reads return `fresh` (own buffer) or views into the whole object, remembered. */
const storeReturning = (fresh: boolean) => {
  const inner = makeMemory()
  const returned: Array<Uint8Array> = []
  const store = ObjectStore.of({
    ...inner,
    getRange: (p, r) =>
      Effect.map(inner.get(p), (whole) => {
        const [start, end] = clipRange(whole.length, r)
        const view = whole.subarray(start, end)
        const out = fresh ? view.slice() : view
        returned.push(out)
        return out
      })
  })
  return { returned, layer: Layer.succeed(ObjectStore, store) }
}

const recordingCache = () => {
  const blocks = new Map<number, Block>()
  const cache: SstBlockCache = {
    table: () => ({ get: (i) => blocks.get(i), set: (i, b) => void blocks.set(i, b) })
  }
  return { blocks, cache }
}

describe("the bytes a cached block keeps", () => {
  const rows = Array.from({ length: 3000 }, (_, i) => makeValue(w1Key(i), new Uint8Array(100).fill(3), i + 1))
  const { bytes } = buildSsTable(rows)

  it.effect("a block read alone keeps the store's buffer; blocks read together get their own", () => {
    const { returned, layer } = storeReturning(true)
    const { blocks, cache } = recordingCache()
    return Effect.gen(function*() {
      const store = yield* ObjectStore
      yield* store.put("t.sst", bytes)
      const r = yield* SsTableReader.open("t.sst", { size: bytes.length, cache })
      assert.isAbove(r.numBlocks, 10)
      const alone = yield* r.readBlocks(3, 4)
      const read = returned[returned.length - 1]!
      assert.strictEqual(alone[0]!.bytes.buffer, read.buffer, "no copy of a block read alone")
      assert.strictEqual(read.buffer.byteLength, alone[0]!.bytes.byteLength + 4, "only the CRC beside it")
      assert.strictEqual(blocks.get(3), alone[0])
      const together = yield* r.readBlocks(5, 8)
      assert.strictEqual(together.length, 3)
      for (const [k, block] of together.entries()) {
        assert.strictEqual(block.bytes.buffer.byteLength, block.bytes.byteLength, `block ${5 + k}: its own buffer`)
        assert.strictEqual(blocks.get(5 + k), block)
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("a block handed out as a view of a larger buffer is copied out of it", () => {
    const { layer } = storeReturning(false)
    const { cache } = recordingCache()
    return Effect.gen(function*() {
      const store = yield* ObjectStore
      yield* store.put("t.sst", bytes)
      const r = yield* SsTableReader.open("t.sst", { size: bytes.length, cache })
      const [block] = yield* r.readBlocks(3, 4)
      assert.strictEqual(block!.bytes.buffer.byteLength, block!.bytes.byteLength)
      assert.isBelow(block!.bytes.byteLength, bytes.length / 10)
    }).pipe(Effect.provide(layer))
  })
})
