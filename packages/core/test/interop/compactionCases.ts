/**
 * What the compaction interop tests share (Compaction.test.ts, CompactionBytes.test.ts): both engines'
 * settings for small L0 SSTs and prompt compactors, and the checks of what the database holds after a step.
 */
import { expect } from "@effect/vitest"
import { CompactionStatus } from "../../src/manifest/CompactionsCodec.ts"
import type { Manifest } from "../../src/manifest/Manifest.ts"
import type { CompactorSettings, SettingsInput } from "../../src/Settings.ts"
import {
  compactionsOnDisk,
  idsOnDisk,
  modelMix,
  type ReadAll,
  readAllWithShale,
  readAllWithSlateDb,
  readProblems
} from "./compactionSupport.ts"
import {
  latestManifestOnDisk,
  Model,
  waitUntil
} from "./support.ts"

// ---- settings ---------------------------------------------------------------------------------------------

export const MIN_SOURCES = 4
export const MAX_SOURCES = 8
export const L0_SST_BYTES = 24 * 1024
export const MAX_SST_BYTES = 16 * 1024

/** SlateDB: small L0 SSTs; L0 may grow past the default 8 SSTs (no compactor runs while it writes). */
export const slateSmallL0 = { min_filter_keys: 10, l0_sst_size_bytes: L0_SST_BYTES, l0_max_ssts: 64 }

/** SlateDB's embedded compactor, compacting promptly (scheduler options are strings in SlateDB). */
export const slateCompactor = {
  "compactor_options.poll_interval": "100ms",
  "compactor_options.max_sst_size": MAX_SST_BYTES,
  "compactor_options.scheduler_options.min_compaction_sources": String(MIN_SOURCES),
  "compactor_options.scheduler_options.max_compaction_sources": String(MAX_SOURCES)
}

/** Shale's writer without a compactor, small L0 SSTs. */
export const shaleSmallL0: SettingsInput = { compactor: null, minFilterKeys: 10, l0SstSizeBytes: L0_SST_BYTES, l0MaxSsts: 64 }

/** Shale's standalone compactor. */
export const shaleCompactor: Partial<CompactorSettings> = {
  pollIntervalMs: 100,
  maxSstSizeBytes: MAX_SST_BYTES,
  minCompactionSources: MIN_SOURCES,
  maxCompactionSources: MAX_SOURCES
}

// ---- helpers ----------------------------------------------------------------------------------------------

export const manifest = (dir: string): Manifest => latestManifestOnDisk(dir)!

export const shape = (m: Manifest) => ({ l0: m.l0.length, runs: m.compacted.length, compactorEpoch: m.compactorEpoch })

/**
 * Reads match the model in the database whose latest manifest is `m` (`exact`: right after a full
 * compaction, so every expired TTL row is gone; see `Expected` in compactionSupport.ts).
 */
export const expectReads = (actual: ReadAll, model: Model, m: Manifest, exact: boolean): void =>
  expect(readProblems(actual, model, m, exact)).toEqual([])

/**
 * SlateDB, then Shale, open the database and read every key and the full scans (Shale both, SlateDB the
 * ascending one): as the model says, and alike.
 */
export const expectBothRead = async (dir: string, model: Model, m: Manifest, exact: boolean): Promise<void> => {
  const slate = await readAllWithSlateDb(dir, model.keys())
  expectReads(slate, model, m, exact)
  const shale = await readAllWithShale(dir, model.keys())
  expectReads(shale, model, m, exact)
  expect({ ...shale, desc: undefined }).toEqual(slate)
}

/** The workload's newest rows are of every kind the test is about (expired ones gone when `m` is exact). */
export const expectMixedModel = (model: Model, m: Manifest): void => {
  const mix = modelMix(model, m)
  expect(mix.values).toBeGreaterThan(100)
  expect(mix.deleted).toBeGreaterThan(10)
  expect(mix.expired).toBeGreaterThan(10)
  expect(mix.liveTtl).toBeGreaterThan(10)
  expect(mix.overwritten).toBeGreaterThan(100)
}

/** Waits until SlateDB's embedded compactor has brought L0 under the scheduler's minimum with sorted runs. */
export const awaitSlateDbCompacted = (dir: string, epochAbove: number) =>
  waitUntil(() => {
    const m = latestManifestOnDisk(dir)
    return m !== undefined && m.compactorEpoch > epochAbove && m.compacted.length > 0 && m.l0.length < MIN_SOURCES
  }, 40_000)

/** Compactions recorded Completed in the compactions files with the given compactor epoch. */
export const completedUnderEpoch = (dir: string, epoch: number): Set<string> => {
  const out = new Set<string>()
  for (const id of idsOnDisk(dir, "compactions")) {
    const file = compactionsOnDisk(dir, id)
    if (file.compactorEpoch !== epoch) continue
    for (const c of file.recentCompactions) if (c.status === CompactionStatus.Completed) out.add(c.id)
  }
  return out
}
