/**
 * Interop with the official engine (@slatedb/uniffi 0.12.1): decode every manifest and compactions file it
 * writes (and re-encode them byte-for-byte), and have it open databases whose manifests Shale encoded.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { decodeSsTableInfo } from "../../src/format/SstMetadataCodec.ts"
import {
  compactedSstPath,
  manifestPath,
  parseCompactionsId,
  parseManifestId,
  parseWalSstId
} from "../../src/format/Paths.ts"
import { decodeCompactions, encodeCompactions } from "../../src/manifest/CompactionsCodec.ts"
import { type CompactedSst, Manifest } from "../../src/manifest/Manifest.ts"
import { decodeManifest, encodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { flushMemTable, put, scanWithEngine, writeEngineDb } from "../support/slatedb.ts"
import {
  enc,
  flushMemtable,
  getString,
  makeTempStore,
  openWriter,
  readWithReader,
  type TempStore,
  waitFor,
  writeBatch
} from "./engine.ts"

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex")

const manifests = (e: TempStore): Array<{ readonly id: number; readonly bytes: Uint8Array; readonly m: Manifest }> =>
  e.list("manifest").map((p) => {
    const bytes = e.read(p)
    return { id: parseManifestId(p)!, bytes, m: decodeManifest(bytes) }
  })

const latest = (e: TempStore) => {
  const all = manifests(e)
  return all[all.length - 1]!
}

/** The info section of an SST file, decoded (per its footer). */
const sstInfoOnDisk = (e: TempStore, id: string) => {
  const bytes = e.read(compactedSstPath(e.dbPath, id))
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return decodeSsTableInfo(bytes.subarray(Number(dv.getBigUint64(bytes.length - 10)), bytes.length - 14))
}

const key = (r: number, i: number) => `key${r}-${i}`

describe("manifests and compactions files written by SlateDB 0.12.1", () => {
  let e: TempStore
  let compacted = false

  beforeAll(async () => {
    e = makeTempStore()
    const { db, close } = await openWriter(e)
    for (let r = 0; r < 5; r++) {
      const batch: Array<[string, string | null]> = []
      for (let i = 0; i < 10; i++) batch.push([key(r, i), `value${r}-${i}`])
      await writeBatch(db, batch)
      await flushMemtable(db)
    }
    // Four L0 SSTs trigger the embedded compactor (L0 → sorted run 0); a reader adds a checkpoint.
    compacted = await waitFor(() => manifests(e).some(({ m }) => m.compacted.length > 0), 20_000)
    expect(await readWithReader(e, [key(0, 1)])).toEqual(["value0-1"])
    await writeBatch(db, [[key(9, 9), "late"], [key(0, 0), null]])
    await close()
    // A second writer session: claims writer epoch 2.
    const second = await openWriter(e)
    await writeBatch(second.db, [["after-reopen", "yes"]])
    await second.close()
  }, 90_000)

  afterAll(() => e?.cleanup())

  it("every manifest decodes and re-encodes byte-for-byte", () => {
    const all = manifests(e)
    expect(all.length).toBeGreaterThan(8)
    expect(all.map((x) => x.id)).toEqual(all.map((_, i) => i + 1))
    for (const { bytes, m } of all) expect(hex(encodeManifest(m))).toBe(hex(bytes))
  })

  it("the first manifest is the initial manifest; writer epochs only grow", () => {
    const all = manifests(e)
    expect(all[0]!.m).toEqual(Manifest.initial())
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.m.writerEpoch).toBeGreaterThanOrEqual(all[i - 1]!.m.writerEpoch)
      expect(all[i]!.m.compactorEpoch).toBeGreaterThanOrEqual(all[i - 1]!.m.compactorEpoch)
      expect(all[i]!.m.lastL0Seq).toBeGreaterThanOrEqual(all[i - 1]!.m.lastL0Seq)
      expect(all[i]!.m.replayAfterWalId).toBeGreaterThanOrEqual(all[i - 1]!.m.replayAfterWalId)
      expect(all[i]!.m.lastL0ClockTick).toBeGreaterThanOrEqual(all[i - 1]!.m.lastL0ClockTick)
    }
    expect(all[1]!.m.writerEpoch).toBe(1)
    expect(all[all.length - 1]!.m.writerEpoch).toBe(2)
  })

  it("L0 entries match the SST files' info sections; newest first", () => {
    let sawL0 = false
    for (const { m } of manifests(e)) {
      for (const sst of Manifest.ssts(m)) {
        expect(sst.formatVersion).toBe(2)
        expect(sst.info).toEqual(sstInfoOnDisk(e, sst.id))
      }
      const ids = m.l0.map((s) => s.id)
      expect(ids).toEqual([...ids].sort().reverse()) // ULIDs are time-ordered
      if (m.l0.length > 0) sawL0 = true
    }
    expect(sawL0).toBe(true)
  })

  it("L0 flush watermarks: last_l0_seq and replay_after_wal_id", () => {
    const flushes = manifests(e).filter(({ m }, i, all) => i > 0 && m.l0.length > all[i - 1]!.m.l0.length)
    // One write batch (one seq) per round, flushed each round: last_l0_seq counts the rounds.
    expect(flushes.slice(0, 4).map(({ m }) => m.lastL0Seq)).toEqual([1, 2, 3, 4])
    for (const { m } of flushes) {
      expect(m.replayAfterWalId).toBeGreaterThan(0)
      expect(m.replayAfterWalId).toBeLessThan(m.nextWalSstId)
      expect(m.lastL0ClockTick).toBeGreaterThan(1_600_000_000_000)
      expect(m.sequenceTracker.seqs.length).toBeGreaterThan(0)
      expect(m.recentSnapshotMinSeq).toBeLessThanOrEqual(m.lastL0Seq)
    }
  })

  it("next WAL id is consistent with the WAL files present", () => {
    const walIds = e.list("wal").map((p) => parseWalSstId(p)!)
    expect(walIds).toEqual(walIds.map((_, i) => i + 1))
    const maxWal = walIds[walIds.length - 1]!
    for (const { m } of manifests(e)) expect(m.nextWalSstId - 1).toBeLessThanOrEqual(maxWal)
    // Closing persists next_wal_sst_id: the last manifest points just past the last WAL.
    expect(latest(e).m.nextWalSstId).toBe(maxWal + 1)
  })

  it("compaction: a sorted run replaces L0, l0_last_compacted is the newest compacted L0 SST", () => {
    expect(compacted).toBe(true)
    const all = manifests(e)
    const i = all.findIndex(({ m }) => m.compacted.length > 0)
    const before = all[i - 1]!.m
    const after = all[i]!.m
    expect(after.compacted.map((r) => r.id)).toEqual([0])
    expect(after.l0LastCompacted).toBe(before.l0[0]!.id)
    expect(after.l0.every((s) => s.id > after.l0LastCompacted!)).toBe(true)
    const run = after.compacted[0]!.ssts
    expect(new TextDecoder().decode(run[0]!.info.firstEntry)).toBe(key(0, 0))
  })

  it("checkpoints (the compactor's and the reader's) carry a v4 UUID, the pinned manifest id and times", () => {
    const firstSeen = new Map<string, number>()
    const lifetimes = new Set<number>()
    for (const { id, m } of manifests(e)) {
      for (const cp of m.checkpoints) {
        if (firstSeen.has(cp.id)) continue
        firstSeen.set(cp.id, id)
        expect(cp.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        expect(cp.manifestId).toBe(id) // a checkpoint pins the manifest that adds it
        expect(cp.name).toBeUndefined()
        lifetimes.add(cp.expireTimeS! - cp.createTimeS)
      }
    }
    expect(firstSeen.size).toBeGreaterThanOrEqual(1)
    expect(lifetimes.has(600)).toBe(true) // DbReader's default 10-minute checkpoint
    for (const l of lifetimes) expect([600, 900]).toContain(l) // 900: the compactor's 15-minute checkpoint
  })

  it("every compactions file decodes and re-encodes byte-for-byte; statuses progress", () => {
    const files = e.list("compactions")
    expect(files.map((p) => parseCompactionsId(p))).toEqual(files.map((_, i) => i + 1))
    const statuses = new Map<string, Array<number>>()
    for (const p of files) {
      const bytes = e.read(p)
      const c = decodeCompactions(bytes)
      expect(hex(encodeCompactions(c))).toBe(hex(bytes))
      for (const x of c.recentCompactions) statuses.set(x.id, [...(statuses.get(x.id) ?? []), x.status])
    }
    expect(decodeCompactions(e.read(files[0]!)).compactorEpoch).toBe(0)
    const progress = [...statuses.values()][0]!
    expect(progress[0]).toBe(0) // Submitted
    expect(progress).toContain(2) // Completed
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!)
  })
})

describe("the engine opens databases whose manifest Shale encoded", () => {
  let e: TempStore

  /** Every key/value the engine's reader sees. */
  const scan = async (): Promise<Record<string, string>> =>
    Object.fromEntries((await scanWithEngine(e.dir, e.dbPath)).map((kv) => [new TextDecoder().decode(kv.key), new TextDecoder().decode(kv.value)]))

  beforeAll(async () => {
    e = makeTempStore()
    const db = await writeEngineDb(
      [put("a-1", "A1"), put("a-2", "A2"), put("a-3", "A3"), flushMemTable(), put("b-1", "B1"), put("b-2", "B2"), put("b-3", "B3"), flushMemTable(), put("c-1", "C1")],
      { dir: e.dir, dbPath: e.dbPath }
    )
    expect(db.listObjects("compacted").length).toBe(2) // "c-1" stays in the WAL
  }, 60_000)

  afterAll(() => e?.cleanup())

  it("re-encoded latest manifest with a bumped writer epoch: the engine reads every key, then writes on", async () => {
    const { id, m } = latest(e)
    const ours = Manifest.withWriterEpoch(m, m.writerEpoch + 1)
    e.write(manifestPath(e.dbPath, id + 1), encodeManifest(ours))
    const { db, close } = await openWriter(e)
    expect(await getString(db, "a-2")).toBe("A2")
    expect(await getString(db, "b-3")).toBe("B3")
    expect(await getString(db, "c-1")).toBe("C1")
    await writeBatch(db, [["d-1", "D1"]])
    await close()
    const next = manifests(e).find((x) => x.id === id + 2)!.m
    expect(next.writerEpoch).toBe(ours.writerEpoch + 1)
    expect(next.l0).toEqual(ours.l0)
    expect(await scan()).toEqual({ "a-1": "A1", "a-2": "A2", "a-3": "A3", "b-1": "B1", "b-2": "B2", "b-3": "B3", "c-1": "C1", "d-1": "D1" })
  }, 60_000)

  it("a manifest built by Shale (L0 SSTs moved into a sorted run, a named checkpoint) is read by the engine", async () => {
    const { id, m } = latest(e)
    expect(m.l0.length).toBe(2)
    const byFirstKey = [...m.l0].sort((x, y) => Buffer.compare(Buffer.from(x.info.firstEntry!), Buffer.from(y.info.firstEntry!)))
    const checkpointId = "3f2b8c1e-9a47-4d2b-8e6f-1c0a5b7d9e21"
    const ours: Manifest = {
      ...Manifest.withWriterEpoch(m, m.writerEpoch + 1),
      l0: [],
      l0LastCompacted: m.l0[0]!.id,
      compacted: [{ id: 0, ssts: byFirstKey }],
      checkpoints: [...m.checkpoints, { id: checkpointId, manifestId: id + 1, createTimeS: 1_700_000_000, name: "shale" }]
    }
    e.write(manifestPath(e.dbPath, id + 1), encodeManifest(ours))
    // A reader pinned to our checkpoint (manifest id + 1) sees the sorted run.
    expect(await readWithReader(e, ["a-1", "b-2", "c-1", "zz"], checkpointId)).toEqual(["A1", "B2", "C1", undefined])
    const { db, close } = await openWriter(e)
    expect(await getString(db, "a-3")).toBe("A3")
    expect(await getString(db, "b-1")).toBe("B1")
    await close()
    const after = latest(e).m
    expect(after.compacted).toEqual(ours.compacted)
    expect(after.checkpoints.some((c) => c.id === checkpointId && c.name === "shale")).toBe(true)
  }, 60_000)

  it("visible ranges written by Shale are honoured by the engine's reads", async () => {
    const { id, m } = latest(e)
    const run = m.compacted[0]!.ssts
    const bSst = run.find((s) => new TextDecoder().decode(s.info.firstEntry) === "b-1")!
    const restricted: CompactedSst = {
      ...bSst,
      visibleRange: { start: { kind: "Included", key: enc("b-2") }, end: { kind: "Excluded", key: enc("b-3") } }
    }
    const ours: Manifest = {
      ...Manifest.withWriterEpoch(m, m.writerEpoch + 1),
      compacted: [{ id: 0, ssts: run.map((s) => (s === bSst ? restricted : s)) }]
    }
    e.write(manifestPath(e.dbPath, id + 1), encodeManifest(ours))
    const { db, close } = await openWriter(e)
    expect(await getString(db, "a-1")).toBe("A1")
    expect(await getString(db, "b-2")).toBe("B2")
    expect(await getString(db, "b-1")).toBeUndefined()
    expect(await getString(db, "b-3")).toBeUndefined()
    await close()
    expect(latest(e).m.compacted[0]!.ssts.find((s) => s.id === bSst.id)!.visibleRange).toEqual(restricted.visibleRange)
    // (Point reads honour the range. The 0.12.1 engine's DbReader *scan* still returns b-1 and b-3 from
    // this SST: an engine quirk, not a format question, so it is not asserted here.)
  }, 60_000)

  it("the engine enforces wal_object_store_uri read from a Shale manifest", async () => {
    const { id, m } = latest(e)
    e.write(manifestPath(e.dbPath, id + 1), encodeManifest({ ...m, walObjectStoreUri: "" }))
    await expect(openWriter(e)).rejects.toThrow(/wal/i)
  }, 60_000)
})

describe("a brand-new database from Shale's initial manifest", () => {
  it("the engine opens it, writes and reads", async () => {
    const e = makeTempStore("fresh/db")
    try {
      e.write(manifestPath("fresh/db", 1), encodeManifest(Manifest.initial()))
      await writeEngineDb([put("k", "v")], { dir: e.dir, dbPath: e.dbPath })
      expect((await scanWithEngine(e.dir, e.dbPath)).map((kv) => new TextDecoder().decode(kv.value))).toEqual(["v"])
      const all = manifests(e)
      expect(all[0]!.m).toEqual(Manifest.initial())
      expect(all[1]!.m.writerEpoch).toBe(1)
      expect(e.list("wal").length).toBeGreaterThan(0)
    } finally {
      e.cleanup()
    }
  }, 60_000)
})
