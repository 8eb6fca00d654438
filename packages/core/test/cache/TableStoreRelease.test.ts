/**
 * A closed database's table store lets go of its handles and cached blocks (sst/TableStore.ts
 * `releaseAll`, called by the Db, DbReader and read-only view finalizers), so a closed database that an
 * application still holds does not keep its block cache in memory. A view switch releases the handles of the
 * SSTs it removed (at the next switch) with cache warming off too, and a released handle's empty block
 * table goes with it: a process that reads SST after SST for months keeps neither.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { compactedSstPath } from "../../src/format/Paths.ts"
import { makeValue, type RowEntry } from "../../src/format/RowEntry.ts"
import { buildSsTable } from "../../src/format/SsTableBuilder.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { warmViewSwitch } from "../../src/db/ViewWarming.ts"
import type { Manifest } from "../../src/manifest/Manifest.ts"
import { TableStore } from "../../src/sst/TableStore.ts"

const NO_EXTERNAL = { externalDbs: [] }
const key = (i: number) => new TextEncoder().encode(`key${String(i).padStart(6, "0")}`)

describe("TableStore.releaseAll", () => {
  it.effect("drops every handle and every cached block; a later read opens the SST again", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const rows: Array<RowEntry> = []
      for (let i = 0; i < 500; i++) rows.push(makeValue(key(i), new Uint8Array(64).fill(i), i + 1))
      yield* store.put(compactedSstPath("db", "a"), buildSsTable(rows, { blockSize: 512 }).bytes)
      const tables = new TableStore(store, "db", 1024 * 1024)
      const reader = yield* tables.reader(NO_EXTERNAL, { id: "a" })
      for (let i = 0; i < 500; i += 50) assert.isDefined(yield* reader.get(key(i)))
      assert.isAbove(tables.blockCache!.stats().bytes, 0)
      assert.strictEqual(tables.openHandles, 1)

      tables.releaseAll()
      assert.strictEqual(tables.blockCache!.stats().bytes, 0)
      assert.strictEqual(tables.blockCache!.stats().entries, 0)
      assert.strictEqual(tables.openHandles, 0)
      assert.isUndefined(tables.cached("a"))

      const again = yield* tables.reader(NO_EXTERNAL, { id: "a" })
      assert.notStrictEqual(again, reader)
      assert.deepStrictEqual((yield* again.get(key(250)))?.key, key(250))
    }))

  it.effect("a view switch releases the SSTs it removed, warming off; their empty block tables go too", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      for (const id of ["a", "b", "c"]) {
        const rows: Array<RowEntry> = []
        for (let i = 0; i < 100; i++) rows.push(makeValue(key(i), new Uint8Array(64).fill(i), i + 1))
        yield* store.put(compactedSstPath("db", id), buildSsTable(rows, { blockSize: 512 }).bytes)
      }
      const tables = new TableStore(store, "db", 1024 * 1024)
      assert.isUndefined(tables.warming)
      const view = (...ids: Array<string>) => ({ l0: ids.map((id) => ({ id })), compacted: [] }) as unknown as Manifest
      for (const id of ["a", "b", "c"]) yield* tables.reader(NO_EXTERNAL, { id })
      assert.strictEqual(tables.openHandles, 3)
      assert.strictEqual(tables.blockCache!.tableCount, 3)
      yield* warmViewSwitch(tables, view("a", "b", "c"), view("b", "c"))
      assert.strictEqual(tables.openHandles, 3, "reads of the old view may still use a: released at the next switch")
      yield* warmViewSwitch(tables, view("b", "c"), view("c"))
      assert.strictEqual(tables.openHandles, 2)
      assert.isUndefined(tables.cached("a"))
      assert.strictEqual(tables.blockCache!.tableCount, 2, "a's table held no block: forgotten with its handle")
      yield* warmViewSwitch(tables, view("c"), view())
      assert.strictEqual(tables.openHandles, 1, "b released; c pending")
      assert.strictEqual(tables.blockCache!.tableCount, 1)
    }))
})
