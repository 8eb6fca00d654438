/**
 * Compaction output is warm: the embedded compactor adopts the SSTs it writes (their handles, opened from
 * the bytes it uploaded), so the first read of a new sorted run costs its data block alone: no HEAD and no
 * GET of the index and filter. The block cache is not prepopulated with the output.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, ND, openOn, s } from "../db/fixtures.ts"
import { eventually } from "./support.ts"

/** Counts reads of compacted SSTs (HEAD, GET, ranged GET). */
const countingCompactedReads = () => {
  const inner = makeMemory()
  const counts = { reads: 0 }
  const count = (p: string) => {
    if (p.includes("/compacted/")) counts.reads++
  }
  const store = ObjectStore.of({
    ...inner,
    head: (p) => Effect.suspend(() => (count(p), inner.head(p))),
    get: (p) => Effect.suspend(() => (count(p), inner.get(p))),
    getRange: (p, r) => Effect.suspend(() => (count(p), inner.getRange(p, r)))
  })
  return { store, counts }
}

const key = (k: number) => b(`key${String(k).padStart(5, "0")}`)

describe("compaction output", () => {
  it.effect("the first read of a new sorted run fetches one data block, no metadata", () =>
    Effect.gen(function*() {
      const { store, counts } = countingCompactedReads()
      // A small block cache, so that the compaction's output is not read back from it.
      const { db } = yield* openOn(store, { settings: { compactor: true, blockCacheBytes: 1 } })
      for (let batch = 1; batch <= 4; batch++) {
        for (let k = 0; k < 500; k++) yield* db.put(key(k), b(`v${batch}-${k}-${"x".repeat(50)}`), ND)
        yield* db.flush({ type: "memtable" })
      }
      yield* eventually("L0 compaction", () => Effect.map(db.status, (st) => st.l0Ssts === 0 && st.sortedRuns === 1))
      const before = counts.reads
      assert.strictEqual(s(yield* db.get(key(123))), `v4-123-${"x".repeat(50)}`)
      assert.strictEqual(counts.reads - before, 1, "one ranged GET of a data block")
    }))
})
