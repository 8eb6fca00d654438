/**
 * Snapshots (db/Transaction.ts): the official binding's snapshot test rewritten against Shale, reads at a
 * fixed seq across flushes and compaction, and the retention proof: while a snapshot is open, an L0 flush
 * keeps the versions it reads and writes its seq as the manifest's `recent_snapshot_min_seq`, so a full
 * compaction keeps them too; after it is released, the next flush and compaction drop them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { InvalidError } from "../../src/errors.ts"
import { RowKind } from "../../src/format/RowEntry.ts"
import type { Manifest } from "../../src/manifest/Manifest.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { TableStore } from "../../src/sst/TableStore.ts"
import { b, collect, ND, openOn, s } from "./fixtures.ts"

type Store = ObjectStore["Service"]

const latest = (store: Store) => Effect.map(makeManifestStore(store, "db").readLatest, (m) => m!.manifest)

/** Every version of `key` in the database's sorted runs and L0 SSTs, as stored: `[seq, value]`. */
const storedVersions = (store: Store, manifest: Manifest, key: string) =>
  Effect.gen(function*() {
    const tables = new TableStore(store, "db", 0)
    const out: Array<readonly [number, string | undefined]> = []
    const ssts = [...manifest.l0, ...manifest.compacted.flatMap((r) => r.ssts)]
    for (const sst of ssts) {
      const rows = yield* Stream.runCollect(tables.scan(manifest, sst, { start: b(key), end: b(key), endInclusive: true }))
      for (const row of rows) out.push([row.seq, row.kind === RowKind.Tombstone ? undefined : s(row.value)])
    }
    return out
  })

/** Everything into one sorted run, by a standalone compactor started now (the writers of these tests run none). */
const compactAll = (store: Store) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Compactor.layer({ path: "db", settings: { compactor: {} } }).pipe(Layer.provide(Layer.succeed(ObjectStore, store)))
    const compactor = Context.get(yield* Layer.buildWithScope(layer, scope), Compactor)
    yield* compactor.submit("full")
    yield* compactor.awaitIdle
    yield* Scope.close(scope, Exit.void)
  })

describe("snapshots", () => {
  it.effect("the binding's test: a snapshot reads the old value, the database the new", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* db.put(b("snapshot"), b("old"), ND)
      const snapshot = yield* db.snapshot()
      yield* db.put(b("snapshot"), b("new"), ND)
      assert.strictEqual(s(yield* snapshot.get(b("snapshot"))), "old")
      assert.strictEqual(s(yield* db.get(b("snapshot"))), "new")
    }))

  it.effect("reads at its seq: get, getKeyValue, scan, scanPrefix; released with its scope", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* db.put(b("p:1"), b("a"))
      yield* db.put(b("p:2"), b("b"))
      const scope = yield* Scope.make()
      const snap = yield* Scope.provide(db.snapshot(), scope)
      assert.strictEqual(snap.seq, 2)
      yield* db.put(b("p:3"), b("c"))
      yield* db.delete(b("p:1"))
      yield* db.put(b("p:2"), b("B"))
      assert.deepStrictEqual(yield* collect(snap.scan({})), [["p:1", "a"], ["p:2", "b"]])
      assert.deepStrictEqual(yield* collect(snap.scanPrefix(b("p:"), { order: "desc" })), [["p:2", "b"], ["p:1", "a"]])
      assert.strictEqual((yield* snap.getKeyValue(b("p:2")))?.seq, 2)
      assert.deepStrictEqual(yield* collect(db.scan({})), [["p:2", "B"], ["p:3", "c"]])
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(snap.get(b("p:1")))
      assert.instanceOf(error, InvalidError)
      assert.strictEqual(error.message, "snapshot has been released")
      assert.instanceOf(yield* Effect.flip(Stream.runCollect(snap.scan({}))), InvalidError)
    }))

  it.effect("versions a snapshot reads survive flush and compaction while it is open, and go after release", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v1"))
      yield* db.put(b("other"), b("x"))
      const scope = yield* Scope.make()
      const snap = yield* Scope.provide(db.snapshot(), scope)
      assert.strictEqual(snap.seq, 2)
      yield* db.put(b("k"), b("v2"))
      yield* db.put(b("k"), b("v3"))
      yield* db.flush({ type: "memtable" })
      let m = yield* latest(store)
      assert.strictEqual(m.recentSnapshotMinSeq, 2)
      yield* compactAll(store)
      m = yield* latest(store)
      assert.strictEqual(m.l0.length, 0)
      assert.strictEqual(m.compacted.length, 1)
      assert.deepStrictEqual(yield* storedVersions(store, m, "k"), [[4, "v3"], [3, "v2"], [1, "v1"]])
      // Read from the sorted run: the memtables are empty.
      assert.strictEqual(s(yield* snap.get(b("k"))), "v1")
      assert.strictEqual(s(yield* db.get(b("k"))), "v3")

      yield* Scope.close(scope, Exit.void)
      yield* db.put(b("after"), b("y"))
      yield* db.flush({ type: "memtable" })
      m = yield* latest(store)
      assert.strictEqual(m.recentSnapshotMinSeq, 5)
      yield* compactAll(store)
      m = yield* latest(store)
      assert.deepStrictEqual(yield* storedVersions(store, m, "k"), [[4, "v3"]])
      assert.strictEqual(s(yield* db.get(b("k"))), "v3")
    }))

  it.effect("without a snapshot, the flush itself keeps only the newest durable version", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v1"))
      yield* db.put(b("k"), b("v2"))
      yield* db.flush({ type: "memtable" })
      const m = yield* latest(store)
      assert.strictEqual(m.recentSnapshotMinSeq, 2)
      assert.deepStrictEqual(yield* storedVersions(store, m, "k"), [[2, "v2"]])
    }))

  it.effect("an open transaction pins its snapshot the same way; the lowest open seq wins", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v1"))
      const txnScope = yield* Scope.make()
      const txn = yield* Scope.provide(db.begin(), txnScope)
      yield* db.put(b("k"), b("v2"))
      const snapScope = yield* Scope.make()
      yield* Scope.provide(db.snapshot(), snapScope)
      yield* db.put(b("k"), b("v3"))
      yield* db.flush({ type: "memtable" })
      let m = yield* latest(store)
      assert.strictEqual(m.recentSnapshotMinSeq, 1)
      assert.deepStrictEqual(yield* storedVersions(store, m, "k"), [[3, "v3"], [2, "v2"], [1, "v1"]])
      assert.strictEqual(s(yield* txn.get(b("k"))), "v1")
      // Closing the transaction's scope rolls it back; the snapshot (seq 2) is now the lowest.
      yield* Scope.close(txnScope, Exit.void)
      assert.isFalse(txn.isActive)
      yield* db.put(b("k"), b("v4"))
      yield* db.flush({ type: "memtable" })
      m = yield* latest(store)
      assert.strictEqual(m.recentSnapshotMinSeq, 2)
      yield* Scope.close(snapScope, Exit.void)
    }))
})
