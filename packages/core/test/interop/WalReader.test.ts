/**
 * Shale's `WalReader` against SlateDB 0.12.1's own (`@slatedb/uniffi`), on the same local directory:
 *
 * - SlateDB writes WALs (puts, TTL puts, deletes, batches, values larger than a block, merge operands),
 *   and Shale's reader lists the same ids (whole and in ranges) and reads exactly the rows SlateDB's reader
 *   reads (kinds, keys, values, seqs, timestamps) and the same metadata (size, last-modified, location);
 * - Shale writes WALs (and a WAL SST of merge operands from its encoder), and SlateDB's reader reads what
 *   Shale's reads;
 * - a missing file is a `Data` error in both.
 */
import {
  DbBuilder,
  ErrorData,
  type MergeOperator,
  ObjectStore as EngineObjectStore,
  Ttl as EngineTtl,
  type WalFile as EngineWalFile,
  WalReader as EngineWalReader
} from "@slatedb/uniffi"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { openWalReader, type ShaleWalReader } from "../../src/db/ShaleWalReader.ts"
import { DataError } from "../../src/errors.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { makeMerge, makeValue } from "../../src/format/RowEntry.ts"
import { buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { WalRow } from "../../src/wal/WalReader.ts"
import {
  buildEngineDb,
  engineSettings,
  type EngineWalRow,
  mixedWorkload,
  readWalWithEngine,
  writeEngineDb,
  type WrittenRow
} from "../support/slatedb.ts"
import { applyToShale, DB_PATH, enc, Model, shaleDb, tempDir } from "./support.ts"

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
})
const newDir = () => {
  const { dir, cleanup } = tempDir("shale-interop-walreader-")
  cleanups.push(cleanup)
  return dir
}

const KIND = { value: "Value", tombstone: "Tombstone", merge: "Merge" } as const
const toNumber = (v: bigint | number): number => Number(v)

/** A Shale row in the shape `readWalWithEngine` reports. */
const asEngineRow = (r: WalRow): EngineWalRow => ({
  kind: KIND[r.kind],
  key: r.key,
  value: r.value,
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})

/** A row as written (test/support/slatedb.ts) in the shape the WAL readers report. */
const writtenAsWalRow = (r: WrittenRow): EngineWalRow => ({
  kind: r.kind === "value" ? "Value" : "Tombstone",
  key: r.key,
  value: r.kind === "value" ? r.value : undefined,
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})

/** Values as hex, so that a mismatch prints readably and `toEqual` compares bytes, not array types. */
const hex = (rows: ReadonlyArray<EngineWalRow>) =>
  rows.map((r) => ({
    ...r,
    key: Buffer.from(r.key).toString("hex"),
    value: r.value === undefined ? undefined : Buffer.from(r.value).toString("hex")
  }))

/** Every WAL file with its rows, read by Shale's reader (Promise form over the local-directory store). */
const readWithShale = async (wal: ShaleWalReader) => {
  const out: Array<{ id: number; rows: Array<EngineWalRow> }> = []
  for (const f of await wal.list()) {
    const rows: Array<EngineWalRow> = []
    for await (const r of f.rows()) rows.push(asEngineRow(r))
    out.push({ id: f.id, rows })
  }
  return out
}

const shaleReader = (dir: string) => openWalReader(DB_PATH, { store: LocalObjectStore.layer({ root: dir }) })

/** SlateDB's reader on `dir`/db, disposed (with its store) by `close`. */
const engineReader = (dir: string) => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const reader = new EngineWalReader(DB_PATH, store)
  const ids = async (start?: number, end?: number) => {
    const files = await reader.list(start, end)
    const out = files.map((f) => toNumber(f.id()))
    for (const f of files) f.dispose()
    return out
  }
  const withFile = async <A>(id: number, f: (file: EngineWalFile) => Promise<A>): Promise<A> => {
    const file = reader.get(id)
    try {
      return await f(file)
    } finally {
      file.dispose()
    }
  }
  const metadata = (id: number) =>
    withFile(id, async (file) => {
      const m = await file.metadata()
      return {
        sizeBytes: toNumber(m.size_bytes),
        lastModified: toNumber(m.last_modified_seconds) * 1000 + Math.floor(m.last_modified_nanos / 1e6),
        location: m.location
      }
    })
  const next = (id: number) =>
    withFile(id, async (file) => {
      const n = file.next_file()
      const out = { nextId: toNumber(file.next_id()), nextFileId: toNumber(n.id()) }
      n.dispose()
      return out
    })
  const iteratorError = (id: number) => withFile(id, (file) => file.iterator().then(() => undefined, (e: unknown) => e))
  const metadataError = (id: number) => withFile(id, (file) => file.metadata().then(() => undefined, (e: unknown) => e))
  return {
    ids,
    metadata,
    next,
    iteratorError,
    metadataError,
    close: () => {
      reader.dispose()
      store.dispose()
    }
  }
}

/** Both readers agree on `dir`: listings (whole and ranged), rows, metadata, next ids, missing files. */
const expectReadersAgree = async (dir: string) => {
  const engineRows = await readWalWithEngine(dir, DB_PATH)
  const engine = engineReader(dir)
  const wal = await shaleReader(dir)
  try {
    const shaleRows = await readWithShale(wal)
    expect(shaleRows.map((f) => f.id)).toEqual(engineRows.map((f) => f.id))
    expect(shaleRows.map((f) => ({ id: f.id, rows: hex(f.rows) }))).toEqual(
      engineRows.map((f) => ({ id: f.id, rows: hex(f.rows) }))
    )
    const ids = engineRows.map((f) => f.id)
    const [first, second, last] = [ids[0]!, ids[1]!, ids[ids.length - 1]!]
    const mid = ids[Math.floor(ids.length / 2)]!
    for (const [start, end] of [[undefined, undefined], [second, undefined], [undefined, mid], [second, mid], [mid, mid], [mid, second], [first, last], [last + 1, undefined], [0, 1]] as const) {
      const shaleIds = (await wal.list({ start, end })).map((f) => f.id)
      expect(shaleIds, `list(${start}, ${end})`).toEqual(await engine.ids(start, end))
    }
    for (const id of ids) {
      const file = wal.get(id)
      expect(await file.metadata()).toEqual(await engine.metadata(id))
      expect({ nextId: file.nextId, nextFileId: file.nextFile().id }).toEqual(await engine.next(id))
    }
    // A file that does not exist: a Data error in both, from metadata and from reading rows.
    const missing = last + 1000
    expect(await engine.metadataError(missing)).toBeInstanceOf(ErrorData)
    expect(await engine.iteratorError(missing)).toBeInstanceOf(ErrorData)
    expect(await wal.get(missing).metadata().catch((e: unknown) => e)).toBeInstanceOf(DataError)
    const readMissing = async () => {
      for await (const _ of wal.get(missing).rows()) return
    }
    expect(await readMissing().catch((e: unknown) => e)).toBeInstanceOf(DataError)
    return shaleRows
  } finally {
    engine.close()
    await wal.close()
  }
}

/** Concatenates merge operands (what the engine needs to accept merges). */
const concat: MergeOperator = {
  merge: (_key, existing, operand) => {
    const out = new Uint8Array((existing?.length ?? 0) + operand.length)
    if (existing !== undefined) out.set(existing)
    out.set(operand, existing?.length ?? 0)
    return out
  }
}

describe("WalReader: SlateDB writes, Shale's reader reads what SlateDB's reads", () => {
  it("puts, TTL puts, deletes, batches and values larger than a block, over many WAL files", async () => {
    const ops = mixedWorkload({ writes: 700, seed: 11, walEvery: 60, memtableEvery: 300 })
    const written = await writeEngineDb(ops, { dir: newDir(), blockSize: "Block1Kib" })
    const rows = await expectReadersAgree(written.dir)
    expect(rows.length).toBeGreaterThanOrEqual(10)
    // What both read is what was written, in write order.
    expect(hex(rows.flatMap((f) => f.rows))).toEqual(hex(written.rows.map(writtenAsWalRow)))
    const kinds = new Set(rows.flatMap((f) => f.rows.map((r) => r.kind)))
    expect([...kinds].sort()).toEqual(["Tombstone", "Value"])
    expect(rows.some((f) => f.rows.some((r) => r.expireTs !== undefined))).toBe(true)
  })

  it("merge operands (with and without TTL) next to values and tombstones", async () => {
    const dir = newDir()
    const store = EngineObjectStore.resolve(`file://${dir}`)
    const settings = engineSettings()
    const builder = new DbBuilder(DB_PATH, store)
    builder.with_settings(settings)
    builder.with_merge_operator(concat)
    const db = await buildEngineDb(builder, settings, store)
    const w = { await_durable: false }
    try {
      await db.put_with_options(enc("m"), enc("base"), { ttl: EngineTtl.Default() }, w)
      await db.merge_with_options(enc("m"), enc("+1"), { ttl: EngineTtl.Default() }, w)
      await db.flush_with_options({ flush_type: "Wal" })
      await db.merge_with_options(enc("m"), enc("+2"), { ttl: EngineTtl.ExpireAfterTicks(50_000) }, w)
      await db.delete_with_options(enc("gone"), w)
      await db.merge_with_options(enc("n"), enc("only"), { ttl: EngineTtl.Default() }, w)
      await db.flush_with_options({ flush_type: "Wal" })
    } finally {
      await db.shutdown()
      db.dispose()
      store.dispose()
    }
    const rows = (await expectReadersAgree(dir)).flatMap((f) => f.rows)
    expect(rows.map((r) => [r.kind, Buffer.from(r.key).toString(), r.value && Buffer.from(r.value).toString()])).toEqual([
      ["Value", "m", "base"],
      ["Merge", "m", "+1"],
      ["Merge", "m", "+2"],
      ["Tombstone", "gone", undefined],
      ["Merge", "n", "only"]
    ])
    expect(rows[2]!.expireTs).toBe(rows[2]!.createTs! + 50_000)
  })
})

describe("WalReader: Shale writes, SlateDB's reader reads what Shale's reads", () => {
  it("puts, TTL puts, deletes and batches over many WAL files, and a WAL SST of merge operands", async () => {
    const dir = newDir()
    const model = new Model()
    const ops = mixedWorkload({ writes: 500, seed: 5, walEvery: 50, memtableEvery: 10_000 })
    await Effect.runPromise(
      applyToShale(ops, model).pipe(
        Effect.provide(shaleDb(dir, { flushIntervalMs: null, compactor: null, garbageCollector: null }))
      )
    )
    // A WAL SST from Shale's encoder with merge operands, after the last WAL the writer wrote.
    const merges = await Effect.runPromise(
      Effect.gen(function*() {
        const store = yield* ObjectStore
        const wal = yield* Effect.promise(() => shaleReader(dir))
        const files = yield* Effect.promise(() => wal.list())
        yield* Effect.promise(() => wal.close())
        const id = files[files.length - 1]!.id + 1
        const seq = model.rows[model.rows.length - 1]!.seq
        const rows = [makeMerge(enc("k"), enc("op1"), seq + 1, 77), makeMerge(enc("k"), enc("op2"), seq + 2, 78, 5000), makeValue(enc("l"), enc("v"), seq + 3, 79)]
        yield* store.put(walSstPath(DB_PATH, id), buildWalSsTable(rows).bytes)
        return rows
      }).pipe(Effect.provide(LocalObjectStore.layer({ root: dir })))
    )
    // Foreign objects under wal/ that neither reader counts as WAL files.
    mkdirSync(join(dir, DB_PATH, "wal", "sub"), { recursive: true })
    for (const name of ["README", "notes.txt", "sub/00000000000000000002.sst"]) writeFileSync(join(dir, DB_PATH, "wal", name), "x")
    const rows = await expectReadersAgree(dir)
    expect(rows.length).toBeGreaterThanOrEqual(10)
    expect(hex(rows.flatMap((f) => f.rows))).toEqual(
      hex([
        ...model.rows.map(writtenAsWalRow),
        ...merges.map((r, i) => ({
          kind: i < 2 ? "Merge" as const : "Value" as const,
          key: r.key,
          value: r.value,
          seq: r.seq,
          createTs: r.createTs,
          expireTs: r.expireTs
        }))
      ])
    )
  })
})
