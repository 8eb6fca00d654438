/**
 * The Db service: opening a new database (SlateDB's object sequence), point writes and reads, write
 * batches (one seq per batch, last op per key wins), validation (nothing of an invalid write is written),
 * status. Memory store, TestClock, no timers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { Db } from "../../src/db/Db.ts"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { InvalidError } from "../../src/errors.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, listPaths, ND, openOn, s, testSettings } from "./fixtures.ts"

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flip(effect)

describe("Db: open", () => {
  it.effect("a brand-new database writes manifest 1 (epoch 0), manifest 2 (epoch 1), the fence wal/1, then data WALs from 2", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store)
      assert.deepStrictEqual(yield* listPaths(store, "db"), [
        "db/manifest/00000000000000000001.manifest",
        "db/manifest/00000000000000000002.manifest",
        "db/wal/00000000000000000001.sst"
      ])
      const m1 = decodeManifest(yield* store.get("db/manifest/00000000000000000001.manifest"))
      const m2 = decodeManifest(yield* store.get("db/manifest/00000000000000000002.manifest"))
      assert.strictEqual(m1.writerEpoch, 0)
      assert.strictEqual(m2.writerEpoch, 1)
      // The fence is SlateDB's empty SST (114 bytes uncompressed).
      assert.strictEqual((yield* store.get("db/wal/00000000000000000001.sst")).length, 114)
      yield* db.put(b("k"), b("v"))
      assert.deepStrictEqual((yield* listPaths(store, "db/wal")).at(-1), "db/wal/00000000000000000002.sst")
      const status = yield* db.status
      assert.strictEqual(status.writerEpoch, 1)
      assert.strictEqual(status.nextWalId, 3)
      assert.strictEqual(status.manifestId, 2)
      assert.strictEqual(status.closeReason, undefined)
      yield* Scope.close(scope, Exit.void)
      // Closing writes the manifest once more, persisting next_wal_sst_id.
      const m3 = decodeManifest(yield* store.get("db/manifest/00000000000000000003.manifest"))
      assert.strictEqual(m3.nextWalSstId, 3)
      assert.strictEqual(m3.writerEpoch, 1)
    }))

  it.effect("Db.layer opens over the ObjectStore in context and closes when its scope ends", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const layer = Db.layer({ path: "/nested/db/", settings: testSettings }).pipe(
        Layer.provide(Layer.succeed(ObjectStore, store))
      )
      yield* Effect.gen(function*() {
        const db = yield* Db
        yield* db.put(b("a"), b("1"))
      }).pipe(Effect.provide(layer))
      // The root is normalised (no leading/trailing slash); the final manifest is there.
      const paths = yield* listPaths(store, "nested/db/manifest")
      assert.strictEqual(paths.length, 3)
    }))

  it.effect("bad settings are an InvalidError", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const error = yield* failure(openOn(store, { settings: { blockSize: 1234 as 4096 } }))
      assert.instanceOf(error, InvalidError)
      assert.match(error.message, /blockSize/)
    }))
})

describe("Db: writes and reads", () => {
  it.effect("put, get, overwrite, delete", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      const h1 = yield* db.put(b("k1"), b("v1"))
      const h2 = yield* db.put(b("k2"), b("v2"), ND)
      assert.strictEqual(h1.seq, 1)
      assert.strictEqual(h2.seq, 2)
      assert.strictEqual(s(yield* db.get(b("k1"))), "v1")
      yield* db.put(b("k1"), b("v1b"), ND)
      assert.strictEqual(s(yield* db.get(b("k1"))), "v1b")
      const h3 = yield* db.delete(b("k1"))
      assert.strictEqual(h3.seq, 4)
      assert.strictEqual(yield* db.get(b("k1")), undefined)
      assert.strictEqual(yield* db.get(b("missing")), undefined)
      const kv = yield* db.getKeyValue(b("k2"))
      assert.strictEqual(s(kv?.key), "k2")
      assert.strictEqual(kv?.seq, 2)
      assert.strictEqual(kv?.expireTs, undefined)
      assert.strictEqual(kv?.createTs, h2.createTs)
      assert.strictEqual(yield* db.getKeyValue(b("k1")), undefined)
      // An empty value is a value, not a delete.
      yield* db.put(b("empty"), new Uint8Array(0), ND)
      assert.deepStrictEqual(yield* db.get(b("empty")), new Uint8Array(0))
    }))

  it.effect("a get is lazy: it reads when it runs, anew on every run, and fails then (not when built)", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      const read = db.get(b("k"))
      const bad = db.get(new Uint8Array(0))
      assert.strictEqual(yield* read, undefined)
      yield* db.put(b("k"), b("v1"), ND)
      assert.strictEqual(s(yield* read), "v1")
      yield* db.put(b("k"), b("v2"), ND)
      assert.strictEqual(s(yield* read), "v2")
      assert.strictEqual(s(yield* Effect.map(read, (v) => v)), "v2", "composes as any Effect")
      assert.instanceOf(yield* failure(bad), InvalidError)
      yield* db.close
      const closed = yield* failure(read)
      assert.strictEqual(closed._tag, "ClosedError")
    }))

  it.effect("keys and values are copied in and out", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      const key = b("key")
      const value = b("value")
      yield* db.put(key, value, ND)
      key[0] = 0x7a
      value[0] = 0x7a
      const got = (yield* db.get(b("key")))!
      assert.strictEqual(s(got), "value")
      got[0] = 0x7a
      assert.strictEqual(s(yield* db.get(b("key"))), "value")
    }))

  it.effect("a write batch gets ONE seq for all its rows, applies atomically, later ops on a key win", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* db.put(b("gone"), b("x"), ND)
      const batch = new WriteBatch()
        .put(b("b"), b("1"))
        .put(b("a"), b("1"))
        .delete(b("gone"))
        .put(b("b"), b("2")) // replaces the first put of b
        .put(b("c"), b("1"))
        .delete(b("c")) // replaces the put of c
      const handle = yield* db.write(batch)
      assert.strictEqual(handle.seq, 2)
      const rows = yield* collect(db.scan({}))
      assert.deepStrictEqual(rows, [["a", "1"], ["b", "2"]])
      assert.strictEqual((yield* db.getKeyValue(b("a")))?.seq, 2)
      assert.strictEqual((yield* db.getKeyValue(b("b")))?.seq, 2)
      assert.strictEqual(yield* db.get(b("gone")), undefined)
      assert.strictEqual(yield* db.get(b("c")), undefined)
      // The next write gets the next seq.
      assert.strictEqual((yield* db.put(b("d"), b("1"), ND)).seq, 3)
    }))

  it.effect("TTL: expire_ts = create_ts + ttl; reads do not filter expired rows (SlateDB 0.12.1)", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory(), { settings: { defaultTtlMs: 1000 } })
      const h = yield* db.put(b("ttl"), b("v"), { ttl: { afterMs: 50 }, awaitDurable: false })
      assert.strictEqual((yield* db.getKeyValue(b("ttl")))?.expireTs, h.createTs + 50)
      yield* db.put(b("default"), b("v"), ND)
      assert.strictEqual((yield* db.getKeyValue(b("default")))?.expireTs, h.createTs + 1000)
      yield* db.put(b("none"), b("v"), { ttl: "none", awaitDurable: false })
      assert.strictEqual((yield* db.getKeyValue(b("none")))?.expireTs, undefined)
      yield* db.put(b("at"), b("v"), { ttl: { atMs: 7 }, awaitDurable: false })
      // Already expired, still returned.
      assert.strictEqual(s(yield* db.get(b("at"))), "v")
      assert.strictEqual((yield* db.getKeyValue(b("at")))?.expireTs, 7)
    }))
})

describe("Db: validation", () => {
  it.effect("empty and oversized keys, bad values, bad TTLs and empty batches are InvalidError; nothing is written", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      const bigKey = new Uint8Array(65_536)
      const cases: Array<readonly [Effect.Effect<unknown, unknown>, RegExp]> = [
        [db.put(new Uint8Array(0), b("v")), /key cannot be empty/],
        [db.put(bigKey, b("v")), /key size must be <= u16::MAX/],
        [db.put("str" as unknown as Uint8Array, b("v")), /key must be a Uint8Array/],
        [db.put(b("k"), undefined as unknown as Uint8Array), /value must be a Uint8Array/],
        [db.put(b("k"), b("v"), { ttl: { afterMs: -1 } }), /afterMs/],
        [db.put(b("k"), b("v"), { ttl: { afterMs: 1.5 } }), /afterMs/],
        [db.delete(new Uint8Array(0)), /key cannot be empty/],
        [db.delete(bigKey), /key size/],
        [db.write(new WriteBatch()), /empty/],
        [db.write(new WriteBatch().put(b("ok"), b("v")).put(new Uint8Array(0), b("v"))), /key cannot be empty/],
        [db.write(new WriteBatch().put(b("ok"), b("v")).delete(bigKey)), /key size/],
        [db.get(new Uint8Array(0)), /key cannot be empty/],
        [db.getKeyValue(bigKey), /key size/]
      ]
      for (const [effect, message] of cases) {
        const error = yield* failure(effect)
        assert.instanceOf(error, InvalidError)
        assert.match((error as InvalidError).message, message)
      }
      // A key of exactly 65,535 bytes is fine.
      const maxKey = new Uint8Array(65_535).fill(1)
      yield* db.put(maxKey, b("max"), ND)
      assert.strictEqual(s(yield* db.get(maxKey)), "max")
      // Nothing of the invalid writes reached the database: one row, seq 1.
      const status = yield* db.status
      assert.strictEqual(status.lastCommittedSeq, 1)
      assert.strictEqual(yield* db.get(b("ok")), undefined)
      yield* db.flush()
      assert.strictEqual((yield* listPaths(store, "db/wal")).length, 2)
    }))
})
