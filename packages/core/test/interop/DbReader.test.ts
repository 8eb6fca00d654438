/**
 * `DbReader` across implementations, on a local directory both engines open (database root "db"), on real
 * time:
 * - Shale's `DbReader` (`Shale.openReader`) follows the official SlateDB 0.12.1 writer (`@slatedb/uniffi`)
 *   while it writes, flushes L0 SSTs, compacts with its embedded compactor and collects WAL SSTs and
 *   compacted SSTs at minimum age 0: after each phase made durable it converges to the writer's contents
 *   (point reads with seqs, scans both ways), it replaces its checkpoint as L0 and the sorted runs change
 *   (SlateDB's writer and compactor keep it), and closing removes it.
 * - SlateDB's `DbReader` (the binding's `DbReaderBuilder`, polling every 100 ms) follows Shale's writer
 *   while it writes, flushes and compacts: it converges to the model after each phase, re-establishes its
 *   checkpoint on a version with Shale's sorted run (Shale's writer and compactor keep it), and removes it
 *   when it shuts down.
 *
 * The readers' own checkpoints are told from the compactors' (15 minutes) by their lifetime (45 s here).
 */
import {
  type DbReader as EngineDbReader,
  DbReaderBuilder,
  ObjectStore as EngineObjectStore
} from "@slatedb/uniffi"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Db } from "../../src/db/Db.ts"
import { Shale } from "../../src/db/Shale.ts"
import { openReader, type ShaleDbReader } from "../../src/db/ShaleReader.ts"
import type { Checkpoint } from "../../src/manifest/Manifest.ts"
import type { EngineOp } from "../support/slatedb.ts"
import {
  expectedReads,
  gcWorkload,
  latestAt,
  manifestAt,
  openSlateAt,
  type Reads,
  readerReads,
  storeOf,
  valuesOf
} from "./gcSupport.ts"
import { applyToShale, applyToSlateDb, Model, readRowOf, type ReadRow, sleep, tempDir } from "./support.ts"

const DB = "db"
const LIFETIME_MS = 45_000
const POLL_MS = 100

/** The checkpoints of the latest manifest a reader made (lifetime under 10 minutes: not a compactor's). */
const readerCheckpoints = (dir: string): Array<Checkpoint> =>
  latestAt(dir, DB).manifest.checkpoints.filter((c) => c.expireTimeS !== undefined && c.expireTimeS - c.createTimeS < 600)

/** `ops` cut into `n` phases of about the same length. */
const phases = (ops: ReadonlyArray<EngineOp>, n: number): Array<Array<EngineOp>> => {
  const size = Math.ceil(ops.length / n)
  return Array.from({ length: n }, (_, i) => ops.slice(i * size, (i + 1) * size))
}

/** Polls `read` until it equals `expected` (up to 20 s); returns the last reading. */
const converges = async <A>(read: () => Promise<A>, expected: A): Promise<A> => {
  let last = await read()
  for (let i = 0; i < 200 && JSON.stringify(last) !== JSON.stringify(expected); i++) {
    await sleep(POLL_MS)
    last = await read()
  }
  return last
}

/** Point reads (with seqs) of `keys` and both scans through Shale's reader; the descending one reversed must match. */
const shaleReaderReads = async (reader: ShaleDbReader, keys: ReadonlyArray<Uint8Array>): Promise<Reads> => {
  const gets: Array<ReadRow | undefined> = []
  for (const k of keys) {
    const kv = await reader.getKeyValue(k)
    gets.push(kv === undefined ? undefined : readRowOf(kv))
  }
  const asc: Array<ReadRow> = []
  for await (const kv of reader.scan({})) asc.push(readRowOf(kv))
  const desc: Array<ReadRow> = []
  for await (const kv of reader.scan({}, { order: "desc" })) desc.push(readRowOf(kv))
  expect(desc.reverse()).toEqual(asc)
  return { gets, asc }
}

/** SlateDB's `DbReader` on `dir`/`path` polling every 100 ms with a 45 s checkpoint. */
const openSlateDbReader = async (dir: string, path: string) => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const builder = new DbReaderBuilder(path, store)
  builder.with_options({
    manifest_poll_interval_ms: POLL_MS,
    checkpoint_lifetime_ms: LIFETIME_MS,
    max_memtable_bytes: 64 * 1024 * 1024,
    skip_wal_replay: false
  })
  let reader: EngineDbReader
  try {
    reader = await builder.build()
  } catch (e) {
    store.dispose()
    throw e
  } finally {
    builder.dispose()
  }
  return {
    reader,
    close: async () => {
      try {
        await reader.shutdown()
      } finally {
        reader.dispose()
        store.dispose()
      }
    }
  }
}

describe("DbReader between Shale and SlateDB 0.12.1", () => {
  it("Shale's DbReader follows SlateDB's writer (writes, L0 flushes, its compactor and collector) and converges to its contents", async () => {
    const { dir, cleanup } = tempDir("shale-interop-reader1-")
    // SlateDB's collector: WAL and compacted SSTs at age 0; manifests after a minute (see DbReader.test.ts).
    const now = { interval: "100ms", min_age: "0s" }
    const gc = { manifest_options: { interval: "100ms", min_age: "60s" }, wal_options: now, compacted_options: now, compactions_options: now }
    const slate = await openSlateAt(dir, DB, { compactor: true, gc })
    try {
      const model = new Model()
      const reader = await openReader(DB, { store: storeOf(dir), options: { manifestPollIntervalMs: POLL_MS, checkpointLifetimeMs: LIFETIME_MS } })
      const ids = new Set<string>()
      try {
        for (const phase of phases(gcWorkload({ writes: 1600, seed: 71, keySpace: 300, memtableEvery: 150 }), 4)) {
          await applyToSlateDb(slate.db, phase, model)
          await slate.db.flush_with_options({ flush_type: "Wal" })
          const keys = model.keys()
          const expected = expectedReads(model, keys)
          expect(await converges(() => shaleReaderReads(reader, keys), expected)).toEqual(expected)
          const status = await reader.status()
          ids.add(status.checkpointId)
          expect(status.pollErrors).toBe(0)
        }
        // SlateDB's compactor made sorted runs; the reader reads a version with them, under one checkpoint.
        const keys = model.keys()
        const expected = expectedReads(model, keys)
        let st = await reader.status()
        for (let i = 0; i < 200 && manifestAt(dir, DB, st.manifestId).compacted.length === 0; i++) {
          await sleep(POLL_MS)
          st = await reader.status()
        }
        expect(manifestAt(dir, DB, st.manifestId).compacted.length).toBeGreaterThan(0)
        expect(await shaleReaderReads(reader, keys)).toEqual(expected)
        expect(st.checkpointsReplaced).toBeGreaterThan(0)
        expect(st.pollErrors).toBe(0)
        const mine = readerCheckpoints(dir)
        expect(mine.map((c) => c.id)).toEqual([reader.checkpointId])
        expect(mine[0]!.manifestId).toBe(reader.manifestId)
      } finally {
        await reader.close()
      }
      expect(readerCheckpoints(dir)).toEqual([])
    } finally {
      await slate.close()
      cleanup()
    }
  }, 90_000)

  it("SlateDB's DbReader follows Shale's writer (writes, L0 flushes, its compactor) and converges to its contents", async () => {
    const { dir, cleanup } = tempDir("shale-interop-reader2-")
    try {
      const settings = { compactor: { pollIntervalMs: POLL_MS }, garbageCollector: null } as const
      await using db = await Shale.open(DB, { store: storeOf(dir), settings })
      const model = new Model()
      await Effect.runPromise(applyToShale(gcWorkload({ writes: 200, seed: 81, keySpace: 300, memtableEvery: 100 }), model).pipe(
        Effect.provideService(Db, db.service)
      ))
      const slate = await openSlateDbReader(dir, DB)
      try {
        const opened = readerCheckpoints(dir)
        expect(opened.length).toBe(1)
        for (const phase of phases(gcWorkload({ writes: 1400, seed: 82, keySpace: 300, memtableEvery: 150 }), 4)) {
          await Effect.runPromise(applyToShale(phase, model).pipe(Effect.provideService(Db, db.service)))
          await db.flush({ type: "wal" })
          const keys = model.keys()
          const expected = valuesOf(expectedReads(model, keys))
          expect(await converges(() => readerReads(slate.reader, keys), expected)).toEqual(expected)
        }
        // Shale's compactor made a sorted run; SlateDB's reader moved its checkpoint to a version with one.
        let mine = readerCheckpoints(dir)
        for (let i = 0; i < 200 && (mine.length !== 1 || manifestAt(dir, DB, mine[0]!.manifestId).compacted.length === 0); i++) {
          await sleep(POLL_MS)
          mine = readerCheckpoints(dir)
        }
        expect(mine.length).toBe(1)
        expect(mine[0]!.id).not.toBe(opened[0]!.id)
        expect(manifestAt(dir, DB, mine[0]!.manifestId).compacted.length).toBeGreaterThan(0)
        expect((await db.status()).sortedRuns).toBeGreaterThan(0)
        const keys = model.keys()
        expect(await readerReads(slate.reader, keys)).toEqual(valuesOf(expectedReads(model, keys)))
      } finally {
        await slate.close()
      }
      // Its checkpoint went with it; Shale's writer goes on (it merged every version the reader wrote).
      expect(readerCheckpoints(dir)).toEqual([])
      await db.put(new Uint8Array([1]), new Uint8Array([2]))
      expect((await db.status()).closeReason).toBeUndefined()
    } finally {
      cleanup()
    }
  }, 90_000)
})
