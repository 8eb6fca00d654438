/**
 * Databases written by Shale, opened by the official SlateDB 0.12.1 (`@slatedb/uniffi`): SlateDB must read
 * every key and both full scans as Shale wrote them (values and sequence numbers). Then SlateDB writes on
 * top and Shale reads the result, so the database survives a round trip between the implementations.
 *
 * Shale writes several L0 SSTs (explicit memtable flushes) and leaves rows only in the WAL (written after
 * the last L0 flush; `close` flushes the WAL but not the memtable, as SlateDB), with tombstones, TTL rows,
 * batches and values larger than a block. Bloom filters are on for small SSTs (`minFilterKeys: 10`), so
 * SlateDB's point reads go through filters Shale built.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { SettingsInput } from "../../src/Settings.ts"
import { flushWal, mixedWorkload } from "../support/slatedb.ts"
import {
  applyToShale,
  applyToSlateDb,
  expectedGets,
  latestManifestOnDisk,
  Model,
  openSlateDb,
  readRowOf,
  shaleDb,
  shaleGets,
  shaleScan,
  slateDbGets,
  slateDbScan,
  tempDir,
  walIdsOnDisk
} from "./support.ts"

describe.each<{ readonly name: string; readonly settings: SettingsInput }>([
  { name: "uncompressed, 4 KiB blocks", settings: { minFilterKeys: 10 } },
  { name: "lz4, 1 KiB blocks", settings: { minFilterKeys: 10, compression: "lz4", blockSize: 1024 } }
])("Shale writes, SlateDB reads ($name)", ({ settings }) => {
  it("SlateDB reads every key and full scans (asc, desc) as written; then Shale reads what SlateDB added", async () => {
    const { dir, cleanup } = tempDir("shale-interop-s2o-")
    try {
      const model = new Model()
      // No timed WAL flush: WAL SST boundaries are the workload's explicit flushes (and the one at close).
      const shaleSettings: SettingsInput = { ...settings, flushIntervalMs: null }
      const ops = mixedWorkload({ writes: 4000, seed: 11, memtableEvery: 900, walEvery: 200 })
      await Effect.runPromise(applyToShale(ops, model).pipe(Effect.provide(shaleDb(dir, shaleSettings))))

      const manifest = latestManifestOnDisk(dir)!
      expect(manifest.l0.length).toBeGreaterThanOrEqual(4)
      expect(walIdsOnDisk(dir).filter((id) => id > manifest.replayAfterWalId).length).toBeGreaterThanOrEqual(2)

      expect(model.visible().length).toBeGreaterThan(1000)
      expect(model.keys().length).toBeGreaterThan(model.visible().length) // some keys are deleted

      const slate = await openSlateDb(dir)
      const slateGets = await slateDbGets(slate.db, model.keys())
      const slateAsc = await slateDbScan(slate.db, "asc")
      const slateDesc = await slateDbScan(slate.db, "desc")
      expect(slateGets).toEqual(expectedGets(model))
      expect(slateAsc).toEqual(model.visible().map(readRowOf))
      expect(slateDesc).toEqual([...slateAsc].reverse())

      // SlateDB writes on top (overwrites, deletes, new keys), flushes one L0 SST, leaves some rows in the WAL.
      await applyToSlateDb(
        slate.db,
        [
          ...mixedWorkload({ writes: 1500, seed: 12, memtableEvery: 1000, walEvery: 300 }),
          flushWal()
        ],
        model
      )
      const slateGets2 = await slateDbGets(slate.db, model.keys())
      const slateAsc2 = await slateDbScan(slate.db, "asc")
      await slate.close()
      expect(slateGets2).toEqual(expectedGets(model))

      const [gets, asc, desc] = await Effect.runPromise(
        Effect.all([shaleGets(model.keys()), shaleScan("asc"), shaleScan("desc")]).pipe(
          Effect.provide(shaleDb(dir, shaleSettings))
        )
      )
      expect(gets).toEqual(slateGets2)
      expect(asc).toEqual(slateAsc2)
      expect(desc).toEqual([...slateAsc2].reverse())
    } finally {
      cleanup()
    }
  }, 120_000)
})
