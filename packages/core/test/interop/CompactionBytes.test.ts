/**
 * The bytes of compaction across implementations: the manifests and compactions files SlateDB 0.12.1's
 * embedded compactor (`@slatedb/uniffi`) writes decode in Shale and re-encode byte for byte; so do those
 * Shale's compactor writes after it (`Compactor.layer`, a full compaction); SlateDB then opens Shale's
 * manifest, its compactor claims the next epoch from Shale's compactions file and carries Shale's last
 * finished compaction over, and both engines read the model. The workload and what the binding cannot
 * drive: Compaction.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { CompactionStatus } from "../../src/manifest/CompactionsCodec.ts"
import {
  compactionsOnDisk,
  expectedLastRunPuts,
  idsOnDisk,
  latestCompactionsOnDisk,
  newIds,
  type ReadAll,
  roundTripProblems,
  runStatsOnDisk,
  slateDbReadAll,
  ttlWorkload,
  withShaleCompactor
} from "./compactionSupport.ts"
import {
  applyToShale,
  applyToSlateDb,
  Model,
  openSlateDb,
  shaleDb,
  tempDir,
  waitUntil
} from "./support.ts"
import {
  awaitSlateDbCompacted,
  expectBothRead,
  expectMixedModel,
  expectReads,
  manifest,
  MIN_SOURCES,
  shaleCompactor,
  shaleSmallL0,
  slateCompactor,
  slateSmallL0
} from "./compactionCases.ts"

describe("compaction bytes between Shale and SlateDB 0.12.1", () => {
  it("bytes: manifests and compactions files of either compactor re-encode byte for byte in Shale; SlateDB opens Shale's", async () => {
    const { dir, cleanup } = tempDir("shale-interop-cmp5-")
    try {
      const model = new Model()
      // SlateDB writes and its embedded compactor compacts.
      const slate = await openSlateDb(dir, { compactor: true, settings: { ...slateSmallL0, ...slateCompactor } })
      let compacted: boolean
      try {
        await applyToSlateDb(slate.db, ttlWorkload({ writes: 2500, seed: 50, keySpace: 700 }), model)
        await slate.db.flush_with_options({ flush_type: "MemTable" })
        compacted = await awaitSlateDbCompacted(dir, 0)
      } finally {
        await slate.close()
      }
      expect(compacted).toBe(true)
      const slateManifests = idsOnDisk(dir, "manifest")
      const slateCompactions = idsOnDisk(dir, "compactions")
      expect(slateCompactions.length).toBeGreaterThanOrEqual(2)
      // Among them: manifests with sorted runs and compaction checkpoints, compactions with output SSTs.
      expect(manifest(dir).compacted.length).toBeGreaterThanOrEqual(1)
      expect(manifest(dir).checkpoints.length).toBeGreaterThanOrEqual(1)
      expect(slateCompactions.some((id) => compactionsOnDisk(dir, id).recentCompactions.some((c) => c.outputSsts.length > 0)))
        .toBe(true)
      expect(roundTripProblems(dir, "manifest", slateManifests)).toEqual([])
      expect(roundTripProblems(dir, "compactions", slateCompactions)).toEqual([])

      // Shale writes more L0 SSTs (no compactor), then Shale's compactor compacts them and (full) everything.
      await Effect.runPromise(
        applyToShale(ttlWorkload({ writes: 2000, seed: 51, keySpace: 700 }), model).pipe(Effect.provide(shaleDb(dir, shaleSmallL0)))
      )
      const beforeShaleCompactor = { manifests: idsOnDisk(dir, "manifest"), compactions: idsOnDisk(dir, "compactions") }
      expect(manifest(dir).l0.length).toBeGreaterThanOrEqual(MIN_SOURCES)
      const fullId = await Effect.runPromise(
        withShaleCompactor(dir, shaleCompactor, (c) =>
          Effect.gen(function*() {
            yield* c.awaitIdle
            const id = yield* c.submit("full")
            yield* c.awaitIdle
            return id
          }))
      )
      const shaleManifests = newIds(beforeShaleCompactor.manifests, idsOnDisk(dir, "manifest"))
      const shaleCompactions = newIds(beforeShaleCompactor.compactions, idsOnDisk(dir, "compactions"))
      // The epoch claim, then a version per compaction (at least the full one); the compactions file at each step.
      expect(shaleManifests.length).toBeGreaterThanOrEqual(2)
      expect(shaleCompactions.length).toBeGreaterThanOrEqual(3)
      expect(roundTripProblems(dir, "manifest", shaleManifests)).toEqual([])
      expect(roundTripProblems(dir, "compactions", shaleCompactions)).toEqual([])

      // The latest manifest and compactions file are Shale's compactor's.
      const latestManifestId = idsOnDisk(dir, "manifest").at(-1)!
      const latestCompactions = latestCompactionsOnDisk(dir)!
      expect(shaleManifests).toContain(latestManifestId)
      expect(shaleCompactions).toContain(latestCompactions.id)
      const shaleEpoch = latestCompactions.file.compactorEpoch
      expect(manifest(dir).compactorEpoch).toBe(shaleEpoch)
      const shaleFull = manifest(dir)
      expect(shaleFull.compacted.length).toBe(1)
      expect(shaleFull.l0).toEqual([])
      expect(runStatsOnDisk(dir, shaleFull.compacted[0]!)).toEqual({ puts: expectedLastRunPuts(model, shaleFull), deletes: 0 })
      expect(latestCompactions.file.recentCompactions.find((c) => c.id === fullId)?.status).toBe(CompactionStatus.Completed)

      // SlateDB decodes both: its writer opens on Shale's manifest, its compactor on Shale's compactions file
      // (it claims the next epoch and carries Shale's last finished compaction over).
      const beforeSlate = { manifests: idsOnDisk(dir, "manifest"), compactions: idsOnDisk(dir, "compactions") }
      const again = await openSlateDb(dir, { compactor: true, settings: { ...slateSmallL0, ...slateCompactor } })
      let reads: ReadAll | undefined
      try {
        const claimed = await waitUntil(() => (latestCompactionsOnDisk(dir)?.file.compactorEpoch ?? 0) > shaleEpoch, 20_000)
        expect(claimed).toBe(true)
        reads = await slateDbReadAll(again.db, model.keys())
      } finally {
        await again.close()
      }
      expectReads(reads!, model, shaleFull, true)
      const slateFile = latestCompactionsOnDisk(dir)!.file
      expect(slateFile.compactorEpoch).toBe(shaleEpoch + 1)
      expect(slateFile.recentCompactions.map((c) => c.id)).toContain(fullId)
      expect(manifest(dir).compactorEpoch).toBe(shaleEpoch + 1)
      // And what SlateDB wrote after Shale's compactor re-encodes byte for byte too.
      expect(roundTripProblems(dir, "manifest", newIds(beforeSlate.manifests, idsOnDisk(dir, "manifest")))).toEqual([])
      expect(roundTripProblems(dir, "compactions", newIds(beforeSlate.compactions, idsOnDisk(dir, "compactions")))).toEqual([])

      expectMixedModel(model, shaleFull)
      await expectBothRead(dir, model, shaleFull, true)
    } finally {
      cleanup()
    }
  }, 60_000)
})
