/**
 * The change stream (wal/ChangeStream.ts; `Db.changes`, `Changes.stream`, the Promise forms) over a memory
 * store on the TestClock: rows in seq order across WAL files and batches, a start inside a file, "latest"
 * and "earliest", following new WALs as the writer flushes, kinds and timestamps (tombstones, TTL, merge
 * operands), the end after a clean close, a writer's empty fence WAL passed over, WAL ids that never held a
 * row skipped, and gaps: garbage collection after an L0 flush (the error names the seq to resume from, and
 * a stream from it works), a deleted WAL with rows, and a WAL id skipped by a writer while following.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { runGcOnce } from "../../src/admin/Checkpoints.ts"
import { WriteBatch } from "../../src/db/DbApi.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { Shale } from "../../src/db/Shale.ts"
import { changes as shaleChanges } from "../../src/db/ShaleChanges.ts"
import { ChangesGapError } from "../../src/errors.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { makeMerge, makeValue } from "../../src/format/RowEntry.ts"
import { buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { type Change, changesOver, type ChangesOptions, stream } from "../../src/wal/ChangeStream.ts"
import { walReaderOver } from "../../src/wal/WalReader.ts"
import { b, ND, openOn, s, testSettings } from "../db/fixtures.ts"

type Store = ObjectStore["Service"]

/** A change as `seq kind key[=value]`. */
const show = (c: Change): string =>
  `${c.seq} ${c.kind} ${s(c.key)}${c.value === undefined ? "" : `=${s(c.value)}`}`

const collect = <E, R>(changes: Stream.Stream<Change, E, R>) => Effect.map(Stream.runCollect(changes), (cs) => Array.from(cs, show))

/** The changes in the store now, without following. */
const now = (store: Store, options: ChangesOptions = {}) => collect(changesOver(store, "db", { follow: false, ...options }))

/** Advances the TestClock a poll at a time until `fiber` is done (at most `polls` polls); its result. */
const drive = <A, E>(fiber: Fiber.Fiber<A, E>, polls = 50) =>
  Effect.gen(function*() {
    for (let i = 0; i < polls && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("100 millis")
    if (fiber.pollUnsafe() === undefined) return yield* Effect.die(new Error(`the stream is still running after ${polls} polls`))
    return yield* Fiber.join(fiber)
  })

/** Lets a forked stream run up to its first wait. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

const walIds = (store: Store) => Effect.map(walReaderOver(store, "db").list(), (fs) => fs.map((f) => f.id))

/** Rows in three WAL files: two puts; a batch (one seq, key order) and a put; a put. Returns their seqs. */
const threeWals = (db: DbService) =>
  Effect.gen(function*() {
    const p1 = yield* db.put(b("b"), b("1"), ND)
    const p2 = yield* db.put(b("a"), b("2"), ND)
    yield* db.flush()
    const batch = yield* db.write(new WriteBatch().put(b("z"), b("3")).put(b("c"), b("4")).delete(b("b")), ND)
    const p4 = yield* db.put(b("a"), b("5"), ND)
    yield* db.flush()
    const p5 = yield* db.put(b("d"), b("6"), ND)
    yield* db.flush()
    return [p1.seq, p2.seq, batch.seq, p4.seq, p5.seq] as const
  })

describe("change stream", () => {
  it.effect("rows in seq order across WAL files and batches; a start inside a file; earliest and latest", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      const [s1, s2, s3, s4, s5] = yield* threeWals(db)
      assert.deepStrictEqual([s1, s2, s3, s4, s5], [1, 2, 3, 4, 5])
      const all = ["1 value b=1", "2 value a=2", "3 tombstone b", "3 value c=4", "3 value z=3", "4 value a=5", "5 value d=6"]
      assert.deepStrictEqual(yield* now(store, { fromSeq: 1 }), all)
      assert.deepStrictEqual(yield* now(store, { fromSeq: 0 }), all)
      assert.deepStrictEqual(yield* now(store, { fromSeq: "earliest" }), all)
      // Inside the first file, and at the batch inside the second.
      assert.deepStrictEqual(yield* now(store, { fromSeq: 2 }), all.slice(1))
      assert.deepStrictEqual(yield* now(store, { fromSeq: 3 }), all.slice(2))
      assert.deepStrictEqual(yield* now(store, { fromSeq: 6 }), [])
      assert.deepStrictEqual(yield* now(store, {}), [], "latest: nothing written since")
      // The Db form reads the same.
      assert.deepStrictEqual(yield* collect(db.changes({ fromSeq: 4, follow: false })), all.slice(5))
      // Bad options fail the stream.
      const bad = yield* Effect.flip(Stream.runCollect(changesOver(store, "db", { fromSeq: -1 })))
      assert.strictEqual(bad._tag, "InvalidError")
    }))

  it.effect("follows the WAL: rows appear as the writer flushes them, and only then; latest starts after what is there", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("old"), b("x"), ND)
      yield* db.flush()
      const fromOne = yield* Effect.forkChild(collect(db.changes({ fromSeq: 1 }).pipe(Stream.take(4))))
      const latest = yield* Effect.forkChild(collect(db.changes().pipe(Stream.take(2))))
      yield* settle
      yield* db.put(b("k1"), b("v1"), ND)
      yield* TestClock.adjust("1 second")
      // Committed is not enough: nothing is emitted before the WAL is written.
      assert.isUndefined(latest.pollUnsafe())
      yield* db.flush()
      yield* TestClock.adjust("100 millis")
      const batch = new WriteBatch().put(b("k3"), b("v3")).put(b("k2"), b("v2"))
      yield* db.write(batch) // durable: its own WAL
      assert.deepStrictEqual(yield* drive(latest), ["2 value k1=v1", "3 value k2=v2"])
      assert.deepStrictEqual(yield* drive(fromOne), ["1 value old=x", "2 value k1=v1", "3 value k2=v2", "3 value k3=v3"])
    }))

  it.effect("kinds and timestamps: tombstones, TTL puts, merge operands", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store)
      const put = yield* db.put(b("p"), b("1"), { ...ND, ttl: { afterMs: 60_000 } })
      const del = yield* db.delete(b("p"), ND)
      yield* db.flush()
      yield* Scope.close(scope, Exit.void)
      // Shale's write path has no merge: a WAL SST as SlateDB's writer stores a merge operand.
      const next = Math.max(...(yield* walIds(store))) + 1
      yield* store.put(walSstPath("db", next), buildWalSsTable([makeMerge(b("m"), b("x"), 3, 1000, 9000)]).bytes)
      const changes = Array.from(yield* Stream.runCollect(changesOver(store, "db", { fromSeq: 1, follow: false })))
      assert.deepStrictEqual(changes.map((c) => [c.kind, s(c.key), s(c.value), c.seq]), [
        ["value", "p", "1", 1],
        ["tombstone", "p", undefined, 2],
        ["merge", "m", "x", 3]
      ])
      assert.strictEqual(changes[0]!.createTs, put.createTs)
      assert.strictEqual(changes[0]!.expireTs, put.createTs + 60_000)
      assert.strictEqual(changes[1]!.createTs, del.createTs)
      assert.isUndefined(changes[1]!.expireTs)
      assert.deepStrictEqual([changes[2]!.createTs, changes[2]!.expireTs], [1000, 9000])
    }))

  it.effect("a Db stream ends after a clean close, with the rows the close made durable", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store)
      const fiber = yield* Effect.forkChild(collect(db.changes({ fromSeq: 1 })))
      yield* settle
      yield* db.put(b("a"), b("1"), ND)
      yield* db.put(b("b"), b("2"), ND)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* drive(fiber), ["1 value a=1", "2 value b=2"])
      const closed = yield* Effect.flip(Stream.runCollect(db.changes({ fromSeq: 1 })))
      assert.strictEqual(closed._tag, "ClosedError")
    }))

  it.effect("a new writer's empty fence WAL is passed over; a WAL id that held no row may be missing", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const first = yield* openOn(store)
      yield* first.db.put(b("a"), b("1"), ND)
      yield* first.db.flush()
      yield* Scope.close(first.scope, Exit.void)
      const second = yield* openOn(store)
      yield* second.db.put(b("b"), b("2"), ND)
      yield* second.db.flush()
      yield* Scope.close(second.scope, Exit.void)
      const ids = yield* walIds(store)
      const empty: Array<number> = []
      for (const id of ids) {
        if ((yield* Stream.runCollect(walReaderOver(store, "db").get(id).rows)).length === 0) empty.push(id)
      }
      assert.deepStrictEqual(empty, [1, 3], "each writer's fence")
      assert.deepStrictEqual(yield* now(store, { fromSeq: 1 }), ["1 value a=1", "2 value b=2"])
      // Without the second fence the seqs still run on (1, then 2): nothing was lost.
      yield* store.delete(walSstPath("db", 3))
      assert.deepStrictEqual(yield* now(store, { fromSeq: 1 }), ["1 value a=1", "2 value b=2"])
    }))

  it.effect("a deleted WAL that held rows is a gap: ChangesGapError names the first seq after it", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* threeWals(db)
      const ids = yield* walIds(store)
      assert.deepStrictEqual(ids, [1, 2, 3, 4])
      yield* store.delete(walSstPath("db", 3))
      const gap = yield* Effect.flip(Stream.runCollect(changesOver(store, "db", { fromSeq: 1, follow: false })))
      assert.instanceOf(gap, ChangesGapError)
      assert.deepStrictEqual([gap.fromSeq, gap.resumeFrom, gap.missingWalIds], [3, 5, [3, 3]])
      // What came before the gap was emitted; a stream from before the gap stops there again.
      const rows: Array<string> = []
      const exit = yield* Effect.exit(Stream.runForEach(changesOver(store, "db", { fromSeq: 2, follow: false }), (c) => Effect.sync(() => rows.push(show(c)))))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(rows, ["2 value a=2"])
      assert.deepStrictEqual(yield* now(store, { fromSeq: gap.resumeFrom }), ["5 value d=6"])
    }))

  it.effect("after GC collects old WALs, a stream from seq 1 fails naming the resume seq, and a stream from it works", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      for (let i = 1; i <= 4; i++) {
        yield* db.put(b(`k${i}`), b(`v${i}`), ND)
        yield* db.flush()
      }
      yield* db.flush({ type: "memtable" })
      for (let i = 5; i <= 6; i++) {
        yield* db.put(b(`k${i}`), b(`v${i}`), ND)
        yield* db.flush()
      }
      yield* TestClock.adjust("1 second")
      const stats = yield* runGcOnce("db", { options: withMinAge(defaultGcOptions, 0) }).pipe(Effect.provideService(ObjectStore, store))
      assert.isAbove(stats.deleted.wal, 0)
      const ids = yield* walIds(store)
      assert.isAbove(ids[0]!, 1)
      const gap = yield* Effect.flip(Stream.runCollect(db.changes({ fromSeq: 1, follow: false })))
      assert.instanceOf(gap, ChangesGapError)
      // The oldest WAL left is the replay point's, holding seq 4 (its rows are also in L0).
      assert.deepStrictEqual([gap.fromSeq, gap.resumeFrom, gap.missingWalIds], [1, 4, [1, ids[0]! - 1]])
      assert.match(gap.message, /from seq 1 .* seq 4/)
      const resumed = yield* collect(db.changes({ fromSeq: gap.resumeFrom, follow: false }))
      assert.deepStrictEqual(resumed, ["4 value k4=v4", "5 value k5=v5", "6 value k6=v6"])
      // Above the collected WALs' rows (seq ≤ last_l0_seq = 4), nothing is owed from them.
      assert.deepStrictEqual(yield* collect(db.changes({ fromSeq: 5, follow: false })), resumed.slice(1))
      assert.deepStrictEqual(yield* collect(db.changes({ fromSeq: "earliest", follow: false })), resumed)
    }))

  it.effect("following: a WAL id skipped by a writer is passed when seqs run on, and is a gap when they do not", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store)
      yield* db.put(b("a"), b("1"), ND)
      yield* db.flush()
      yield* Scope.close(scope, Exit.void)
      const last = Math.max(...(yield* walIds(store)))
      const seen: Array<string> = []
      const following = yield* Effect.forkChild(
        Stream.runForEach(changesOver(store, "db", { fromSeq: 1 }), (c) => Effect.sync(() => seen.push(show(c))))
      )
      yield* settle
      // WAL last + 1 never comes; last + 2 holds seq 2, right after seq 1.
      yield* store.put(walSstPath("db", last + 2), buildWalSsTable([makeValue(b("b"), b("2"), 2, 10)]).bytes)
      yield* TestClock.adjust("100 millis")
      yield* settle
      assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2"])
      // WAL last + 3 never comes; last + 4 starts at seq 5: seqs 3 and 4 may have been in it.
      yield* store.put(walSstPath("db", last + 4), buildWalSsTable([makeValue(b("c"), b("5"), 5, 11)]).bytes)
      const gap = yield* Effect.flip(drive(following))
      assert.instanceOf(gap, ChangesGapError)
      assert.deepStrictEqual([gap.fromSeq, gap.resumeFrom, gap.missingWalIds], [3, 5, [last + 3, last + 3]])
      assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2"])
    }))

  it.effect("a file's rows out of seq order are emitted in seq order (a seq's rows keep their order)", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const rows = [makeValue(b("a"), b("x"), 3, 1), makeValue(b("b"), b("y"), 2, 1), makeValue(b("c"), b("z"), 2, 1)]
      yield* store.put(walSstPath("db", 1), buildWalSsTable(rows).bytes)
      assert.deepStrictEqual(yield* now(store, { fromSeq: 1 }), ["2 value b=y", "2 value c=z", "3 value a=x"])
    }))

  it.effect("a WAL deleted between the listing and its read is a gap like any other", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      const { db } = yield* openOn(inner)
      yield* threeWals(db)
      const doomed = walSstPath("db", 3)
      const store: Store = { ...inner, get: (path) => (path === doomed ? Effect.andThen(inner.delete(path), inner.get(path)) : inner.get(path)) }
      const gap = yield* Effect.flip(Stream.runCollect(changesOver(store, "db", { fromSeq: 1, follow: false })))
      assert.instanceOf(gap, ChangesGapError)
      assert.deepStrictEqual([gap.fromSeq, gap.resumeFrom, gap.missingWalIds], [3, 5, [3, 3]])
    }))

  it.effect("Changes.stream needs only the store", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* threeWals(db)
      const rows = yield* collect(stream({ root: "db", fromSeq: 4, follow: false })).pipe(Effect.provideService(ObjectStore, store))
      assert.deepStrictEqual(rows, ["4 value a=5", "5 value d=6"])
    }))
})

describe("change stream, Promise form", () => {
  it("db.changes and Shale.changes are async iterables", async () => {
    const store = Shale.stores.memory()
    const db = await Shale.open("db", { store, settings: testSettings })
    try {
      await db.put(b("a"), b("1"))
      await db.put(b("b"), b("2"))
      const seen: Array<string> = []
      for await (const c of db.changes({ fromSeq: 1 })) {
        seen.push(show(c))
        if (seen.length === 2) break
      }
      assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2"])
      const standalone: Array<string> = []
      for await (const c of shaleChanges("db", { store, fromSeq: 2, follow: false })) standalone.push(show(c))
      assert.deepStrictEqual(standalone, ["2 value b=2"])
    } finally {
      await db.close()
    }
  })

  it("Shale.changes throws ChangesGapError and InvalidError from the loop", async () => {
    const store = Layer.succeed(ObjectStore, makeMemory())
    const none: Array<Change> = []
    try {
      for await (const c of shaleChanges("db", { store, fromSeq: -2 })) none.push(c)
      assert.fail("expected a rejection")
    } catch (e) {
      assert.strictEqual((e as { _tag?: string })._tag, "InvalidError")
    }
    assert.deepStrictEqual(none, [])
  })
})
