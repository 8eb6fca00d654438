/**
 * `recent_snapshot_min_seq` across engines: Shale writes it while a snapshot is open (the snapshot's seq),
 * and SlateDB 0.12.1's compactor keeps the versions it pins. Shale writes four L0 SSTs, each with a new
 * version of one key, with a snapshot open from the first flush on (or none: the control); then SlateDB
 * opens the database with its embedded compactor (the binding has no standalone one), which compacts the
 * four into a sorted run using the manifest Shale left. With the snapshot every version above its seq and
 * the newest at or below it survive; without it, only the newest.
 *
 * (The other direction needs a SlateDB snapshot held while SlateDB flushes; the binding has `snapshot()`,
 * but SlateDB's compactor would then be the one to act on it, not Shale's: Shale's compactor reads the same
 * field, `CompactionJob.ts`.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { Db } from "../../src/db/Db.ts"
import { RowKind } from "../../src/format/RowEntry.ts"
import type { Manifest } from "../../src/manifest/Manifest.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { TableStore } from "../../src/sst/TableStore.ts"
import { DB_PATH, dec, enc, latestManifestOnDisk, openSlateDb, shaleDb, tempDir, waitUntil } from "./support.ts"

const slateCompactor = {
  "compactor_options.poll_interval": "100ms",
  "compactor_options.scheduler_options.min_compaction_sources": "4",
  "compactor_options.scheduler_options.max_compaction_sources": "8"
}

/** Four L0 SSTs: k = v1..v4 (seqs 1..4), with a snapshot open after the first when `hold`. */
const writeWithShale = (dir: string, hold: boolean) =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const db = yield* Db
      yield* db.put(enc("k"), enc("v1"))
      yield* db.flush({ type: "memtable" })
      if (hold) expect((yield* db.snapshot()).seq).toBe(1)
      for (const v of ["v2", "v3", "v4"]) {
        yield* db.put(enc("k"), enc(v))
        yield* db.flush({ type: "memtable" })
      }
    })).pipe(Effect.provide(shaleDb(dir, { compactor: null, garbageCollector: null })))
  )

/** Every stored version of `k` in the sorted runs: `[seq, value]`. */
const versionsInRuns = (dir: string, m: Manifest) =>
  Effect.runPromise(Effect.gen(function*() {
    const tables = new TableStore(yield* ObjectStore, DB_PATH, 0)
    const out: Array<readonly [number, string | undefined]> = []
    for (const sst of m.compacted.flatMap((r) => r.ssts)) {
      const rows = yield* Stream.runCollect(tables.scan(m, sst, { start: enc("k"), end: enc("k"), endInclusive: true }))
      for (const row of rows) out.push([row.seq, row.kind === RowKind.Tombstone ? undefined : dec(row.value)])
    }
    return out
  }).pipe(Effect.provide(Layer.orDie(LocalObjectStore.layer({ root: dir })))))

const compactWithSlateDb = async (dir: string): Promise<Manifest> => {
  const slate = await openSlateDb(dir, { compactor: true, settings: slateCompactor })
  try {
    const done = await waitUntil(() => {
      const m = latestManifestOnDisk(dir)
      return m !== undefined && m.l0.length === 0 && m.compacted.length === 1
    }, 30_000)
    expect(done).toBe(true)
  } finally {
    await slate.close()
  }
  return latestManifestOnDisk(dir)!
}

describe("recent_snapshot_min_seq: Shale writes it, SlateDB's compactor honours it", () => {
  it("a Shale snapshot's versions survive a SlateDB compaction; without one only the newest does", async () => {
    for (const hold of [true, false]) {
      const { dir, cleanup } = tempDir("shale-snapshot-interop-")
      try {
        await writeWithShale(dir, hold)
        const before = latestManifestOnDisk(dir)!
        expect(before.l0.length).toBe(4)
        expect(before.recentSnapshotMinSeq).toBe(hold ? 1 : 4)
        const after = await compactWithSlateDb(dir)
        expect(await versionsInRuns(dir, after)).toEqual(
          hold ? [[4, "v4"], [3, "v3"], [2, "v2"], [1, "v1"]] : [[4, "v4"]]
        )
      } finally {
        cleanup()
      }
    }
  }, 90_000)
})
