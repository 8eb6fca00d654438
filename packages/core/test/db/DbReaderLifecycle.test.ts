/**
 * The `DbReader` (db/DbReader.ts) opened and closed: closing removes its checkpoint (`close`, and the end of
 * `DbReader.layer`'s scope); at a user checkpoint it never polls and writes nothing; bad options, a missing
 * database or checkpoint are SlateDB's typed errors; the Promise form (`Shale.openReader`) on real time.
 * Following a writer: DbReader.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { DbReader, type DbReaderOpenOptions } from "../../src/db/DbReader.ts"
import { Shale } from "../../src/db/Shale.ts"
import { openAdmin } from "../../src/db/ShaleAdmin.ts"
import { openReader as openShaleReader } from "../../src/db/ShaleReader.ts"
import { ClosedError, DataError, InvalidError } from "../../src/errors.ts"
import { Manifest } from "../../src/manifest/Manifest.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { StoreFailure } from "../../src/objectstore/ObjectStoreError.ts"
import { b, collect, ND, openOn, s, testSettings } from "./fixtures.ts"
import { latestOf, OPTIONS, openReader, POLL, T0 } from "./readerSupport.ts"

describe("DbReader: closing", () => {
  it.effect("close removes its checkpoint; reads then fail with ClosedError(clean); a second close does nothing", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const { reader } = yield* openReader(store)
      assert.deepStrictEqual((yield* latestOf(store)).manifest.checkpoints.map((c) => c.id), [reader.checkpointId])
      yield* reader.close
      yield* reader.close
      assert.deepStrictEqual((yield* latestOf(store)).manifest.checkpoints, [])
      const error = yield* Effect.flip(reader.get(b("k")))
      assert.instanceOf(error, ClosedError)
      assert.strictEqual(error.reason, "clean")
      assert.instanceOf(yield* Effect.flip(Stream.runCollect(reader.scan({}))), ClosedError)
      assert.strictEqual((yield* reader.status).closeReason, "clean")
      // Polling stopped.
      const polls = (yield* reader.status).polls
      yield* TestClock.adjust(10 * POLL)
      assert.strictEqual((yield* reader.status).polls, polls)
    }))

  it.effect("DbReader.layer: the service; the end of the layer's scope closes the reader and removes its checkpoint", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const scope = yield* Scope.make()
      const layer = DbReader.layer({ path: "db", options: OPTIONS }).pipe(Layer.provide(Layer.succeed(ObjectStore, store)))
      const reader = Context.get(yield* Layer.buildWithScope(layer, scope), DbReader)
      assert.strictEqual(s(yield* reader.get(b("k"))), "v")
      assert.strictEqual((yield* latestOf(store)).manifest.checkpoints.length, 1)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* latestOf(store)).manifest.checkpoints.length, 0)
      assert.instanceOf(yield* Effect.flip(reader.get(b("k"))), ClosedError)
    }))
})

describe("DbReader: at a user checkpoint", () => {
  it.effect("reads the checkpoint's state, never polls, writes nothing, and leaves the checkpoint on close", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"), ND)
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("b"), b("2"))
      const cp = yield* db.createCheckpoint({ scope: "all", name: "user" })
      yield* db.put(b("c"), b("3"))
      yield* db.flush({ type: "memtable" })
      const manifestsBefore = yield* makeManifestStore(store, "db").listIds
      const { reader } = yield* openReader(store, { checkpointId: cp.id.toUpperCase() })
      assert.strictEqual(reader.checkpointId, cp.id)
      assert.strictEqual(reader.manifestId, cp.manifestId)
      assert.deepStrictEqual(yield* collect(reader.scan({})), [["a", "1"], ["b", "2"]])
      yield* db.put(b("d"), b("4"))
      yield* TestClock.adjust(20 * POLL)
      const st = yield* reader.status
      assert.strictEqual(st.polls, 0)
      assert.strictEqual(st.ownCheckpoint, false)
      assert.deepStrictEqual(yield* collect(reader.scan({}, { order: "desc" })), [["b", "2"], ["a", "1"]])
      yield* reader.close
      assert.deepStrictEqual(yield* makeManifestStore(store, "db").listIds, manifestsBefore)
      assert.deepStrictEqual((yield* latestOf(store)).manifest.checkpoints.map((c) => c.id), [cp.id])
    }))
})

describe("DbReader: errors", () => {
  it.effect("bad options: SlateDB's InvalidError messages; nothing written", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const ids = yield* makeManifestStore(store, "db").listIds
      const fails = (options: Partial<DbReaderOpenOptions>) => Effect.flip(openReader(store, options))
      const cases: Array<readonly [Partial<DbReaderOpenOptions>, string | RegExp]> = [
        [{ options: { checkpointLifetimeMs: 999 } }, "invalid checkpoint lifetime. lifetime=`999ms`"],
        [
          { options: { manifestPollIntervalMs: 10_000, checkpointLifetimeMs: 19_999 } },
          "checkpoint lifetime must be at least double the manifest poll interval. lifetime=`19.999s`, interval=`20s`"
        ],
        [{ options: { manifestPollIntervalMs: 0 } }, "invalid manifest poll interval. interval=`0ms`"],
        [{ options: { manifestPollIntervalMs: 1.5 } }, /manifestPollIntervalMs must be a whole number/],
        [{ options: { maxMemtableBytes: 0 } }, /maxMemtableBytes must be at least 1/],
        [{ options: { skipWalReplay: "yes" as unknown as boolean } }, /skipWalReplay must be a boolean/],
        [{ options: { pollMs: 5 } as never }, /unknown DbReader option "pollMs"/],
        [{ checkpointId: "not-a-uuid" }, /checkpointId must be a UUID/]
      ]
      for (const [options, message] of cases) {
        const error = yield* fails(options)
        assert.instanceOf(error, InvalidError)
        if (typeof message === "string") assert.strictEqual(error.message, message)
        else assert.match(error.message, message)
      }
      // The defaults pass: 10 minutes ≥ 2 × 10 s.
      const { reader } = yield* openReader(store, { options: {} })
      assert.strictEqual(s(yield* reader.get(b("k"))), "v")
      yield* reader.close
      const after = yield* makeManifestStore(store, "db").listIds
      // Only the default reader's checkpoint and its removal.
      assert.deepStrictEqual(after, [...ids, ids[ids.length - 1]! + 1, ids[ids.length - 1]! + 2])
    }))

  it.effect("opening fails after its checkpoint was written (a WAL cannot be read): the checkpoint is removed again", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const before = (yield* latestOf(store)).id
      const broken = ObjectStore.of({
        ...store,
        get: (path) => (path.includes("/wal/") ? Effect.fail(new StoreFailure({ op: "get", path, message: "injected" })) : store.get(path))
      })
      const error = yield* Effect.flip(openReader(broken, { storeRetry: { maxAttempts: 1 } }))
      assert.match(error.message, /injected/)
      const latest = yield* latestOf(store)
      assert.deepStrictEqual(latest.manifest.checkpoints, [])
      // One version added the checkpoint, the next removed it.
      assert.strictEqual(latest.id, before + 2)
    }))

  it.effect("no database, an uninitialized one, an unknown checkpoint: SlateDB's Data errors", () =>
    Effect.gen(function*() {
      const empty = makeMemory()
      const none = yield* Effect.flip(openReader(empty))
      assert.instanceOf(none, DataError)
      assert.match(none.message, /^failed to find latest transactional object \(e\.g\. manifest\) version/)

      const clone = makeMemory()
      yield* makeManifestStore(clone, "db").write(1, { ...Manifest.initial(), initialized: false })
      const uninit = yield* Effect.flip(openReader(clone))
      assert.instanceOf(uninit, DataError)
      assert.match(uninit.message, /^invalid DB state/)
      assert.deepStrictEqual(yield* makeManifestStore(clone, "db").listIds, [1])

      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const id = "0b6f3c5e-8d1e-4a53-9a5e-2a7f1c0e4d11"
      const missing = yield* Effect.flip(openReader(store, { checkpointId: id }))
      assert.instanceOf(missing, DataError)
      assert.strictEqual(missing.message, `checkpoint missing: ${id}`)
    }))
})

describe("DbReader: the Promise form", () => {
  const waitFor = async (what: string, done: () => Promise<boolean>) => {
    for (let i = 0; i < 500; i++) {
      if (await done()) return
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.fail(`timed out waiting for ${what}`)
  }

  it("Shale.openReader: reads, follows the writer, status; close removes its checkpoint; bad arguments reject", async () => {
    const store = Shale.stores.memory()
    await using db = await Shale.open("db", { store, settings: testSettings })
    await using admin = await openAdmin("db", { store })
    await db.put(b("k"), b("v"))
    const reader = await openShaleReader("db", { store, options: { manifestPollIntervalMs: 20, checkpointLifetimeMs: 1000 } })
    assert.strictEqual(s(await reader.get(b("k"))), "v")
    assert.deepStrictEqual((await admin.listCheckpoints()).map((c) => c.id), [reader.checkpointId])
    await db.put(b("k2"), b("v2"))
    await waitFor("the reader to see k2", async () => (await reader.get(b("k2"))) !== undefined)
    assert.strictEqual((await reader.getKeyValue(b("k2")))?.seq, (await db.status()).durableSeq)
    const rows: Array<string> = []
    for await (const kv of reader.scan({}, { order: "desc" })) rows.push(s(kv.key)!)
    assert.deepStrictEqual(rows, ["k2", "k"])
    for await (const kv of reader.scanPrefix(b("k2"))) rows.push(s(kv.value)!)
    assert.deepStrictEqual(rows, ["k2", "k", "v2"])
    const st = await reader.status()
    assert.isTrue(st.ownCheckpoint)
    assert.isAbove(st.polls, 0)
    assert.strictEqual(st.pollErrors, 0)
    assert.strictEqual(reader.service.checkpointId, reader.checkpointId)

    await reader.close()
    await reader.close()
    assert.deepStrictEqual(await admin.listCheckpoints(), [])
    const closed = await reader.get(b("k")).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(closed, ClosedError)

    const rejected = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e)
    assert.instanceOf(await rejected(openShaleReader(42 as unknown as string, { store })), InvalidError)
    assert.instanceOf(await rejected(openShaleReader("db", { store: undefined as never })), InvalidError)
    assert.instanceOf(await rejected(openShaleReader("db", { store, options: { checkpointLifetimeMs: 10 } })), InvalidError)
    assert.instanceOf(await rejected(openShaleReader("elsewhere", { store })), DataError)
    assert.deepStrictEqual(await admin.listCheckpoints(), [])
  })
})
