/**
 * Merge operands across implementations, both with the same concatenation operator (the binding tests'
 * `ConcatMergeOperator`): operands written by the official SlateDB (`@slatedb/uniffi@0.12.1`), some folded
 * and compacted into a sorted run by its embedded compactor, some in L0 SSTs, some only in the WAL, read
 * the same by Shale's writer, its `DbReader` and a reader without an operator (which must fail on them);
 * and the other way round: operands written by Shale (its embedded compactor folding some into a sorted
 * run) read the same by SlateDB's `Db` and its `DbReader`.
 *
 * Each test keeps a model (per key: the concatenation of the operands since the last put or delete) and
 * checks every point read and both scans against it, then both implementations against each other.
 */
import { DbReaderBuilder, ObjectStore as EngineObjectStore, Ttl as EngineTtl, WriteBatch as EngineWriteBatch } from "@slatedb/uniffi"
import { Effect, Layer, Stream } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as Shale from "../../src/api/Shale.ts"
import { Db } from "../../src/db/Db.ts"
import { WriteBatch } from "../../src/db/DbApi.ts"
import type { MergeOperator } from "../../src/iter/MergeOperator.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import { compactedDir } from "../../src/format/Paths.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { Settings } from "../../src/Settings.ts"
import {
  DB_PATH,
  dec,
  enc,
  latestManifestOnDisk,
  openSlateDb,
  type ReadRow,
  readRowOf,
  slateDbScan,
  tempDir,
  waitUntil,
  walIdsOnDisk
} from "./support.ts"

class ConcatMergeOperator implements MergeOperator {
  merge(_key: Uint8Array, existing: Uint8Array | undefined, operand: Uint8Array): Uint8Array {
    return existing === undefined ? Uint8Array.from(operand) : Buffer.concat([existing, operand])
  }
}

const KEYS = Array.from({ length: 24 }, (_, i) => `k${String(i).padStart(2, "0")}`)

type Op =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "merge"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "batch"; readonly ops: ReadonlyArray<Op> }

/**
 * Round `r`: every key gets a put, a delete, a merge, or (every fifth round) a batch of put/delete then
 * merges; from round 6 on every other key also gets a second merge (two versions per key in one memtable).
 */
const round = (r: number): Array<Op> => [
  ...KEYS.map((key, i): Op => {
    if ((r + i) % 13 === 0) return { op: "put", key, value: `B${r}` }
    if ((r + i) % 17 === 0) return { op: "delete", key }
    if (r % 5 === 4 && i % 3 === 0) {
      return {
        op: "batch",
        ops: [i % 2 === 0 ? { op: "put", key, value: `b${r}` } : { op: "delete", key }, { op: "merge", key, value: `+${r}a` }, { op: "merge", key, value: `+${r}b` }]
      }
    }
    return { op: "merge", key, value: `+${r}.${i}` }
  }),
  ...(r < 6 ? [] : KEYS.filter((_, i) => i % 2 === 0).map((key): Op => ({ op: "merge", key, value: `+${r}x` })))
]

/** Per key, what a read must return: the concatenation since the last put or delete. */
class MergeModel {
  readonly values = new Map<string, string | undefined>()
  apply(op: Op): void {
    if (op.op === "batch") for (const o of op.ops) this.apply(o)
    else if (op.op === "put") this.values.set(op.key, op.value)
    else if (op.op === "delete") this.values.set(op.key, undefined)
    else this.values.set(op.key, (this.values.get(op.key) ?? "") + op.value)
  }
  gets(): Array<string | undefined> {
    return KEYS.map((k) => this.values.get(k))
  }
  scan(): Array<[string, string]> {
    return KEYS.flatMap((k) => {
      const v = this.values.get(k)
      return v === undefined ? [] : [[k, v] as [string, string]]
    })
  }
}

interface Reads {
  readonly gets: Array<string | undefined>
  readonly asc: Array<ReadRow>
  readonly desc: Array<ReadRow>
}

const pairs = (rows: ReadonlyArray<ReadRow>) => rows.map((r) => [Buffer.from(r.key, "hex").toString(), Buffer.from(r.value, "hex").toString()])

const expectModel = (reads: Reads, model: MergeModel) => {
  expect(reads.gets).toEqual(model.gets())
  expect(pairs(reads.asc)).toEqual(model.scan())
  expect(pairs(reads.desc)).toEqual([...model.scan()].reverse())
}

// ---- SlateDB -------------------------------------------------------------------------------------------------

const slateCompactor = {
  "compactor_options.poll_interval": "100ms",
  "compactor_options.scheduler_options.min_compaction_sources": "4",
  "compactor_options.scheduler_options.max_compaction_sources": "8"
}

type EngineDb = Awaited<ReturnType<typeof openSlateDb>>["db"]

const applyToSlateDb = async (db: EngineDb, ops: ReadonlyArray<Op>): Promise<void> => {
  const w = { await_durable: false }
  const ttl = { ttl: EngineTtl.Default() }
  for (const op of ops) {
    if (op.op === "put") await db.put_with_options(enc(op.key), enc(op.value), ttl, w)
    else if (op.op === "delete") await db.delete_with_options(enc(op.key), w)
    else if (op.op === "merge") await db.merge_with_options(enc(op.key), enc(op.value), ttl, w)
    else {
      const wb = new EngineWriteBatch()
      for (const o of op.ops) {
        if (o.op === "put") wb.put(enc(o.key), enc(o.value))
        else if (o.op === "delete") wb.delete(enc(o.key))
        else if (o.op === "merge") wb.merge(enc(o.key), enc(o.value))
      }
      await db.write_with_options(wb, w)
      wb.dispose()
    }
  }
}

const slateDbReads = async (db: EngineDb): Promise<Reads> => {
  const gets: Array<string | undefined> = []
  for (const k of KEYS) gets.push(dec(await db.get(enc(k))))
  return { gets, asc: await slateDbScan(db, "asc"), desc: await slateDbScan(db, "desc") }
}

/** Reads with SlateDB's `DbReader` (with the operator): every key and the ascending scan. */
const slateDbReaderReads = async (dir: string): Promise<Omit<Reads, "desc">> => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const builder = new DbReaderBuilder(DB_PATH, store)
  builder.with_merge_operator(new ConcatMergeOperator())
  const reader = await builder.build()
  builder.dispose()
  try {
    const gets: Array<string | undefined> = []
    for (const k of KEYS) gets.push(dec(await reader.get(enc(k))))
    const it = await reader.scan({ start: undefined, start_inclusive: true, end: undefined, end_inclusive: false })
    const asc: Array<ReadRow> = []
    for (let kv = await it.next(); kv !== undefined; kv = await it.next()) asc.push(readRowOf({ key: kv.key, value: kv.value, seq: Number(kv.seq) }))
    it.dispose()
    return { gets, asc }
  } finally {
    await reader.shutdown()
    reader.dispose()
    store.dispose()
  }
}

// ---- Shale ---------------------------------------------------------------------------------------------------

const shaleLayer = (dir: string, settings: Parameters<typeof Settings.validate>[0] = {}) =>
  Db.layer({ path: DB_PATH, settings: { ...Settings.default, ...settings }, mergeOperator: new ConcatMergeOperator() }).pipe(
    Layer.provide(LocalObjectStore.layer({ root: dir }))
  )

const applyToShale = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const db = yield* Db
    const w = { awaitDurable: false } as const
    for (const op of ops) {
      if (op.op === "put") yield* db.put(enc(op.key), enc(op.value), w)
      else if (op.op === "delete") yield* db.delete(enc(op.key), w)
      else if (op.op === "merge") yield* db.merge(enc(op.key), enc(op.value), w)
      else {
        const wb = new WriteBatch()
        for (const o of op.ops) {
          if (o.op === "put") wb.put(enc(o.key), enc(o.value))
          else if (o.op === "delete") wb.delete(enc(o.key))
          else if (o.op === "merge") wb.merge(enc(o.key), enc(o.value))
        }
        yield* db.write(wb, w)
      }
    }
  })

const shaleReads = Effect.gen(function*() {
  const db = yield* Db
  const gets: Array<string | undefined> = []
  for (const k of KEYS) gets.push(dec(yield* db.get(enc(k))))
  // Again, the SSTs' blocks now cached: the synchronous path must agree with the one that read the store.
  for (let i = 0; i < KEYS.length; i++) expect(dec(yield* db.get(enc(KEYS[i]!)))).toEqual(gets[i])
  const scan = (order: "asc" | "desc") => Stream.runCollect(Stream.map(db.scan({}, { order }), readRowOf)).pipe(Effect.map((c) => Array.from(c)))
  return { gets, asc: yield* scan("asc"), desc: yield* scan("desc") } satisfies Reads
})

const shaleReaderReads = async (dir: string, mergeOperator?: MergeOperator): Promise<Reads> => {
  const reader = await Shale.openReader(DB_PATH, { store: Shale.stores.local(dir), ...(mergeOperator === undefined ? {} : { mergeOperator }) })
  try {
    const gets: Array<string | undefined> = []
    for (const k of KEYS) gets.push(dec(await reader.get(enc(k))))
    const collect = async (order: "asc" | "desc") => {
      const out: Array<ReadRow> = []
      for await (const kv of reader.scan({}, { order })) out.push(readRowOf(kv))
      return out
    }
    return { gets, asc: await collect("asc"), desc: await collect("desc") }
  } finally {
    await reader.close()
  }
}

/** The rows of an SST of `dir`/db, as (key, kind, value, seq, expiry) text: what both flushes must agree on. */
const sstRows = (dir: string, id: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const reader = yield* SsTableReader.open(`${compactedDir(DB_PATH)}/${id}.sst`)
      const rows = yield* Stream.runCollect(reader.scan())
      return Array.from(rows, (r) => `${dec(r.key)}@${r.seq}:${["V", "T", "M"][r.kind]}:${dec(r.value)}:${r.expireTs ?? "-"}`)
    }).pipe(Effect.provide(LocalObjectStore.layer({ root: dir })))
  )

/** The newest L0 SST's id right after a memtable flush. */
const newestL0 = (dir: string): string => latestManifestOnDisk(dir)!.l0[0]!.id

/** The rows of the first six L0 SSTs each side wrote (rounds 0-5: same ops, same seqs), to compare (the SlateDB test runs first). */
const slateL0Rows: Array<Array<string>> = []
const shaleL0Rows: Array<Array<string>> = []

// ---- the tests -----------------------------------------------------------------------------------------------

const dirs: Array<() => void> = []
afterEach(() => {
  for (const c of dirs.splice(0)) c()
})
const newDir = () => {
  const t = tempDir("shale-merge-interop-")
  dirs.push(t.cleanup)
  return t.dir
}

describe("merge operands across implementations", () => {
  it("operands written by SlateDB (compacted, in L0, in the WAL) read the same in Shale", async () => {
    const dir = newDir()
    const model = new MergeModel()
    slateL0Rows.length = 0
    const compacting = await openSlateDb(dir, { compactor: true, settings: slateCompactor, mergeOperator: new ConcatMergeOperator() })
    try {
      for (let r = 0; r < 6; r++) {
        const ops = round(r)
        await applyToSlateDb(compacting.db, ops)
        for (const op of ops) model.apply(op)
        await compacting.db.flush_with_options({ flush_type: "MemTable" })
        slateL0Rows.push(await sstRows(dir, newestL0(dir)))
      }
      expect(await waitUntil(() => (latestManifestOnDisk(dir)?.compacted.length ?? 0) > 0, 40_000)).toBe(true)
    } finally {
      await compacting.close()
    }
    // Reopened without its compactor, so that the L0 SSTs of rounds 6-7 stay in L0 (with one running, they
    // were sometimes compacted away with what the first compaction left: a flaky "in L0" check).
    const slate = await openSlateDb(dir, { mergeOperator: new ConcatMergeOperator() })
    let slateReads: Reads
    let snapshot: { dispose(): void } | undefined
    try {
      // A snapshot is a barrier: SlateDB's flushes leave the operands above it unmerged, so the L0 SSTs of
      // rounds 6-7 hold several versions of a key.
      snapshot = await slate.db.snapshot()
      for (let r = 6; r < 10; r++) {
        const ops = round(r)
        await applyToSlateDb(slate.db, ops)
        for (const op of ops) model.apply(op)
        await slate.db.flush_with_options({ flush_type: r < 8 ? "MemTable" : "Wal" })
      }
      slateReads = await slateDbReads(slate.db)
    } finally {
      snapshot?.dispose()
      await slate.close()
    }
    expectModel(slateReads, model)
    const m = latestManifestOnDisk(dir)!
    expect(m.compacted.length).toBeGreaterThan(0)
    expect(m.l0.length).toBeGreaterThan(0)
    expect(walIdsOnDisk(dir).filter((id) => id > m.replayAfterWalId).length).toBeGreaterThan(0)
    const l0Operands = (await sstRows(dir, m.l0[0]!.id)).filter((r) => r.startsWith("k00@"))
    expect(l0Operands.length).toBeGreaterThan(1) // unmerged versions of one key in one SST

    const readerReads = await shaleReaderReads(dir, new ConcatMergeOperator())
    expect(readerReads).toEqual(slateReads)
    await expect(shaleReaderReads(dir)).rejects.toThrow(/merge operator missing/)
    const writerReads = await Effect.runPromise(Effect.provide(shaleReads, shaleLayer(dir, { compactor: null })))
    expect(writerReads).toEqual(slateReads)
  }, 120_000)

  it("operands written by Shale (compacted, in L0, in the WAL) read the same in SlateDB", async () => {
    const dir = newDir()
    const model = new MergeModel()
    const compactor = { pollIntervalMs: 100, minCompactionSources: 4, maxCompactionSources: 8 }
    const shaleSide = Effect.gen(function*() {
      const db = yield* Db
      for (let r = 0; r < 6; r++) {
        const ops = round(r)
        yield* applyToShale(ops)
        for (const op of ops) model.apply(op)
        yield* db.flush({ type: "memtable" })
        shaleL0Rows.push(yield* Effect.promise(() => sstRows(dir, newestL0(dir))))
      }
      for (let i = 0; i < 400 && (yield* db.status).sortedRuns === 0; i++) yield* Effect.sleep(100)
      for (let r = 6; r < 10; r++) {
        const ops = round(r)
        yield* applyToShale(ops)
        for (const op of ops) model.apply(op)
        yield* db.flush({ type: r < 8 ? "memtable" : "wal" })
      }
      return yield* shaleReads
    })
    const shale = await Effect.runPromise(Effect.provide(shaleSide, shaleLayer(dir, { compactor, garbageCollector: null })))
    expectModel(shale, model)
    const m = latestManifestOnDisk(dir)!
    expect(m.compacted.length).toBeGreaterThan(0)
    expect(m.l0.length).toBeGreaterThan(0)
    expect(walIdsOnDisk(dir).filter((id) => id > m.replayAfterWalId).length).toBeGreaterThan(0)

    // Same ops, same seqs: each L0 flush wrote the same rows (operands folded alike, kinds, expiry) as SlateDB's.
    expect(shaleL0Rows).toHaveLength(6)
    expect(shaleL0Rows).toEqual(slateL0Rows)
    expect(shaleL0Rows.flat().some((r) => r.includes(":M:"))).toBe(true)
    const reader = await slateDbReaderReads(dir)
    expect(reader).toEqual({ gets: shale.gets, asc: shale.asc })
    const slate = await openSlateDb(dir, { mergeOperator: new ConcatMergeOperator() })
    try {
      expect(await slateDbReads(slate.db)).toEqual(shale)
    } finally {
      await slate.close()
    }
  }, 120_000)
})
