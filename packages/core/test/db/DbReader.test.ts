/**
 * The `DbReader` (db/DbReader.ts) beside a running writer, in a memory store, on the TestClock: it sees
 * durable writes once a poll ran (not before, and never unflushed ones); it follows L0 flushes and
 * compactions by replacing its checkpoint (the manifest then holds exactly one checkpoint of the reader,
 * pinning the version it reads); it refreshes its checkpoint before half its lifetime is left and re-creates
 * it when it is gone; a failed poll is counted and the next one catches up; with the writer's collector at
 * minimum age 0 and its compactor running, its reads never fail over many polls (while a read-only view
 * without a checkpoint does). Closing, user checkpoints, errors and the Promise form:
 * DbReaderLifecycle.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Admin from "../../src/admin/Checkpoints.ts"
import { openReadOnly } from "../../src/db/ReadOnlyDb.ts"
import { DataError } from "../../src/errors.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { StoreFailure } from "../../src/objectstore/ObjectStoreError.ts"
import { eventually } from "../compactor/support.ts"
import { b, collect, ND, openOn, s } from "./fixtures.ts"
import { fill, latestOf, OPTIONS, openReader, poll, POLL, sameReads, T0 } from "./readerSupport.ts"

describe("DbReader: following a writer", () => {
  it.effect("sees durable writes after a poll (not before, and not unflushed ones), with every read kind", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("in L0"), ND)
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("p/1"), b("in the WAL"))
      const { reader } = yield* openReader(store)
      assert.strictEqual(s(yield* reader.get(b("a"))), "in L0")
      assert.strictEqual(s(yield* reader.get(b("p/1"))), "in the WAL")

      const p2 = yield* db.put(b("p/2"), b("durable"))
      yield* db.delete(b("a"))
      yield* db.put(b("z"), b("not flushed"), ND)
      assert.strictEqual(yield* reader.get(b("p/2")), undefined)
      assert.strictEqual(s(yield* reader.get(b("a"))), "in L0")
      yield* poll(reader)
      assert.strictEqual(s(yield* reader.get(b("p/2"))), "durable")
      assert.strictEqual((yield* reader.getKeyValue(b("p/2")))?.seq, p2.seq)
      assert.strictEqual(yield* reader.get(b("a")), undefined)
      assert.strictEqual(yield* reader.get(b("z")), undefined)
      assert.deepStrictEqual(yield* collect(reader.scanPrefix(b("p/"))), [["p/1", "in the WAL"], ["p/2", "durable"]])
      assert.deepStrictEqual(yield* collect(reader.scan({ start: b("p/"), end: b("p0") }, { order: "desc" })), [["p/2", "durable"], ["p/1", "in the WAL"]])
      // Every read option sees the same (committed = durable).
      assert.strictEqual(yield* reader.get(b("z"), { durability: "memory", dirty: true }), undefined)

      yield* db.flush({ type: "wal" })
      yield* poll(reader)
      assert.strictEqual(s(yield* reader.get(b("z"))), "not flushed")
      const st = yield* reader.status
      assert.strictEqual(st.seq, (yield* db.status).durableSeq)
      assert.strictEqual(st.ownCheckpoint, true)
      assert.strictEqual(st.checkpointsReplaced, 0)
      assert.strictEqual(st.pollErrors, 0)
      assert.strictEqual(st.lastWalId, (yield* db.status).nextWalId - 1)
    }))

  it.effect("follows L0 flushes and compactions: each replaces its checkpoint, one of its own pinning the version it reads", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const manifests = makeManifestStore(store, "db")
      const { db } = yield* openOn(store, { settings: { compactor: true } })
      yield* fill(db, 0)
      const { reader } = yield* openReader(store)
      const mine = new Set([reader.checkpointId])
      const oneOfMine = Effect.gen(function*() {
        const latest = yield* latestOf(store)
        const kept = latest.manifest.checkpoints.filter((c) => mine.has(c.id))
        assert.deepStrictEqual(kept.map((c) => c.id), [reader.checkpointId])
        assert.strictEqual(kept[0]!.manifestId, reader.manifestId)
      })
      yield* oneOfMine
      let replaced = 0
      for (let batch = 1; batch <= 2; batch++) {
        const before = reader.checkpointId
        yield* fill(db, batch)
        yield* poll(reader)
        assert.notStrictEqual(reader.checkpointId, before)
        mine.add(reader.checkpointId)
        assert.strictEqual((yield* reader.status).checkpointsReplaced, ++replaced)
        yield* oneOfMine
        assert.strictEqual((yield* manifests.read(reader.manifestId)).l0.length, batch + 1)
        yield* sameReads(reader, db)
      }
      yield* fill(db, 3)
      yield* eventually("a compaction", () => Effect.map(db.status, (st) => st.l0Ssts === 0 && st.sortedRuns === 1))
      yield* poll(reader)
      mine.add(reader.checkpointId)
      yield* oneOfMine
      const read = yield* manifests.read(reader.manifestId)
      assert.strictEqual(read.l0.length, 0)
      assert.strictEqual(read.compacted.length, 1)
      yield* sameReads(reader, db)
      // Nothing new: the next polls keep the checkpoint.
      const id = reader.checkpointId
      yield* poll(reader)
      yield* poll(reader)
      assert.strictEqual(reader.checkpointId, id)
      assert.strictEqual((yield* reader.status).pollErrors, 0)
    }))

  it.effect("refreshes its checkpoint once less than half its lifetime is left, so it never expires", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const { reader } = yield* openReader(store, { options: { manifestPollIntervalMs: POLL, checkpointLifetimeMs: 10_000 } })
      const id = reader.checkpointId
      const expiry = () => Effect.map(latestOf(store), (l) => l.manifest.checkpoints.find((c) => c.id === id)?.expireTimeS)
      assert.strictEqual(yield* expiry(), T0 / 1000 + 10)
      for (let i = 1; i <= 5; i++) yield* poll(reader)
      assert.strictEqual((yield* reader.status).checkpointRefreshes, 0)
      yield* poll(reader) // 6 s: less than 5 s left
      assert.strictEqual((yield* reader.status).checkpointRefreshes, 1)
      assert.strictEqual(yield* expiry(), T0 / 1000 + 16)
      assert.strictEqual((yield* reader.status).checkpointExpireTimeS, T0 / 1000 + 16)
      for (let i = 7; i <= 60; i++) yield* poll(reader)
      // A refresh every 6 s (at 6, 12, ..., 60), none in between.
      assert.strictEqual((yield* reader.status).checkpointRefreshes, 10)
      const gc = yield* Admin.runGcOnce("db").pipe(Effect.provideService(ObjectStore, store))
      assert.strictEqual(gc.expiredCheckpoints, 0)
      assert.isAbove((yield* expiry())! * 1000, T0 + 60_000)
      assert.strictEqual(reader.checkpointId, id)
      assert.strictEqual(s(yield* reader.get(b("k"))), "v")
    }))

  it.effect("its checkpoint deleted behind its back: the next poll makes a new one", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      const { reader } = yield* openReader(store)
      const old = reader.checkpointId
      yield* Admin.deleteCheckpoint("db", old).pipe(Effect.provideService(ObjectStore, store))
      yield* db.put(b("k2"), b("v2"))
      yield* poll(reader)
      assert.notStrictEqual(reader.checkpointId, old)
      const latest = yield* latestOf(store)
      assert.deepStrictEqual(latest.manifest.checkpoints.map((c) => [c.id, c.manifestId]), [[reader.checkpointId, reader.manifestId]])
      assert.deepStrictEqual(yield* collect(reader.scan({})), [["k", "v"], ["k2", "v2"]])
      assert.strictEqual((yield* reader.status).pollErrors, 0)
    }))

  it.effect("a failed poll is logged and counted; reads go on, and the next poll catches up", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("k"), b("v"))
      let failing = false
      const fail = (op: "get" | "list", path: string) => new StoreFailure({ op, path, message: "injected" })
      const flaky = ObjectStore.of({
        ...store,
        get: (path) => (failing ? Effect.fail(fail("get", path)) : store.get(path)),
        list: (prefix, o) => (failing ? Stream.fail(fail("list", prefix)) : store.list(prefix, o))
      })
      const { reader } = yield* openReader(flaky, { storeRetry: { maxAttempts: 1 } })
      yield* db.put(b("k2"), b("v2"))
      failing = true
      yield* poll(reader)
      yield* poll(reader)
      const st = yield* reader.status
      assert.strictEqual(st.pollErrors, 2)
      assert.match(st.lastPollError!, /injected/)
      assert.strictEqual(s(yield* reader.get(b("k"))), "v")
      assert.strictEqual(yield* reader.get(b("k2")), undefined)
      failing = false
      yield* poll(reader)
      assert.strictEqual((yield* reader.status).pollErrors, 2)
      assert.strictEqual(s(yield* reader.get(b("k2"))), "v2")
    }))

  it.effect("skipWalReplay: only what the manifest versions cover, new data once an L0 flush records it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"), ND)
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("b"), b("2"))
      const { reader } = yield* openReader(store, { options: { ...OPTIONS, skipWalReplay: true } })
      assert.deepStrictEqual(yield* collect(reader.scan({})), [["a", "1"]])
      yield* poll(reader)
      assert.deepStrictEqual(yield* collect(reader.scan({})), [["a", "1"]])
      yield* db.flush({ type: "memtable" })
      yield* poll(reader)
      assert.deepStrictEqual(yield* collect(reader.scan({})), [["a", "1"], ["b", "2"]])
    }))

  it.effect("small maxMemtableBytes: replay freezes many tables; a re-establishment keeps only rows above the new last_l0_seq", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      const { db } = yield* openOn(store)
      const { reader } = yield* openReader(store, { options: { ...OPTIONS, maxMemtableBytes: 512 } })
      for (let i = 0; i < 40; i++) yield* db.put(b(`k${String(i).padStart(2, "0")}`), b(`first ${i}`))
      yield* poll(reader)
      const frozen = (yield* reader.status).immutableMemtables
      assert.isAbove(frozen, 3)
      yield* sameReads(reader, db)
      yield* db.flush({ type: "memtable" })
      for (let i = 0; i < 10; i++) yield* db.put(b(`k${String(i).padStart(2, "0")}`), b(`second ${i}`))
      yield* poll(reader)
      const st = yield* reader.status
      assert.strictEqual(st.checkpointsReplaced, 1)
      assert.isBelow(st.immutableMemtables, frozen)
      yield* sameReads(reader, db)
    }))
})

describe("DbReader: garbage collection", () => {
  it.effect("with the writer's collector at minimum age 0 and its compactor, reads never fail over 40 polls (a view without a checkpoint does)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const store = makeMemory()
      // Minutes, so that the compactor's own 15-minute checkpoints expire and the collector deletes SSTs.
      const minute = 60_000
      const gcNow = { intervalMs: minute / 3, minAgeMs: 0 }
      const { db } = yield* openOn(store, {
        settings: { compactor: true, garbageCollector: { manifests: gcNow, wal: gcNow, compacted: gcNow, compactions: gcNow } }
      })
      yield* fill(db, 0)
      const uncached = { blockCacheBytes: 0 }
      const { reader } = yield* openReader(store, { settings: uncached, options: { manifestPollIntervalMs: minute, checkpointLifetimeMs: 10 * minute } })
      const view = yield* openReadOnly({ root: "db", settings: uncached }).pipe(Effect.provideService(ObjectStore, store))
      for (let round = 1; round <= 40; round++) {
        const before = yield* collect(db.scan({}))
        yield* fill(db, round)
        // Two collector passes (and the compactor) before the reader polls: it still reads its version.
        yield* TestClock.adjust(minute * 2 / 3)
        assert.deepStrictEqual(yield* collect(reader.scan({})), before)
        // The poll (a minute after the last): it reads the new version; the collector goes on.
        yield* poll(reader, minute / 3)
        yield* sameReads(reader, db)
      }
      const gc = (yield* db.status).garbageCollector!
      assert.isAbove(gc.deleted.compacted, 10)
      assert.isAbove(gc.deleted.manifests, 10)
      assert.isAbove(gc.deleted.wal, 10)
      const st = yield* reader.status
      assert.strictEqual(st.pollErrors, 0)
      // A poll a minute; most saw a new L0 SST (or a compaction) and replaced the checkpoint. Some did not:
      // with manifests collected at age 0, the writer (its last known version N) may write N+1 after the
      // collector deleted the N+1 another party wrote (N+2 being the latest): that update shows only with the
      // writer's next version (SlateDB's protocol allows the same; its default minimum age, 5 minutes, hides
      // it). Meanwhile the reader has the rows from the WAL: its reads are still the writer's.
      assert.strictEqual(st.polls, 40)
      assert.isAtLeast(st.checkpointsReplaced, 30)
      assert.isAbove((yield* db.status).compactor!.completed, 5)
      const failed = yield* Effect.flip(collect(view.scan({})))
      assert.instanceOf(failed, DataError)
    }))
})
