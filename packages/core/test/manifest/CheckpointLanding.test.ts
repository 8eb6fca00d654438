/**
 * A checkpoint change made in a manifest version created under a name the collector freed below the latest
 * (the round trip between the listing before a create and the create itself, with a slow or retried put
 * and a minimum age near 0) is made again on top, so that the latest manifest shows it: a checkpoint added,
 * refreshed or removed through `updateLatestManifest` (Admin, readers, clones) and one the writer adds
 * (`Db.createCheckpoint`). A change a later version already shows is not made twice.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { makeCreateCheckpoint } from "../../src/db/DbCheckpoints.ts"
import { putReaderCheckpoint } from "../../src/db/ReaderCheckpoint.ts"
import { manifestPath } from "../../src/format/Paths.ts"
import { addCheckpoint, deleteCheckpoint, refreshCheckpoint } from "../../src/manifest/Checkpoints.ts"
import type { Manifest } from "../../src/manifest/Manifest.ts"
import { claimWriterEpoch, makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, type ObjectStore } from "../../src/objectstore/ObjectStore.ts"

const ROOT = "db"
const TIMEOUT_MS = 60_000
const READER_ID = "0190a3c1-7e2f-4b6a-9c1d-2e3f4a5b6c7d"
type Store = ObjectStore["Service"]

/**
 * `inner`, except that the first put of manifest `version` runs `meanwhile` (on `inner`) before it goes
 * through: what another process and a collector did while the put was slow.
 */
const slowPut = (inner: Store, version: number, meanwhile: Effect.Effect<void, unknown>) => {
  const state = { delayed: false }
  const store: Store = {
    ...inner,
    put: (...args: Parameters<Store["put"]>) =>
      args[0] === manifestPath(ROOT, version) && !state.delayed
        ? Effect.gen(function*() {
          state.delayed = true
          yield* Effect.orDie(meanwhile)
          return yield* inner.put(...args)
        })
        : inner.put(...args)
  }
  return { store, state }
}

/** Another process writes the next two versions (each the latest plus `change`), and a collector deletes the first. */
const twoVersionsThenCollect = (inner: Store, change: (m: Manifest) => Manifest = (m) => m) =>
  Effect.gen(function*() {
    const other = makeManifestStore(inner, ROOT)
    const latest = (yield* other.readLatest)!
    assert.strictEqual(yield* other.write(latest.id + 1, change(latest.manifest)), "written")
    assert.strictEqual(yield* other.write(latest.id + 2, change(latest.manifest)), "written")
    yield* inner.delete(manifestPath(ROOT, latest.id + 1))
  })

/** A database whose latest manifest is version 2 (the writer's claim), and that writer. */
const database = (inner: Store) => claimWriterEpoch(makeManifestStore(inner, ROOT), { timeoutMs: TIMEOUT_MS })

const idsOf = (m: Manifest): ReadonlyArray<string> => m.checkpoints.map((c) => c.id)

const latestOf = (inner: Store) => Effect.map(makeManifestStore(inner, ROOT).readLatest, (l) => l!)

describe("checkpoint changes land on the latest manifest", () => {
  it.effect("Admin's checkpoint created below the latest is added again on top, pinning that version", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      yield* database(inner)
      const { store, state } = slowPut(inner, 3, twoVersionsThenCollect(inner))
      const made = yield* addCheckpoint(makeManifestStore(store, ROOT), { lifetimeMs: 60_000 }, TIMEOUT_MS)
      assert.isTrue(state.delayed)
      // Version 3 (below 4) holds it too, but nobody reads 3 as the latest.
      assert.isTrue(idsOf(yield* makeManifestStore(inner, ROOT).read(3)).includes(made.id))
      const latest = yield* latestOf(inner)
      assert.strictEqual(latest.id, 5)
      assert.deepStrictEqual(idsOf(latest.manifest), [made.id])
      assert.strictEqual(made.manifestId, 5)
    }))

  it.effect("the writer's checkpoint created below the latest is added again on top", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      // A compactor writes versions 3 and 4 while the writer's put of 3 is slow; a collector deletes 3.
      const { store, state } = slowPut(inner, 3, twoVersionsThenCollect(inner, (m) => ({ ...m, compactorEpoch: 1 })))
      const writer = yield* database(store)
      const create = makeCreateCheckpoint({ manifest: writer, checkOpen: Effect.void, flushAll: Effect.void })
      const made = yield* create({ scope: "durable" })
      assert.isTrue(state.delayed)
      const latest = yield* latestOf(inner)
      assert.strictEqual(latest.id, 5)
      assert.deepStrictEqual(idsOf(latest.manifest), [made.id])
      assert.strictEqual(made.manifestId, 5)
      assert.strictEqual(latest.manifest.compactorEpoch, 1)
      assert.strictEqual(writer.id, 5)
    }))

  it.effect("a refresh or a removal made below the latest is made again on top", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      yield* database(inner)
      const made = yield* addCheckpoint(makeManifestStore(inner, ROOT), { lifetimeMs: 10_000 }, TIMEOUT_MS)
      assert.strictEqual(made.manifestId, 3)
      const refreshing = slowPut(inner, 4, twoVersionsThenCollect(inner))
      const refreshed = yield* refreshCheckpoint(makeManifestStore(refreshing.store, ROOT), made.id, 3_600_000, TIMEOUT_MS)
      assert.isTrue(refreshing.state.delayed)
      let latest = yield* latestOf(inner)
      assert.strictEqual(latest.id, 6)
      assert.strictEqual(latest.manifest.checkpoints[0]!.expireTimeS, refreshed.expireTimeS)
      assert.isAbove(refreshed.expireTimeS!, made.expireTimeS!)
      const removing = slowPut(inner, 7, twoVersionsThenCollect(inner))
      yield* deleteCheckpoint(makeManifestStore(removing.store, ROOT), made.id, TIMEOUT_MS)
      assert.isTrue(removing.state.delayed)
      latest = yield* latestOf(inner)
      assert.strictEqual(latest.id, 9)
      assert.deepStrictEqual(idsOf(latest.manifest), [])
    }))

  it.effect("a reader's checkpoint created below the latest is added again on top; the reader gets that version", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      yield* database(inner)
      const { store, state } = slowPut(inner, 3, twoVersionsThenCollect(inner))
      const put = yield* putReaderCheckpoint(makeManifestStore(store, ROOT), { id: READER_ID, remove: new Set(), lifetimeMs: 60_000 }, TIMEOUT_MS)
      assert.isTrue(state.delayed)
      const latest = yield* latestOf(inner)
      assert.strictEqual(latest.id, 5)
      assert.strictEqual(put.checkpoint.manifestId, 5)
      assert.deepStrictEqual(idsOf(put.manifest), [READER_ID])
      assert.deepStrictEqual(idsOf(latest.manifest), [READER_ID])
    }))

  it.effect("a version written on top that shows the change, or a checkpoint expired meanwhile, needs no second write", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      yield* database(inner)
      // Right after our version 3, another party writes 4 on top of it (so 4 holds the checkpoint).
      let onTop = false
      const store: Store = {
        ...inner,
        put: (...args: Parameters<Store["put"]>) =>
          Effect.tap(inner.put(...args), () =>
            args[0] === manifestPath(ROOT, 3) && !onTop
              ? Effect.gen(function*() {
                onTop = true
                const other = makeManifestStore(inner, ROOT)
                const three = (yield* other.readLatest)!
                assert.strictEqual(three.id, 3)
                assert.strictEqual(yield* other.write(4, { ...three.manifest, compactorEpoch: 1 }), "written")
              }).pipe(Effect.orDie)
              : Effect.void)
      }
      const made = yield* addCheckpoint(makeManifestStore(store, ROOT), {}, TIMEOUT_MS)
      assert.isTrue(onTop)
      assert.strictEqual(made.manifestId, 3)
      assert.strictEqual((yield* latestOf(inner)).id, 4)
      // A 1-second checkpoint created below the latest, expired by the time the loop looks: not added again.
      const expiring = slowPut(inner, 5, Effect.andThen(twoVersionsThenCollect(inner), TestClock.adjust("2 seconds")))
      const short = yield* addCheckpoint(makeManifestStore(expiring.store, ROOT), { lifetimeMs: 1_000 }, TIMEOUT_MS)
      assert.isTrue(expiring.state.delayed)
      assert.strictEqual(short.manifestId, 5)
      const latest = yield* latestOf(inner)
      assert.strictEqual(latest.id, 6)
      assert.notInclude(idsOf(latest.manifest), short.id)
    }))
})
