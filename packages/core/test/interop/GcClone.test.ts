/**
 * Clones across implementations: Shale's `createClone` makes a clone ("clone") of a database the official
 * SlateDB 0.12.1 (`@slatedb/uniffi`) wrote ("db"), in one local directory; SlateDB opens and writes the
 * clone, both engines read it and the parent, and Shale's garbage collector on the parent keeps every SST
 * the clone borrows (the final checkpoint the clone left in the parent pins them).
 *
 * The clone is checkpoint-less: Shale makes the parent's short-lived checkpoint itself (5 minutes), and
 * the test removes that one before collecting, so only the clone's final checkpoint (no expiry) protects
 * the borrowed SSTs.
 *
 * Then SlateDB's collector (embedded in its `Db`, minimum age 0) runs on the parent too and must keep them.
 *
 * What cannot be driven: the reverse direction (SlateDB cloning a Shale database) — the binding has no
 * `Admin` and so no `create_clone`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runGcOnce } from "../../src/admin/Checkpoints.ts"
import { createClone } from "../../src/admin/Clone.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"
import { withShaleCompactor } from "./compactionSupport.ts"
import {
  collectable,
  collectWithSlateDb,
  deletedSince,
  dropCheckpoints,
  expectedReads,
  gcWorkload,
  keysOf,
  latestAt,
  manifestAt,
  needed,
  objectsOnDisk,
  onDisk,
  onStore,
  openSlateAt,
  plantOrphanSst,
  readWithShale,
  readWithSlate,
  shaleAt,
  slateReads,
  snapshotModel,
  sstsOf
} from "./gcSupport.ts"
import { applyToShale, applyToSlateDb, Model, tempDir } from "./support.ts"

const PARENT = "db"
const CLONE = "clone"

describe("clones between Shale and SlateDB 0.12.1", () => {
  it("Shale clones a SlateDB database; SlateDB opens and writes the clone; the parent is unchanged; Shale's GC on the parent keeps the clone's SSTs", async () => {
    const { dir, cleanup } = tempDir("shale-interop-clone-")
    try {
      // SlateDB writes the parent: L0 SSTs and a WAL tail its manifest replays.
      const parentModel = new Model()
      const writer = await openSlateAt(dir, PARENT)
      try {
        await applyToSlateDb(writer.db, gcWorkload({ writes: 1200, seed: 51, keySpace: 400, memtableEvery: 300 }), parentModel)
      } finally {
        await writer.close()
      }
      const parentBefore = objectsOnDisk(dir, PARENT)

      const created = await onStore(dir, createClone(CLONE, PARENT))
      const cloneStart = latestAt(dir, CLONE)
      expect(cloneStart.id).toBe(created.manifestId)
      expect(cloneStart.manifest.initialized).toBe(true)
      expect(cloneStart.manifest.checkpoints).toEqual([])
      const borrowed = cloneStart.manifest.externalDbs.find((db) => db.path === PARENT)!
      expect(borrowed.sourceCheckpointId).toBe(created.sourceCheckpointId)
      expect(borrowed.finalCheckpointId).toBeDefined()
      expect([...borrowed.sstIds].sort()).toEqual(sstsOf(cloneStart.manifest).sort())
      expect(borrowed.sstIds.length).toBeGreaterThanOrEqual(3)
      // In the parent: the short-lived source checkpoint and the clone's final one, pinning one version.
      const parentCheckpoints = latestAt(dir, PARENT).manifest.checkpoints
      const source = parentCheckpoints.find((c) => c.id === borrowed.sourceCheckpointId)!
      const final = parentCheckpoints.find((c) => c.id === borrowed.finalCheckpointId)!
      expect(source.expireTimeS).toBeDefined()
      expect(final.expireTimeS).toBeUndefined()
      expect(final.manifestId).toBe(source.manifestId)
      // The clone's WAL tail was copied from the parent.
      expect(objectsOnDisk(dir, CLONE).wal.length).toBeGreaterThanOrEqual(1)
      expect(objectsOnDisk(dir, CLONE).compacted).toEqual([])

      // SlateDB opens the clone: the parent's model; then overwrites and deletes in the clone only.
      const cloneModel = snapshotModel(parentModel)
      const cloneWriter = await openSlateAt(dir, CLONE)
      try {
        const keys = parentModel.keys()
        expect(await slateReads(cloneWriter.db, keys)).toEqual(expectedReads(parentModel, keys))
        await applyToSlateDb(cloneWriter.db, gcWorkload({ writes: 800, seed: 52, keySpace: 400, memtableEvery: 200 }), cloneModel)
      } finally {
        await cloneWriter.close()
      }
      expect(cloneModel.visible()).not.toEqual(parentModel.visible())
      const cloneKeys = keysOf(cloneModel, parentModel)
      expect(await readWithShale(dir, CLONE, cloneKeys)).toEqual(expectedReads(cloneModel, cloneKeys))

      // The parent did not change: no object of the clone's writes, and both engines read its model.
      const parentNow = objectsOnDisk(dir, PARENT)
      expect(parentNow.compacted).toEqual(parentBefore.compacted)
      expect(parentNow.wal).toEqual(parentBefore.wal)
      expect(await readWithShale(dir, PARENT, cloneKeys)).toEqual(expectedReads(parentModel, cloneKeys))
      expect(await readWithSlate(dir, PARENT, cloneKeys)).toEqual(expectedReads(parentModel, cloneKeys))

      // The parent moves on (Shale writes more) and Shale's compactor compacts everything into one run:
      // the parent's latest manifest no longer lists any SST the clone borrows.
      await Effect.runPromise(
        applyToShale(gcWorkload({ writes: 800, seed: 53, keySpace: 400, memtableEvery: 200 }), parentModel).pipe(
          Effect.provide(shaleAt(dir, PARENT))
        )
      )
      const status = await Effect.runPromise(
        withShaleCompactor(dir, { pollIntervalMs: 100 }, (c) =>
          Effect.gen(function*() {
            yield* c.awaitIdle
            yield* c.submit("full")
            yield* c.awaitIdle
            return yield* c.status
          }))
      )
      expect(status.failed).toBe(0)
      const compacted = latestAt(dir, PARENT).manifest
      expect(compacted.l0).toEqual([])
      expect(sstsOf(compacted).some((id) => borrowed.sstIds.includes(id))).toBe(false)

      // Only the final checkpoint stays; Shale's GC (minimum age 0) on the parent.
      const dropped = await dropCheckpoints(dir, PARENT, (c) => c.id !== final.id)
      expect(dropped.map((c) => c.id)).toContain(source.id)
      expect(latestAt(dir, PARENT).manifest.checkpoints.map((c) => c.id)).toEqual([final.id])
      const before = objectsOnDisk(dir, PARENT)
      const pass = await onStore(dir, runGcOnce(PARENT, { options: withMinAge(defaultGcOptions, 0) }))
      expect(pass.errors).toEqual([])
      const garbage = collectable(dir, PARENT, before)
      expect(deletedSince(dir, PARENT, before)).toEqual(garbage)
      // It collected garbage (old manifests, the SSTs Shale's writes flushed and then compacted away) ...
      expect(garbage.manifest.length).toBeGreaterThanOrEqual(5)
      expect(garbage.compacted.length).toBeGreaterThanOrEqual(3)
      // ... and kept every SST the clone borrows, and the version the final checkpoint pins.
      expect(onDisk(dir, PARENT, needed(dir, PARENT)).missing).toEqual({ manifest: [], wal: [], compacted: [], compactions: [] })
      expect(onDisk(dir, PARENT, { manifest: [final.manifestId], wal: [], compacted: [...borrowed.sstIds], compactions: [] }).missing)
        .toEqual({ manifest: [], wal: [], compacted: [], compactions: [] })
      expect(sstsOf(manifestAt(dir, PARENT, final.manifestId)).sort()).toEqual([...borrowed.sstIds].sort())

      // SlateDB's collector on the parent (minimum age 0) keeps them too: its final checkpoint is the pin.
      // (An orphan SST planted first: once it is gone, a pass over compacted SSTs has run.)
      const orphan = plantOrphanSst(dir, PARENT)
      const beforeSlate = objectsOnDisk(dir, PARENT)
      const bySlate = await collectWithSlateDb(dir, PARENT, beforeSlate)
      expect(bySlate.settled).toBe(true)
      expect(bySlate.garbage.manifest.length).toBeGreaterThanOrEqual(1)
      expect(bySlate.garbage.compacted).toEqual([orphan])
      expect(latestAt(dir, PARENT).manifest.checkpoints.map((c) => c.id)).toEqual([final.id])
      expect(onDisk(dir, PARENT, { manifest: [final.manifestId], wal: [], compacted: [...borrowed.sstIds], compactions: [] }).missing)
        .toEqual({ manifest: [], wal: [], compacted: [], compactions: [] })

      // Shale's GC on the clone (minimum age 0) collects the clone's own garbage, never the parent's SSTs.
      const parentAfterGc = objectsOnDisk(dir, PARENT)
      const cloneBefore = objectsOnDisk(dir, CLONE)
      const clonePass = await onStore(dir, runGcOnce(CLONE, { options: withMinAge(defaultGcOptions, 0) }))
      expect(clonePass.errors).toEqual([])
      const cloneGarbage = collectable(dir, CLONE, cloneBefore)
      expect(deletedSince(dir, CLONE, cloneBefore)).toEqual(cloneGarbage)
      expect(cloneGarbage.manifest.length + cloneGarbage.wal.length).toBeGreaterThanOrEqual(2)
      expect(objectsOnDisk(dir, PARENT)).toEqual(parentAfterGc)

      // The clone still reads everything, with either engine; the parent reads its own model.
      expect(await readWithSlate(dir, CLONE, cloneKeys)).toEqual(expectedReads(cloneModel, cloneKeys))
      expect(await readWithShale(dir, CLONE, cloneKeys)).toEqual(expectedReads(cloneModel, cloneKeys))
      const parentKeys = keysOf(parentModel, cloneModel)
      expect(await readWithShale(dir, PARENT, parentKeys)).toEqual(expectedReads(parentModel, parentKeys))
      expect(await readWithSlate(dir, PARENT, parentKeys)).toEqual(expectedReads(parentModel, parentKeys))
    } finally {
      cleanup()
    }
  }, 60_000)
})
