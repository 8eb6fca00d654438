/**
 * The compactor embedded in the writer (Settings.compactor, on by default): L0 SSTs become sorted runs,
 * reads see the same data before and after, and what it writes is a manifest SlateDB's rules accept.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import type { DbService } from "../../src/db/DbService.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { decodeCompactions } from "../../src/manifest/CompactionsCodec.ts"
import { b, collect, listPaths, ND, openOn, s } from "../db/fixtures.ts"
import { eventually } from "./support.ts"

const fill = (db: DbService, batch: number, keys: number) =>
  Effect.gen(function*() {
    for (let k = 0; k < keys; k++) {
      yield* db.put(b(`key${String(k).padStart(5, "0")}`), b(`v${batch}-${k}`), ND)
    }
    if (batch === 1) yield* db.put(b("gone"), b("soon deleted"), ND)
    if (batch === 3) yield* db.delete(b("gone"), ND)
    yield* db.flush({ type: "memtable" })
  })

const ON = { settings: { compactor: true } } as const

describe("embedded compactor", () => {
  it.effect("opening with the default settings claims the compactor epoch too (manifest 3, compactions 1-2)", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { scope } = yield* openOn(store, ON)
      assert.deepStrictEqual(yield* listPaths(store, "db"), [
        "db/compactions/00000000000000000001.compactions",
        "db/compactions/00000000000000000002.compactions",
        "db/manifest/00000000000000000001.manifest",
        "db/manifest/00000000000000000002.manifest",
        "db/manifest/00000000000000000003.manifest",
        "db/wal/00000000000000000001.sst"
      ])
      const m3 = (yield* makeManifestStore(store, "db").read(3))
      assert.strictEqual(m3.writerEpoch, 1)
      assert.strictEqual(m3.compactorEpoch, 1)
      const compactions = decodeCompactions(yield* store.get("db/compactions/00000000000000000002.compactions"))
      assert.deepStrictEqual(compactions, { compactorEpoch: 1, recentCompactions: [] })
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("four L0 SSTs become one sorted run; reads are unchanged", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store, { settings: { compactor: true } })
      for (let batch = 1; batch <= 3; batch++) yield* fill(db, batch, 200)
      const before = yield* collect(db.scan({}))
      assert.strictEqual((yield* db.status).l0Ssts, 3)
      yield* fill(db, 4, 200)
      const expected = yield* collect(db.scan({}))
      yield* eventually("L0 compaction", () => Effect.map(db.status, (st) => st.l0Ssts === 0 && st.sortedRuns === 1))
      assert.deepStrictEqual(yield* collect(db.scan({})), expected)
      assert.strictEqual(s(yield* db.get(b("gone"))), undefined)
      assert.strictEqual(s(yield* db.get(b("key00007"))), "v4-7")
      assert.notDeepEqual(before, expected)
      yield* Scope.close(scope, Exit.void)
      const manifest = (yield* makeManifestStore(store, "db").readLatest)!.manifest
      assert.strictEqual(manifest.l0.length, 0)
      assert.strictEqual(manifest.compacted.length, 1)
      assert.strictEqual(manifest.compacted[0]!.id, 0)
      assert.isDefined(manifest.l0LastCompacted)
      assert.isAtLeast(manifest.compactorEpoch, 1)
    }))
})
