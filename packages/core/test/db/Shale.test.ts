/**
 * The Promise API: a round trip through every method, on the memory store and a local directory; errors
 * reject with the engine's tagged error instances.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Layer } from "effect"
import { afterEach, assert, describe, it } from "vitest"
import { Shale, ShaleDb } from "../../src/db/Shale.ts"
import { ClosedError, InvalidError } from "../../src/errors.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, s } from "./fixtures.ts"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const keysOf = async (it: AsyncIterable<{ readonly key: Uint8Array }>) => {
  const out: Array<string> = []
  for await (const kv of it) out.push(s(kv.key)!)
  return out
}

describe("Shale (Promise API)", () => {
  it("round trip on the memory store", async () => {
    const db = await Shale.open("db", { store: Shale.stores.memory(), settings: { durableFlush: "eager" } })
    assert.instanceOf(db, ShaleDb)
    const h = await db.put(b("a"), b("1"))
    assert.strictEqual(h.seq, 1)
    await db.put(b("b"), b("2"), { awaitDurable: false })
    await db.write(new Shale.WriteBatch().put(b("c"), b("3")).put(b("d"), b("4")).delete(b("b")))
    assert.strictEqual(s(await db.get(b("a"))), "1")
    assert.strictEqual(await db.get(b("b")), undefined)
    assert.strictEqual((await db.getKeyValue(b("c")))?.seq, 3)
    await db.delete(b("d"), { awaitDurable: false })
    assert.deepStrictEqual(await keysOf(db.scan()), ["a", "c"])
    assert.deepStrictEqual(await keysOf(db.scan({}, { order: "desc" })), ["c", "a"])
    for (let i = 0; i < 600; i++) await db.put(b(`p/${String(i).padStart(3, "0")}`), b("x"), { awaitDurable: false })
    await db.flush({ type: "memtable" })
    assert.strictEqual((await db.status()).l0Ssts, 1)
    assert.strictEqual((await keysOf(db.scanPrefix(b("p/")))).length, 600)
    // Leaving a loop early releases the scan.
    let seen = 0
    for await (const _ of db.scanPrefix(b("p/"), { order: "desc" })) {
      if (++seen === 5) break
    }
    assert.strictEqual(seen, 5)
    await db.flush()
    await db.close()
    assert.strictEqual((await db.status()).closeReason, "clean")
  })

  it("errors reject with the engine's tagged error instances", async () => {
    const db = await Shale.open("db", { store: Shale.stores.memory() })
    const invalid = await db.put(new Uint8Array(0), b("v")).catch((e: unknown) => e)
    assert.instanceOf(invalid, InvalidError)
    assert.strictEqual((invalid as InvalidError)._tag, "InvalidError")
    const badRange = await keysOf(db.scan({ start: b("b"), end: b("a") })).catch((e: unknown) => e)
    assert.instanceOf(badRange, InvalidError)
    await db.close()
    const closed = await db.get(b("a")).catch((e: unknown) => e)
    assert.instanceOf(closed, ClosedError)
    assert.strictEqual((closed as ClosedError).reason, "clean")
    // A second close does nothing (and resolves).
    assert.isUndefined(await db.close())
    const badSettings = await Shale.open("db", { store: Shale.stores.memory(), settings: { l0SstSizeBytes: 0 } })
      .catch((e: unknown) => e)
    assert.instanceOf(badSettings, InvalidError)
  })

  it("two handles on one store: the second fences the first", async () => {
    const store = Layer.succeed(ObjectStore, makeMemory())
    const first = await Shale.open("db", { store, settings: { durableFlush: "eager" } })
    await first.put(b("a"), b("1"))
    const second = await Shale.open("db", { store, settings: { durableFlush: "eager" } })
    const fenced = await first.put(b("b"), b("2")).catch((e: unknown) => e)
    assert.instanceOf(fenced, ClosedError)
    assert.strictEqual((fenced as ClosedError).reason, "fenced")
    assert.strictEqual(s(await second.get(b("a"))), "1")
    assert.strictEqual(await second.get(b("b")), undefined)
    await first.close().catch(() => undefined)
    await second.close()
  })

  it("a local directory: data survives close and reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-promise-"))
    dirs.push(dir)
    const db = await Shale.open("db", { store: Shale.stores.local(dir) })
    await db.put(b("durable"), b("1"))
    await db.put(b("flushed-at-close"), b("2"), { awaitDurable: false })
    await db.flush({ type: "memtable" })
    await db.put(b("wal-only"), b("3"), { awaitDurable: false })
    await db.close()
    const again = await Shale.open("db", { store: Shale.stores.local(dir) })
    assert.deepStrictEqual(await keysOf(again.scan()), ["durable", "flushed-at-close", "wal-only"])
    assert.strictEqual((await again.status()).writerEpoch, 2)
    await again.close()
  })
})
