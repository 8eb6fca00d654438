/**
 * What an open checks before it writes anything (docs/design/db.md, "Open: validate before writing"):
 * WALs the manifest says hold rows must exist, WALs must decode, and a failed open leaves the store
 * exactly as it was (no new manifest version, no fence WAL).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { DataError } from "../../src/errors.ts"
import { manifestPath, walSstPath } from "../../src/format/Paths.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { makeMemory, type ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, listPaths, ND, openOn } from "./fixtures.ts"

const close = (scope: Scope.Closeable) => Scope.close(scope, Exit.void)

/** A database closed cleanly with every row in the WAL (no L0 flush): WALs 2..4 hold rows. */
const closedWithWalRows = Effect.gen(function*() {
  const store = makeMemory()
  const { db, scope } = yield* openOn(store)
  for (let i = 0; i < 3; i++) {
    yield* db.put(b(`k${i}`), b(`v${i}`), ND)
    yield* db.flush({ type: "wal" })
  }
  yield* close(scope)
  return store
})

const latestManifest = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const n = (yield* listPaths(store, "db/manifest")).length
    return decodeManifest(yield* store.get(manifestPath("db", n)))
  })

const expectFailedOpenWritingNothing = (store: ObjectStore["Service"], includes: string) =>
  Effect.gen(function*() {
    const before = yield* listPaths(store, "db")
    const error = yield* Effect.flip(openOn(store))
    assert.instanceOf(error, DataError)
    assert.include(error.message, includes)
    assert.deepStrictEqual(yield* listPaths(store, "db"), before, "a failed open must not write")
  })

describe("open: checks before writing", () => {
  it.effect("after a clean close the manifest names exactly the WALs written: every one exists", () =>
    Effect.gen(function*() {
      const store = yield* closedWithWalRows
      for (let round = 0; round < 3; round++) {
        const { db, scope } = yield* openOn(store)
        yield* db.put(b(`r${round}`), b("x"))
        if (round === 1) yield* db.flush({ type: "memtable" })
        yield* close(scope)
        const m = yield* latestManifest(store)
        const wals = (yield* listPaths(store, "db/wal")).map((p) => Number(p.slice(-24, -4)))
        assert.strictEqual(m.nextWalSstId, Math.max(...wals) + 1)
      }
    }))

  it.effect("deleting the newest WAL after a clean close: the open fails naming it, and writes nothing", () =>
    Effect.gen(function*() {
      const store = yield* closedWithWalRows
      const m = yield* latestManifest(store)
      assert.strictEqual(m.nextWalSstId, 5)
      yield* store.delete(walSstPath("db", 4))
      yield* expectFailedOpenWritingNothing(store, "WAL 4 is missing")
    }))

  it.effect("deleting the whole wal/ directory: the open fails naming the WALs, and writes nothing", () =>
    Effect.gen(function*() {
      const store = yield* closedWithWalRows
      for (const p of yield* listPaths(store, "db/wal")) yield* store.delete(p)
      yield* expectFailedOpenWritingNothing(store, "WAL 1..4 are missing")
    }))

  it.effect("a corrupt WAL fails the open with a DataError before the epoch is claimed or a fence written", () =>
    Effect.gen(function*() {
      const store = yield* closedWithWalRows
      const bytes = yield* store.get(walSstPath("db", 3))
      const broken = bytes.slice()
      broken[5]! ^= 0x40
      yield* store.delete(walSstPath("db", 3))
      yield* store.put(walSstPath("db", 3), broken)
      yield* expectFailedOpenWritingNothing(store, "")
    }))

  it.effect("a healthy database still opens with everything (the checks pass)", () =>
    Effect.gen(function*() {
      const store = yield* closedWithWalRows
      const { db } = yield* openOn(store)
      assert.deepStrictEqual(yield* collect(db.scan({})), [["k0", "v0"], ["k1", "v1"], ["k2", "v2"]])
    }))
})
