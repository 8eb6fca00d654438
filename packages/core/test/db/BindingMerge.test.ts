/**
 * The official binding's own merge tests (SlateDB 0.12.1, bindings/node/tests: db.test.mjs "db merge and
 * merge_with_options", reader.test.mjs "reader merge operator"; the Python and Go suites test the same),
 * rewritten against Shale's Promise API, plus a write batch with merges (the binding's `WriteBatch.merge`).
 */
import { afterEach, assert, describe, it } from "vitest"
import * as Shale from "../../src/api/Shale.ts"
import type { MergeOperator } from "../../src/iter/MergeOperator.ts"
import { b, s } from "./fixtures.ts"

/** The binding tests' `ConcatMergeOperator`. */
class ConcatMergeOperator implements MergeOperator {
  merge(_key: Uint8Array, existing: Uint8Array | undefined, operand: Uint8Array): Uint8Array {
    return existing === undefined ? Uint8Array.from(operand) : Buffer.concat([existing, operand])
  }
}

const settings = { flushIntervalMs: null, durableFlush: "eager", compactor: null, garbageCollector: null } as const

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})
const track = <T extends { close(): Promise<void> }>(x: T): T => {
  cleanups.push(() => x.close())
  return x
}

describe("the binding's merge tests, on Shale", () => {
  it("db merge and merge_with_options", async () => {
    const store = Shale.stores.memory()
    const db = track(await Shale.open("db", { store, settings, mergeOperator: new ConcatMergeOperator() }))
    await db.put(b("merge"), b("base"), { ttl: "default", awaitDurable: false })
    await db.merge(b("merge"), b(":one"))
    assert.strictEqual(s(await db.get(b("merge"))), "base:one")
    await db.merge(b("merge"), b(":two"), { ttl: "default", awaitDurable: true })
    assert.strictEqual(s(await db.get(b("merge"))), "base:one:two")
  })

  it("reader merge operator", async () => {
    const store = Shale.stores.memory()
    const db = track(await Shale.open("db", { store, settings, mergeOperator: new ConcatMergeOperator() }))
    await db.put(b("merge"), b("base"), { ttl: "default", awaitDurable: false })
    await db.merge(b("merge"), b(":reader"))
    await db.flush({ type: "memtable" })
    const reader = track(await Shale.openReader("db", { store, mergeOperator: new ConcatMergeOperator() }))
    assert.strictEqual(s(await reader.get(b("merge"))), "base:reader")
    // The flush folded the operand into the L0 value: a reader without an operator reads it too. An
    // operand still in the WAL is one it cannot read (the typed error); with an operator it folds.
    assert.strictEqual(s(await track(await Shale.openReader("db", { store })).get(b("merge"))), "base:reader")
    await db.merge(b("merge"), b(":wal"))
    const again = track(await Shale.openReader("db", { store, mergeOperator: new ConcatMergeOperator() }))
    assert.strictEqual(s(await again.get(b("merge"))), "base:reader:wal")
    const bare = track(await Shale.openReader("db", { store }))
    await bare.get(b("merge")).then(
      () => assert.fail("expected merge operator missing"),
      (e: Error) => assert.include(e.message, "merge operator missing")
    )
  })

  it("write batch merges, and the read-only view with an operator", async () => {
    const store = Shale.stores.memory()
    const db = track(await Shale.open("db", { store, settings, mergeOperator: new ConcatMergeOperator() }))
    await db.write(new Shale.WriteBatch().put(b("k"), b("a")).merge(b("k"), b("b")).merge(b("j"), b("x"), { ttl: "none" }))
    await db.merge(b("k"), b("c"))
    assert.strictEqual(s(await db.get(b("k"))), "abc")
    const rows: Array<string> = []
    for await (const kv of db.scan({}, { order: "desc" })) rows.push(`${s(kv.key)}=${s(kv.value)}`)
    assert.deepStrictEqual(rows, ["k=abc", "j=x"])
    const view = track(await Shale.openReadOnly("db", { store, mergeOperator: new ConcatMergeOperator() }))
    assert.strictEqual(s(await view.get(b("k"))), "abc")
  })
})
