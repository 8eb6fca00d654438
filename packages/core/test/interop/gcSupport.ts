/**
 * Helpers of the garbage-collection, checkpoint and clone interoperability tests (Gc.test.ts,
 * GcClone.test.ts): a workload without TTL rows (so a model of key → newest value says exactly what every
 * read returns), both engines opened on any database path of one local directory, SlateDB's `DbReader`,
 * Shale's read-only view, and what a garbage collector may delete or must keep, worked out from the objects
 * on disk with Shale's decoders.
 *
 * The deletion rules (SlateDB 0.12.1's, docs/format.md §3.8), with the minimum age 0 these tests use:
 * - manifests: every version but the latest and those a checkpoint of the latest pins;
 * - WAL SSTs: ids below the latest manifest's `replay_after_wal_id` that no live manifest (the latest and
 *   the pinned ones) replays (`replay_after_wal_id < id < next_wal_sst_id`);
 * - compacted SSTs: in no live manifest's L0 or sorted runs and created (ULID time) before
 *   min(the oldest compaction in the latest compactions file, the newest L0 SST of the latest manifest or
 *   else its `l0_last_compacted`), either bound being the Unix epoch when unknown;
 * - compactions files: every version but the latest.
 */
import {
  Db as EngineDb,
  DbBuilder,
  type DbReader,
  DbReaderBuilder,
  ObjectStore as EngineObjectStore,
  Settings as EngineSettings
} from "@slatedb/uniffi"
import { Effect, Layer, Stream } from "effect"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { deleteCheckpoint } from "../../src/admin/Checkpoints.ts"
import { Db } from "../../src/db/Db.ts"
import { openReadOnly } from "../../src/db/ReadOnlyDb.ts"
import type { DbError } from "../../src/errors.ts"
import { parseCompactedSstId, parseCompactionsId, parseManifestId, parseWalSstId } from "../../src/format/Paths.ts"
import { decodeCompactions } from "../../src/manifest/CompactionsCodec.ts"
import type { Checkpoint, Manifest } from "../../src/manifest/Manifest.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import type { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { ObjectStoreError } from "../../src/objectstore/ObjectStoreError.ts"
import { Settings, type SettingsInput } from "../../src/Settings.ts"
import { parseUlid, ulidFromParts } from "../../src/Ulid.ts"
import { batch, buildEngineDb, del, type EngineOp, flushMemTable, flushWal, hexKey, put } from "../support/slatedb.ts"
import { Model, type ReadRow, readRowOf, shaleGets, shaleScan, slateDbGets, slateDbScan, waitUntil } from "./support.ts"

// ---- the workload -------------------------------------------------------------------------------------------

/**
 * A deterministic write phase (seeded LCG) over `keySpace` keys: puts (overwrites, the key space being
 * smaller than the writes), deletes and batches mixing both; a WAL flush every 40 writes and a memtable
 * flush (an L0 SST) every `memtableEvery`; then a last memtable flush and a tail of puts and deletes left in
 * the WAL (in the manifest's replay range once the writer closes). No TTLs.
 */
export const gcWorkload = (options: {
  readonly writes: number
  readonly seed: number
  readonly keySpace: number
  readonly memtableEvery: number
}): Array<EngineOp> => {
  let state = options.seed
  const rnd = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state / 0x80000000
  }
  const key = () => `g-${String(Math.floor(rnd() * options.keySpace)).padStart(5, "0")}`
  const value = (i: number) => `${"x".repeat(Math.floor(rnd() * 150))}:${options.seed}:${i}`
  const ops: Array<EngineOp> = []
  for (let i = 0; i < options.writes; i++) {
    const r = rnd()
    if (r < 0.65) ops.push(put(key(), value(i)))
    else if (r < 0.85) ops.push(del(key()))
    else ops.push(batch([put(key(), value(i)), del(key()), put(key(), value(i))]))
    if (i % 40 === 39) ops.push(flushWal())
    if (i % options.memtableEvery === options.memtableEvery - 1) ops.push(flushMemTable())
  }
  ops.push(flushMemTable())
  for (let i = 0; i < 25; i++) ops.push(rnd() < 0.7 ? put(key(), `tail:${options.seed}:${i}`) : del(key()))
  ops.push(flushWal())
  return ops
}

/** A copy of `model` as it is now (later writes to `model` do not change it). */
export const snapshotModel = (model: Model): Model => {
  const copy = new Model()
  for (const r of model.rows) copy.record(r)
  return copy
}

/** Every key of the given models, in key order. */
export const keysOf = (...models: ReadonlyArray<Model>): Array<Uint8Array> => {
  const all = new Map<string, Uint8Array>()
  for (const m of models) for (const k of m.keys()) all.set(hexKey(k), k)
  return [...all.values()].sort(Buffer.compare)
}

// ---- what reads return --------------------------------------------------------------------------------------

/** Point reads of some keys and a full ascending scan (rows with their seqs). */
export interface Reads {
  readonly gets: Array<ReadRow | undefined>
  readonly asc: Array<ReadRow>
}

/** What `Reads` of `keys` must be in a database holding `model`'s writes. */
export const expectedReads = (model: Model, keys: ReadonlyArray<Uint8Array>): Reads => ({
  gets: keys.map((k) => {
    const r = model.latest.get(hexKey(k))
    return r === undefined || r.kind === "tombstone" ? undefined : readRowOf(r)
  }),
  asc: model.visible().map(readRowOf)
})

/** Values only (SlateDB's `DbReader.get` returns no seq). */
export const valuesOf = (reads: Reads): { readonly gets: Array<string | undefined>; readonly asc: Array<ReadRow> } => ({
  gets: reads.gets.map((r) => r?.value),
  asc: reads.asc
})

// ---- the engines on any database path -----------------------------------------------------------------------

/** SlateDB's garbage collector: every kind, every `intervalMs`, no minimum age (JSON of SlateDB's options). */
export const slateGcOptions = (intervalMs: number) => {
  const dir = { interval: `${intervalMs}ms`, min_age: "0s" }
  return { manifest_options: dir, wal_options: dir, compacted_options: dir, compactions_options: dir }
}

export interface SlateAtOptions {
  /** SlateDB's `garbage_collector_options` (default null: none). */
  readonly gc?: ReturnType<typeof slateGcOptions>
  /** Run the embedded compactor (default false). */
  readonly compactor?: boolean
  /** Extra settings: dotted key → JSON value. */
  readonly settings?: Readonly<Record<string, unknown>>
}

export interface OpenSlate {
  readonly db: EngineDb
  readonly close: () => Promise<void>
}

/** The official SlateDB's writer on `dir`/`path`. */
export const openSlateAt = async (dir: string, path: string, options: SlateAtOptions = {}): Promise<OpenSlate> => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const settings = EngineSettings.default()
  settings.set("flush_interval", JSON.stringify("10ms"))
  settings.set("manifest_poll_interval", JSON.stringify("100ms"))
  settings.set("garbage_collector_options", options.gc === undefined ? "null" : JSON.stringify(options.gc))
  if (options.compactor === true) settings.set("compactor_options.poll_interval", JSON.stringify("100ms"))
  else settings.set("compactor_options", "null")
  for (const [k, v] of Object.entries(options.settings ?? {})) settings.set(k, JSON.stringify(v))
  const builder = new DbBuilder(path, store)
  builder.with_settings(settings)
  const db: EngineDb = await buildEngineDb(builder, settings, store)
  let closed = false
  return {
    db,
    close: async () => {
      if (closed) return
      closed = true
      try {
        await db.shutdown()
      } finally {
        db.dispose()
        store.dispose()
      }
    }
  }
}

/** Reads `keys` and the ascending scan with an open SlateDB writer. */
export const slateReads = async (db: EngineDb, keys: ReadonlyArray<Uint8Array>): Promise<Reads> => ({
  gets: await slateDbGets(db, keys),
  asc: await slateDbScan(db, "asc")
})

/** Opens SlateDB's writer on `dir`/`path` (no compactor, no GC), reads `keys` and the scan, closes. */
export const readWithSlate = async (dir: string, path: string, keys: ReadonlyArray<Uint8Array>): Promise<Reads> => {
  const slate = await openSlateAt(dir, path)
  try {
    return await slateReads(slate.db, keys)
  } finally {
    await slate.close()
  }
}

export interface OpenReader {
  readonly reader: DbReader
  readonly close: () => Promise<void>
}

/**
 * SlateDB's `DbReader` on `dir`/`path`. Without `checkpointId` it creates a checkpoint of its own (30
 * minutes, refreshed) and, polling the manifest only every 10 minutes here, keeps reading the state it
 * opened on for the whole test; on shutdown it deletes that checkpoint.
 */
export const openSlateReader = async (dir: string, path: string, checkpointId?: string): Promise<OpenReader> => {
  const store = EngineObjectStore.resolve(`file://${dir}`)
  const builder = new DbReaderBuilder(path, store)
  builder.with_options({
    manifest_poll_interval_ms: 600_000,
    checkpoint_lifetime_ms: 1_800_000,
    max_memtable_bytes: 64 * 1024 * 1024,
    skip_wal_replay: false
  })
  if (checkpointId !== undefined) builder.with_checkpoint_id(checkpointId)
  let reader: DbReader
  try {
    reader = await builder.build()
  } catch (e) {
    store.dispose()
    throw e
  } finally {
    builder.dispose()
  }
  let closed = false
  return {
    reader,
    close: async () => {
      if (closed) return
      closed = true
      try {
        await reader.shutdown()
      } finally {
        reader.dispose()
        store.dispose()
      }
    }
  }
}

/** Values of `keys` and the ascending scan through SlateDB's `DbReader`. */
export const readerReads = async (reader: DbReader, keys: ReadonlyArray<Uint8Array>) => {
  const gets: Array<string | undefined> = []
  for (const k of keys) {
    const v = await reader.get(k)
    gets.push(v === undefined ? undefined : Buffer.from(v).toString("hex"))
  }
  const it = await reader.scan({ start: undefined, start_inclusive: true, end: undefined, end_inclusive: false })
  const asc: Array<ReadRow> = []
  for (let kv = await it.next(); kv !== undefined; kv = await it.next()) {
    asc.push(readRowOf({ key: kv.key, value: kv.value, seq: Number(kv.seq) }))
  }
  it.dispose()
  return { gets, asc }
}

/** The store layer on `dir`. */
export const storeOf = (dir: string) => LocalObjectStore.layer({ root: dir })

/** Runs an effect that needs the store of `dir`. */
export const onStore = <A>(dir: string, effect: Effect.Effect<A, DbError | ObjectStoreError, ObjectStore>): Promise<A> =>
  Effect.runPromise(Effect.provide(effect, storeOf(dir)))

/** Shale's writer on `dir`/`path`: no compactor and no garbage collector unless `settings` says so. */
export const shaleAt = (dir: string, path: string, settings: SettingsInput = {}) =>
  Db.layer({ path, settings: { ...Settings.default, compactor: null, garbageCollector: null, ...settings } }).pipe(
    Layer.provide(storeOf(dir))
  )

/** Opens Shale's writer on `dir`/`path`, reads `keys` and the ascending scan (checked against the descending one). */
export const readWithShale = (dir: string, path: string, keys: ReadonlyArray<Uint8Array>): Promise<Reads> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const gets = yield* shaleGets(keys)
      const asc = yield* shaleScan("asc")
      const desc = yield* shaleScan("desc")
      if (JSON.stringify([...desc].reverse()) !== JSON.stringify(asc)) {
        return yield* Effect.die(new Error(`Shale's descending scan (${desc.length} rows) is not the ascending one (${asc.length}) reversed`))
      }
      return { gets, asc }
    }).pipe(Effect.provide(shaleAt(dir, path)))
  )

/** Shale's read-only view of `dir`/`path` at a checkpoint: `keys` and the ascending scan. */
export const readAtCheckpointWithShale = (
  dir: string,
  path: string,
  checkpointId: string,
  keys: ReadonlyArray<Uint8Array>
): Promise<Reads & { readonly manifestId: number }> =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const view = yield* openReadOnly({ root: path, checkpointId })
      const gets: Array<ReadRow | undefined> = []
      for (const k of keys) {
        const kv = yield* view.getKeyValue(k)
        gets.push(kv === undefined ? undefined : readRowOf(kv))
      }
      const asc = yield* Stream.runCollect(Stream.map(view.scan({}), readRowOf))
      return { gets, asc: [...asc], manifestId: view.manifestId }
    })).pipe(Effect.provide(storeOf(dir)))
  )

// ---- what is on disk ----------------------------------------------------------------------------------------

/** The objects of a database, by kind: manifest, WAL and compactions ids, compacted SST ULIDs. */
export interface Objects {
  readonly manifest: Array<number>
  readonly wal: Array<number>
  readonly compacted: Array<string>
  readonly compactions: Array<number>
}

const names = (dir: string, path: string, sub: string): Array<string> => {
  try {
    // `<name>#<digits>`: a write in progress (staged by SlateDB's or Shale's local store), not an object.
    return readdirSync(join(dir, path, sub)).filter((n) => !/#[0-9]+$/.test(n)).map((n) => `${path}/${sub}/${n}`)
  } catch {
    return []
  }
}

const numbered = (all: Array<string>, parse: (p: string) => number | undefined): Array<number> =>
  all.map(parse).filter((id): id is number => id !== undefined).sort((a, b) => a - b)

export const objectsOnDisk = (dir: string, path: string): Objects => ({
  manifest: numbered(names(dir, path, "manifest"), parseManifestId),
  wal: numbered(names(dir, path, "wal"), parseWalSstId),
  compacted: names(dir, path, "compacted").map(parseCompactedSstId).filter((id): id is string => id !== undefined).sort(),
  compactions: numbered(names(dir, path, "compactions"), parseCompactionsId)
})

export const countsOf = (o: Objects) => ({
  manifest: o.manifest.length,
  wal: o.wal.length,
  compacted: o.compacted.length,
  compactions: o.compactions.length
})

/** Manifest version `id` of `dir`/`path`, decoded. */
export const manifestAt = (dir: string, path: string, id: number): Manifest =>
  decodeManifest(new Uint8Array(readFileSync(join(dir, path, "manifest", `${String(id).padStart(20, "0")}.manifest`))))

/** The latest manifest of `dir`/`path` and its id. */
export const latestAt = (dir: string, path: string): { readonly id: number; readonly manifest: Manifest } => {
  const id = objectsOnDisk(dir, path).manifest.at(-1)
  if (id === undefined) throw new Error(`no manifest in ${path}`)
  return { id, manifest: manifestAt(dir, path, id) }
}

/** Every SST id a manifest lists (L0 and sorted runs). */
export const sstsOf = (m: Manifest): Array<string> => [...m.l0.map((s) => s.id), ...m.compacted.flatMap((r) => r.ssts.map((s) => s.id))]

/** The WAL ids manifest `m` replays. */
export const walRangeOf = (m: Manifest): Array<number> =>
  Array.from({ length: Math.max(0, m.nextWalSstId - m.replayAfterWalId - 1) }, (_, i) => m.replayAfterWalId + 1 + i)

const ulidTime = (id: string): number => parseUlid(id)?.timeMs ?? 0

/** The state a collector judges by: the latest manifest, the manifests its checkpoints pin, the cutoff. */
export const liveState = (dir: string, path: string) => {
  const latest = latestAt(dir, path)
  const pinnedIds = [...new Set(latest.manifest.checkpoints.map((c) => c.manifestId))].filter((id) => id !== latest.id)
  const live = [latest.manifest, ...pinnedIds.map((id) => manifestAt(dir, path, id))]
  const compactionsId = objectsOnDisk(dir, path).compactions.at(-1)
  const compactionIds = compactionsId === undefined
    ? []
    : decodeCompactions(new Uint8Array(readFileSync(join(dir, path, "compactions", `${String(compactionsId).padStart(20, "0")}.compactions`))))
      .recentCompactions.map((c) => c.id)
  const oldestCompaction = compactionIds.length === 0 ? 0 : Math.min(...compactionIds.map(ulidTime))
  const m = latest.manifest
  const newestL0 = m.l0.length > 0
    ? Math.max(...m.l0.map((s) => ulidTime(s.id)))
    : m.l0LastCompacted === undefined
    ? 0
    : ulidTime(m.l0LastCompacted)
  return {
    latest,
    pinnedIds,
    live,
    liveSsts: new Set(live.flatMap(sstsOf)),
    cutoffMs: Math.min(oldestCompaction, newestL0),
    compactionsId
  }
}

/**
 * Which of `before` a collector with minimum age 0 deletes, judged by the database's state now
 * (`liveState`; see the module comment).
 */
export const collectable = (dir: string, path: string, before: Objects): Objects => {
  const s = liveState(dir, path)
  const m = s.latest.manifest
  return {
    manifest: before.manifest.filter((id) => id !== s.latest.id && !s.pinnedIds.includes(id)),
    wal: before.wal.filter((id) => id < m.replayAfterWalId && !s.live.some((l) => id > l.replayAfterWalId && id < l.nextWalSstId)),
    compacted: before.compacted.filter((id) => !s.liveSsts.has(id) && ulidTime(id) < s.cutoffMs),
    compactions: before.compactions.filter((id) => id !== s.compactionsId)
  }
}

/** What the database's state now needs: the latest and pinned manifests, their SSTs and replayed WALs. */
export const needed = (dir: string, path: string): Objects => {
  const s = liveState(dir, path)
  return {
    manifest: [s.latest.id, ...s.pinnedIds],
    wal: [...new Set(s.live.flatMap(walRangeOf))].sort((a, b) => a - b),
    compacted: [...s.liveSsts].sort(),
    compactions: s.compactionsId === undefined ? [] : [s.compactionsId]
  }
}

/** Those of `objs` that are on disk now (`present`) or not (`missing`). */
export const onDisk = (dir: string, path: string, objs: Objects) => {
  const now = objectsOnDisk(dir, path)
  const has = {
    manifest: new Set(now.manifest),
    wal: new Set(now.wal),
    compacted: new Set(now.compacted),
    compactions: new Set(now.compactions)
  }
  const split = (keep: boolean): Objects => ({
    manifest: objs.manifest.filter((id) => has.manifest.has(id) === keep),
    wal: objs.wal.filter((id) => has.wal.has(id) === keep),
    compacted: objs.compacted.filter((id) => has.compacted.has(id) === keep),
    compactions: objs.compactions.filter((id) => has.compactions.has(id) === keep)
  })
  return { present: split(true), missing: split(false) }
}

export const noObjects: Objects = { manifest: [], wal: [], compacted: [], compactions: [] }

/** Objects of `before` no longer on disk. */
export const deletedSince = (dir: string, path: string, before: Objects): Objects => onDisk(dir, path, before).missing

/**
 * Removes the checkpoints of the latest manifest of `dir`/`path` for which `drop` holds, with Shale's
 * `deleteCheckpoint` (e.g. the 15-minute checkpoints a compactor leaves before each compaction's manifest,
 * which would otherwise pin the SSTs it compacted away); returns the ones removed.
 */
export const dropCheckpoints = async (
  dir: string,
  path: string,
  drop: (c: Checkpoint) => boolean
): Promise<Array<Checkpoint>> => {
  const doomed = latestAt(dir, path).manifest.checkpoints.filter(drop)
  for (const c of doomed) await onStore(dir, deleteCheckpoint(path, c.id))
  return doomed
}

/**
 * Opens SlateDB's writer on `dir`/`path` (no compactor) with its collector every 100 ms at minimum age 0
 * and waits (up to 20 s) until every object of `before` that is garbage by the rules, judged by the state
 * at that moment, is gone; closes. `garbage`: what was garbage when it settled.
 */
export const collectWithSlateDb = async (
  dir: string,
  path: string,
  before: Objects
): Promise<{ readonly settled: boolean; readonly garbage: Objects }> => {
  const slate = await openSlateAt(dir, path, { gc: slateGcOptions(100) })
  let garbage = noObjects
  let settled = false
  try {
    settled = await waitUntil(() => {
      try {
        garbage = collectable(dir, path, before)
        const left = onDisk(dir, path, garbage).present
        return left.manifest.length + left.wal.length + left.compacted.length + left.compactions.length === 0
      } catch {
        return false // a manifest deleted between the listing and the read: look again
      }
    }, 20_000)
  } finally {
    await slate.close()
  }
  return { settled, garbage }
}

/**
 * Writes an SST object no manifest lists, named by a ULID of 1970 (so older than any cutoff), into
 * `dir`/`path`/compacted: garbage for any collector's compacted-SST pass, so its deletion shows that a
 * pass over compacted SSTs ran. Returns its id.
 */
export const plantOrphanSst = (dir: string, path: string): string => {
  const id = ulidFromParts(1_000_000, 42n)
  writeFileSync(join(dir, path, "compacted", `${id}.sst`), "not an SST: an orphan for the collector")
  return id
}
