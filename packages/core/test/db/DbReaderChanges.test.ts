/**
 * `DbReader.changes` (db/DbReader.ts over wal/ChangeStream.ts) beside a running writer, in a memory store,
 * on the TestClock: rows in seq order, each once, across WAL files and batches, only as far as the reader
 * has replayed (a WAL the writer flushed appears after the reader's next poll, not before); the stream
 * ends when the reader closes, with every row the reader had replayed; a closed reader refuses a new
 * stream; a start whose WAL was collected fails with `ChangesGapError`, and a stream from its `resumeFrom`
 * works. The Promise form (`ShaleDbReader.changes`) on real time.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { runGcOnce } from "../../src/admin/Checkpoints.ts"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { type DbReaderHandle, openDbReader } from "../../src/db/DbReader.ts"
import { Shale } from "../../src/db/Shale.ts"
import { openReader as openShaleReader } from "../../src/db/ShaleReader.ts"
import { ChangesGapError } from "../../src/errors.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { Change } from "../../src/wal/ChangeStream.ts"
import { eventually } from "../compactor/support.ts"
import { b, ND, openOn, s, testSettings } from "./fixtures.ts"

const POLL = 1000
const OPTIONS = { manifestPollIntervalMs: POLL, checkpointLifetimeMs: 60_000 } as const

type Store = ObjectStore["Service"]

/** A change as `seq kind key[=value]`. */
const show = (c: Change): string => `${c.seq} ${c.kind} ${s(c.key)}${c.value === undefined ? "" : `=${s(c.value)}`}`

const openReader = (store: Store) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const reader = yield* openDbReader({ root: "db", options: OPTIONS }).pipe(Effect.provideService(ObjectStore, store), Scope.provide(scope))
    return { reader, scope }
  })

/** Advances the clock by one reader poll interval and waits until the reader has polled. */
const poll = (reader: DbReaderHandle) =>
  Effect.gen(function*() {
    const before = (yield* reader.status).polls
    yield* TestClock.adjust(POLL)
    yield* eventually("a poll", () => Effect.map(reader.status, (st) => st.polls > before))
  })

/** Forks a stream that pushes what it emits into `seen`. */
const follow = (stream: Stream.Stream<Change, unknown>, seen: Array<string>) =>
  Effect.forkChild(Stream.runForEach(stream, (c) => Effect.sync(() => void seen.push(show(c)))))

const yields = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

describe("DbReader.changes", () => {
  it.effect("rows in seq order, each once, as far as the reader has replayed; the stream ends when the reader closes", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"), ND)
      yield* db.put(b("b"), b("2"), ND)
      yield* db.flush()
      const { reader } = yield* openReader(store)
      const seen: Array<string> = []
      // Listing every 100 ms: ten times per reader poll.
      const fiber = yield* follow(reader.changes({ fromSeq: 1, pollIntervalMs: 100 }), seen)
      yield* yields
      assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2"])
      // A batch (one seq, key order) and a put in a new WAL: not seen before the reader polls.
      yield* db.write(new WriteBatch().put(b("z"), b("3")).delete(b("a")), ND)
      yield* db.put(b("c"), b("4"), ND)
      yield* db.flush()
      yield* TestClock.adjust(POLL / 2)
      yield* yields
      assert.strictEqual((yield* reader.status).seq, 2)
      assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2"])
      yield* poll(reader)
      assert.strictEqual((yield* reader.status).seq, 4)
      yield* TestClock.adjust(POLL)
      yield* yields
      assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2", "3 tombstone a", "3 value z=3", "4 value c=4"])
      // Flushed, then replayed by one more poll, then the reader closes: the stream emits it and ends.
      yield* db.put(b("d"), b("5"), ND)
      yield* db.flush()
      yield* poll(reader)
      yield* reader.close
      // It ends at its next listing (within one poll interval).
      yield* TestClock.adjust(POLL)
      yield* yields
      assert.isDefined(fiber.pollUnsafe(), "the stream ended")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(seen.slice(5), ["5 value d=5"])
      // A closed reader refuses a new stream.
      const refused = yield* Effect.flip(Stream.runCollect(reader.changes({ fromSeq: 1 })))
      assert.strictEqual(refused._tag, "ClosedError")
    }))

  it.effect("latest starts after what the reader holds; follow: false ends after the last WAL it replayed", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* db.put(b("a"), b("1"), ND)
      yield* db.flush()
      const { reader } = yield* openReader(store)
      const latest: Array<string> = []
      yield* follow(reader.changes(), latest)
      yield* yields
      yield* db.put(b("b"), b("2"), ND)
      yield* db.flush()
      // Not yet replayed: a stream that does not follow ends with what the reader has.
      assert.deepStrictEqual(Array.from(yield* Stream.runCollect(reader.changes({ fromSeq: 1, follow: false })), show), ["1 value a=1"])
      yield* poll(reader)
      yield* TestClock.adjust(POLL)
      yield* yields
      assert.deepStrictEqual(latest, ["2 value b=2"])
      assert.deepStrictEqual(Array.from(yield* Stream.runCollect(reader.changes({ fromSeq: 2, follow: false })), show), ["2 value b=2"])
    }))

  it.effect("a start whose WAL was collected fails with ChangesGapError; a stream from its resumeFrom works", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      for (let i = 1; i <= 3; i++) {
        yield* db.put(b(`k${i}`), b(`v${i}`), ND)
        yield* db.flush()
      }
      yield* db.flush({ type: "memtable" })
      yield* db.put(b("k4"), b("v4"), ND)
      yield* db.flush()
      yield* TestClock.adjust("1 second")
      const stats = yield* runGcOnce("db", { options: withMinAge(defaultGcOptions, 0) }).pipe(Effect.provideService(ObjectStore, store))
      assert.isAbove(stats.deleted.wal, 0)
      const { reader } = yield* openReader(store)
      assert.strictEqual((yield* reader.status).seq, 4)
      const gap = yield* Effect.flip(Stream.runCollect(reader.changes({ fromSeq: 1, follow: false })))
      assert.instanceOf(gap, ChangesGapError)
      assert.strictEqual(gap.fromSeq, 1)
      assert.isAbove(gap.resumeFrom, 1)
      const resumed = Array.from(yield* Stream.runCollect(reader.changes({ fromSeq: gap.resumeFrom, follow: false })), show)
      assert.deepStrictEqual(resumed.at(-1), "4 value k4=v4")
      assert.strictEqual(resumed[0]!.split(" ")[0], String(gap.resumeFrom))
    }))
})

describe("DbReader.changes, Promise form", () => {
  it("ShaleDbReader.changes is an async iterable", async () => {
    const store = Shale.stores.memory()
    const db = await Shale.open("db", { store, settings: testSettings })
    try {
      await db.put(b("a"), b("1"))
      await db.put(b("b"), b("2"))
      const reader = await openShaleReader("db", { store, options: { manifestPollIntervalMs: 10 } })
      try {
        const seen: Array<string> = []
        for await (const c of reader.changes({ fromSeq: 1, pollIntervalMs: 10 })) {
          seen.push(show(c))
          if (seen.length === 2) break
        }
        assert.deepStrictEqual(seen, ["1 value a=1", "2 value b=2"])
      } finally {
        await reader.close()
      }
    } finally {
      await db.close()
    }
  })
})
