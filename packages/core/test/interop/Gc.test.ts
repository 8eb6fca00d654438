/**
 * Garbage collection and checkpoints across implementations: the official SlateDB 0.12.1
 * (`@slatedb/uniffi`) collects a database Shale wrote, Shale's collector (`Admin.runGcOnce`) collects one
 * SlateDB wrote, and the checkpoints either engine makes are respected by the other's collector. Clones are
 * in GcClone.test.ts.
 *
 * Each test works on a fresh local directory both engines open (database root "db") and checks what the
 * collector deleted against the rules worked out from the objects on disk with Shale's decoders
 * (`collectable` / `needed` in gcSupport.ts: the deletions are exactly the garbage, nothing a live or
 * pinned manifest needs goes), then that both engines read exactly the model (key → newest value).
 *
 * Compactors leave a 15-minute checkpoint with each compaction's manifest (SlateDB's in a version of its
 * own before it, Shale's in the same version), which pins the SSTs the compaction replaced: where a test
 * wants those collected now, it removes these checkpoints first with Shale's `deleteCheckpoint`.
 *
 * What the binding cannot drive: it has no `Admin`, so SlateDB's collector runs only embedded in its `Db`
 * (`garbage_collector_options`, each kind on its interval; there is no `run_gc_once`), and SlateDB makes
 * checkpoints only through `DbReader` (one of its own, deleted when it closes) — no detached checkpoint,
 * no `Db.create_checkpoint`, no refresh or delete calls.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { createCheckpoint, runGcOnce } from "../../src/admin/Checkpoints.ts"
import { Db } from "../../src/db/Db.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"
import type { EngineOp } from "../support/slatedb.ts"
import { withShaleCompactor } from "./compactionSupport.ts"
import {
  collectable,
  collectWithSlateDb,
  countsOf,
  deletedSince,
  dropCheckpoints,
  expectedReads,
  gcWorkload,
  keysOf,
  latestAt,
  liveState,
  manifestAt,
  needed,
  type Objects,
  objectsOnDisk,
  onDisk,
  onStore,
  openSlateAt,
  openSlateReader,
  readAtCheckpointWithShale,
  readerReads,
  readWithShale,
  readWithSlate,
  shaleAt,
  snapshotModel,
  sstsOf,
  valuesOf,
  walRangeOf
} from "./gcSupport.ts"
import { applyToShale, applyToSlateDb, Model, tempDir, waitUntil } from "./support.ts"

const DB = "db"
const GC_NOW = { options: withMinAge(defaultGcOptions, 0) }

// ---- helpers ------------------------------------------------------------------------------------------------

const shaleWrites = (dir: string, ops: ReadonlyArray<EngineOp>, model: Model): Promise<void> =>
  Effect.runPromise(applyToShale(ops, model).pipe(Effect.provide(shaleAt(dir, DB))))

/** Shale's standalone compactor: whatever it schedules, then everything into one sorted run. */
const shaleFullCompaction = async (dir: string): Promise<void> => {
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
  const m = latestAt(dir, DB).manifest
  expect({ l0: m.l0.length, runs: m.compacted.length }).toEqual({ l0: 0, runs: 1 })
}

/** `effect` with a clock `aheadMs` ahead of the real one (Shale's clock only: SlateDB's and the store's stay). */
const later = <A, E, R>(aheadMs: number, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.service(Clock.Clock), (real) =>
    Effect.provideService(effect, Clock.Clock, {
      sleep: (d) => real.sleep(d),
      monotonicTimeNanosUnsafe: () => real.monotonicTimeNanosUnsafe(),
      monotonicTimeNanos: real.monotonicTimeNanos,
      currentTimeMillisUnsafe: () => real.currentTimeMillisUnsafe() + aheadMs,
      currentTimeMillis: Effect.map(real.currentTimeMillis, (t) => t + aheadMs),
      currentTimeNanosUnsafe: () => real.currentTimeNanosUnsafe() + BigInt(aheadMs) * 1_000_000n,
      currentTimeNanos: Effect.map(real.currentTimeNanos, (t) => t + BigInt(aheadMs) * 1_000_000n)
    }))

/** The compactors' 15-minute checkpoints (every checkpoint with an expiry but those in `keep`). */
const dropCompactorCheckpoints = (dir: string, keep: ReadonlyArray<string> = []) =>
  dropCheckpoints(dir, DB, (c) => c.expireTimeS !== undefined && !keep.includes(c.id))

const KINDS = ["manifest", "wal", "compacted", "compactions"] as const

/** `a` minus `b`, kind by kind (empty lists when `a` ⊆ `b`). */
const minus = (a: Objects, b: Objects): Objects => ({
  manifest: a.manifest.filter((x) => !b.manifest.includes(x)),
  wal: a.wal.filter((x) => !b.wal.includes(x)),
  compacted: a.compacted.filter((x) => !b.compacted.includes(x)),
  compactions: a.compactions.filter((x) => !b.compactions.includes(x))
})

const empty: Objects = { manifest: [], wal: [], compacted: [], compactions: [] }

/** Everything the database's state needs is on disk. */
const expectNeededPresent = (dir: string): void => expect(onDisk(dir, DB, needed(dir, DB)).missing).toEqual(empty)

/** SlateDB's collector on "db" until the garbage of `before` is gone (`collectWithSlateDb`); what was garbage. */
const slateDbCollects = async (dir: string, before: Objects): Promise<Objects> => {
  const outcome = await collectWithSlateDb(dir, DB, before)
  expect(outcome.settled).toBe(true)
  return outcome.garbage
}

/**
 * The collector deleted all of `garbage` and nothing else from `before` that the final state does not
 * call garbage; what the state needs is on disk.
 */
const expectOnlyGarbageDeleted = (dir: string, before: Objects, garbage: Objects): Objects => {
  const deleted = deletedSince(dir, DB, before)
  expect(minus(garbage, deleted)).toEqual(empty)
  expect(minus(deleted, collectable(dir, DB, before))).toEqual(empty)
  expectNeededPresent(dir)
  return deleted
}

const expectBothRead = async (dir: string, model: Model): Promise<void> => {
  const keys = model.keys()
  expect(await readWithShale(dir, DB, keys)).toEqual(expectedReads(model, keys))
  expect(await readWithSlate(dir, DB, keys)).toEqual(expectedReads(model, keys))
}

/**
 * Shale's view and SlateDB's `DbReader` opened at `checkpoint` read `then` (the model when it was made),
 * the view at the version the checkpoint names.
 */
const expectBothReadAt = async (
  dir: string,
  checkpoint: { readonly id: string; readonly manifestId: number },
  then: Model,
  keys: ReadonlyArray<Uint8Array>
): Promise<void> => {
  const view = await readAtCheckpointWithShale(dir, DB, checkpoint.id, keys)
  expect(view.manifestId).toBe(checkpoint.manifestId)
  expect({ gets: view.gets, asc: view.asc }).toEqual(expectedReads(then, keys))
  const reader = await openSlateReader(dir, DB, checkpoint.id)
  try {
    expect(await readerReads(reader.reader, keys)).toEqual(valuesOf(expectedReads(then, keys)))
  } finally {
    await reader.close()
  }
}

// ---- the tests ----------------------------------------------------------------------------------------------

describe("garbage collection and checkpoints between Shale and SlateDB 0.12.1", () => {
  it("SlateDB's collector on a database Shale wrote and compacted deletes only garbage; both engines read the model", async () => {
    const { dir, cleanup } = tempDir("shale-interop-gc1-")
    try {
      const model = new Model()
      await shaleWrites(dir, gcWorkload({ writes: 1500, seed: 11, keySpace: 400, memtableEvery: 250 }), model)
      await shaleFullCompaction(dir)
      // More overwrites and deletes after the compaction: a newer L0 SST, a WAL tail.
      await shaleWrites(dir, gcWorkload({ writes: 400, seed: 12, keySpace: 400, memtableEvery: 200 }), model)
      expect((await dropCompactorCheckpoints(dir)).length).toBeGreaterThanOrEqual(1)
      const before = objectsOnDisk(dir, DB)

      const garbage = await slateDbCollects(dir, before)
      const deleted = expectOnlyGarbageDeleted(dir, before, garbage)
      // There was garbage of every kind: old manifests, WAL SSTs below replay_after_wal_id, the SSTs the
      // full compaction replaced (Shale's L0 SSTs), old compactions files.
      expect(garbage.manifest.length).toBeGreaterThanOrEqual(5)
      expect(garbage.wal.length).toBeGreaterThanOrEqual(5)
      expect(garbage.compacted.length).toBeGreaterThanOrEqual(5)
      expect(garbage.compactions.length).toBeGreaterThanOrEqual(1)
      const after = objectsOnDisk(dir, DB)
      for (const k of KINDS) expect(countsOf(after)[k]).toBeLessThan(countsOf(before)[k])
      // Every SST Shale compacted away went; Shale's sorted run and its L0 SST after it stayed.
      const m = latestAt(dir, DB).manifest
      expect(m.compacted.length).toBe(1)
      expect(deleted.compacted.some((id) => sstsOf(m).includes(id))).toBe(false)
      expect(deleted.wal.every((id) => id < m.replayAfterWalId)).toBe(true)

      await expectBothRead(dir, model)
    } finally {
      cleanup()
    }
  }, 60_000)

  it("Shale's runGcOnce on a database SlateDB wrote and compacted: keeps what SlateDB's checkpoints pin, and once they expire removes them and collects it; both read the model", async () => {
    const { dir, cleanup } = tempDir("shale-interop-gc2-")
    try {
      const model = new Model()
      const slate = await openSlateAt(dir, DB, {
        compactor: true,
        settings: {
          min_filter_keys: 10,
          l0_sst_size_bytes: 16 * 1024,
          l0_max_ssts: 64,
          "compactor_options.max_sst_size": 16 * 1024,
          "compactor_options.scheduler_options.min_compaction_sources": "4",
          "compactor_options.scheduler_options.max_compaction_sources": "8"
        }
      })
      let compacted: boolean
      try {
        await applyToSlateDb(slate.db, gcWorkload({ writes: 3000, seed: 21, keySpace: 700, memtableEvery: 400 }), model)
        await slate.db.flush_with_options({ flush_type: "MemTable" })
        compacted = await waitUntil(() => {
          try {
            const m = latestAt(dir, DB).manifest
            return m.compactorEpoch > 0 && m.compacted.length > 0 && m.l0.length < 4
          } catch {
            return false
          }
        }, 30_000)
      } finally {
        await slate.close()
      }
      expect(compacted).toBe(true)
      const before = objectsOnDisk(dir, DB)
      const state = liveState(dir, DB)
      expect(state.pinnedIds.length).toBeGreaterThanOrEqual(1)
      // SSTs only SlateDB's compaction checkpoints still hold (replaced in the latest manifest).
      const pinnedOnly = [...state.liveSsts].filter((id) => !sstsOf(state.latest.manifest).includes(id))
      expect(pinnedOnly.length).toBeGreaterThanOrEqual(1)

      // A pass with SlateDB's compaction checkpoints in place.
      const first = await onStore(dir, runGcOnce(DB, GC_NOW))
      const garbage1 = collectable(dir, DB, before)
      expect(deletedSince(dir, DB, before)).toEqual(garbage1)
      expectNeededPresent(dir)
      expect(first.errors).toEqual([])
      expect(first.deleted).toEqual({
        manifests: garbage1.manifest.length,
        wal: garbage1.wal.length,
        compacted: garbage1.compacted.length,
        compactions: garbage1.compactions.length
      })
      expect(garbage1.manifest.length).toBeGreaterThanOrEqual(3)
      expect(garbage1.wal.length).toBeGreaterThanOrEqual(3)
      expect(onDisk(dir, DB, { ...empty, compacted: pinnedOnly }).missing.compacted).toEqual([])

      // 16 minutes later (Shale's clock only), SlateDB's 15-minute checkpoints have expired: the pass
      // removes them from the manifest, and the SSTs they held go too.
      const slateCheckpoints = state.latest.manifest.checkpoints
      expect(slateCheckpoints.every((c) => c.expireTimeS !== undefined && c.expireTimeS * 1000 < Date.now() + 16 * 60_000))
        .toBe(true)
      const second = await onStore(dir, later(16 * 60_000, runGcOnce(DB, GC_NOW)))
      expect(second.errors).toEqual([])
      expect(second.expiredCheckpoints).toBe(slateCheckpoints.length)
      expect(latestAt(dir, DB).manifest.checkpoints).toEqual([])
      const garbage2 = collectable(dir, DB, before)
      expect(deletedSince(dir, DB, before)).toEqual(garbage2)
      expectNeededPresent(dir)
      expect(garbage2.compacted.length).toBeGreaterThan(garbage1.compacted.length)
      expect(minus({ ...empty, compacted: pinnedOnly }, garbage2).compacted.length).toBeLessThan(pinnedOnly.length)

      await expectBothRead(dir, model)
    } finally {
      cleanup()
    }
  }, 60_000)

  it("Shale's checkpoints (detached, and the writer's) survive SlateDB's collector: Shale's view and SlateDB's DbReader at each read the model of then", async () => {
    const { dir, cleanup } = tempDir("shale-interop-gc3a-")
    try {
      const model = new Model()
      await shaleWrites(dir, gcWorkload({ writes: 1200, seed: 31, keySpace: 400, memtableEvery: 300 }), model)
      // A detached checkpoint (no writer open, no lifetime) of a state with L0 SSTs and a WAL tail.
      const detached = await onStore(dir, createCheckpoint(DB))
      expect(detached.expireTimeS).toBeUndefined()
      const atDetached = snapshotModel(model)
      expect(manifestAt(dir, DB, detached.manifestId).l0.length).toBeGreaterThanOrEqual(3)
      expect(walRangeOf(manifestAt(dir, DB, detached.manifestId)).length).toBeGreaterThanOrEqual(1)

      // Overwrites and deletes; the writer's own checkpoint (scope "all": flushed first, named, 1 hour);
      // more writes; then everything into one run.
      const byWriter = await Effect.runPromise(
        Effect.gen(function*() {
          yield* applyToShale(gcWorkload({ writes: 1000, seed: 32, keySpace: 400, memtableEvery: 300 }), model)
          return yield* Db.use((db) => db.createCheckpoint({ scope: "all", name: "gc-interop", lifetimeMs: 3_600_000 }))
        }).pipe(Effect.provide(shaleAt(dir, DB)))
      )
      const atWriter = snapshotModel(model)
      await shaleWrites(dir, gcWorkload({ writes: 600, seed: 33, keySpace: 400, memtableEvery: 200 }), model)
      await shaleFullCompaction(dir)
      const checkpoints = [detached.id, byWriter.id]
      await dropCompactorCheckpoints(dir, checkpoints)
      const before = objectsOnDisk(dir, DB)

      const garbage = await slateDbCollects(dir, before)
      expectOnlyGarbageDeleted(dir, before, garbage)
      // The SSTs written after the last checkpoint and compacted away went; what the checkpoints pin
      // stayed, though the latest manifest no longer lists it (SSTs) or replays it (WAL SSTs).
      expect(garbage.compacted.length).toBeGreaterThanOrEqual(2)
      expect(garbage.manifest.length).toBeGreaterThanOrEqual(5)
      const latest = latestAt(dir, DB).manifest
      expect(latest.checkpoints.map((c) => c.id).sort()).toEqual([...checkpoints].sort())
      expect(latest.checkpoints.find((c) => c.id === byWriter.id)?.name).toBe("gc-interop")
      const pinned = [detached.manifestId, byWriter.manifestId].map((id) => manifestAt(dir, DB, id))
      for (const m of pinned) expect(sstsOf(m).some((id) => sstsOf(latest).includes(id))).toBe(false)
      expect(walRangeOf(pinned[0]!).every((id) => id < latest.replayAfterWalId)).toBe(true)
      expect(onDisk(dir, DB, {
        manifest: [detached.manifestId, byWriter.manifestId],
        wal: pinned.flatMap(walRangeOf),
        compacted: pinned.flatMap(sstsOf),
        compactions: []
      }).missing).toEqual(empty)

      const keys = keysOf(model, atDetached)
      for (const [id, manifestId, then] of [[detached.id, detached.manifestId, atDetached], [byWriter.id, byWriter.manifestId, atWriter]] as const) {
        await expectBothReadAt(dir, { id, manifestId }, then, keys)
        expect(then.visible()).not.toEqual(model.visible())
      }
      await expectBothRead(dir, model)
    } finally {
      cleanup()
    }
  }, 60_000)

  it("the 15-minute checkpoint in each manifest version Shale's compactor writes pins the version it replaced through SlateDB's collector: SlateDB's DbReader and Shale's view at it read the model of then", async () => {
    const { dir, cleanup } = tempDir("shale-interop-gc3c-")
    try {
      const model = new Model()
      await shaleWrites(dir, gcWorkload({ writes: 1200, seed: 35, keySpace: 400, memtableEvery: 300 }), model)
      const checkpointsBefore = latestAt(dir, DB).manifest.checkpoints.map((c) => c.id)
      const manifestsBefore = objectsOnDisk(dir, DB).manifest
      await shaleFullCompaction(dir)
      const atCompaction = snapshotModel(model)
      // After the compaction: overwrites and deletes, so the model of then differs from the final one.
      await shaleWrites(dir, gcWorkload({ writes: 600, seed: 36, keySpace: 400, memtableEvery: 200 }), model)
      const byCompactor = latestAt(dir, DB).manifest.checkpoints.filter((c) => !checkpointsBefore.includes(c.id))
      expect(byCompactor.length).toBeGreaterThanOrEqual(1)
      for (const c of byCompactor) {
        expect(c.expireTimeS! - c.createTimeS).toBe(900)
        // The version the compaction's own version replaced (one version per compaction, no checkpoint-only one).
        expect(objectsOnDisk(dir, DB).manifest).toContain(c.manifestId + 1)
        expect(manifestAt(dir, DB, c.manifestId + 1).checkpoints.map((x) => x.id)).toContain(c.id)
        expect(manifestAt(dir, DB, c.manifestId).checkpoints.map((x) => x.id)).not.toContain(c.id)
      }
      // The first compaction's pinned version (the compactor's epoch claim) lists the writer's L0 SSTs.
      const first = byCompactor[0]!
      const writers = manifestAt(dir, DB, Math.max(...manifestsBefore))
      expect(writers.l0.length).toBeGreaterThanOrEqual(3)
      expect(manifestAt(dir, DB, first.manifestId).l0).toEqual(writers.l0)
      const before = objectsOnDisk(dir, DB)

      const garbage = await slateDbCollects(dir, before)
      expectOnlyGarbageDeleted(dir, before, garbage)
      expect(garbage.manifest.length).toBeGreaterThanOrEqual(3)
      const latest = latestAt(dir, DB).manifest
      const pinned = byCompactor.map((c) => manifestAt(dir, DB, c.manifestId))
      // What the pinned versions list is on disk, though the latest no longer lists the compacted inputs.
      expect(sstsOf(pinned[0]!).some((id) => sstsOf(latest).includes(id))).toBe(false)
      expect(onDisk(dir, DB, {
        manifest: byCompactor.map((c) => c.manifestId),
        wal: pinned.flatMap(walRangeOf),
        compacted: pinned.flatMap(sstsOf),
        compactions: []
      }).missing).toEqual(empty)

      const keys = keysOf(model, atCompaction)
      for (const c of byCompactor) await expectBothReadAt(dir, c, atCompaction, keys)
      expect(atCompaction.visible()).not.toEqual(model.visible())
      await expectBothRead(dir, model)
    } finally {
      cleanup()
    }
  }, 60_000)

  it("SlateDB's DbReader on a Shale database keeps its state through Shale's compaction and runGcOnce; once it closes, the next pass collects it", async () => {
    const { dir, cleanup } = tempDir("shale-interop-gc3b-")
    try {
      const model = new Model()
      await shaleWrites(dir, gcWorkload({ writes: 1200, seed: 41, keySpace: 400, memtableEvery: 300 }), model)
      const whenOpened = snapshotModel(model)
      const checkpointsBefore = latestAt(dir, DB).manifest.checkpoints.map((c) => c.id)
      const reader = await openSlateReader(dir, DB)
      try {
        const readerCheckpoint = latestAt(dir, DB).manifest.checkpoints.find((c) => !checkpointsBefore.includes(c.id))!
        expect(readerCheckpoint).toBeDefined()
        const pinned = manifestAt(dir, DB, readerCheckpoint.manifestId)
        expect(pinned.l0.length).toBeGreaterThanOrEqual(3)

        // Shale's writer (beside the reader) overwrites and deletes, then its compactor compacts everything.
        await shaleWrites(dir, gcWorkload({ writes: 1200, seed: 42, keySpace: 400, memtableEvery: 300 }), model)
        await shaleFullCompaction(dir)
        await dropCompactorCheckpoints(dir, [readerCheckpoint.id])
        const before = objectsOnDisk(dir, DB)
        const pass = await onStore(dir, runGcOnce(DB, GC_NOW))
        expect(pass.errors).toEqual([])
        const garbage = collectable(dir, DB, before)
        expect(deletedSince(dir, DB, before)).toEqual(garbage)
        expect(garbage.compacted.length).toBeGreaterThanOrEqual(3)
        expectNeededPresent(dir)
        const latest = latestAt(dir, DB).manifest
        expect(latest.checkpoints.map((c) => c.id)).toContain(readerCheckpoint.id)
        expect(sstsOf(pinned).some((id) => sstsOf(latest).includes(id))).toBe(false)
        expect(onDisk(dir, DB, { manifest: [readerCheckpoint.manifestId], wal: [], compacted: sstsOf(pinned), compactions: [] }).missing)
          .toEqual(empty)

        // The reader still reads the state it opened on, all of it.
        const keys = keysOf(model, whenOpened)
        expect(await readerReads(reader.reader, keys)).toEqual(valuesOf(expectedReads(whenOpened, keys)))
        await reader.close()

        // Its checkpoint went with it; the next pass collects what only the checkpoint held.
        expect(latestAt(dir, DB).manifest.checkpoints.map((c) => c.id)).not.toContain(readerCheckpoint.id)
        const before2 = objectsOnDisk(dir, DB)
        const pass2 = await onStore(dir, runGcOnce(DB, GC_NOW))
        expect(pass2.errors).toEqual([])
        const garbage2 = collectable(dir, DB, before2)
        expect(deletedSince(dir, DB, before2)).toEqual(garbage2)
        expect(garbage2.compacted).toEqual(expect.arrayContaining(sstsOf(pinned)))
        expect(garbage2.manifest).toContain(readerCheckpoint.manifestId)
        expectNeededPresent(dir)
      } finally {
        await reader.close()
      }
      await expectBothRead(dir, model)
    } finally {
      cleanup()
    }
  }, 60_000)
})
