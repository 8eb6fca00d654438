/** What the DbReader tests share (DbReader.test.ts, DbReaderLifecycle.test.ts): a reader over "db" on the TestClock. */
import { assert } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { type DbReaderHandle, type DbReaderOpenOptions, openDbReader } from "../../src/db/DbReader.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { eventually } from "../compactor/support.ts"
import { b, collect, ND, s } from "./fixtures.ts"

export const T0 = Date.UTC(2026, 0, 1)
export const POLL = 1000
export const OPTIONS = { manifestPollIntervalMs: POLL, checkpointLifetimeMs: 60_000 } as const

export type Store = ObjectStore["Service"]

/** Opens a reader of "db" over `store` in a scope of its own (closed with the test's at the latest). */
export const openReader = (store: Store, options: Partial<DbReaderOpenOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const reader = yield* openDbReader({ root: "db", options: OPTIONS, ...options }).pipe(
      Effect.provideService(ObjectStore, store),
      Scope.provide(scope)
    )
    return { reader, scope }
  })

/** Advances the clock by `ms` and waits until the reader has polled since. */
export const poll = (reader: DbReaderHandle, ms = POLL) =>
  Effect.gen(function*() {
    const before = (yield* reader.status).polls
    yield* TestClock.adjust(ms)
    yield* eventually("a poll", () => Effect.map(reader.status, (st) => st.polls > before))
  })

export const latestOf = (store: Store) => Effect.map(makeManifestStore(store, "db").readLatest, (l) => l!)

/** 50 durable puts and a delete, then an L0 flush. */
export const fill = (db: DbService, batch: number) =>
  Effect.gen(function*() {
    for (let k = 0; k < 50; k++) yield* db.put(b(`key${String(k).padStart(3, "0")}`), b(`v${batch}-${k}`), ND)
    yield* db.delete(b(`key0${String(batch % 50).padStart(2, "0")}`), ND)
    yield* db.flush({ type: "memtable" })
  })

export const sameReads = (reader: DbReaderHandle, db: DbService) =>
  Effect.gen(function*() {
    const expected = yield* collect(db.scan({}))
    assert.deepStrictEqual(yield* collect(reader.scan({})), expected)
    assert.deepStrictEqual(yield* collect(reader.scan({}, { order: "desc" })), [...expected].reverse())
    for (const [k, v] of expected.slice(0, 5)) assert.strictEqual(s(yield* reader.get(b(k))), v)
  })
