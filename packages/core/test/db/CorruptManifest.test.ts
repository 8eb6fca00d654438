/**
 * SlateDB's manifest has no checksum, so a flipped bit in the latest manifest can decode into a manifest
 * that looks valid. Opening must then either fail with a typed error, before writing anything, or read
 * every acknowledged row: never open silently and lose rows.
 *
 * The database below has rows in two L0 SSTs, in WALs after the replay point and in the final WAL of a
 * clean close; every bit of its latest manifest is flipped in turn, each flip on a copy of the store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import { manifestPath } from "../../src/format/Paths.ts"
import { makeMemory, type ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, ND, openOn } from "./fixtures.ts"

const expectedRows = (n: number) =>
  Array.from({ length: n }, (_, i) => [`key${String(i).padStart(4, "0")}`, `value${i}`] as const)

/** A database with 2 L0 SSTs and rows in the WAL, closed cleanly; returns its store and latest manifest id. */
const buildDatabase = Effect.gen(function*() {
  const store = makeMemory()
  const rows = expectedRows(60)
  const { db, scope } = yield* openOn(store)
  for (const [i, [k, v]] of rows.entries()) {
    yield* db.put(b(k), b(v), i % 3 === 0 ? undefined : ND)
    if (i === 19 || i === 39) yield* db.flush({ type: "memtable" })
    if (i % 7 === 6) yield* db.flush({ type: "wal" })
  }
  yield* Scope.close(scope, Exit.void)
  return { store, rows }
})

const snapshot = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const copy = makeMemory()
    const paths = yield* collectPaths(store)
    for (const p of paths) yield* copy.put(p, yield* store.get(p))
    return copy
  })

const collectPaths = (store: ObjectStore["Service"]) =>
  Effect.map(
    Effect.flatMap(Effect.succeed(store.list("")), (s) => collectStream(s)),
    (objects) => objects.map((o) => o.path)
  )

import { Stream } from "effect"
const collectStream = <A, E>(s: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(s), (c) => Array.from(c))

const latestManifestId = (store: ObjectStore["Service"]) =>
  Effect.map(collectPaths(store), (paths) =>
    Math.max(...paths.filter((p) => p.startsWith("db/manifest/")).map((p) => Number(p.slice("db/manifest/".length, -".manifest".length)))))

describe("a corrupt latest manifest", () => {
  it.effect("every single-bit flip either fails the open with a typed error, writing nothing, or loses nothing", () =>
    Effect.gen(function*() {
      const { store, rows } = yield* buildDatabase
      const id = yield* latestManifestId(store)
      const bytes = yield* store.get(manifestPath("db", id))
      const pathsBefore = (yield* collectPaths(store)).sort()
      let failedOpen = 0
      let openedWhole = 0
      const silentLoss: Array<string> = []
      const wroteBeforeFailing: Array<string> = []
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const copy = yield* snapshot(store)
        const flipped = bytes.slice()
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        yield* copy.delete(manifestPath("db", id))
        yield* copy.put(manifestPath("db", id), flipped)
        const opened = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          const { db } = yield* openOn(copy)
          return yield* collect(db.scan({}))
        })))
        if (Exit.isFailure(opened)) {
          const error = Cause.squash(opened.cause) as { _tag?: string }
          assert.oneOf(error._tag, ["DataError", "InvalidError", "ClosedError"], `bit ${bit}: ${String(error)}`)
          failedOpen++
          const pathsAfter = (yield* collectPaths(copy)).sort()
          if (pathsAfter.join() !== pathsBefore.join()) wroteBeforeFailing.push(`bit ${bit}`)
          continue
        }
        const got = opened.value
        if (JSON.stringify(got) !== JSON.stringify(rows)) silentLoss.push(`bit ${bit}: ${got.length} rows`)
        else openedWhole++
      }
      assert.deepStrictEqual(silentLoss, [], `flips that opened but lost rows (of ${bytes.length * 8})`)
      assert.deepStrictEqual(wroteBeforeFailing, [], "flips whose failed open still wrote objects")
      assert.isAbove(failedOpen, 0)
      assert.isAbove(openedWhole, 0)
    }), 120_000)
})
