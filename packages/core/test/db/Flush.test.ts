/**
 * Durability levels, WAL and memtable flushes, what an L0 flush writes (retention, TTL, manifest fields),
 * and reads across the memtable, immutable memtables and L0 SSTs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { compactedDir, manifestDir } from "../../src/format/Paths.ts"
import { RowKind } from "../../src/format/RowEntry.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, listPaths, ND, openOn, s } from "./fixtures.ts"

const REMOTE = { durability: "remote" } as const

const latestManifest = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const paths = yield* listPaths(store, manifestDir("db"))
    return decodeManifest(yield* store.get(paths.at(-1)!))
  })

const l0Rows = (store: ObjectStore["Service"], id: string) =>
  Effect.gen(function*() {
    const reader = yield* SsTableReader.open(`${compactedDir("db")}/${id}.sst`)
    return yield* Stream.runCollect(reader.scan())
  }).pipe(Effect.provideService(ObjectStore, store))

describe("Db: durability levels", () => {
  it.effect("remote reads see only durable rows, and find the older durable version of a key", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory(), { settings: { durableFlush: "interval" } })
      yield* db.put(b("k"), b("v1"), ND)
      yield* db.put(b("only-memory"), b("x"), ND)
      assert.strictEqual(s(yield* db.get(b("k"))), "v1")
      assert.strictEqual(yield* db.get(b("k"), REMOTE), undefined)
      yield* db.flush({ type: "wal" })
      assert.strictEqual(s(yield* db.get(b("k"), REMOTE)), "v1")
      // A newer, non-durable version is hidden; the durable one shows through (same memtable).
      yield* db.put(b("k"), b("v2"), ND)
      yield* db.put(b("new"), b("n"), ND)
      assert.strictEqual(s(yield* db.get(b("k"))), "v2")
      assert.strictEqual(s(yield* db.get(b("k"), REMOTE)), "v1")
      assert.deepStrictEqual(yield* collect(db.scan({}, REMOTE)), [["k", "v1"], ["only-memory", "x"]])
      assert.deepStrictEqual(yield* collect(db.scan({}, { ...REMOTE, order: "desc" })), [["only-memory", "x"], ["k", "v1"]])
      // ... and across layers: v1 in L0, v3 in the memtable.
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("k"), b("v3"), ND)
      assert.strictEqual(s(yield* db.get(b("k"), REMOTE)), "v2")
      assert.strictEqual(s(yield* db.get(b("k"))), "v3")
      // A delete that is not durable yet does not hide the row from remote reads.
      yield* db.delete(b("new"), ND)
      assert.strictEqual(yield* db.get(b("new")), undefined)
      assert.strictEqual(s(yield* db.get(b("new"), REMOTE)), "n")
      assert.strictEqual((yield* db.status).durableSeq, 4)
      assert.strictEqual((yield* db.status).lastCommittedSeq, 6)
      // dirty reads see everything applied (the same as committed here).
      assert.strictEqual(s(yield* db.get(b("k"), { dirty: true })), "v3")
    }))

  it.effect("interval mode: a durable put waits for the next WAL flush (flush interval on the clock, or flush())", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, { settings: { durableFlush: "interval", flushIntervalMs: 100 } })
      const fiber = yield* Effect.forkChild(db.put(b("a"), b("1")))
      yield* Effect.yieldNow
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("100 millis")
      const handle = yield* Fiber.join(fiber)
      assert.strictEqual(handle.seq, 1)
      assert.strictEqual(s(yield* db.get(b("a"), REMOTE)), "1")
      // Without an interval, only an explicit flush (or the size trigger) makes it durable.
      const { db: db2 } = yield* openOn(makeMemory(), { settings: { durableFlush: "interval", flushIntervalMs: null } })
      const waiting = yield* Effect.forkChild(db2.put(b("a"), b("1")))
      yield* TestClock.adjust("10 seconds")
      assert.isUndefined(waiting.pollUnsafe())
      yield* db2.flush()
      yield* Fiber.join(waiting)
    }))

  it.effect("eager mode: a durable put starts the WAL write itself", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, { settings: { durableFlush: "eager" } })
      yield* db.put(b("a"), b("1"))
      yield* db.put(b("b"), b("2"))
      assert.deepStrictEqual((yield* listPaths(store, "db/wal")).length, 3)
      assert.strictEqual((yield* db.status).durableSeq, 2)
    }))
})

describe("Db: memtable flush to L0", () => {
  it.effect("writes one L0 SST with the newest version per key (tombstones kept) and records it in the manifest", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      for (let v = 1; v <= 5; v++) yield* db.put(b("multi"), b(`v${v}`), ND)
      yield* db.put(b("dead"), b("x"), ND)
      yield* db.delete(b("dead"), ND)
      yield* db.put(b("alive"), b("y"), ND)
      const before = yield* db.status
      yield* db.flush({ type: "memtable" })
      const after = yield* db.status
      assert.strictEqual(after.l0Ssts, 1)
      assert.strictEqual(after.immutableMemtables, 0)
      assert.strictEqual(after.manifestId, before.manifestId + 1)
      const m = yield* latestManifest(store)
      assert.strictEqual(m.l0.length, 1)
      assert.strictEqual(m.lastL0Seq, 8)
      assert.strictEqual(m.replayAfterWalId, 2) // the fence was WAL 1; the rows went to WAL 2
      assert.strictEqual(m.writerEpoch, 1)
      const rows = yield* l0Rows(store, m.l0[0]!.id)
      assert.deepStrictEqual(
        rows.map((r) => [s(r.key), r.kind, s(r.value), r.seq]),
        [["alive", RowKind.Value, "y", 8], ["dead", RowKind.Tombstone, "", 7], ["multi", RowKind.Value, "v5", 5]]
      )
      assert.deepStrictEqual(yield* listPaths(store, compactedDir("db")), [`${compactedDir("db")}/${m.l0[0]!.id}.sst`])
      // Reads after the flush come from L0.
      assert.strictEqual(s(yield* db.get(b("multi"))), "v5")
      assert.strictEqual(yield* db.get(b("dead")), undefined)
      assert.deepStrictEqual(yield* collect(db.scan({})), [["alive", "y"], ["multi", "v5"]])
      // An empty memtable flush writes nothing.
      yield* db.flush({ type: "memtable" })
      assert.strictEqual((yield* db.status).l0Ssts, 1)
    }))

  it.effect("expired values become tombstones at flush (retention), but are returned before it", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* TestClock.adjust("1000 millis")
      yield* db.put(b("short"), b("s"), { ttl: { afterMs: 10 }, awaitDurable: false })
      yield* db.put(b("long"), b("l"), { ttl: { afterMs: 100_000 }, awaitDurable: false })
      yield* TestClock.adjust("50 millis")
      yield* db.put(b("later"), b("x"), ND) // the memtable's last tick is now 1050 > 1010
      assert.strictEqual(s(yield* db.get(b("short"))), "s")
      yield* db.flush({ type: "memtable" })
      assert.strictEqual(yield* db.get(b("short")), undefined)
      assert.strictEqual(s(yield* db.get(b("long"))), "l")
      const m = yield* latestManifest(store)
      assert.strictEqual(m.lastL0ClockTick, 1050)
      const rows = yield* l0Rows(store, m.l0[0]!.id)
      const short = rows.find((r) => s(r.key) === "short")!
      assert.strictEqual(short.kind, RowKind.Tombstone)
      assert.strictEqual(short.expireTs, undefined)
      assert.strictEqual(short.createTs, 1000)
    }))

  it.effect("reads merge the memtable, immutable memtables and several L0s, newest version first", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      // L0 #1 (oldest)
      yield* db.put(b("a"), b("a1"), ND)
      yield* db.put(b("b"), b("b1"), ND)
      yield* db.put(b("c"), b("c1"), ND)
      yield* db.put(b("d"), b("d1"), ND)
      yield* db.flush({ type: "memtable" })
      // L0 #2
      yield* db.put(b("a"), b("a2"), ND)
      yield* db.delete(b("b"), ND)
      yield* db.put(b("e"), b("e2"), ND)
      yield* db.flush({ type: "memtable" })
      // L0 #3: resurrects b, deletes c
      yield* db.put(b("b"), b("b3"), ND)
      yield* db.delete(b("c"), ND)
      yield* db.flush({ type: "memtable" })
      // memtable
      yield* db.put(b("d"), b("d4"), ND)
      yield* db.delete(b("e"), ND)
      yield* db.put(b("f"), b("f4"), ND)
      assert.strictEqual((yield* db.status).l0Ssts, 3)
      const expected: Array<readonly [string, string]> = [["a", "a2"], ["b", "b3"], ["d", "d4"], ["f", "f4"]]
      assert.deepStrictEqual(yield* collect(db.scan({})), expected)
      assert.deepStrictEqual(yield* collect(db.scan({}, { order: "desc" })), [...expected].reverse())
      for (const [k, v] of [["a", "a2"], ["b", "b3"], ["c", undefined], ["d", "d4"], ["e", undefined], ["f", "f4"]] as const) {
        assert.strictEqual(s(yield* db.get(b(k))), v, k)
      }
      assert.deepStrictEqual(yield* collect(db.scan({ start: b("b"), end: b("e") }, { order: "desc" })), [["d", "d4"], ["b", "b3"]])
    }))

  it.effect("memtables freeze at l0SstSizeBytes and reach L0 on their own; many versions straddle blocks", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, { settings: { l0SstSizeBytes: 4096, blockSize: 1024 } })
      const value = (i: number, v: number) => b(`${"x".repeat(40)}-${i}-${v}`)
      for (let v = 0; v < 5; v++) {
        for (let i = 0; i < 60; i++) yield* db.put(b(`key${String(i).padStart(3, "0")}`), value(i, v), ND)
      }
      for (let i = 0; i < 60; i += 3) yield* db.delete(b(`key${String(i).padStart(3, "0")}`), ND)
      yield* db.flush({ type: "memtable" })
      const status = yield* db.status
      assert.isAbove(status.l0Ssts, 3)
      for (let i = 0; i < 60; i++) {
        const got = yield* db.get(b(`key${String(i).padStart(3, "0")}`))
        assert.strictEqual(s(got), i % 3 === 0 ? undefined : s(value(i, 4)))
      }
      const rows = yield* collect(db.scan({}))
      assert.strictEqual(rows.length, 40)
    }))
})

describe("Db: backpressure", () => {
  it.effect("writes wait while unflushed bytes exceed maxUnflushedBytes, and resume when L0 uploads go through", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      let hold = true
      const released = yield* Deferred.make<void>()
      const store = ObjectStore.of({
        ...inner,
        put: (path, bytes, options) =>
          hold && path.includes("/compacted/")
            ? Effect.andThen(Deferred.await(released), inner.put(path, bytes, options))
            : inner.put(path, bytes, options)
      })
      const { db } = yield* openOn(store, { settings: { l0SstSizeBytes: 1024, maxUnflushedBytes: 4096 } })
      let written = 0
      const writer = yield* Effect.forkChild(Effect.gen(function*() {
        for (let i = 0; i < 200; i++) {
          yield* db.put(b(`k${String(i).padStart(3, "0")}`), new Uint8Array(100), ND)
          written++
        }
      }))
      for (let i = 0; i < 100; i++) yield* Effect.yieldNow
      // Stalled: frozen memtables cannot reach L0, so their bytes keep counting.
      assert.isUndefined(writer.pollUnsafe())
      assert.isBelow(written, 200)
      const stalled = yield* db.status
      assert.isAtLeast(stalled.immutableMemtables, 2)
      hold = false
      yield* Deferred.succeed(released, undefined)
      yield* Fiber.join(writer)
      assert.strictEqual(written, 200)
      yield* db.flush({ type: "memtable" })
      assert.strictEqual((yield* collect(db.scan({}))).length, 200)
    }))
})
