/**
 * Writes real databases with the official SlateDB engine (`@slatedb/uniffi@0.12.1`, the Rust engine behind
 * a Node binding) into a temp directory, so tests can decode what SlateDB wrote and check SlateDB reads
 * what Shale writes.
 *
 * Usage:
 * ```ts
 * const db = await writeEngineDb([
 *   put("a", "1"), put("b", "2"), flushMemTable(), del("a"), batch([put("c", "3"), del("b")]), flushWal()
 * ], { compression: "Lz4", blockSize: "Block1Kib" })
 * db.rows        // every row written, in write order, with the seq and create_ts the engine assigned
 * db.expected    // the visible state: latest row per key (tombstones included), keyed by hex key
 * db.listObjects("wal")            // ["db/wal/00000000000000000001.sst", ...]
 * db.readObject("db/wal/…sst")     // the bytes
 * db.cleanup()
 * ```
 *
 * Defaults chosen so that what the engine writes is deterministic and stays put:
 * - the embedded compactor and the garbage collector are disabled (`compactor_options`,
 *   `garbage_collector_options` = null), so L0 SSTs and WAL SSTs are never rewritten or deleted;
 * - writes do not await durability and `flush_interval` is long (`1h`), so WAL SST boundaries are exactly
 *   the `flushWal()` / `flushMemTable()` ops (and the final flush before shutdown), not timer ticks;
 * - the database is shut down before `writeEngineDb` returns.
 * `rows[i].createTs` is the engine's clock tick for that write (milliseconds).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import {
  type Db as EngineDbHandle,
  DbBuilder,
  DbReaderBuilder,
  ObjectStore as EngineObjectStore,
  Settings,
  type SstBlockSize,
  Ttl,
  WalReader,
  WriteBatch
} from "@slatedb/uniffi"

export type EngineCompression = "Snappy" | "Zlib" | "Lz4" | "Zstd"
export type EngineBlockSize = SstBlockSize

/** A write or a flush, in the order the engine should see them. */
export type EngineOp =
  | { readonly op: "put"; readonly key: Uint8Array; readonly value: Uint8Array; readonly ttl?: number }
  | { readonly op: "delete"; readonly key: Uint8Array }
  | { readonly op: "batch"; readonly ops: ReadonlyArray<EnginePut | EngineDelete> }
  | { readonly op: "flush"; readonly target: "wal" | "memtable" }

export type EnginePut = Extract<EngineOp, { op: "put" }>
export type EngineDelete = Extract<EngineOp, { op: "delete" }>

const encoder = new TextEncoder()
const bytes = (k: string | Uint8Array): Uint8Array => (typeof k === "string" ? encoder.encode(k) : k)

export const put = (key: string | Uint8Array, value: string | Uint8Array, ttl?: number): EnginePut =>
  ttl === undefined ? { op: "put", key: bytes(key), value: bytes(value) } : { op: "put", key: bytes(key), value: bytes(value), ttl }
export const del = (key: string | Uint8Array): EngineDelete => ({ op: "delete", key: bytes(key) })
export const batch = (ops: ReadonlyArray<EnginePut | EngineDelete>): EngineOp => ({ op: "batch", ops })
export const flushWal = (): EngineOp => ({ op: "flush", target: "wal" })
export const flushMemTable = (): EngineOp => ({ op: "flush", target: "memtable" })

/** One row as the engine recorded it. */
export interface WrittenRow {
  readonly key: Uint8Array
  readonly kind: "value" | "tombstone"
  /** Empty for tombstones. */
  readonly value: Uint8Array
  readonly seq: number
  readonly createTs: number
  readonly expireTs: number | undefined
}

export interface EngineDbOptions {
  /** Directory used as the object store root (`file://<dir>`); a fresh temp dir by default. */
  readonly dir?: string
  /** Database root inside the store (default "db"). */
  readonly dbPath?: string
  readonly compression?: EngineCompression
  readonly blockSize?: EngineBlockSize
  /** Extra settings: dotted key → JSON-serialisable value (e.g. `{ min_filter_keys: 10 }`). */
  readonly settings?: Readonly<Record<string, unknown>>
  /** Keep the embedded compactor running (default false). */
  readonly compactor?: boolean
  /** Keep the garbage collector running (default false). */
  readonly garbageCollector?: boolean
  /** Await durability on every write (default false: writes reach the WAL at the next flush op). */
  readonly awaitDurable?: boolean
  /** Seed for the engine's RNG (ULIDs of compacted SSTs). */
  readonly seed?: number
}

export interface EngineDb {
  /** The object store root directory. */
  readonly dir: string
  readonly dbPath: string
  /** Every row written, in write order (seq ascending; rows of one batch share a seq). */
  readonly rows: ReadonlyArray<WrittenRow>
  /** Latest row per key (hex of the key → row), tombstones included. */
  readonly expected: ReadonlyMap<string, WrittenRow>
  /** Object paths (relative to `dir`, `/`-separated, sorted) under `<dbPath>/<sub>`. */
  readonly listObjects: (sub: "wal" | "compacted" | "manifest" | "compactions" | "") => ReadonlyArray<string>
  readonly readObject: (path: string) => Uint8Array
  /** Removes the directory (only if `writeEngineDb` created it). */
  readonly cleanup: () => void
}

export const hexKey = (key: Uint8Array): string => Buffer.from(key).toString("hex")

const toNumber = (v: bigint | number): number => {
  const n = Number(v)
  if (!Number.isSafeInteger(n)) throw new Error(`engine returned an unsafe integer ${String(v)}`)
  return n
}

/** Builds the engine `Settings` for `options`. */
export const engineSettings = (options: EngineDbOptions = {}): Settings => {
  const settings = Settings.default()
  settings.set("flush_interval", JSON.stringify("1h"))
  if (options.compactor !== true) settings.set("compactor_options", "null")
  if (options.garbageCollector !== true) settings.set("garbage_collector_options", "null")
  if (options.compression !== undefined) settings.set("compression_codec", JSON.stringify(options.compression))
  for (const [k, v] of Object.entries(options.settings ?? {})) settings.set(k, JSON.stringify(v))
  return settings
}

const listFiles = (root: string, dir: string): Array<string> => {
  let out: Array<string> = []
  let entries: Array<string>
  try {
    entries = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of entries) {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) out = out.concat(listFiles(root, full))
    else if (!/#[0-9]+$/.test(name)) out.push(relative(root, full).split("\\").join("/"))
  }
  return out
}

/** Opens `dir`/`dbPath` with the engine's writer, applies `ops`, flushes the WAL and shuts down. */
export const writeEngineDb = async (ops: ReadonlyArray<EngineOp>, options: EngineDbOptions = {}): Promise<EngineDb> => {
  const created = options.dir === undefined
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "shale-slatedb-"))
  const dbPath = options.dbPath ?? "db"
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const settings = engineSettings(options)
  const builder = new DbBuilder(dbPath, store)
  builder.with_settings(settings)
  if (options.blockSize !== undefined) builder.with_sst_block_size(options.blockSize)
  if (options.seed !== undefined) builder.with_seed(options.seed)
  const db = await buildEngineDb(builder, settings, store)
  const rows: Array<WrittenRow> = []
  const expected = new Map<string, WrittenRow>()
  const record = (row: WrittenRow) => {
    rows.push(row)
    expected.set(hexKey(row.key), row)
  }
  const writeOptions = { await_durable: options.awaitDurable === true }
  const ttlOf = (ttl: number | undefined) => (ttl === undefined ? Ttl.Default() : Ttl.ExpireAfterTicks(ttl))
  try {
    for (const op of ops) {
      switch (op.op) {
        case "put": {
          const h = await db.put_with_options(op.key, op.value, { ttl: ttlOf(op.ttl) }, writeOptions)
          const createTs = toNumber(h.create_ts)
          record({
            key: op.key,
            kind: "value",
            value: op.value,
            seq: toNumber(h.seqnum),
            createTs,
            expireTs: op.ttl === undefined ? undefined : createTs + op.ttl
          })
          break
        }
        case "delete": {
          const h = await db.delete_with_options(op.key, writeOptions)
          record({
            key: op.key,
            kind: "tombstone",
            value: new Uint8Array(0),
            seq: toNumber(h.seqnum),
            createTs: toNumber(h.create_ts),
            expireTs: undefined
          })
          break
        }
        case "batch": {
          const wb = new WriteBatch()
          for (const o of op.ops) {
            if (o.op === "put") wb.put_with_options(o.key, o.value, { ttl: ttlOf(o.ttl) })
            else wb.delete(o.key)
          }
          const h = await db.write_with_options(wb, writeOptions)
          wb.dispose()
          const seq = toNumber(h.seqnum)
          const createTs = toNumber(h.create_ts)
          // A batch keeps the last operation per key.
          const last = new Map<string, EnginePut | EngineDelete>()
          for (const o of op.ops) last.set(hexKey(o.key), o)
          // The engine stores a batch's rows in key order.
          const ordered = [...last.values()].sort((a, b) => Buffer.compare(a.key, b.key))
          for (const o of ordered) {
            record(o.op === "put"
              ? {
                key: o.key,
                kind: "value",
                value: o.value,
                seq,
                createTs,
                expireTs: o.ttl === undefined ? undefined : createTs + o.ttl
              }
              : { key: o.key, kind: "tombstone", value: new Uint8Array(0), seq, createTs, expireTs: undefined })
          }
          break
        }
        case "flush":
          await db.flush_with_options({ flush_type: op.target === "wal" ? "Wal" : "MemTable" })
          break
      }
    }
    await db.flush_with_options({ flush_type: "Wal" })
  } finally {
    await db.shutdown()
    db.dispose()
    store.dispose()
  }
  return {
    dir,
    dbPath,
    rows,
    expected,
    listObjects: (sub) => listFiles(dir, join(dir, dbPath, sub)).sort(),
    readObject: (path) => new Uint8Array(readFileSync(join(dir, path))),
    cleanup: () => {
      if (created) rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** A row as the engine's `WalReader` reports it. */
export interface EngineWalRow {
  readonly kind: "Value" | "Tombstone" | "Merge"
  readonly key: Uint8Array
  readonly value: Uint8Array | undefined
  readonly seq: number
  readonly createTs: number | undefined
  readonly expireTs: number | undefined
}

/** Reads every WAL SST under `dir`/`dbPath` with the engine's `WalReader` (ids ascending). */
export const readWalWithEngine = async (
  dir: string,
  dbPath = "db"
): Promise<ReadonlyArray<{ readonly id: number; readonly rows: ReadonlyArray<EngineWalRow> }>> => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const reader = new WalReader(dbPath, store)
  try {
    const files = await reader.list(undefined, undefined)
    const out: Array<{ id: number; rows: Array<EngineWalRow> }> = []
    for (const f of files) {
      const it = await f.iterator()
      const rows: Array<EngineWalRow> = []
      for (let r = await it.next(); r !== undefined; r = await it.next()) {
        rows.push({
          kind: r.kind,
          key: r.key,
          value: r.value,
          seq: toNumber(r.seq),
          createTs: r.create_ts === undefined ? undefined : toNumber(r.create_ts),
          expireTs: r.expire_ts === undefined ? undefined : toNumber(r.expire_ts)
        })
      }
      it.dispose()
      out.push({ id: toNumber(f.id()), rows })
      f.dispose()
    }
    return out
  } finally {
    reader.dispose()
    store.dispose()
  }
}

/** Scans the whole database at `dir`/`dbPath` with the engine's read-only `DbReader` (key order). */
export const scanWithEngine = async (
  dir: string,
  dbPath = "db"
): Promise<ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array; readonly seq: number }>> => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const builder = new DbReaderBuilder(dbPath, store)
  const reader = await builder.build()
  builder.dispose()
  try {
    const it = await reader.scan({ start: undefined, start_inclusive: true, end: undefined, end_inclusive: false })
    const out: Array<{ key: Uint8Array; value: Uint8Array; seq: number }> = []
    for (let kv = await it.next(); kv !== undefined; kv = await it.next()) {
      out.push({ key: kv.key, value: kv.value, seq: toNumber(kv.seq) })
    }
    it.dispose()
    return out
  } finally {
    await reader.shutdown()
    reader.dispose()
    store.dispose()
  }
}

/**
 * A deterministic mixed workload (seeded LCG): puts with empty, small and large (6000-byte, i.e. larger than
 * a 4 KiB block) values, deletes, batches mixing puts and deletes, TTL puts, a WAL flush every
 * `walEvery` writes and a memtable flush (an L0 SST) every `memtableEvery` writes.
 */
export const mixedWorkload = (options: {
  readonly writes: number
  readonly seed?: number
  readonly keySpace?: number
  readonly walEvery?: number
  readonly memtableEvery?: number
}): Array<EngineOp> => {
  const ops: Array<EngineOp> = []
  let state = options.seed ?? 12345
  const rnd = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state / 0x80000000
  }
  const keySpace = options.keySpace ?? Math.max(1, Math.floor(options.writes * 0.75))
  const walEvery = options.walEvery ?? 250
  const memtableEvery = options.memtableEvery ?? 1700
  for (let i = 0; i < options.writes; i++) {
    const k = `key-${String(Math.floor(rnd() * keySpace)).padStart(6, "0")}`
    const r = rnd()
    const value = "v".repeat(r < 0.05 ? 0 : r < 0.08 ? 6000 : Math.floor(rnd() * 200)) + String(i)
    if (r < 0.7) ops.push(put(k, value))
    else if (r < 0.8) ops.push(del(k))
    else if (r < 0.9) ops.push(batch([put(k, value), del(`${k}x`), put(`${k}y`, "yy")]))
    else ops.push(put(k, value, 100000))
    if (i % walEvery === walEvery - 1) ops.push(flushWal())
    if (i % memtableEvery === memtableEvery - 1) ops.push(flushMemTable())
  }
  return ops
}

/**
 * What each L0 SST written by `ops` should hold: for every memtable flush, the latest row per key among
 * the rows written since the previous memtable flush, in key order (the engine's memtable keeps only the
 * newest version of a key when no snapshot needs older ones).
 */
export const expectedL0s = (ops: ReadonlyArray<EngineOp>, rows: ReadonlyArray<WrittenRow>): Array<Array<WrittenRow>> => {
  const out: Array<Array<WrittenRow>> = []
  let segment = new Map<string, WrittenRow>()
  let next = 0
  for (const op of ops) {
    if (op.op === "flush") {
      if (op.target === "memtable" && segment.size > 0) {
        out.push([...segment.values()].sort((a, b) => Buffer.compare(a.key, b.key)))
        segment = new Map()
      }
      continue
    }
    const n = op.op === "batch" ? new Set(op.ops.map((o) => hexKey(o.key))).size : 1
    for (let i = 0; i < n; i++) {
      const row = rows[next++]!
      segment.set(hexKey(row.key), row)
    }
  }
  return out
}

/**
 * Builds the engine's `Db` from a configured builder; the builder and settings are disposed either way,
 * and the store too when the build fails (the caller owns it once a database is returned).
 */
export const buildEngineDb = async (
  builder: InstanceType<typeof DbBuilder>,
  settings: Settings,
  store: { dispose(): void }
): Promise<EngineDbHandle> => {
  try {
    return await builder.build()
  } catch (e) {
    store.dispose()
    throw e
  } finally {
    builder.dispose()
    settings.dispose()
  }
}
