// A plain-JavaScript consumer of the packed packages (run by scripts/pack-check.mjs in a fresh project
// outside the workspace, with type stripping disabled): the Promise API on a local directory, the
// installed `shale` command's database read back, and the other packages' entries loading.
import { Db, ObjectStore, Settings, Shale } from "@shale/core"
import { LocalObjectStore } from "@shale/core/node"
import { S3ObjectStore } from "@shale/s3"
import { FaultInjectingObjectStore } from "@shale/testing"
import assert from "node:assert/strict"

const dir = process.argv[2]
const enc = new TextEncoder()
const dec = new TextDecoder()

const db = await Shale.open("db", { store: Shale.stores.resolve(dir), settings: { durableFlush: "eager" } })
await db.put(enc.encode("user:1"), enc.encode("ada"))
await db.write(new Shale.WriteBatch().put(enc.encode("user:2"), enc.encode("bob")).put(enc.encode("user:3"), enc.encode("cy")))
assert.equal(dec.decode(await db.get(enc.encode("user:1"))), "ada")
const keys = []
for await (const kv of db.scanPrefix(enc.encode("user:"))) keys.push(dec.decode(kv.key))
assert.deepEqual(keys, ["user:1", "user:2", "user:3"])
await db.close()
await db.close() // a second close does nothing

// Reopened: the data is there.
const again = await Shale.open("db", { store: Shale.stores.local(dir) })
assert.equal(dec.decode(await again.get(enc.encode("user:3"))), "cy")
await again.close()

// The other entries load and have what they promise.
assert.equal(typeof Db.layer, "function")
assert.equal(typeof ObjectStore.layerFromUrl, "function")
assert.equal(Settings.defaults.l0SstSizeBytes, 64 * 1024 * 1024)
assert.equal(typeof LocalObjectStore.layer, "function")
assert.equal(typeof S3ObjectStore.layerAt, "function")
assert.equal(typeof FaultInjectingObjectStore.makeFaultInjecting, "function")
process.stdout.write("consumer.mjs: ok\n")
