/**
 * Databases written by the official SlateDB 0.12.1 (`@slatedb/uniffi`), opened by Shale: every key and
 * both full scans must read the same as in SlateDB itself (values and sequence numbers).
 *
 * The data sits in every place a reader has to look: several L0 SSTs (explicit memtable flushes), rows only
 * in the WAL (written after the last L0 flush and replayed on open), tombstones, TTL rows, batches, values
 * larger than a block; and, in the compactor test, sorted runs written by SlateDB's embedded compactor.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type EngineOp, flushMemTable, flushWal, mixedWorkload } from "../support/slatedb.ts"
import {
  applyToSlateDb,
  expectedGets,
  latestManifestOnDisk,
  Model,
  openSlateDb,
  readRowOf,
  shaleDb,
  shaleGets,
  shaleScan,
  type SlateDbOptions,
  slateDbGets,
  slateDbScan,
  tempDir,
  waitUntil,
  walIdsOnDisk
} from "./support.ts"

const neverWritten = [new TextEncoder().encode("a-key-nobody-wrote"), new TextEncoder().encode("zzz")]

/** Reads everything with Shale: `keys` one by one, then both full scans. */
const readWithShale = (dir: string, keys: ReadonlyArray<Uint8Array>) =>
  Effect.runPromise(
    Effect.all([shaleGets(keys), shaleScan("asc"), shaleScan("desc"), shaleGets(neverWritten)]).pipe(
      Effect.provide(shaleDb(dir))
    )
  )

describe.each<{ readonly name: string; readonly options: SlateDbOptions }>([
  { name: "uncompressed, 4 KiB blocks", options: { settings: { min_filter_keys: 10 } } },
  {
    name: "zstd, 1 KiB blocks",
    options: { settings: { min_filter_keys: 10, compression_codec: "Zstd" }, blockSize: "Block1Kib" }
  }
])("SlateDB writes, Shale reads ($name)", ({ options }) => {
  it("reads every key and full scans (asc, desc) as SlateDB does: L0 SSTs plus WAL-only rows", async () => {
    const { dir, cleanup } = tempDir("shale-interop-s2s-")
    try {
      const model = new Model()
      const slate = await openSlateDb(dir, options)
      // 4000 writes, an L0 flush every 900 (4 L0 SSTs), a WAL flush every 200: the last 400 writes stay in the WAL.
      const ops = mixedWorkload({ writes: 4000, seed: 7, memtableEvery: 900, walEvery: 200 })
      await applyToSlateDb(slate.db, ops, model)
      await slate.db.flush_with_options({ flush_type: "Wal" })
      const slateGets = await slateDbGets(slate.db, model.keys())
      const slateAsc = await slateDbScan(slate.db, "asc")
      const slateDesc = await slateDbScan(slate.db, "desc")
      await slate.close()

      // What is on disk: several L0 SSTs and WAL SSTs past replay_after_wal_id holding rows.
      const manifest = latestManifestOnDisk(dir)!
      expect(manifest.l0.length).toBeGreaterThanOrEqual(4)
      expect(walIdsOnDisk(dir).filter((id) => id > manifest.replayAfterWalId).length).toBeGreaterThanOrEqual(2)

      // The model agrees with SlateDB, so it is a fair yardstick for Shale.
      expect(model.visible().length).toBeGreaterThan(1000)
      expect(model.keys().length).toBeGreaterThan(model.visible().length) // some keys are deleted
      expect(slateGets).toEqual(expectedGets(model))
      expect(slateAsc).toEqual(model.visible().map(readRowOf))
      expect(slateDesc).toEqual([...slateAsc].reverse())

      const [gets, asc, desc, absent] = await readWithShale(dir, model.keys())
      expect(gets).toEqual(slateGets)
      expect(asc).toEqual(slateAsc)
      expect(desc).toEqual(slateDesc)
      expect(absent).toEqual([undefined, undefined])
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("SlateDB's compactor wrote sorted runs, Shale reads", () => {
  it("reads a database whose L0 SSTs SlateDB's embedded compactor merged into a sorted run", async () => {
    const { dir, cleanup } = tempDir("shale-interop-sr-")
    try {
      const model = new Model()
      const slate = await openSlateDb(dir, { compactor: true, settings: { min_filter_keys: 10 } })
      // Five rounds over one key space of 600 keys, each ending in an L0 flush: the compactor (4 L0 SSTs
      // at least) merges versions and tombstones of the same keys into a sorted run.
      const round = (r: number): Array<EngineOp> => [
        ...mixedWorkload({ writes: 500, seed: 100 + r, keySpace: 600, walEvery: 100, memtableEvery: 1_000_000 }),
        flushMemTable()
      ]
      for (let r = 0; r < 5; r++) await applyToSlateDb(slate.db, round(r), model)
      const compacted = await waitUntil(() => (latestManifestOnDisk(dir)?.compacted.length ?? 0) > 0, 60_000)
      expect(compacted).toBe(true)
      // Newer data on top of the sorted run: one more L0 SST, then rows only in the WAL.
      await applyToSlateDb(slate.db, round(5), model)
      await applyToSlateDb(
        slate.db,
        [...mixedWorkload({ writes: 300, seed: 200, keySpace: 600, walEvery: 100, memtableEvery: 1_000_000 }), flushWal()],
        model
      )
      const slateGets = await slateDbGets(slate.db, model.keys())
      const slateAsc = await slateDbScan(slate.db, "asc")
      const slateDesc = await slateDbScan(slate.db, "desc")
      await slate.close()

      const manifest = latestManifestOnDisk(dir)!
      expect(manifest.compacted.length).toBeGreaterThanOrEqual(1)
      expect(manifest.compacted.flatMap((run) => run.ssts).length).toBeGreaterThanOrEqual(1)
      expect(manifest.l0.length).toBeGreaterThanOrEqual(1) // the flush after compaction sits on top
      expect(model.visible().length).toBeGreaterThan(300)
      expect(slateGets).toEqual(expectedGets(model))
      expect(slateAsc).toEqual(model.visible().map(readRowOf))

      const [gets, asc, desc, absent] = await readWithShale(dir, model.keys())
      expect(gets).toEqual(slateGets)
      expect(asc).toEqual(slateAsc)
      expect(desc).toEqual(slateDesc)
      expect(absent).toEqual([undefined, undefined])
    } finally {
      cleanup()
    }
  }, 180_000)
})
