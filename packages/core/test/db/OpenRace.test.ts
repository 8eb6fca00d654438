/**
 * An open whose checks race an older writer and a garbage collector: the older writer flushes its memtable
 * to L0 (a new manifest version moves the replay point past a WAL SST) and the collector deletes that WAL
 * SST while the new writer is checking the version before. The open checks again against the latest
 * version instead of calling the store damaged; a failure against the latest version still stands.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { walSstPath } from "../../src/format/Paths.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, type ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, ND, openOn } from "./fixtures.ts"

describe("open racing an older writer and a collector", () => {
  it.effect("the WAL SST checked is gone because the latest version no longer needs it: the open checks again and succeeds", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const older = yield* openOn(store)
      for (let i = 0; i < 10; i++) yield* older.db.put(b(`k${i}`), b(`v${i}`), ND)
      yield* older.db.flush({ type: "wal" })
      // A version that records the WAL SST (its replay range names it), as any manifest write does.
      yield* older.db.createCheckpoint({ scope: "durable", lifetimeMs: 60_000 })
      const named = (yield* makeManifestStore(store, "db").readLatest)!.manifest
      const walId = named.nextWalSstId - 1
      assert.isAbove(walId, named.replayAfterWalId)
      let raced = false
      const racing: ObjectStore["Service"] = {
        ...store,
        list: (prefix, options) =>
          Stream.unwrap(Effect.gen(function*() {
            if (!raced && prefix.endsWith("wal")) {
              raced = true
              yield* older.db.flush({ type: "memtable" }) // the older writer: L0 SST + a new manifest version
              yield* store.delete(walSstPath("db", walId)) // the collector: below the new replay point
            }
            return store.list(prefix, options)
          }).pipe(Effect.orDie))
      }
      const newer = yield* openOn(racing)
      assert.isTrue(raced)
      assert.strictEqual((yield* collect(newer.db.scan({}))).length, 10)
    }))

  it.effect("a WAL SST missing from the latest version still fails the open, and nothing is written", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const older = yield* openOn(store)
      yield* older.db.put(b("k"), b("v"))
      const walId = (yield* older.db.status).nextWalId - 1
      yield* older.db.close // its last version records the WAL SST
      yield* store.delete(walSstPath("db", walId))
      const before = (yield* makeManifestStore(store, "db").readLatest)!.id
      const error = yield* Effect.flip(openOn(store))
      assert.strictEqual(error._tag, "DataError")
      assert.strictEqual((yield* makeManifestStore(store, "db").readLatest)!.id, before) // nothing written
    }))
})
