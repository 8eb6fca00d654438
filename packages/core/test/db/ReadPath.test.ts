/**
 * The point-read path over L0 SSTs (docs/design/db.md, "Reads"): the SST the flusher just wrote is adopted
 * (its handle opened from the bytes at hand, its blocks put in the block cache), so gets after a flush make
 * no store request; a cold SST (after a reopen, or without a block cache) is read from the store and gives
 * the same answers; the Promise API's synchronous fast path answers and fails exactly like `Db.get`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { Shale } from "../../src/db/Shale.ts"
import { ClosedError, InvalidError } from "../../src/errors.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { makeMerge, makeValue } from "../../src/format/RowEntry.ts"
import { buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { countingStore as countingEachStore } from "../sst/readerFixtures.ts"
import { b, ND, openOn, s } from "./fixtures.ts"

/** A memory store that counts read requests (HEAD, GET, ranged GET) together. */
const countingStore = () => {
  const { store, counts } = countingEachStore()
  return { store, counts: { get reads() { return counts.head + counts.get + counts.getRange } } }
}

const key = (i: number) => b(`key${String(i).padStart(13, "0")}`)
const value = (i: number) => b(`value-${i}-${"x".repeat(90)}`)
const N = 3000

/** Writes N rows (several dozen blocks) and flushes them to one L0 SST. */
const fill = (db: { readonly put: (k: Uint8Array, v: Uint8Array, o: typeof ND) => Effect.Effect<unknown, unknown> }) =>
  Effect.gen(function*() {
    for (let i = 0; i < N; i++) yield* db.put(key(i), value(i), ND)
  })

describe("Db: point reads after an L0 flush", () => {
  it.effect("the flushed SST is adopted: its handle and blocks are in memory, gets make no store request", () =>
    Effect.gen(function*() {
      const { store, counts } = countingStore()
      const { db } = yield* openOn(store)
      yield* fill(db)
      yield* db.flush({ type: "memtable" })
      assert.strictEqual((yield* db.status).l0Ssts, 1)
      const before = counts.reads
      for (let i = 0; i < N; i += 7) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
      assert.strictEqual(yield* db.get(b("key-absent")), undefined)
      assert.strictEqual((yield* db.getKeyValue(key(42)))?.seq, 43)
      assert.strictEqual(counts.reads, before, "no HEAD, GET or ranged GET after the flush")
    }))

  it.effect("several overlapping L0 SSTs: present keys in any of them, absent keys inside their bounds, in any order", () =>
    Effect.gen(function*() {
      const { store, counts } = countingStore()
      const { db } = yield* openOn(store, { settings: { minFilterKeys: 100 } })
      // Key i goes to SST i % 4, so every SST spans the whole key range and most SSTs lack any given key:
      // their bloom filters answer (one hash of the key for all of them), the last one searches its block.
      for (let sst = 0; sst < 4; sst++) {
        for (let i = sst; i < N; i += 4) yield* db.put(key(i), value(i), ND)
        yield* db.flush({ type: "memtable" })
      }
      assert.strictEqual((yield* db.status).l0Ssts, 4)
      const before = counts.reads
      for (let j = 0; j < 2 * N; j++) {
        const i = (j * 7919) % N
        if (j % 2 === 0) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)), `key ${i}`)
        else assert.strictEqual(yield* db.get(b(`key${String(i).padStart(13, "0")}~`)), undefined, `absent after ${i}`)
      }
      assert.strictEqual(counts.reads, before, "all from memory")
    }))

  it.effect("a cold SST (after a reopen) is read from the store once per block, then served from the cache", () =>
    Effect.gen(function*() {
      const { store, counts } = countingStore()
      const first = yield* openOn(store)
      yield* fill(first.db)
      yield* first.db.flush({ type: "memtable" })
      yield* first.db.close
      const { db } = yield* openOn(store)
      const before = counts.reads
      assert.strictEqual(s(yield* db.get(key(1234))), s(value(1234)))
      const afterFirst = counts.reads
      assert.isAbove(afterFirst, before, "opening the SST and reading a block")
      assert.strictEqual(s(yield* db.get(key(1235))), s(value(1235)))
      assert.strictEqual(counts.reads, afterFirst, "same block: from the cache")
      for (let i = 0; i < N; i += 97) assert.strictEqual(s(yield* db.get(key(i))), s(value(i)))
    }))

  it.effect("without a block cache every get reads its block, with the same answers", () =>
    Effect.gen(function*() {
      const { store, counts } = countingStore()
      const { db } = yield* openOn(store, { settings: { blockCacheBytes: 0 } })
      yield* fill(db)
      yield* db.put(key(5), b("newer"), ND)
      yield* db.flush({ type: "memtable" })
      yield* db.put(key(6), b("in the memtable"), ND)
      const before = counts.reads
      assert.strictEqual(s(yield* db.get(key(5))), "newer")
      assert.strictEqual(s(yield* db.get(key(6))), "in the memtable")
      assert.strictEqual(s(yield* db.get(key(7))), s(value(7)))
      assert.isAbove(counts.reads, before)
      const reads = counts.reads
      assert.strictEqual(s(yield* db.get(key(7))), s(value(7)))
      assert.isAbove(counts.reads, reads, "nothing is cached")
    }))

  it.effect("an SST heavier than half the block cache is adopted but not prepopulated", () =>
    Effect.gen(function*() {
      const { store, counts } = countingStore()
      // ~400 KB of rows against a 256 KiB cache.
      const { db } = yield* openOn(store, { settings: { blockCacheBytes: 256 * 1024 } })
      yield* fill(db)
      yield* db.flush({ type: "memtable" })
      const before = counts.reads
      assert.strictEqual(s(yield* db.get(key(2000))), s(value(2000)))
      assert.strictEqual(counts.reads, before + 1, "one block read; the handle was not opened from the store")
      assert.strictEqual(s(yield* db.get(key(2001))), s(value(2001)))
      assert.strictEqual(counts.reads, before + 1)
    }))

  it.effect("versions hidden by the read's seq cap: the older visible version is found in the SST", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* db.put(b("k"), b("old"), ND)
      yield* db.put(b("k"), b("new"), ND)
      yield* db.flush({ type: "memtable" })
      // The flush keeps only the newest version (no snapshots), so both reads see "new".
      assert.strictEqual(s(yield* db.get(b("k"))), "new")
      assert.strictEqual(s(yield* db.get(b("k"), { durability: "remote" })), "new")
      yield* db.delete(b("k"), ND)
      yield* db.flush({ type: "memtable" })
      assert.strictEqual(yield* db.get(b("k")), undefined, "the tombstone in the newer L0 wins")
    }))
})

describe("Db: merge operands (written by SlateDB's merge operator) cannot be read", () => {
  it.effect("from the memtable and from L0, get and getKeyValue fail with InvalidError", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      // A WAL written before this writer opens: it replays into the memtable.
      const wal = buildWalSsTable([makeMerge(b("m"), b("+1"), 1, 0), makeValue(b("v"), b("plain"), 2, 0)])
      yield* store.put(walSstPath("db", 1), wal.bytes)
      const { db } = yield* openOn(store)
      const expectInvalid = <A>(effect: Effect.Effect<A, unknown>) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(effect)
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            const e = Exit.findErrorOption(exit)
            assert.isTrue(e._tag === "Some" && e.value instanceof InvalidError)
          }
        })
      assert.strictEqual(s(yield* db.get(b("v"))), "plain")
      yield* expectInvalid(db.get(b("m")))
      yield* expectInvalid(db.getKeyValue(b("m")))
      yield* db.flush({ type: "memtable" })
      assert.strictEqual((yield* db.status).l0Ssts, 1)
      yield* expectInvalid(db.get(b("m")))
      yield* expectInvalid(db.getKeyValue(b("m")))
      assert.strictEqual(s(yield* db.get(b("v"))), "plain")
    }))
})

describe("Shale: point reads through the synchronous fast path", () => {
  it("answers like Db.get: memtable, L0 (adopted and cold), absent keys; no store request after a flush", async () => {
    const { store, counts } = countingStore()
    const layer = Layer.succeed(ObjectStore, store)
    const db = await Shale.open("db", { store: layer, settings: { durableFlush: "eager" } })
    for (let i = 0; i < N; i++) await db.put(key(i), value(i), { awaitDurable: false })
    await db.put(key(1), b("newer"), { awaitDurable: false })
    assert.strictEqual(s(await db.get(key(1))), "newer")
    await db.flush({ type: "memtable" })
    const before = counts.reads
    for (let i = 2; i < N; i += 11) assert.strictEqual(s(await db.get(key(i))), s(value(i)))
    assert.strictEqual(s(await db.get(key(1))), "newer")
    assert.strictEqual(await db.get(b("absent")), undefined)
    const kv = await db.getKeyValue(key(10))
    assert.strictEqual(s(kv?.key), s(key(10)))
    assert.strictEqual(s(kv?.value), s(value(10)))
    assert.strictEqual(counts.reads, before)
    await db.close()
    // Reopened: the first reads need the store (through the Effect path), the answers are the same.
    const again = await Shale.open("db", { store: layer, settings: { durableFlush: "eager" } })
    const reads = counts.reads
    assert.strictEqual(s(await again.get(key(2999))), s(value(2999)))
    assert.isAbove(counts.reads, reads)
    assert.strictEqual(s(await again.get(key(1))), "newer")
    assert.strictEqual((await again.getKeyValue(key(3)))?.seq, 4)
    await again.close()
  })

  it("rejects with the engine's error instances (invalid input, closed database), never throws", async () => {
    const db = await Shale.open("db", { store: Shale.stores.memory() })
    const invalid = await db.get(new Uint8Array(0)).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(invalid, InvalidError)
    const badOption = await db.get(b("k"), { durability: "nope" as never }).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(badOption, InvalidError)
    const notBytes = await db.getKeyValue("k" as never).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(notBytes, InvalidError)
    await db.close()
    const closed = await db.get(b("k")).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(closed, ClosedError)
    assert.strictEqual((closed as ClosedError).reason, "clean")
  })
})
