/**
 * The read-only view (db/ReadOnlyDb.ts): it sees every durable row of a running writer (L0 and WAL,
 * tombstones hiding keys, scans both ways) and writes nothing (the store lists the same objects before and
 * after, and its store refuses writes), so the writer goes on unfenced; at a checkpoint (or a manifest
 * version) it sees that version and its WAL range only; no database, an uninitialized one and an unknown
 * checkpoint fail with their typed errors; a clone's borrowed SSTs are read under the parent's path; the
 * Promise form reads the same and closes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { openReadOnly, type ReadOnlyOptions } from "../../src/db/ReadOnlyDb.ts"
import { Shale } from "../../src/db/Shale.ts"
import { ClosedError, DataError, InvalidError } from "../../src/errors.ts"
import { Manifest } from "../../src/manifest/Manifest.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { ObjectNotFound } from "../../src/objectstore/ObjectStoreError.ts"
import { b, collect, listPaths, ND, openOn, s } from "./fixtures.ts"

const CHECKPOINT = "0b6f3c5e-8d1e-4a53-9a5e-2a7f1c0e4d11"

/** `store` for the view, recording (and refusing) every put and delete it is asked for. */
const guarded = (store: ObjectStore["Service"]) => {
  const writes: Array<string> = []
  const refuse = (op: string, path: string) =>
    Effect.die(new Error(`the read-only view tried to ${op} ${path}`)).pipe(Effect.ensuring(Effect.sync(() => void writes.push(`${op} ${path}`))))
  return {
    writes,
    store: ObjectStore.of({ ...store, put: (path) => refuse("put", path), delete: (path) => refuse("delete", path) })
  }
}

/** Opens a view over `store` in the current scope (root "db" unless told), through a write-refusing store. */
const view = (store: ObjectStore["Service"], options: Partial<ReadOnlyOptions> = {}) =>
  Effect.gen(function*() {
    const g = guarded(store)
    const v = yield* openReadOnly({ root: "db", ...options }).pipe(Effect.provideService(ObjectStore, g.store))
    return { view: v, writes: g.writes }
  })

const everything = (store: ObjectStore["Service"]) => listPaths(store, "")

describe("ReadOnlyDb: the latest state, next to a running writer", () => {
  it.effect("sees every durable row (L0 and WAL, tombstones), both scan orders, and writes nothing; the writer goes on", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("a in L0"), ND)
      yield* db.put(b("gone"), b("deleted later"), ND)
      yield* db.put(b("p/1"), b("one"), ND)
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("a"), b("a in the WAL"))
      yield* db.delete(b("gone"))
      yield* db.put(b("p/2"), b("two"))
      const last = yield* db.put(b("z"), b("last"))
      const before = yield* everything(store)

      const { view: v, writes } = yield* view(store)
      assert.strictEqual(v.seq, last.seq)
      assert.strictEqual(v.checkpointId, undefined)
      assert.strictEqual(s(yield* v.get(b("a"))), "a in the WAL")
      assert.strictEqual(yield* v.get(b("gone")), undefined)
      assert.strictEqual(yield* v.get(b("absent")), undefined)
      assert.strictEqual((yield* v.getKeyValue(b("z")))?.seq, last.seq)
      const rows: Array<readonly [string, string]> = [["a", "a in the WAL"], ["p/1", "one"], ["p/2", "two"], ["z", "last"]]
      assert.deepStrictEqual(yield* collect(v.scan({})), rows)
      assert.deepStrictEqual(yield* collect(v.scan({}, { order: "desc" })), [...rows].reverse())
      assert.deepStrictEqual(yield* collect(v.scan({ start: b("b"), end: b("z") }, { order: "desc" })), [["p/2", "two"], ["p/1", "one"]])
      assert.deepStrictEqual(yield* collect(v.scanPrefix(b("p/"))), [["p/1", "one"], ["p/2", "two"]])
      // Every read option sees the same state (committed = durable).
      assert.strictEqual(s(yield* v.get(b("z"), { durability: "remote", dirty: true })), "last")

      assert.deepStrictEqual(writes, [])
      assert.deepStrictEqual(yield* everything(store), before)
      // The writer was not fenced: it writes, durably, and reads its own rows; the view does not see them.
      yield* db.put(b("after"), b("view opened"))
      yield* db.flush({ type: "memtable" })
      assert.strictEqual(s(yield* db.get(b("after"))), "view opened")
      assert.strictEqual((yield* db.status).closeReason, undefined)
      assert.strictEqual(yield* v.get(b("after")), undefined)

      yield* v.close
      yield* v.close
      assert.instanceOf(yield* Effect.flip(v.get(b("a"))), ClosedError)
      assert.instanceOf(yield* Effect.flip(Stream.runCollect(v.scan({}))), ClosedError)
    }))

  it.effect("a WAL that is missing ends replay quietly; the rows before it are seen", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      const first = yield* db.put(b("a"), b("1"))
      yield* db.put(b("b"), b("2"))
      yield* db.put(b("c"), b("3"))
      const wals = (yield* listPaths(store, "db/wal")).sort()
      // The WAL of "c" (the last) stays; the one of "b" goes: replay stops before it.
      const ofB = wals[wals.length - 2]!
      yield* store.delete(ofB)
      const { view: v } = yield* view(store)
      assert.deepStrictEqual(yield* collect(v.scan({})), [["a", "1"]])
      assert.strictEqual(v.seq, first.seq)
    }))

  it.effect("a WAL deleted between the listing and its read (a newer version covers it): the view starts over from that version and misses nothing", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("old"), b("in L0"), ND)
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("k1"), b("v1"))
      const last = yield* db.put(b("k2"), b("v2"))
      // The first WAL read of the view: the writer flushes its memtable to L0 (a newer version, whose
      // replay starts after these WALs), a collector deletes the WALs it covers, then the read goes on.
      let raced = 0
      const collect_ = Effect.gen(function*() {
        yield* db.flush({ type: "memtable" })
        const latest = yield* makeManifestStore(store, "db").readLatest
        for (const path of yield* listPaths(store, "db/wal")) {
          const id = Number(path.split("/").pop()!.replace(".sst", ""))
          if (id <= latest!.manifest.replayAfterWalId) yield* store.delete(path)
        }
      })
      const racing = ObjectStore.of({
        ...store,
        get: (path) =>
          path.startsWith("db/wal/") && raced++ === 0 ? Effect.andThen(Effect.orDie(collect_), store.get(path)) : store.get(path)
      })
      const { view: v } = yield* view(racing)
      assert.strictEqual(raced > 1, true, "the view read a WAL again after the race")
      assert.strictEqual(v.seq, last.seq)
      assert.deepStrictEqual(yield* collect(v.scan({})), [["k1", "v1"], ["k2", "v2"], ["old", "in L0"]])
    }))

  it.effect("a WAL that keeps vanishing while newer versions appear: the view fails with the missing object", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k1"), b("v1"))
      // Every WAL read finds the object gone, and every time a newer version has appeared (a checkpoint's).
      const manifests = makeManifestStore(store, "db")
      let versions = 0
      const vanishing = ObjectStore.of({
        ...store,
        get: (path) =>
          path.startsWith("db/wal/")
            ? Effect.andThen(
              Effect.orDie(Effect.flatMap(manifests.readLatest, (latest) => {
                versions++
                return manifests.write(latest!.id + 1, latest!.manifest)
              })),
              Effect.fail(new ObjectNotFound({ op: "get", path, message: "gone" }))
            )
            : store.get(path)
      })
      const failed = yield* Effect.flip(view(vanishing))
      assert.instanceOf(failed, DataError)
      assert.match(failed.message, /^object not found: db\/wal\//)
      assert.isAtLeast(versions, 5)
    }))
})

describe("ReadOnlyDb: at a checkpoint", () => {
  it.effect("shows the pinned manifest version and its WAL range only; the writer merges the checkpoint and goes on", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const manifests = makeManifestStore(store, "db")
      // Writer 1: "a" in L0, "b" in the WAL; its close records the WAL of "b" in the final manifest.
      const first = yield* openOn(store)
      yield* first.db.put(b("a"), b("1"), ND)
      yield* first.db.flush({ type: "memtable" })
      const bAt = yield* first.db.put(b("b"), b("2"))
      yield* Scope.close(first.scope, Exit.void)
      const pinned = (yield* manifests.readLatest)!
      assert.isAbove(pinned.manifest.nextWalSstId - 1, pinned.manifest.replayAfterWalId)

      // Writer 2: deletes "a", adds "c" (flushed to L0, so its WAL holds rows above the pinned last_l0_seq)
      // and "d" in the WAL.
      const second = yield* openOn(store)
      yield* second.db.delete(b("a"), ND)
      yield* second.db.put(b("c"), b("3"), ND)
      yield* second.db.flush({ type: "memtable" })
      yield* second.db.put(b("d"), b("4"))

      const latest = (yield* manifests.readLatest)!
      const checkpoint = { id: CHECKPOINT, manifestId: pinned.id, createTimeS: 1_700_000_000 }
      assert.strictEqual(yield* manifests.write(latest.id + 1, Manifest.withCheckpointAdded(latest.manifest, checkpoint)), "written")
      const before = yield* everything(store)

      const at = yield* view(store, { checkpointId: CHECKPOINT.toUpperCase() })
      assert.strictEqual(at.view.manifestId, pinned.id)
      assert.strictEqual(at.view.checkpointId, CHECKPOINT)
      assert.strictEqual(at.view.seq, bAt.seq)
      assert.deepStrictEqual(yield* collect(at.view.scan({})), [["a", "1"], ["b", "2"]])
      assert.deepStrictEqual(yield* collect(at.view.scan({}, { order: "desc" })), [["b", "2"], ["a", "1"]])
      assert.strictEqual(yield* at.view.get(b("c")), undefined)
      // The same version by its id.
      const byId = yield* view(store, { manifestId: pinned.id })
      assert.deepStrictEqual(yield* collect(byId.view.scan({})), [["a", "1"], ["b", "2"]])
      // The latest state has writer 2's rows.
      const now = yield* view(store)
      assert.strictEqual(now.view.manifestId, latest.id + 1)
      assert.deepStrictEqual(yield* collect(now.view.scan({})), [["b", "2"], ["c", "3"], ["d", "4"]])
      assert.deepStrictEqual([...at.writes, ...byId.writes, ...now.writes], [])
      assert.deepStrictEqual(yield* everything(store), before)

      // The writer's next manifest write meets our version: it merges it (the checkpoint stays) and goes on.
      yield* second.db.put(b("e"), b("5"), ND)
      yield* second.db.flush({ type: "memtable" })
      const after = (yield* manifests.readLatest)!
      assert.isAbove(after.id, latest.id + 1)
      assert.deepStrictEqual(after.manifest.checkpoints.map((c) => c.id), [CHECKPOINT])
      const again = yield* view(store, { checkpointId: CHECKPOINT })
      assert.deepStrictEqual(yield* collect(again.view.scan({})), [["a", "1"], ["b", "2"]])
    }))
})

describe("ReadOnlyDb: errors", () => {
  it.effect("no database: DataError, and nothing is created", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const error = yield* Effect.flip(view(store))
      assert.instanceOf(error, DataError)
      assert.strictEqual(error.message, "failed to find latest transactional object (e.g. manifest) version")
      assert.deepStrictEqual(yield* everything(store), [])
      assert.instanceOf(yield* Effect.flip(view(store, { checkpointId: CHECKPOINT })), DataError)
      assert.instanceOf(yield* Effect.flip(view(store, { manifestId: 1 })), DataError)
      assert.deepStrictEqual(yield* everything(store), [])
    }))

  it.effect("an uninitialized manifest: DataError \"invalid DB state\" (SlateDB's InvalidDBState)", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      yield* makeManifestStore(store, "db").write(1, { ...Manifest.initial(), initialized: false })
      const error = yield* Effect.flip(view(store))
      assert.instanceOf(error, DataError)
      assert.match(error.message, /^invalid DB state/)
    }))

  it.effect("an unknown checkpoint: DataError naming it (SlateDB's CheckpointMissing); bad options: InvalidError", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"))
      const error = yield* Effect.flip(view(store, { checkpointId: CHECKPOINT }))
      assert.instanceOf(error, DataError)
      assert.strictEqual(error.message, `checkpoint missing: ${CHECKPOINT}`)
      assert.instanceOf(yield* Effect.flip(view(store, { checkpointId: CHECKPOINT, manifestId: 1 })), InvalidError)
      assert.instanceOf(yield* Effect.flip(view(store, { manifestId: 0 })), InvalidError)
      assert.instanceOf(yield* Effect.flip(view(store, { settings: { blockCacheBytes: -1 } })), InvalidError)
    }))
})

describe("ReadOnlyDb: clones and the Promise API", () => {
  it.effect("a clone's borrowed L0 SSTs are read under the parent's path", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const parent = yield* openOn(store, { path: "parent" })
      yield* parent.db.put(b("k"), b("from the parent"), ND)
      yield* parent.db.flush({ type: "memtable" })
      const m = (yield* makeManifestStore(store, "parent").readLatest)!.manifest
      assert.strictEqual(m.l0.length, 1)
      // A clone's manifest (as SlateDB's `create_clone` writes it): the parent's SSTs, borrowed.
      yield* makeManifestStore(store, "clone").write(1, {
        ...Manifest.initial(),
        l0: m.l0,
        lastL0Seq: m.lastL0Seq,
        externalDbs: [{ path: "parent", sourceCheckpointId: CHECKPOINT, sstIds: m.l0.map((sst) => sst.id) }]
      })
      const { view: v } = yield* view(store, { root: "clone" })
      assert.deepStrictEqual(yield* collect(v.scan({})), [["k", "from the parent"]])
      assert.deepStrictEqual(yield* listPaths(store, "clone/compacted"), [])
    }))

  it.effect("Shale.openReadOnly: get, scan, close; writes nothing; rejects where there is no database", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"))
      yield* db.put(b("b"), b("2"))
      const before = yield* everything(store)
      const layer = Layer.succeed(ObjectStore, store)
      const ro = yield* Effect.promise(() => Shale.openReadOnly("db", { store: layer }))
      assert.strictEqual(s(yield* Effect.promise(() => ro.get(b("a")))), "1")
      assert.strictEqual((yield* Effect.promise(() => ro.getKeyValue(b("b"))))?.seq, ro.seq)
      const scanned = yield* Effect.promise(async () => {
        const keys: Array<string | undefined> = []
        for await (const kv of ro.scan({}, { order: "desc" })) keys.push(s(kv.key))
        return keys
      })
      assert.deepStrictEqual(scanned, ["b", "a"])
      yield* Effect.promise(() => ro.close())
      yield* Effect.promise(() => ro.close())
      const closed = yield* Effect.promise(() => ro.get(b("a")).then(() => undefined, (e: unknown) => e))
      assert.instanceOf(closed, ClosedError)
      assert.deepStrictEqual(yield* everything(store), before)
      const none = yield* Effect.promise(() => Shale.openReadOnly("nothing", { store: layer }).then(() => undefined, (e: unknown) => e))
      assert.instanceOf(none, DataError)
      const missing = yield* Effect.promise(() =>
        Shale.openReadOnly("db", { store: layer, checkpointId: CHECKPOINT }).then(() => undefined, (e: unknown) => e))
      assert.instanceOf(missing, DataError)
    }))
})
