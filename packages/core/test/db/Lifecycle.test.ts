/**
 * Reopening (WAL replay + L0), crashes (a writer that never closed), close semantics, and fencing between
 * two writers on one store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { recover } from "../../src/db/Recovery.ts"
import { TableStore } from "../../src/sst/TableStore.ts"
import { ClosedError, DataError } from "../../src/errors.ts"
import { manifestPath, walSstPath } from "../../src/format/Paths.ts"
import { makeValue } from "../../src/format/RowEntry.ts"
import { buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { CompressionFormat } from "../../src/format/SstMetadata.ts"
import { decodeManifest, encodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { Settings } from "../../src/Settings.ts"
import { b, collect, listPaths, ND, openOn, s, testSettings } from "./fixtures.ts"

const close = (scope: Scope.Closeable) => Scope.close(scope, Exit.void)

const expectClosed = <A, E>(effect: Effect.Effect<A, E>, reason: ClosedError["reason"]) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(effect)
    assert.instanceOf(error, ClosedError)
    assert.strictEqual((error as ClosedError).reason, reason)
    return error as ClosedError
  })

describe("Db: reopen and recovery", () => {
  it.effect("a reopened database has every row (L0 + WAL replay), continues the seq and the clock", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const first = yield* openOn(store)
      yield* TestClock.adjust("5000 millis")
      yield* first.db.put(b("l0"), b("in L0"), ND)
      yield* first.db.delete(b("gone"), ND)
      yield* first.db.flush({ type: "memtable" })
      yield* first.db.write(new WriteBatch().put(b("wal1"), b("1")).put(b("wal2"), b("2")))
      const last = yield* first.db.put(b("nd"), b("not durable before close"), ND)
      yield* close(first.scope)

      yield* TestClock.setTime(1000) // the clock went backwards: ticks must not
      const second = yield* openOn(store)
      assert.deepStrictEqual(yield* collect(second.db.scan({})), [
        ["l0", "in L0"],
        ["nd", "not durable before close"],
        ["wal1", "1"],
        ["wal2", "2"]
      ])
      const status = yield* second.db.status
      assert.strictEqual(status.lastCommittedSeq, last.seq)
      assert.strictEqual(status.durableSeq, last.seq)
      assert.strictEqual(status.writerEpoch, 2)
      assert.strictEqual(status.l0Ssts, 1)
      // The clock waits for the tick (up to 10 s, on the TestClock); the next write gets the next seq.
      const fiber = yield* Effect.forkChild(second.db.put(b("after"), b("x"), ND))
      yield* TestClock.adjust("10 seconds")
      const next = yield* Fiber.join(fiber)
      assert.strictEqual(next.seq, last.seq + 1)
      assert.isAtLeast(next.createTs, last.createTs)
    }))

  it.effect("after a crash (no close), a new writer replays every durable WAL; rows never made durable are lost", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const crashed = yield* openOn(store, { settings: { durableFlush: "interval" } })
      yield* crashed.db.put(b("a"), b("1"), ND)
      yield* crashed.db.flush({ type: "memtable" })
      yield* crashed.db.put(b("b"), b("2"), ND)
      yield* crashed.db.flush({ type: "wal" })
      yield* crashed.db.put(b("c"), b("lost"), ND) // never flushed
      // The crashed writer is never closed; a new one takes over.
      const next = yield* openOn(store)
      assert.deepStrictEqual(yield* collect(next.db.scan({})), [["a", "1"], ["b", "2"]])
      assert.strictEqual((yield* next.db.status).lastCommittedSeq, 2)
      assert.strictEqual((yield* next.db.put(b("d"), b("4"), ND)).seq, 3)
    }))

  it.effect("replay skips rows already in L0 (seq ≤ last_l0_seq) and cuts memtables at WAL boundaries", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const first = yield* openOn(store)
      for (let i = 0; i < 30; i++) {
        yield* first.db.put(b(`k${String(i).padStart(2, "0")}`), b(`v${i}`.repeat(20)), ND)
        if (i % 3 === 2) yield* first.db.flush({ type: "wal" })
      }
      yield* first.db.flush({ type: "memtable" })
      yield* first.db.put(b("after"), b("x"))
      yield* close(first.scope)
      // Rewind replay_after_wal_id to 0 (a lower bound is always safe): replay covers every WAL again. The
      // versions before are removed, as garbage collection would (a replay point going down between two
      // versions is refused at open as a sign of a damaged manifest).
      const ids = (yield* listPaths(store, "db/manifest")).length
      const latest = decodeManifest(yield* store.get(manifestPath("db", ids)))
      assert.strictEqual(latest.lastL0Seq, 30)
      yield* store.put(manifestPath("db", ids + 1), encodeManifest({ ...latest, replayAfterWalId: 0 }), { mode: "create" })
      for (let id = 1; id <= ids; id++) yield* store.delete(manifestPath("db", id))

      const settings = { ...Settings.default, ...testSettings, l0SstSizeBytes: 1500 } as Settings
      const recovered = yield* recover({
        root: "db",
        settings,
        compression: CompressionFormat.None,
        store,
        clock: yield* Clock.Clock,
        tables: new TableStore(store, "db", 0)
      })
      assert.strictEqual(recovered.replayedRows, 1) // only "after"
      assert.strictEqual(recovered.state.memtable.entryCount, 1)
      assert.strictEqual(recovered.state.seqs.lastSeq, 31)
      assert.strictEqual(recovered.lastWalId, recovered.replayedWals)
    }))

  it.effect("a replay larger than a memtable is frozen at WAL boundaries and flushed to L0", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const first = yield* openOn(store)
      for (let i = 0; i < 40; i++) {
        yield* first.db.put(b(`k${String(i).padStart(2, "0")}`), b("v".repeat(100)))
      }
      yield* close(first.scope)
      const second = yield* openOn(store, { settings: { l0SstSizeBytes: 1200 } })
      yield* second.db.flush({ type: "memtable" })
      const status = yield* second.db.status
      assert.isAbove(status.l0Ssts, 2)
      assert.strictEqual((yield* collect(second.db.scan({}))).length, 40)
    }))

  it.effect("a missing WAL in the replay range is a DataError", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const first = yield* openOn(store)
      yield* first.db.put(b("a"), b("1"))
      yield* first.db.put(b("b"), b("2"))
      yield* close(first.scope)
      yield* store.delete(walSstPath("db", 2))
      const error = yield* Effect.flip(openOn(store))
      assert.instanceOf(error, DataError)
      assert.match(error.message, /WAL 2 is missing/)
    }))
})

describe("Db: close", () => {
  it.effect("close flushes the WAL (not the memtable), writes the manifest; later calls fail with Closed(clean)", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store, { settings: { durableFlush: "interval" } })
      yield* db.put(b("a"), b("1"), ND)
      // A durable writer waiting for the WAL flush completes when close flushes it.
      const waiting = yield* Effect.forkChild(db.put(b("b"), b("2")))
      yield* Effect.yieldNow
      yield* db.close
      const handle = yield* Fiber.join(waiting)
      assert.strictEqual(handle.seq, 2)
      const status = yield* db.status
      assert.strictEqual(status.closeReason, "clean")
      assert.strictEqual(status.l0Ssts, 0)
      assert.strictEqual(status.durableSeq, 2)
      yield* expectClosed(db.close, "clean")
      yield* expectClosed(db.put(b("c"), b("3")), "clean")
      yield* expectClosed(db.delete(b("a")), "clean")
      yield* expectClosed(db.write(new WriteBatch().put(b("c"), b("3"))), "clean")
      yield* expectClosed(db.get(b("a")), "clean")
      yield* expectClosed(Stream.runCollect(db.scan({})), "clean")
      yield* expectClosed(db.flush(), "clean")
      const error = yield* expectClosed(db.flush({ type: "memtable" }), "clean")
      assert.strictEqual(error.message, "db is closed")
      // Ending the layer scope afterwards is harmless.
      yield* close(scope)
      assert.deepStrictEqual(yield* listPaths(store, "db/compacted"), [])
      const again = yield* openOn(store)
      assert.deepStrictEqual(yield* collect(again.db.scan({})), [["a", "1"], ["b", "2"]])
    }))
})

describe("Db: fencing", () => {
  it.effect("a second writer fences the first: its next WAL write fails with Closed(fenced) and is never visible", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const older = yield* openOn(store)
      yield* older.db.put(b("before"), b("1"))
      yield* older.db.put(b("pending"), b("p"), ND)
      const newer = yield* openOn(store)
      const error = yield* expectClosed(older.db.put(b("after"), b("2")), "fenced")
      assert.strictEqual(error.message, "detected newer DB client; the write was not made durable")
      assert.strictEqual(error.durable, "no")
      // Every later call of the fenced writer fails the same way.
      yield* expectClosed(older.db.get(b("before")), "fenced")
      yield* expectClosed(older.db.put(b("x"), b("x"), ND), "fenced")
      yield* expectClosed(older.db.flush(), "fenced")
      assert.strictEqual((yield* older.db.status).closeReason, "fenced")
      yield* expectClosed(older.db.close, "fenced")
      // The newer writer sees what was durable before it opened, nothing after.
      assert.strictEqual(s(yield* newer.db.get(b("before"))), "1")
      assert.strictEqual(yield* newer.db.get(b("after")), undefined)
      assert.strictEqual(yield* newer.db.get(b("pending")), undefined)
      yield* newer.db.put(b("new"), b("3"))
      yield* close(older.scope)
      assert.deepStrictEqual(yield* collect(newer.db.scan({})), [["before", "1"], ["new", "3"]])
    }))

  it.effect("a fenced writer's L0 flush is stopped by the manifest epoch check", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const older = yield* openOn(store)
      yield* older.db.put(b("a"), b("1"))
      const newer = yield* openOn(store)
      // Nothing left to write to the WAL: the manifest update is where the newer epoch shows.
      yield* expectClosed(older.db.flush({ type: "memtable" }), "fenced")
      assert.strictEqual((yield* newer.db.status).l0Ssts, 0)
      assert.strictEqual(s(yield* newer.db.get(b("a"))), "1")
      yield* newer.db.flush({ type: "memtable" })
      assert.strictEqual((yield* newer.db.status).l0Ssts, 1)
    }))

  it.effect("the manifest poll detects a newer writer between writes", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const older = yield* openOn(store, { settings: { manifestPollIntervalMs: 100 } })
      yield* older.db.put(b("a"), b("1"))
      yield* openOn(store)
      assert.strictEqual((yield* older.db.status).closeReason, undefined)
      yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* older.db.status).closeReason, "fenced")
      yield* expectClosed(older.db.get(b("a")), "fenced")
    }))

  it.effect("opening after a zombie took the fence id moves to the next WAL id and replays the zombie's WAL", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      const first = yield* openOn(inner)
      yield* first.db.put(b("a"), b("1"))
      yield* close(first.scope)
      // wal/1 = fence, wal/2 = "a", close wrote no WAL. The zombie writes wal/3 just before our fence.
      const zombieWal = buildWalSsTable([makeValue(b("zombie"), b("z"), 2, 0)]).bytes
      let raced = false
      const store = ObjectStore.of({
        ...inner,
        put: (path, bytes, options) =>
          Effect.gen(function*() {
            if (!raced && path === walSstPath("db", 3)) {
              raced = true
              yield* inner.put(path, zombieWal, { mode: "create" })
            }
            return yield* inner.put(path, bytes, options)
          })
      })
      const second = yield* openOn(store)
      assert.isTrue(raced)
      assert.strictEqual((yield* second.db.status).nextWalId, 5) // the fence went to wal/4
      assert.deepStrictEqual(yield* collect(second.db.scan({})), [["a", "1"], ["zombie", "z"]])
    }))
})

describe("Db: WAL ids after a crash", () => {
  it.effect("a manifest naming WALs that do not exist fails the open with a DataError naming them, writing nothing", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const first = yield* openOn(store)
      yield* first.db.put(b("a"), b("1"))
      yield* close(first.scope)
      // The last manifest says WALs up to 9 hold rows; only 1 (fence) and 2 exist.
      const n = (yield* listPaths(store, "db/manifest")).length
      const latest = decodeManifest(yield* store.get(manifestPath("db", n)))
      assert.strictEqual(latest.nextWalSstId, 3) // WAL 2 is the last written
      yield* store.put(manifestPath("db", n + 1), encodeManifest({ ...latest, nextWalSstId: 10 }), { mode: "create" })
      const before = yield* listPaths(store, "db")
      const error = yield* Effect.flip(openOn(store))
      assert.instanceOf(error, DataError)
      assert.include(error.message, "WAL 3..9 are missing")
      assert.deepStrictEqual(yield* listPaths(store, "db"), before)
    }))
})
