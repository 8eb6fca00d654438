/**
 * Shared pieces of the cross-implementation tests: one workload vocabulary (the `EngineOp`s of
 * test/support/slatedb.ts) applied either to the official SlateDB (`@slatedb/uniffi@0.12.1`) or to Shale,
 * a model of what every read must return, and readers for both sides.
 *
 * Both implementations open the same local directory: SlateDB through `ObjectStore.resolve("file://<dir>")`,
 * Shale through `LocalObjectStore.layer({ root: dir })`, both with the database root `"db"`.
 */
import {
  Db as EngineDb,
  DbBuilder,
  type MergeOperator as EngineMergeOperator,
  ObjectStore as EngineObjectStore,
  Settings as EngineSettings,
  type SstBlockSize,
  Ttl as EngineTtl,
  WriteBatch as EngineWriteBatch
} from "@slatedb/uniffi"
import { Effect, Layer, Stream } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Db } from "../../src/db/Db.ts"
import { WriteBatch, type WriteHandle } from "../../src/db/DbApi.ts"
import type { DbError } from "../../src/errors.ts"
import { parseManifestId, parseWalSstId } from "../../src/format/Paths.ts"
import { type Manifest } from "../../src/manifest/Manifest.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import { Settings, type SettingsInput } from "../../src/Settings.ts"
import { buildEngineDb, type EngineOp, hexKey, type WrittenRow } from "../support/slatedb.ts"

export const DB_PATH = "db"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
export const enc = (s: string): Uint8Array => encoder.encode(s)
export const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : decoder.decode(b))

export const tempDir = (prefix: string): { readonly dir: string; readonly cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const toNumber = (v: bigint | number): number => Number(v)

// ---- the model ----------------------------------------------------------------------------------------------

/** What was written, in order, and the newest row per key. Fed by both implementations' write handles. */
export class Model {
  readonly rows: Array<WrittenRow> = []
  readonly latest = new Map<string, WrittenRow>()

  record(row: WrittenRow): void {
    this.rows.push(row)
    this.latest.set(hexKey(row.key), row)
  }

  /** Records a batch's ops the way the engines apply them: last op per key wins, rows in key order. */
  recordBatch(ops: ReadonlyArray<Extract<EngineOp, { op: "put" | "delete" }>>, seq: number, createTs: number): void {
    const last = new Map<string, Extract<EngineOp, { op: "put" | "delete" }>>()
    for (const o of ops) last.set(hexKey(o.key), o)
    for (const o of [...last.values()].sort((a, b) => Buffer.compare(a.key, b.key))) this.recordOp(o, seq, createTs)
  }

  recordOp(op: Extract<EngineOp, { op: "put" | "delete" }>, seq: number, createTs: number): void {
    this.record(
      op.op === "put"
        ? {
          key: op.key,
          kind: "value",
          value: op.value,
          seq,
          createTs,
          expireTs: op.ttl === undefined ? undefined : createTs + op.ttl
        }
        : { key: op.key, kind: "tombstone", value: new Uint8Array(0), seq, createTs, expireTs: undefined }
    )
  }

  /** Every key ever written (tombstoned ones included), in key order. */
  keys(): Array<Uint8Array> {
    return [...this.latest.values()].map((r) => r.key).sort(Buffer.compare)
  }

  /** The rows a read must see (newest version per key, tombstones dropped), in key order. */
  visible(): Array<WrittenRow> {
    return [...this.latest.values()].filter((r) => r.kind === "value").sort((a, b) => Buffer.compare(a.key, b.key))
  }
}

/** A row as reads return it, in a form `expect(...).toEqual` compares well (text keys/values as hex). */
export interface ReadRow {
  readonly key: string
  readonly value: string
  readonly seq: number
}

export const readRowOf = (r: { key: Uint8Array; value: Uint8Array; seq: number }): ReadRow => ({
  key: hexKey(r.key),
  value: Buffer.from(r.value).toString("hex"),
  seq: r.seq
})

/** What every point read of `model.keys()` must return (undefined for deleted keys). */
export const expectedGets = (model: Model): Array<ReadRow | undefined> =>
  model.keys().map((k) => {
    const r = model.latest.get(hexKey(k))!
    return r.kind === "value" ? readRowOf(r) : undefined
  })

// ---- SlateDB ------------------------------------------------------------------------------------------------

export interface SlateDbOptions {
  /** Run SlateDB's embedded compactor (default false: no compactor, no GC). */
  readonly compactor?: boolean
  /** Extra settings: dotted key → JSON value. */
  readonly settings?: Readonly<Record<string, unknown>>
  readonly blockSize?: SstBlockSize
  /** SlateDB's merge operator (the binding's `MergeOperator` interface). */
  readonly mergeOperator?: EngineMergeOperator
}

export interface OpenSlateDb {
  readonly db: EngineDb
  /** Shuts down (ignoring a failure of a fenced or failed handle when `lenient`), disposes. */
  readonly close: (options?: { readonly lenient?: boolean }) => Promise<void>
}

/** Opens the database at `dir`/db with the official SlateDB as its writer. */
export const openSlateDb = async (dir: string, options: SlateDbOptions = {}): Promise<OpenSlateDb> => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const settings = EngineSettings.default()
  settings.set("flush_interval", JSON.stringify("10ms"))
  settings.set("manifest_poll_interval", JSON.stringify("100ms"))
  settings.set("garbage_collector_options", "null")
  if (options.compactor === true) settings.set("compactor_options.poll_interval", JSON.stringify("100ms"))
  else settings.set("compactor_options", "null")
  for (const [k, v] of Object.entries(options.settings ?? {})) settings.set(k, JSON.stringify(v))
  const builder = new DbBuilder(DB_PATH, store)
  builder.with_settings(settings)
  if (options.blockSize !== undefined) builder.with_sst_block_size(options.blockSize)
  if (options.mergeOperator !== undefined) builder.with_merge_operator(options.mergeOperator)
  const db: EngineDb = await buildEngineDb(builder, settings, store)
  return {
    db,
    close: async (closeOptions) => {
      try {
        await db.shutdown()
      } catch (e) {
        if (closeOptions?.lenient !== true) throw e
      } finally {
        db.dispose()
        store.dispose()
      }
    }
  }
}

const engineTtl = (ttl: number | undefined) => (ttl === undefined ? EngineTtl.Default() : EngineTtl.ExpireAfterTicks(ttl))

/** Applies `ops` to SlateDB (writes not awaiting durability; flushes as the ops say), recording into `model`. */
export const applyToSlateDb = async (db: EngineDb, ops: ReadonlyArray<EngineOp>, model: Model): Promise<void> => {
  const writeOptions = { await_durable: false }
  for (const op of ops) {
    switch (op.op) {
      case "put": {
        const h = await db.put_with_options(op.key, op.value, { ttl: engineTtl(op.ttl) }, writeOptions)
        model.recordOp(op, toNumber(h.seqnum), toNumber(h.create_ts))
        break
      }
      case "delete": {
        const h = await db.delete_with_options(op.key, writeOptions)
        model.recordOp(op, toNumber(h.seqnum), toNumber(h.create_ts))
        break
      }
      case "batch": {
        const wb = new EngineWriteBatch()
        for (const o of op.ops) {
          if (o.op === "put") wb.put_with_options(o.key, o.value, { ttl: engineTtl(o.ttl) })
          else wb.delete(o.key)
        }
        const h = await db.write_with_options(wb, writeOptions)
        wb.dispose()
        model.recordBatch(op.ops, toNumber(h.seqnum), toNumber(h.create_ts))
        break
      }
      case "flush":
        await db.flush_with_options({ flush_type: op.target === "wal" ? "Wal" : "MemTable" })
        break
    }
  }
}

/** Point-reads `keys` with SlateDB. */
export const slateDbGets = async (db: EngineDb, keys: ReadonlyArray<Uint8Array>): Promise<Array<ReadRow | undefined>> => {
  const out: Array<ReadRow | undefined> = []
  for (const k of keys) {
    const kv = await db.get_key_value(k)
    out.push(kv === undefined ? undefined : readRowOf({ key: kv.key, value: kv.value, seq: toNumber(kv.seq) }))
  }
  return out
}

/** A full scan with SlateDB, ascending or descending. */
export const slateDbScan = async (db: EngineDb, order: "asc" | "desc"): Promise<Array<ReadRow>> => {
  const it = await db.scan_with_options(
    { start: undefined, start_inclusive: true, end: undefined, end_inclusive: false },
    {
      durability_filter: "Memory",
      dirty: false,
      read_ahead_bytes: 1,
      cache_blocks: false,
      max_fetch_tasks: 1,
      order: order === "asc" ? "Ascending" : "Descending"
    }
  )
  const out: Array<ReadRow> = []
  for (let kv = await it.next(); kv !== undefined; kv = await it.next()) {
    out.push(readRowOf({ key: kv.key, value: kv.value, seq: toNumber(kv.seq) }))
  }
  it.dispose()
  return out
}

// ---- Shale --------------------------------------------------------------------------------------------------

/** Shale's `Db` on the database at `dir`/db, over the local-directory store. */
export const shaleDb = (dir: string, settings: SettingsInput = {}) =>
  Db.layer({ path: DB_PATH, settings: { ...Settings.default, ...settings } }).pipe(
    Layer.provide(LocalObjectStore.layer({ root: dir }))
  )

const shaleTtl = (ttl: number | undefined) => (ttl === undefined ? "default" as const : { afterMs: ttl })

/** Applies `ops` to Shale (writes not awaiting durability; flushes as the ops say), recording into `model`. */
export const applyToShale = (ops: ReadonlyArray<EngineOp>, model: Model): Effect.Effect<void, DbError, Db> =>
  Effect.gen(function*() {
    const db = yield* Db
    const record = (h: WriteHandle, f: (seq: number, createTs: number) => void) => f(h.seq, h.createTs)
    for (const op of ops) {
      switch (op.op) {
        case "put": {
          const h = yield* db.put(op.key, op.value, { ttl: shaleTtl(op.ttl), awaitDurable: false })
          record(h, (seq, ts) => model.recordOp(op, seq, ts))
          break
        }
        case "delete": {
          const h = yield* db.delete(op.key, { awaitDurable: false })
          record(h, (seq, ts) => model.recordOp(op, seq, ts))
          break
        }
        case "batch": {
          const wb = new WriteBatch()
          for (const o of op.ops) {
            if (o.op === "put") wb.put(o.key, o.value, { ttl: shaleTtl(o.ttl) })
            else wb.delete(o.key)
          }
          const h = yield* db.write(wb, { awaitDurable: false })
          record(h, (seq, ts) => model.recordBatch(op.ops, seq, ts))
          break
        }
        case "flush":
          yield* db.flush({ type: op.target })
          break
      }
    }
  })

/** Point-reads `keys` with Shale. */
export const shaleGets = (keys: ReadonlyArray<Uint8Array>): Effect.Effect<Array<ReadRow | undefined>, DbError, Db> =>
  Effect.gen(function*() {
    const db = yield* Db
    const out: Array<ReadRow | undefined> = []
    for (const k of keys) {
      const kv = yield* db.getKeyValue(k)
      out.push(kv === undefined ? undefined : readRowOf(kv))
    }
    return out
  })

/** A full scan with Shale, ascending or descending. */
export const shaleScan = (order: "asc" | "desc"): Effect.Effect<Array<ReadRow>, DbError, Db> =>
  Db.use((db) => Stream.runCollect(Stream.map(db.scan({}, { order }), readRowOf)))

// ---- what is on disk ----------------------------------------------------------------------------------------

/** The latest manifest of `dir`/db, decoded. */
export const latestManifestOnDisk = (dir: string): Manifest | undefined => {
  const mdir = join(dir, DB_PATH, "manifest")
  let names: Array<string>
  try {
    names = readdirSync(mdir)
  } catch {
    return undefined
  }
  const ids = names.map((n) => parseManifestId(n)).filter((id): id is number => id !== undefined).sort((a, b) => a - b)
  const last = ids[ids.length - 1]
  if (last === undefined) return undefined
  return decodeManifest(new Uint8Array(readFileSync(join(mdir, `${String(last).padStart(20, "0")}.manifest`))))
}

/** WAL SST ids present in `dir`/db/wal, ascending. */
export const walIdsOnDisk = (dir: string): Array<number> => {
  let names: Array<string>
  try {
    names = readdirSync(join(dir, DB_PATH, "wal"))
  } catch {
    return []
  }
  return names.map((n) => parseWalSstId(n)).filter((id): id is number => id !== undefined).sort((a, b) => a - b)
}

export const waitUntil = async (cond: () => boolean, timeoutMs: number): Promise<boolean> => {
  const end = performance.now() + timeoutMs
  while (performance.now() < end) {
    if (cond()) return true
    await sleep(100)
  }
  return cond()
}
