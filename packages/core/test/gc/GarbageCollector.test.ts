/**
 * The garbage collector on a real database in a memory store, on the TestClock (object ages and ULID times
 * both come from it): a pass deletes exactly what SlateDB's rules call garbage and nothing a checkpoint
 * pins; expired checkpoints go first; store faults mid-pass leave garbage, never a hole; the schedule and
 * the writer's embedded collector run on their intervals.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Admin from "../../src/admin/Checkpoints.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { openReadOnly } from "../../src/db/ReadOnlyDb.ts"
import { parseCompactedSstId, parseManifestId, parseWalSstId } from "../../src/format/Paths.ts"
import { GarbageCollector } from "../../src/gc/GarbageCollector.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"
import { type Manifest } from "../../src/manifest/Manifest.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { StoreFailure } from "../../src/objectstore/ObjectStoreError.ts"
import { eventually } from "../compactor/support.ts"
import { b, collect, listPaths, ND, openOn } from "../db/fixtures.ts"

const T0 = Date.UTC(2026, 0, 1)

const fill = (db: DbService, batch: number) =>
  Effect.gen(function*() {
    for (let k = 0; k < 50; k++) yield* db.put(b(`key${String(k).padStart(3, "0")}`), b(`v${batch}-${k}`), ND)
    if (batch % 3 === 0) yield* db.delete(b(`key00${batch % 10}`), ND)
    yield* db.flush({ type: "memtable" })
    yield* TestClock.adjust("1 second")
  })

/** What the store holds, by kind. */
const inventory = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const paths = yield* listPaths(store, "db")
    const ids = <A>(dir: string, parse: (p: string) => A | undefined) =>
      paths.filter((p) => p.startsWith(`db/${dir}/`)).map(parse).filter((x): x is A => x !== undefined)
    return {
      manifests: ids("manifest", parseManifestId).sort((a, b) => a - b),
      wal: ids("wal", parseWalSstId).sort((a, b) => a - b),
      compacted: ids("compacted", parseCompactedSstId).sort(),
      compactions: paths.filter((p) => p.endsWith(".compactions")).length
    }
  })

const sstIds = (m: Manifest) => [...m.l0.map((s) => s.id), ...m.compacted.flatMap((r) => r.ssts.map((s) => s.id))]
const walRange = (m: Manifest) => Array.from({ length: Math.max(0, m.nextWalSstId - m.replayAfterWalId - 1) }, (_, i) => m.replayAfterWalId + 1 + i)

/** A database with two compactions behind it and a checkpoint taken after the third L0 flush. */
const compactedWithCheckpoint = Effect.gen(function*() {
  yield* TestClock.setTime(T0)
  const store = makeMemory()
  const { db, scope } = yield* openOn(store, { settings: { compactor: true, garbageCollector: null } })
  for (let batch = 1; batch <= 3; batch++) yield* fill(db, batch)
  const checkpoint = yield* db.createCheckpoint({ scope: "all", name: "before" })
  const atCheckpoint = yield* collect(db.scan({}))
  yield* fill(db, 4)
  yield* eventually("the first compaction", () => Effect.map(db.status, (s) => s.l0Ssts === 0 && s.sortedRuns === 1))
  for (let batch = 5; batch <= 8; batch++) yield* fill(db, batch)
  yield* eventually("the second compaction", () => Effect.map(db.status, (s) => s.l0Ssts === 0 && s.sortedRuns === 2))
  const expected = yield* collect(db.scan({}))
  yield* Scope.close(scope, Exit.void)
  return { store, checkpoint, atCheckpoint, expected }
})

const gcOnce = (store: ObjectStore["Service"], minAgeMs?: number) =>
  Admin.runGcOnce("db", minAgeMs === undefined ? {} : { options: withMinAge(defaultGcOptions, minAgeMs) }).pipe(
    Effect.provideService(ObjectStore, store)
  )

const readAll = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const { db, scope } = yield* openOn(store, { settings: { garbageCollector: null } })
    const rows = yield* collect(db.scan({}))
    yield* Scope.close(scope, Exit.void)
    return rows
  })

describe("garbage collector", () => {
  it.effect("deletes exactly the garbage, keeps what a checkpoint pins, and then what it no longer pins", () =>
    Effect.gen(function*() {
      const { store, checkpoint, atCheckpoint, expected } = yield* compactedWithCheckpoint
      const manifests = makeManifestStore(store, "db")
      const before = yield* inventory(store)

      // Young objects: nothing is older than the minimum age (5 minutes) yet.
      const young = yield* gcOnce(store)
      assert.deepStrictEqual(young.deleted, { manifests: 0, wal: 0, compacted: 0, compactions: 0 })
      assert.deepStrictEqual(yield* inventory(store), before)

      yield* TestClock.adjust("20 minutes")
      const lastBefore = before.manifests[before.manifests.length - 1]!
      const pass = yield* gcOnce(store)
      assert.deepStrictEqual(pass.errors, [])
      const latest = (yield* manifests.readLatest)!
      const pinned = yield* manifests.read(checkpoint.manifestId)
      const after = yield* inventory(store)
      // The pinned one, and the versions the pass wrote itself (removing the compactor's expired checkpoints: young).
      assert.strictEqual(pass.expiredCheckpoints, 2)
      assert.deepStrictEqual(after.manifests, [checkpoint.manifestId, ...after.manifests.filter((id) => id > lastBefore)])
      assert.strictEqual(after.manifests[after.manifests.length - 1], latest.id)
      // WAL: from replay_after_wal_id on, plus what the pinned manifest replays.
      const keptWal = new Set([...walRange(pinned), ...before.wal.filter((id) => id >= latest.manifest.replayAfterWalId)])
      assert.deepStrictEqual(after.wal, before.wal.filter((id) => keptWal.has(id)))
      // Compacted: live, pinned, and the last compacted L0 SST (the cutoff is its time: not strictly older).
      const keptSsts = new Set([...sstIds(latest.manifest), ...sstIds(pinned), latest.manifest.l0LastCompacted!])
      assert.deepStrictEqual(after.compacted, before.compacted.filter((id) => keptSsts.has(id)))
      assert.strictEqual(after.compactions, 1)
      for (const kind of ["manifests", "wal", "compacted", "compactions"] as const) assert.isAbove(pass.deleted[kind], 0, kind)
      assert.isAbove(pass.requests, 4)

      // The checkpoint still reads its state, the database its own.
      const view = yield* openReadOnly({ root: "db", checkpointId: checkpoint.id }).pipe(Effect.provideService(ObjectStore, store))
      assert.deepStrictEqual(yield* collect(view.scan({})), atCheckpoint)
      assert.deepStrictEqual(yield* readAll(store), expected)

      // Without the checkpoint, its manifest and the L0 SSTs only it pinned go too.
      yield* Admin.deleteCheckpoint("db", checkpoint.id).pipe(Effect.provideService(ObjectStore, store))
      yield* TestClock.adjust("20 minutes")
      const lastNow = (yield* manifests.readLatest)!.id
      yield* gcOnce(store)
      const final = yield* inventory(store)
      const now = (yield* manifests.readLatest)!
      assert.deepStrictEqual(final.manifests, final.manifests.filter((id) => id >= lastNow))
      assert.strictEqual(final.manifests[final.manifests.length - 1], now.id)
      assert.deepStrictEqual(final.compacted, before.compacted.filter((id) => sstIds(now.manifest).includes(id) || id === now.manifest.l0LastCompacted))
      assert.deepStrictEqual(yield* readAll(store), expected)
    }))

  it.effect("a second pass finds nothing: deletions are complete and idempotent", () =>
    Effect.gen(function*() {
      const { store } = yield* compactedWithCheckpoint
      yield* TestClock.adjust("20 minutes")
      yield* gcOnce(store)
      const again = yield* gcOnce(store)
      assert.deepStrictEqual(again.deleted, { manifests: 0, wal: 0, compacted: 0, compactions: 0 })
      assert.deepStrictEqual(again.errors, [])
    }))

  it.effect("expired checkpoints are removed first, then what they pinned can go", () =>
    Effect.gen(function*() {
      const { store, checkpoint } = yield* compactedWithCheckpoint
      const short = yield* Admin.createCheckpoint("db", { lifetimeMs: 60_000, name: "short" }).pipe(Effect.provideService(ObjectStore, store))
      assert.strictEqual(short.expireTimeS! - short.createTimeS, 60)
      yield* Admin.deleteCheckpoint("db", checkpoint.id).pipe(Effect.provideService(ObjectStore, store))
      const listed = yield* Admin.listCheckpoints("db").pipe(Effect.provideService(ObjectStore, store))
      // The short one and the compactor's (15 minutes) all expire; none other is left.
      assert.isTrue(listed.every((c) => c.expireTimeS !== undefined))
      yield* TestClock.adjust("20 minutes")
      const pass = yield* gcOnce(store, 0)
      assert.strictEqual(pass.expiredCheckpoints, listed.length)
      assert.deepStrictEqual(yield* Admin.listCheckpoints("db").pipe(Effect.provideService(ObjectStore, store)), [])
      assert.deepStrictEqual((yield* inventory(store)).manifests.length, 1)
    }))

  it.effect("store faults mid-pass leave garbage for the next pass, never a hole", () =>
    Effect.gen(function*() {
      const { store, checkpoint, expected } = yield* compactedWithCheckpoint
      yield* TestClock.adjust("20 minutes")
      let deletes = 0
      const flaky: ObjectStore["Service"] = {
        ...store,
        delete: (path) =>
          ++deletes % 2 === 0 ? Effect.fail(new StoreFailure({ op: "delete", path, message: "injected" })) : store.delete(path)
      }
      const first = yield* Admin.runGcOnce("db").pipe(Effect.provideService(ObjectStore, flaky))
      assert.isAbove(first.errors.length, 0)
      assert.deepStrictEqual(yield* readAll(store), expected)
      const second = yield* gcOnce(store)
      assert.strictEqual(second.errors.length, 0)
      const third = yield* gcOnce(store)
      assert.deepStrictEqual(third.deleted, { manifests: 0, wal: 0, compacted: 0, compactions: 0 })
      const kept = (yield* inventory(store)).manifests
      assert.strictEqual(kept[0], checkpoint.manifestId)
      assert.isAtMost(kept.length, 1 + 4) // the pinned one, and only versions the passes wrote (young)
      assert.deepStrictEqual(yield* readAll(store), expected)
    }))

  it.effect("a pinned manifest that cannot be read stops the WAL and SST kinds: nothing is deleted on a partial view", () =>
    Effect.gen(function*() {
      const { store, checkpoint } = yield* compactedWithCheckpoint
      yield* TestClock.adjust("20 minutes")
      yield* store.delete(`db/manifest/${String(checkpoint.manifestId).padStart(20, "0")}.manifest`)
      const before = yield* inventory(store)
      const pass = yield* gcOnce(store)
      assert.strictEqual(pass.deleted.wal, 0)
      assert.strictEqual(pass.deleted.compacted, 0)
      assert.isTrue(pass.errors.some((e) => e.startsWith("wal:")))
      assert.isTrue(pass.errors.some((e) => e.startsWith("compacted:")))
      assert.deepStrictEqual((yield* inventory(store)).compacted, before.compacted)
    }))

  it.effect("no database: the pass fails and creates nothing", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const exit = yield* Effect.exit(gcOnce(store))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(yield* listPaths(store, ""), [])
    }))

  it.effect("GarbageCollector.layer runs each kind on its interval", () =>
    Effect.gen(function*() {
      const { store } = yield* compactedWithCheckpoint
      const scope = yield* Scope.make()
      const options = withMinAge({ ...defaultGcOptions, compactions: null }, 0)
      const context = yield* Layer.buildWithScope(
        GarbageCollector.layer({ path: "db", options, storeRetry: { maxAttempts: 1 } }).pipe(Layer.provide(Layer.succeed(ObjectStore, store))),
        scope
      )
      const gc = Context.get(context, GarbageCollector)
      const before = yield* inventory(store)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* gc.status).passes, 0)
      yield* TestClock.adjust("31 seconds")
      yield* eventually("three passes", () => Effect.map(gc.status, (s) => s.passes === 3))
      const status = yield* gc.status
      assert.isAbove(status.deleted.manifests, 0)
      assert.strictEqual(status.deleted.compactions, 0)
      assert.strictEqual((yield* inventory(store)).compactions, before.compactions)
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("a collector reads each pinned manifest once across its passes (versions never change)", () =>
    Effect.gen(function*() {
      const { store } = yield* compactedWithCheckpoint
      const reads: Array<string> = []
      const counting: ObjectStore["Service"] = {
        ...store,
        get: (path) => Effect.suspend(() => (reads.push(path), store.get(path)))
      }
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        GarbageCollector.layer({ path: "db", options: { ...defaultGcOptions, manifests: null, compactions: null } })
          .pipe(Layer.provide(Layer.succeed(ObjectStore, counting))),
        scope
      )
      const gc = Context.get(context, GarbageCollector)
      const pinned = (yield* makeManifestStore(store, "db").readLatest)!.manifest.checkpoints.map((c) => c.manifestId)
      assert.isAbove(new Set(pinned).size, 1)
      const first = yield* gc.runOnce
      const readsOf = (id: number) => reads.filter((p) => p.endsWith(`${String(id).padStart(20, "0")}.manifest`)).length
      for (const id of pinned) assert.strictEqual(readsOf(id), 1, `manifest ${id}`)
      const second = yield* gc.runOnce
      for (const id of pinned) assert.strictEqual(readsOf(id), 1, `manifest ${id} again`)
      assert.isBelow(second.requests, first.requests)
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("the writer's embedded collector deletes old WAL SSTs as it runs", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const resource = { intervalMs: 10_000, minAgeMs: 0 }
      const { db, scope } = yield* openOn(store, {
        settings: { garbageCollector: { manifests: resource, wal: resource, compacted: null, compactions: null } }
      })
      for (let batch = 1; batch <= 3; batch++) {
        yield* fill(db, batch)
        yield* db.flush({ type: "wal" })
      }
      const walBefore = (yield* inventory(store)).wal.length
      yield* TestClock.adjust("11 seconds")
      yield* eventually("a WAL pass", () => Effect.map(db.status, (s) => (s.garbageCollector?.deleted.wal ?? 0) > 0))
      assert.isBelow((yield* inventory(store)).wal.length, walBefore)
      assert.strictEqual((yield* Stream.runCollect(db.scan({}))).length, 50 - 1)
      yield* Scope.close(scope, Exit.void)
    }))
})
