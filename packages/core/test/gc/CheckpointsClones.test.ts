/**
 * Checkpoints (made by the writer and detached, refreshed, deleted, listed) and clones (sharing the
 * parent's SSTs, living apart from it, protected from the parent's garbage collector by their final
 * checkpoint), on a memory store and the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Admin from "../../src/admin/Checkpoints.ts"
import { createClone } from "../../src/admin/Clone.ts"
import { openReadOnly } from "../../src/db/ReadOnlyDb.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, ND, openOn, s } from "../db/fixtures.ts"

const T0 = Date.UTC(2026, 0, 1)
const UNKNOWN = "00000000-0000-4000-8000-000000000000"

const setup = Effect.gen(function*() {
  yield* TestClock.setTime(T0)
  const store = makeMemory()
  const on = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, ObjectStore, store)
  return { store, on }
})

describe("checkpoints", () => {
  it.effect("the writer's checkpoint pins the version that contains it; scope all flushes first", () =>
    Effect.gen(function*() {
      const { store, on } = yield* setup
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"), ND)
      const made = yield* db.createCheckpoint({ name: "nightly", lifetimeMs: 3_600_000 })
      const latest = (yield* makeManifestStore(store, "db").readLatest)!
      assert.strictEqual(made.manifestId, latest.id)
      const [cp] = latest.manifest.checkpoints
      assert.deepStrictEqual(cp, { id: made.id, manifestId: latest.id, createTimeS: T0 / 1000, expireTimeS: T0 / 1000 + 3600, name: "nightly" })
      // "all": the put reached L0, so the pinned manifest holds it in an SST.
      assert.strictEqual(latest.manifest.l0.length, 1)
      yield* db.put(b("a"), b("2"), ND)
      const durable = yield* db.createCheckpoint({ scope: "durable", source: made.id })
      assert.strictEqual(durable.manifestId, made.manifestId)
      assert.strictEqual((yield* makeManifestStore(store, "db").readLatest)!.manifest.l0.length, 1)
      const view = yield* on(openReadOnly({ root: "db", checkpointId: made.id }))
      assert.strictEqual(s(yield* view.get(b("a"))), "1")
      assert.deepStrictEqual((yield* on(Admin.listCheckpoints("db", "nightly"))).map((c) => c.id), [made.id])
      assert.strictEqual((yield* on(Admin.listCheckpoints("db", ""))).length, 1) // the unnamed one
    }))

  it.effect("bad options are InvalidError; a missing source is a DataError and writes nothing", () =>
    Effect.gen(function*() {
      const { store } = yield* setup
      const { db } = yield* openOn(store)
      const bad = yield* Effect.flip(db.createCheckpoint({ scope: "everything" as never }))
      assert.strictEqual(bad._tag, "InvalidError")
      assert.strictEqual((yield* Effect.flip(db.createCheckpoint({ lifetimeMs: -1 })))._tag, "InvalidError")
      assert.strictEqual((yield* Effect.flip(db.createCheckpoint({ source: "nope" })))._tag, "InvalidError")
      const before = (yield* makeManifestStore(store, "db").readLatest)!.id
      const missing = yield* Effect.flip(db.createCheckpoint({ source: UNKNOWN }))
      assert.strictEqual(missing._tag, "DataError")
      assert.include(missing.message, UNKNOWN)
      assert.strictEqual((yield* makeManifestStore(store, "db").readLatest)!.id, before)
    }))

  it.effect("the writer takes as source a detached checkpoint its copy of the manifest does not know yet", () =>
    Effect.gen(function*() {
      const { store, on } = yield* setup
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"))
      // Made through Admin (another process): the writer has not read that manifest version.
      const detached = yield* on(Admin.createCheckpoint("db", { lifetimeMs: 60_000 }))
      const made = yield* db.createCheckpoint({ scope: "durable", source: detached.id, lifetimeMs: 1000 })
      assert.strictEqual(made.manifestId, detached.manifestId)
    }))

  it.effect("detached: create, refresh, delete; refreshing a missing one fails, deleting one is a no-op", () =>
    Effect.gen(function*() {
      const { store, on } = yield* setup
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"))
      const cp = yield* on(Admin.createCheckpoint("db", { lifetimeMs: 60_000 }))
      yield* TestClock.adjust("30 seconds")
      const refreshed = yield* on(Admin.refreshCheckpoint("db", cp.id, 600_000))
      assert.strictEqual(refreshed.expireTimeS, T0 / 1000 + 30 + 600)
      const forever = yield* on(Admin.refreshCheckpoint("db", cp.id))
      assert.strictEqual(forever.expireTimeS, undefined)
      assert.strictEqual((yield* Effect.flip(on(Admin.refreshCheckpoint("db", UNKNOWN, 1000))))._tag, "DataError")
      const id = (yield* makeManifestStore(store, "db").readLatest)!.id
      yield* on(Admin.deleteCheckpoint("db", UNKNOWN))
      assert.strictEqual((yield* makeManifestStore(store, "db").readLatest)!.id, id)
      yield* on(Admin.deleteCheckpoint("db", cp.id))
      assert.deepStrictEqual(yield* on(Admin.listCheckpoints("db")), [])
      // The writer merged the remote changes: it still writes, and its next version keeps them.
      yield* db.put(b("b"), b("2"))
      yield* db.flush({ type: "memtable" })
      assert.deepStrictEqual((yield* makeManifestStore(store, "db").readLatest)!.manifest.checkpoints, [])
    }))
})

describe("clones", () => {
  it.effect("a clone reads its parent's state, writes apart from it, and the parent's GC keeps what it shares", () =>
    Effect.gen(function*() {
      const { store, on } = yield* setup
      const parent = yield* openOn(store, { path: "parent", settings: { compactor: true } })
      for (let i = 0; i < 4; i++) {
        for (let k = 0; k < 20; k++) yield* parent.db.put(b(`k${k}`), b(`p${i}`), ND)
        yield* parent.db.flush({ type: "memtable" })
        yield* TestClock.adjust("1 second")
      }
      yield* parent.db.put(b("wal-only"), b("in the WAL"))
      const parentRows = yield* collect(parent.db.scan({}))
      yield* Scope.close(parent.scope, Exit.void)

      const made = yield* on(createClone("clone", "parent"))
      const cloneManifest = (yield* makeManifestStore(store, "clone").readLatest)!.manifest
      assert.isTrue(cloneManifest.initialized)
      assert.deepStrictEqual(cloneManifest.externalDbs.map((d) => [d.path, d.sourceCheckpointId]), [["parent", made.sourceCheckpointId]])
      assert.deepStrictEqual(cloneManifest.checkpoints, [])
      // Again: checked and left as it is.
      assert.deepStrictEqual(yield* on(createClone("clone", "parent")), made)

      const clone = yield* openOn(store, { path: "clone" })
      assert.deepStrictEqual(yield* collect(clone.db.scan({})), parentRows)
      yield* clone.db.put(b("k1"), b("clone"))
      yield* clone.db.delete(b("k2"))
      yield* Scope.close(clone.scope, Exit.void)

      // The parent compacts and collects with no minimum age; the clone's final checkpoint keeps its SSTs.
      const reopened = yield* openOn(store, { path: "parent", settings: { compactor: true } })
      assert.deepStrictEqual(yield* collect(reopened.db.scan({})), parentRows)
      yield* Scope.close(reopened.scope, Exit.void)
      yield* TestClock.adjust("20 minutes")
      const pass = yield* on(Admin.runGcOnce("parent", { options: withMinAge(defaultGcOptions, 0) }))
      assert.deepStrictEqual(pass.errors, [])
      const view = yield* on(openReadOnly({ root: "clone" }))
      const cloneRows = yield* collect(view.scan({}))
      assert.deepStrictEqual(cloneRows, parentRows.filter(([k]) => k !== "k2").map(([k, v]) => (k === "k1" ? [k, "clone"] as const : [k, v] as const)))

      // Its final checkpoint removed from the parent, the clone is no longer protected: re-running says so.
      const finalId = cloneManifest.externalDbs[0]!.finalCheckpointId!
      yield* on(Admin.deleteCheckpoint("parent", finalId))
      const unprotected = yield* Effect.flip(on(createClone("clone", "parent")))
      assert.strictEqual(unprotected._tag, "DataError")
      assert.include(unprotected.message, finalId)
    }))

  it.effect("clone errors: its own parent, a missing checkpoint, no parent, another parent", () =>
    Effect.gen(function*() {
      const { store, on } = yield* setup
      const parent = yield* openOn(store, { path: "parent" })
      yield* parent.db.put(b("a"), b("1"))
      assert.strictEqual((yield* Effect.flip(on(createClone("parent", "/parent/"))))._tag, "InvalidError")
      const missing = yield* Effect.flip(on(createClone("c1", "parent", UNKNOWN)))
      assert.strictEqual(missing._tag, "DataError")
      assert.strictEqual((yield* Effect.flip(on(createClone("c2", "nothing-here"))))._tag, "DataError")
      yield* on(createClone("c3", "parent"))
      const other = yield* openOn(store, { path: "other" })
      yield* other.db.put(b("a"), b("1"))
      assert.strictEqual((yield* Effect.flip(on(createClone("c3", "other"))))._tag, "DataError")
    }))
})
