/**
 * Compaction across implementations: Shale's compactor (`Compactor.layer`, a compactor process of its own)
 * and the official SlateDB 0.12.1's (`@slatedb/uniffi`, embedded in its writer) work on one database in a
 * local directory both open (root "db"), in turns and at the same time.
 *
 * Every write phase overwrites keys, deletes keys and writes TTL rows, some expiring at once, and makes its
 * L0 SSTs through the writer's size trigger (a small `l0_sst_size_bytes` / `l0SstSizeBytes`). After each
 * step both engines read every key and a full scan, which must match the model and each other; the
 * manifests must show what the compactors did (L0 SSTs and sorted runs before and after, compactor epochs
 * claimed in turn), and a run that a full compaction wrote must hold exactly the newest live value of each
 * flushed key (expired values turned into tombstones, tombstones dropped from the last run).
 *
 * Reads do not filter expired rows in 0.12.1 (nor in Shale): only a flush or a compaction removes them, so
 * the model says which expired rows are certainly gone (`Expected` in compactionSupport.ts). SlateDB's
 * descending scan is not checked: it returns deleted keys over a multi-SST sorted run (a SlateDB bug, see
 * `ReadAll`); Shale's is.
 *
 * What the binding cannot drive: SlateDB's standalone compactor and its `Admin` (manual compaction
 * submissions) are not in `@slatedb/uniffi`; only a `Db` with its embedded compactor (the
 * `compactor_options` settings) runs SlateDB's compactor. That compactor lives inside a writer, and a
 * second writer fences the first, so SlateDB's compactor never runs beside a Shale writer: where Shale
 * writes and SlateDB compacts, they take turns.
 *
 * The manifests and compactions files either compactor writes, byte for byte: CompactionBytes.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { Db } from "../../src/db/Db.ts"
import { CompactionStatus } from "../../src/manifest/CompactionsCodec.ts"
import { type EngineOp } from "../support/slatedb.ts"
import {
  expectedLastRunPuts,
  idsOnDisk,
  l0SstsEverWritten,
  latestCompactionsOnDisk,
  runStatsOnDisk,
  slateDbReadAll,
  shaleCompactorLayer,
  sstIdsOf,
  ttlWorkload,
  withShaleCompactor
} from "./compactionSupport.ts"
import {
  applyToShale,
  applyToSlateDb,
  Model,
  openSlateDb,
  shaleDb,
  tempDir
} from "./support.ts"
import {
  awaitSlateDbCompacted,
  completedUnderEpoch,
  expectBothRead,
  expectMixedModel,
  expectReads,
  manifest,
  MAX_SOURCES,
  MIN_SOURCES,
  shaleCompactor,
  shaleSmallL0,
  shape,
  slateCompactor,
  slateSmallL0
} from "./compactionCases.ts"

// ---- the tests --------------------------------------------------------------------------------------------

describe("compaction between Shale and SlateDB 0.12.1", () => {
  it("SlateDB writes many L0 SSTs; Shale's compactor merges them into runs, then (full) into one run; both read the model", async () => {
    const { dir, cleanup } = tempDir("shale-interop-cmp1-")
    try {
      const model = new Model()
      const slate = await openSlateDb(dir, { settings: slateSmallL0 })
      await applyToSlateDb(slate.db, ttlWorkload({ writes: 3000, seed: 1, keySpace: 700 }), model)
      await slate.close()

      const before = manifest(dir)
      expect(before.l0.length).toBeGreaterThanOrEqual(2 * MAX_SOURCES)
      expect(before.compacted).toEqual([])
      expect(before.compactorEpoch).toBe(0)
      expect(idsOnDisk(dir, "compactions")).toEqual([])

      const outcome = await Effect.runPromise(
        withShaleCompactor(dir, shaleCompactor, (c) =>
          Effect.gen(function*() {
            yield* c.awaitIdle
            const scheduled = { status: yield* c.status, manifest: manifest(dir) }
            const fullId = yield* c.submit("full")
            yield* c.awaitIdle
            return { scheduled, fullId, full: { status: yield* c.status, manifest: manifest(dir) } }
          }))
      )

      // The scheduler's compactions: the oldest L0 SSTs (at most 8 at a time) into sorted runs.
      const scheduled = outcome.scheduled.manifest
      expect(outcome.scheduled.status.epoch).toBe(1)
      expect(scheduled.compactorEpoch).toBe(1)
      expect(outcome.scheduled.status.completed).toBeGreaterThanOrEqual(1)
      expect(outcome.scheduled.status.failed).toBe(0)
      expect(scheduled.compacted.length).toBeGreaterThanOrEqual(2)
      expect(scheduled.l0.length).toBeLessThan(MIN_SOURCES)
      // What stays in L0 are the newest of SlateDB's L0 SSTs, unchanged.
      expect(scheduled.l0.map((s) => s.id)).toEqual(before.l0.slice(0, scheduled.l0.length).map((s) => s.id))
      const beforeIds = new Set(sstIdsOf(before))
      expect(scheduled.compacted.flatMap((r) => r.ssts).every((s) => !beforeIds.has(s.id))).toBe(true)

      // The full compaction: everything into one run of several SSTs (16 KiB of data each at most).
      const full = outcome.full.manifest
      expect(outcome.full.status.completed).toBe(outcome.scheduled.status.completed + 1)
      expect(outcome.full.status.failed).toBe(0)
      expect(full.l0).toEqual([])
      expect(full.compacted.length).toBe(1)
      expect(full.compacted[0]!.ssts.length).toBeGreaterThanOrEqual(2)
      expect(full.compactorEpoch).toBe(1)
      const file = latestCompactionsOnDisk(dir)!.file
      expect(file.compactorEpoch).toBe(1)
      const recorded = file.recentCompactions.find((c) => c.id === outcome.fullId)!
      expect(recorded.status).toBe(CompactionStatus.Completed)
      expect(recorded.outputSsts.map((s) => s.id)).toEqual(full.compacted[0]!.ssts.map((s) => s.id))

      // The last run holds the newest version of each key flushed, if a value that has not expired: the
      // compaction turned expired values into tombstones and dropped every tombstone.
      expect(runStatsOnDisk(dir, full.compacted[0]!)).toEqual({ puts: expectedLastRunPuts(model, full), deletes: 0 })
      expectMixedModel(model, full)
      await expectBothRead(dir, model, full, true)
    } finally {
      cleanup()
    }
  }, 60_000)

  it("Shale writes many L0 SSTs; SlateDB's embedded compactor compacts them; Shale's compactor takes over; both read the model", async () => {
    const { dir, cleanup } = tempDir("shale-interop-cmp2-")
    try {
      const model = new Model()
      await Effect.runPromise(
        applyToShale(ttlWorkload({ writes: 3000, seed: 2, keySpace: 700 }), model).pipe(Effect.provide(shaleDb(dir, shaleSmallL0)))
      )
      const before = manifest(dir)
      expect(before.l0.length).toBeGreaterThanOrEqual(MAX_SOURCES)
      expect(before.compacted).toEqual([])
      expect(before.compactorEpoch).toBe(0)

      // SlateDB opens as writer with its compactor, which compacts Shale's L0 SSTs without any write.
      const slate = await openSlateDb(dir, { compactor: true, settings: { ...slateSmallL0, ...slateCompactor } })
      let compacted: boolean
      try {
        compacted = await awaitSlateDbCompacted(dir, 0)
      } finally {
        await slate.close()
      }
      expect(compacted).toBe(true)
      const bySlateDb = manifest(dir)
      expect(bySlateDb.compactorEpoch).toBe(1)
      expect(bySlateDb.compacted.length).toBeGreaterThanOrEqual(1)
      expect(bySlateDb.l0.length).toBeLessThan(MIN_SOURCES)
      expect(completedUnderEpoch(dir, 1).size).toBeGreaterThanOrEqual(1)
      const shaleL0 = new Set(before.l0.map((s) => s.id))
      expect(bySlateDb.compacted.flatMap((r) => r.ssts).some((s) => shaleL0.has(s.id))).toBe(false)

      // L0 SSTs no compaction read yet may still hold expired TTL rows: those read either way.
      await expectBothRead(dir, model, bySlateDb, false)

      // Shale's compactor takes its turn: a newer compactor epoch, then everything into one run.
      const outcome = await Effect.runPromise(
        withShaleCompactor(dir, shaleCompactor, (c) =>
          Effect.gen(function*() {
            const epoch = (yield* c.status).epoch
            // First whatever SlateDB's compactor left Running (resumed) and what the scheduler proposes.
            yield* c.awaitIdle
            yield* c.submit("full")
            yield* c.awaitIdle
            return { epoch, status: yield* c.status }
          }))
      )
      expect(outcome.epoch).toBe(2)
      expect(outcome.status.completed).toBeGreaterThanOrEqual(1)
      expect(outcome.status.failed).toBe(0)
      const byShale = manifest(dir)
      expect(byShale.compactorEpoch).toBe(2)
      expect(byShale.l0).toEqual([])
      expect(byShale.compacted.length).toBe(1)
      const slateSsts = new Set(sstIdsOf(bySlateDb))
      expect(byShale.compacted[0]!.ssts.some((s) => slateSsts.has(s.id))).toBe(false)
      expect(runStatsOnDisk(dir, byShale.compacted[0]!)).toEqual({ puts: expectedLastRunPuts(model, byShale), deletes: 0 })

      expectMixedModel(model, byShale)
      await expectBothRead(dir, model, byShale, true)
    } finally {
      cleanup()
    }
  }, 60_000)

  it("SlateDB writes while Shale's compactor compacts beside it (real clock), past l0_max_ssts L0 SSTs in all; both read the model", async () => {
    const { dir, cleanup } = tempDir("shale-interop-cmp3-")
    try {
      const model = new Model()
      // SlateDB's default l0_max_ssts (8): while L0 holds 8 SSTs its memtable flushes wait (and so does the
      // memtable flush ending each round), until a compactor makes room; Shale's is the only one.
      const slate = await openSlateDb(dir, { settings: { ...slateSmallL0, l0_max_ssts: 8 } })
      try {
        await applyToSlateDb(slate.db, ttlWorkload({ writes: 200, seed: 30, keySpace: 800 }), model)
        const observed = { maxL0: 0, runsWhileWriting: 0 }
        const outcome = await Effect.runPromise(
          withShaleCompactor(dir, shaleCompactor, (c) =>
            Effect.gen(function*() {
              yield* Effect.promise(async () => {
                // Six rounds at least, and on until a sorted run of Shale's shows up while SlateDB writes.
                for (let round = 0; round < 6 || (observed.runsWhileWriting === 0 && round < 40); round++) {
                  await applyToSlateDb(slate.db, ttlWorkload({ writes: 1000, seed: 31 + round, keySpace: 800 }), model)
                  const m = manifest(dir)
                  observed.maxL0 = Math.max(observed.maxL0, m.l0.length)
                  observed.runsWhileWriting = Math.max(observed.runsWhileWriting, m.compacted.length)
                  await new Promise((r) => setTimeout(r, 20))
                }
                await slate.db.flush_with_options({ flush_type: "MemTable" })
              })
              const whileWriting = yield* c.status
              // The last L0 SSTs, then everything into one run, while SlateDB still has the database open.
              yield* c.awaitIdle
              yield* c.submit("full")
              yield* c.awaitIdle
              const status = yield* c.status
              const m = manifest(dir)
              // SlateDB's writer, still open, reads through the runs Shale wrote (it polls the manifest).
              const reads = yield* Effect.promise(async () => {
                await new Promise((r) => setTimeout(r, 300))
                return await slateDbReadAll(slate.db, model.keys())
              })
              return { whileWriting, status, manifest: m, reads }
            }))
        )
        expectMixedModel(model, outcome.manifest)
        expect(outcome.whileWriting.epoch).toBe(1)
        // Shale compacted while SlateDB wrote, several times.
        expect(observed.runsWhileWriting).toBeGreaterThanOrEqual(1)
        expect(outcome.whileWriting.completed).toBeGreaterThanOrEqual(2)
        expect(outcome.status.failed).toBe(0)
        // SlateDB flushed more L0 SSTs than its l0_max_ssts (8): Shale's compactions let its flushes through.
        expect(l0SstsEverWritten(dir)).toBeGreaterThan(8)
        expect(observed.maxL0).toBeLessThanOrEqual(8 + MAX_SOURCES)
        expect(outcome.manifest.compacted.length).toBe(1)
        expect(runStatsOnDisk(dir, outcome.manifest.compacted[0]!))
          .toEqual({ puts: expectedLastRunPuts(model, outcome.manifest), deletes: 0 })
        expectReads(outcome.reads, model, outcome.manifest, true)
        await slate.close()
        // SlateDB's last manifest keeps Shale's run (its writer merged the compactor's work, not overwrote it).
        const last = manifest(dir)
        expect(last.compactorEpoch).toBe(1)
        expect(last.compacted).toEqual(outcome.manifest.compacted)
        await expectBothRead(dir, model, outcome.manifest, true)
      } finally {
        await slate.close({ lenient: true }).catch(() => undefined)
      }
    } finally {
      cleanup()
    }
  }, 60_000)

  it("turns: Shale writes; SlateDB writes and compacts; Shale writes while its compactor compacts; twice; epochs increase", async () => {
    const { dir, cleanup } = tempDir("shale-interop-cmp4-")
    try {
      const model = new Model()
      const work = (seed: number): Array<EngineOp> => ttlWorkload({ writes: 1500, seed, keySpace: 900 })
      await Effect.runPromise(applyToShale(work(40), model).pipe(Effect.provide(shaleDb(dir, shaleSmallL0))))
      const epochs: Array<number> = [manifest(dir).compactorEpoch]
      const shapes: Array<ReturnType<typeof shape>> = [shape(manifest(dir))]
      for (let turn = 0; turn < 2; turn++) {
        // SlateDB's turn: writer plus embedded compactor.
        const slate = await openSlateDb(dir, { compactor: true, settings: { ...slateSmallL0, ...slateCompactor } })
        let compacted: boolean
        try {
          await applyToSlateDb(slate.db, work(41 + 2 * turn), model)
          await slate.db.flush_with_options({ flush_type: "MemTable" })
          compacted = await awaitSlateDbCompacted(dir, epochs[epochs.length - 1]!)
        } finally {
          await slate.close()
        }
        expect(compacted).toBe(true)
        const slateEpoch = manifest(dir).compactorEpoch
        expect(completedUnderEpoch(dir, slateEpoch).size).toBeGreaterThanOrEqual(1)
        epochs.push(slateEpoch)
        shapes.push(shape(manifest(dir)))

        // Shale's turn: its writer (no compactor) and its standalone compactor at once.
        const outcome = await Effect.runPromise(
          Effect.gen(function*() {
            const c = yield* Compactor
            const db = yield* Db
            yield* applyToShale(work(42 + 2 * turn), model)
            yield* db.flush({ type: "memtable" })
            yield* c.awaitIdle
            return { status: yield* c.status, db: yield* db.status }
          }).pipe(
            Effect.provide(Layer.mergeAll(shaleDb(dir, { ...shaleSmallL0, l0MaxSsts: 8 }), shaleCompactorLayer(dir, shaleCompactor)))
          )
        )
        expect(outcome.status.completed).toBeGreaterThanOrEqual(1)
        expect(outcome.status.failed).toBe(0)
        expect(outcome.status.l0Ssts).toBeLessThan(MIN_SOURCES)
        epochs.push(outcome.status.epoch)
        shapes.push(shape(manifest(dir)))
        expect(manifest(dir).compactorEpoch).toBe(outcome.status.epoch)
        // L0 SSTs no compaction read yet may still hold expired TTL rows: those read either way.
        await expectBothRead(dir, model, manifest(dir), false)
      }
      // Each compactor claimed the next epoch: SlateDB 1, Shale 2, SlateDB 3, Shale 4.
      expect(epochs).toEqual([0, 1, 2, 3, 4])
      for (const s of shapes.slice(1)) {
        expect(s.runs).toBeGreaterThanOrEqual(1)
        expect(s.l0).toBeLessThan(MIN_SOURCES)
      }
      // Last, Shale's compactor (epoch 5) merges the runs both compactors left into one.
      const last = await Effect.runPromise(
        withShaleCompactor(dir, shaleCompactor, (c) =>
          Effect.gen(function*() {
            yield* c.awaitIdle
            yield* c.submit("full")
            yield* c.awaitIdle
            return yield* c.status
          }))
      )
      expect(last.epoch).toBe(5)
      expect(last.failed).toBe(0)
      const full = manifest(dir)
      expect(shape(full)).toEqual({ l0: 0, runs: 1, compactorEpoch: 5 })
      expect(runStatsOnDisk(dir, full.compacted[0]!)).toEqual({ puts: expectedLastRunPuts(model, full), deletes: 0 })
      expectMixedModel(model, full)
      await expectBothRead(dir, model, full, true)
    } finally {
      cleanup()
    }
  }, 90_000)
})
