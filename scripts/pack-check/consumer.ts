// A TypeScript consumer of the packed packages, type-checked with `tsc --init`'s strict defaults (plus
// Node's types) and run as compiled JavaScript: the Effect API (Db.layer over the local store), typed
// errors, settings from TOML text, and the Promise API's types.
import { Db, ObjectStore, Settings, Shale } from "@shale/core"
import { LocalObjectStore } from "@shale/core/node"
import { Effect, Stream } from "effect"
import assert from "node:assert/strict"

const dir = process.argv[2]!
const enc = new TextEncoder()
const dec = new TextDecoder()

const settings: Settings.Settings = await Effect.runPromise(
  Settings.fromToml(`flush_interval = "50ms"\nl0_sst_size_bytes = 1048576`)
)
assert.equal(settings.flushIntervalMs, 50)

const program = Effect.gen(function*() {
  const db = yield* Db.Db
  const h: Db.WriteHandle = yield* db.put(enc.encode("k1"), enc.encode("v1"))
  yield* db.write(new Db.WriteBatch().put(enc.encode("k2"), enc.encode("v2")).delete(enc.encode("k0")))
  const value: Uint8Array | undefined = yield* db.get(enc.encode("k1"), { durability: "remote" })
  const rows = yield* Stream.runCollect(db.scan({ start: enc.encode("k") }))
  const invalid = yield* Effect.flip(db.put(new Uint8Array(0), enc.encode("x")))
  return { seq: h.seq, value: dec.decode(value), keys: rows.map((r) => dec.decode(r.key)), invalid }
})

const result = await Effect.runPromise(
  program.pipe(
    Effect.provide(Db.layer({ path: "db", settings: { ...settings, durableFlush: "eager" } })),
    Effect.provide(LocalObjectStore.layer({ root: dir }))
  )
)
assert.equal(result.value, "v1")
assert.deepEqual(result.keys, ["k1", "k2"])
assert.ok(result.invalid instanceof Db.InvalidError)

// The Promise API over a memory store, reopened; its dispose method closes.
const store = Shale.stores.memory()
store satisfies typeof ObjectStore.layerMemory
const db: Shale.ShaleDb = await Shale.open("db", { store, logger: "silent" })
const kv: Shale.KeyValue | undefined = await db.getKeyValue(enc.encode("absent"))
assert.equal(kv, undefined)
await db[Symbol.asyncDispose]()
const closed = await db.get(enc.encode("k")).catch((e: unknown) => e)
assert.ok(closed instanceof Shale.ClosedError && closed.reason === "clean")
process.stdout.write("consumer.ts: ok\n")
