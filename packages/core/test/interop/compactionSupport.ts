/**
 * Helpers of the compaction interoperability tests (Compaction.test.ts): a write phase with TTL rows (some
 * expiring at once), what reads must return given where expired rows sit, Shale's standalone compactor on
 * the shared directory, the manifests, compactions files and sorted runs on disk, and the byte-for-byte
 * round trip of manifests and compactions files through Shale's codecs.
 */
import type { Db as EngineDb } from "@slatedb/uniffi"
import { Effect, Layer } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Compactor, type CompactorHandle } from "../../src/compactor/Compactor.ts"
import type { DbError } from "../../src/errors.ts"
import type { ObjectStoreError } from "../../src/objectstore/ObjectStoreError.ts"
import { verifyChecksum } from "../../src/format/Checksum.ts"
import { decompress } from "../../src/format/Compression.ts"
import { parseCompactionsId, parseManifestId } from "../../src/format/Paths.ts"
import { decodeSstStats } from "../../src/format/SstMetadataCodec.ts"
import { type Compactions, decodeCompactions, encodeCompactions } from "../../src/manifest/CompactionsCodec.ts"
import type { Manifest, SortedRun } from "../../src/manifest/Manifest.ts"
import { decodeManifest, encodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import type { CompactorSettings, SettingsInput } from "../../src/Settings.ts"
import { batch, del, type EngineOp, flushMemTable, flushWal, hexKey, put, type WrittenRow } from "../support/slatedb.ts"
import {
  DB_PATH,
  type Model,
  openSlateDb,
  type ReadRow,
  readRowOf,
  shaleDb,
  shaleGets,
  shaleScan,
  slateDbGets,
  slateDbScan
} from "./support.ts"

// ---- the workload -------------------------------------------------------------------------------------------

/** TTL of rows that expire at once (ms, SlateDB: clock ticks): the next flush or compaction removes them. */
export const EXPIRED_TTL = 1
/** TTL of rows that stay live for the whole test. */
export const LIVE_TTL = 3_600_000

/**
 * A deterministic write phase (seeded LCG) over `keySpace` keys: plain puts (overwrites, since the key space
 * is smaller than the writes), deletes, puts with a TTL that passes at once (`EXPIRED_TTL`) or not during
 * the test (`LIVE_TTL`), and batches mixing them. L0 SSTs come from the writer's size trigger (a small
 * `l0_sst_size_bytes` / `l0SstSizeBytes`). The phase ends with a memtable flush, so every TTL row is in an
 * L0 SST, and then a tail of plain puts and deletes left in the WAL (replayed by whoever opens next).
 * Phases share the key names, so each overwrites and deletes what the others wrote.
 */
export const ttlWorkload = (options: { readonly writes: number; readonly seed: number; readonly keySpace: number }): Array<EngineOp> => {
  let state = options.seed
  const rnd = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state / 0x80000000
  }
  const key = () => `k-${String(Math.floor(rnd() * options.keySpace)).padStart(6, "0")}`
  const value = (i: number) => `${"v".repeat(Math.floor(rnd() * 200))}:${options.seed}:${i}`
  const ops: Array<EngineOp> = []
  for (let i = 0; i < options.writes; i++) {
    const r = rnd()
    const k = key()
    if (r < 0.55) ops.push(put(k, value(i)))
    else if (r < 0.67) ops.push(del(k))
    else if (r < 0.77) ops.push(put(k, value(i), EXPIRED_TTL))
    else if (r < 0.87) ops.push(put(k, value(i), LIVE_TTL))
    else ops.push(batch([put(k, value(i)), del(key()), put(key(), value(i), EXPIRED_TTL), put(key(), value(i), LIVE_TTL)]))
  }
  ops.push(flushMemTable())
  for (let i = 0; i < 30; i++) ops.push(rnd() < 0.7 ? put(key(), `tail:${options.seed}:${i}`) : del(key()))
  ops.push(flushWal())
  return ops
}

// ---- what reads must return ---------------------------------------------------------------------------------

/**
 * SlateDB 0.12.1 does not filter expired rows on reads (docs/format.md §3.11, Shale neither): a TTL row is
 * read until the retention step of an L0 flush (cutoff: the memtable's last tick) or of a compaction
 * (cutoff: the manifest's `last_l0_clock_tick`) turns it into a tombstone. So what a read returns for a key
 * whose newest row has expired depends on where that row sits:
 * - in the WAL or the memtable (seq above the manifest's `lastL0Seq`), or expiring after the manifest's
 *   `lastL0ClockTick`: no retention step expired it, it is read;
 * - otherwise, once a compaction whose cutoff is at least its expiry took everything in (a full compaction
 *   with nothing flushed since: `exact`), it is gone;
 * - otherwise it may be either (an L0 SST no compaction has read yet, flushed before the row expired).
 */
export type Expected = ReadRow | undefined | "either"

const expirable = (r: WrittenRow, m: Manifest): boolean =>
  r.kind === "value" && r.expireTs !== undefined && r.seq <= m.lastL0Seq && r.expireTs <= m.lastL0ClockTick

/** What point reads of `model.keys()` return in the database whose latest manifest is `m` (see `Expected`). */
export const expectedGets = (model: Model, m: Manifest, exact: boolean): Array<Expected> =>
  model.keys().map((k) => {
    const r = model.latest.get(hexKey(k))!
    if (r.kind === "tombstone") return undefined
    if (!expirable(r, m)) return readRowOf(r)
    return exact ? undefined : "either"
  })

/** How the model's newest rows split (with `m` as in `expectedGets`); versions overwritten. */
export const modelMix = (model: Model, m: Manifest) => {
  const latest = [...model.latest.values()]
  return {
    values: latest.filter((r) => r.kind === "value" && !expirable(r, m)).length,
    deleted: latest.filter((r) => r.kind === "tombstone").length,
    expired: latest.filter((r) => expirable(r, m)).length,
    liveTtl: latest.filter((r) => r.kind === "value" && r.expireTs !== undefined && !expirable(r, m)).length,
    overwritten: model.rows.length - latest.length
  }
}

/**
 * Everything a reader returns: every key of the model and full scans. SlateDB's descending scan is left out
 * (`desc` undefined): over a sorted run of several SSTs, 0.12.1 returns a key of the run's last SST that an
 * L0 SST (or a memtable rebuilt by WAL replay) deletes. Reproduced with SlateDB alone; upstream its
 * `SortedRunIterator` walked a run's SSTs in ascending order in descending scans (slatedb#1995, #2067).
 */
export interface ReadAll {
  readonly gets: Array<ReadRow | undefined>
  readonly asc: Array<ReadRow>
  readonly desc: Array<ReadRow> | undefined
}

const show = (r: ReadRow | undefined | "either"): string =>
  r === undefined ? "absent" : r === "either" ? "either" : `seq ${r.seq}`

/**
 * How `actual` differs from what the model says (`expectedGets`): point reads, and both scans, which must
 * hold exactly the rows the point reads found, in key order and reversed. Empty when all is well.
 */
export const readProblems = (actual: ReadAll, model: Model, m: Manifest, exact: boolean): Array<string> => {
  const problems: Array<string> = []
  const keys = model.keys()
  const expected = expectedGets(model, m, exact)
  if (actual.gets.length !== keys.length) problems.push(`${actual.gets.length} point reads for ${keys.length} keys`)
  keys.forEach((k, i) => {
    const want = expected[i]
    const got = actual.gets[i]
    const ok = want === "either"
      ? got === undefined || JSON.stringify(got) === JSON.stringify(readRowOf(model.latest.get(hexKey(k))!))
      : JSON.stringify(got) === JSON.stringify(want)
    if (!ok) {
      const r = model.latest.get(hexKey(k))!
      problems.push(
        `get ${Buffer.from(k).toString()}: ${show(got)}, expected ${show(want)} ` +
          `(newest: ${r.kind} seq ${r.seq} create ${r.createTs} expire ${r.expireTs}; ` +
          `manifest lastL0Seq ${m.lastL0Seq} lastL0ClockTick ${m.lastL0ClockTick})`
      )
    }
  })
  const found = actual.gets.filter((r): r is ReadRow => r !== undefined)
  if (JSON.stringify(actual.asc) !== JSON.stringify(found)) {
    problems.push(`ascending scan (${actual.asc.length} rows) differs from the point reads (${found.length} found)`)
  }
  const reversed = [...actual.asc].reverse()
  if (actual.desc !== undefined && JSON.stringify(actual.desc) !== JSON.stringify(reversed)) {
    const descKeys = new Set(actual.desc.map((r) => JSON.stringify(r)))
    const ascKeys = new Set(reversed.map((r) => JSON.stringify(r)))
    const onlyDesc = actual.desc.filter((r) => !ascKeys.has(JSON.stringify(r))).slice(0, 5)
    const onlyAsc = reversed.filter((r) => !descKeys.has(JSON.stringify(r))).slice(0, 5)
    const show = (r: ReadRow) => `${Buffer.from(r.key, "hex").toString()}@${r.seq}`
    problems.push(
      `descending scan (${actual.desc.length} rows) is not the ascending one (${actual.asc.length} rows) reversed: ` +
        `only descending ${onlyDesc.map(show).join(" ")}; only ascending ${onlyAsc.map(show).join(" ")}`
    )
  }
  return problems.length > 10 ? [...problems.slice(0, 10), `... ${problems.length - 10} more`] : problems
}

/** Reads every key and the ascending scan with SlateDB's `db` (see `ReadAll` on the descending one). */
export const slateDbReadAll = async (db: EngineDb, keys: ReadonlyArray<Uint8Array>): Promise<ReadAll> => ({
  gets: await slateDbGets(db, keys),
  asc: await slateDbScan(db, "asc"),
  desc: undefined
})

/** Opens the database with SlateDB as writer (no compactor), reads as `slateDbReadAll`, closes. */
export const readAllWithSlateDb = async (dir: string, keys: ReadonlyArray<Uint8Array>): Promise<ReadAll> => {
  const slate = await openSlateDb(dir)
  try {
    return await slateDbReadAll(slate.db, keys)
  } finally {
    await slate.close()
  }
}

/** Opens the database with Shale's writer (no compactor), reads every key and both scans, closes. */
export const readAllWithShale = (dir: string, keys: ReadonlyArray<Uint8Array>): Promise<ReadAll> =>
  Effect.runPromise(
    Effect.all({ gets: shaleGets(keys), asc: shaleScan("asc"), desc: shaleScan("desc") }).pipe(
      Effect.provide(shaleDb(dir, { compactor: null }))
    )
  )

// ---- Shale's standalone compactor ---------------------------------------------------------------------------

/** `Compactor.layer` on the database at `dir`/db. */
export const shaleCompactorLayer = (
  dir: string,
  compactor: Partial<CompactorSettings>,
  settings: SettingsInput = {}
): Layer.Layer<Compactor, DbError | ObjectStoreError> =>
  Compactor.layer({ path: DB_PATH, settings: { ...settings, compactor } }).pipe(
    Layer.provide(LocalObjectStore.layer({ root: dir }))
  )

/** Runs `use` with a Shale compactor on `dir`/db (claimed when it starts, stopped when `use` ends). */
export const withShaleCompactor = <A, E, R>(
  dir: string,
  compactor: Partial<CompactorSettings>,
  use: (c: CompactorHandle) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | DbError | ObjectStoreError, Exclude<R, Compactor>> =>
  Effect.flatMap(Compactor, use).pipe(Effect.provide(shaleCompactorLayer(dir, compactor)))

// ---- what is on disk ----------------------------------------------------------------------------------------

export type VersionedDir = "manifest" | "compactions"

/** Ids of the manifests or compactions files in `dir`/db, ascending. */
export const idsOnDisk = (dir: string, sub: VersionedDir): Array<number> => {
  let names: Array<string>
  try {
    names = readdirSync(join(dir, DB_PATH, sub))
  } catch {
    return []
  }
  const parse = sub === "manifest" ? parseManifestId : parseCompactionsId
  return names.map((n) => parse(n)).filter((id): id is number => id !== undefined).sort((a, b) => a - b)
}

const fileOf = (dir: string, sub: VersionedDir, id: number): string =>
  join(dir, DB_PATH, sub, `${String(id).padStart(20, "0")}.${sub === "manifest" ? "manifest" : "compactions"}`)

export const readVersioned = (dir: string, sub: VersionedDir, id: number): Uint8Array =>
  new Uint8Array(readFileSync(fileOf(dir, sub, id)))

export const compactionsOnDisk = (dir: string, id: number): Compactions =>
  decodeCompactions(readVersioned(dir, "compactions", id))

/** The latest compactions file in `dir`/db, decoded, with its id. */
export const latestCompactionsOnDisk = (dir: string): { readonly id: number; readonly file: Compactions } | undefined => {
  const ids = idsOnDisk(dir, "compactions")
  const id = ids[ids.length - 1]
  return id === undefined ? undefined : { id, file: compactionsOnDisk(dir, id) }
}

/**
 * Decodes each of the given files with Shale's codec and encodes the result again: the files whose bytes
 * differ (with the first differing offset and the sizes), or that do not decode. Empty when all round-trip.
 */
export const roundTripProblems = (dir: string, sub: VersionedDir, ids: ReadonlyArray<number>): Array<string> => {
  const problems: Array<string> = []
  for (const id of ids) {
    const bytes = readVersioned(dir, sub, id)
    let again: Uint8Array
    try {
      again = sub === "manifest" ? encodeManifest(decodeManifest(bytes)) : encodeCompactions(decodeCompactions(bytes))
    } catch (e) {
      problems.push(`${sub} ${id}: ${String(e)}`)
      continue
    }
    if (Buffer.compare(bytes, again) !== 0) {
      let at = 0
      while (at < bytes.length && at < again.length && bytes[at] === again[at]) at++
      problems.push(`${sub} ${id}: re-encoded differs at byte ${at} (${bytes.length} bytes on disk, ${again.length} re-encoded)`)
    }
  }
  return problems
}

/** The ids in `after` that are not in `before`. */
export const newIds = (before: ReadonlyArray<number>, after: ReadonlyArray<number>): Array<number> => {
  const seen = new Set(before)
  return after.filter((id) => !seen.has(id))
}

/**
 * How many L0 SSTs the writers flushed into `dir`/db (no garbage collector runs in these tests, so every SST
 * stays): the SSTs in `compacted/` that no compactions file lists as a compaction's output.
 */
export const l0SstsEverWritten = (dir: string): number => {
  const outputs = new Set<string>()
  for (const id of idsOnDisk(dir, "compactions")) {
    for (const c of compactionsOnDisk(dir, id).recentCompactions) for (const sst of c.outputSsts) outputs.add(sst.id)
  }
  const ssts = readdirSync(join(dir, DB_PATH, "compacted")).filter((n) => n.endsWith(".sst")).map((n) => n.slice(0, -4))
  return ssts.filter((id) => !outputs.has(id)).length
}

/** Every SST id a manifest references (L0 and sorted runs). */
export const sstIdsOf = (m: Manifest): Array<string> => [...m.l0.map((s) => s.id), ...m.compacted.flatMap((r) => r.ssts.map((s) => s.id))]

/** Puts and deletes in a sorted run, from its SSTs' stats sections. */
export const runStatsOnDisk = (dir: string, run: SortedRun): { readonly puts: number; readonly deletes: number } => {
  let puts = 0
  let deletes = 0
  for (const sst of run.ssts) {
    const bytes = readFileSync(join(dir, DB_PATH, "compacted", `${sst.id}.sst`))
    const framed = new Uint8Array(bytes.subarray(sst.info.statsOffset, sst.info.statsOffset + sst.info.statsLen))
    const stats = decodeSstStats(decompress(sst.info.compressionFormat, verifyChecksum(framed, { section: "stats" })))
    puts += stats.numPuts
    deletes += stats.numDeletes
  }
  return { puts, deletes }
}

/**
 * What a compaction of everything flushed (every row up to the manifest's `lastL0Seq`) into the last run
 * must keep when no snapshot holds older versions: the newest flushed version of each key, if it is a value
 * that has not expired by the manifest's `lastL0ClockTick` (tombstones and expired values are dropped).
 */
export const expectedLastRunPuts = (model: Model, m: Manifest): number => {
  const newest = new Map<string, WrittenRow>()
  for (const r of model.rows) if (r.seq <= m.lastL0Seq) newest.set(hexKey(r.key), r)
  return [...newest.values()].filter((r) =>
    r.kind === "value" && (r.expireTs === undefined || r.expireTs > m.lastL0ClockTick)
  ).length
}
