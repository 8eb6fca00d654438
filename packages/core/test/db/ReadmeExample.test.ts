/** The README's usage examples, run as written (memory store instead of a directory), so the docs stay true. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Db, ObjectStore, Shale, WriteBatch } from "../../src/internal.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

describe("README examples", () => {
  it.effect("Effect API", () =>
    Effect.gen(function*() {
      const db = yield* Db
      yield* db.put(enc.encode("user:1"), enc.encode("ada"))
      yield* db.put(enc.encode("user:2"), enc.encode("bob"), { awaitDurable: false })
      yield* db.write(new WriteBatch().put(enc.encode("a"), enc.encode("1")).delete(enc.encode("user:2")))
      const v = yield* db.get(enc.encode("user:1"), { durability: "remote" })
      const rows = yield* Stream.runCollect(db.scanPrefix(enc.encode("user:"), { order: "desc" }))
      assert.strictEqual(dec.decode(v), "ada")
      assert.deepStrictEqual(rows.map((r) => dec.decode(r.key)), ["user:1"])
    }).pipe(
      Effect.provide(Db.layer({ path: "db", settings: { durableFlush: "eager" } })),
      Effect.provide(ObjectStore.layerMemory)
    ))

  it("Promise API", async () => {
    const db = await Shale.open("db", { store: Shale.stores.memory() })
    await db.put(enc.encode("k"), enc.encode("v"))
    assert.strictEqual(dec.decode(await db.get(enc.encode("k"))), "v")
    const seen: Array<string> = []
    for await (const kv of db.scan({ start: enc.encode("a"), end: enc.encode("z") })) seen.push(dec.decode(kv.value))
    assert.deepStrictEqual(seen, ["v"])
    await db.close()
  })
})
