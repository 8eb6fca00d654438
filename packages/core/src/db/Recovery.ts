/**
 * Opening a database as its writer: claim, fence, replay (SlateDB's `DbBuilder::build`, docs/format.md §3.1).
 *
 * 1. Claim the writer epoch (`manifest/ManifestStore.ts`): create manifest 1 if there is none, then write
 *    the next version with `writer_epoch + 1`, create-only, retrying on conflicts. From here on every
 *    manifest this writer reads is checked for a newer epoch.
 * 2. Fence older writers in the WAL: write the empty SST (SlateDB's fence: the compacted-SST builder over
 *    no rows) create-only at `max(listed WAL ids ≥ replay_after_wal_id) + 1`. If that id is taken, a
 *    zombie got there first: refresh the manifest (which fails with `fenced` if an even newer writer
 *    exists) and try the next id. Any older writer's next WAL write now hits an existing object and it
 *    closes itself as fenced.
 * 3. Replay every WAL after `replay_after_wal_id` (WalReplay.ts), in id order (the fence file included;
 *    four files are fetched ahead, one GET each), skipping rows with `seq ≤ last_l0_seq` (already in L0).
 *    A missing id in that range is a `DataError`. After each WAL file, if the memtable's estimated L0
 *    SST reaches `l0SstSizeBytes`, it is frozen as an immutable memtable tagged with that WAL id (tables
 *    are cut at WAL boundaries), to be flushed to L0 once the database runs.
 * 4. Restore the watermarks: last seq = committed = durable = the highest seq seen (or `last_l0_seq`);
 *    the clock's last tick = the highest `create_ts` seen (or `last_l0_clock_tick`); the next WAL id =
 *    the last replayed id + 1, so a brand-new database writes `manifest/1`, `manifest/2`, the fence
 *    `wal/1` and its first data WAL `wal/2`, exactly like SlateDB.
 *
 * A manifest that records a separate WAL object store (`wal_object_store_uri`) is refused with
 * `InvalidError`: Shale keeps WAL SSTs in the main store (SlateDB's `WalStoreReconfigurationError`).
 */
import { type Clock, Effect, Exit, Option } from "effect"
import { DataError, type DbError } from "../errors.ts"
import { manifestPath, walSstPath } from "../format/Paths.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { buildSsTable } from "../format/SsTableBuilder.ts"
import type { CompressionFormat } from "../format/SstMetadata.ts"
import { listCompactedIds } from "../sst/TableStore.ts"
import { listWalIds, readWalRows } from "../wal/WalSstReader.ts"
import { missingObjectProblems, sstInfoProblem, structureProblems, successionProblems, walRowProblems } from "../manifest/ManifestChecks.ts"
import { claimWriterEpoch, makeManifestStore, type ManifestStore, type ManifestWriter } from "../manifest/ManifestStore.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { Settings } from "../Settings.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { DbState, EngineClock, SeqWatermarks } from "./DbState.ts"
import {
  finishReplay,
  readWals,
  REPLAY_PREFETCH,
  replayStart,
  replayWal,
  rowsOf,
  separateWalStoreProblem,
  walsToReplay
} from "./WalReplay.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { memtableLimit } from "./MemtableLimit.ts"

export interface RecoveryOptions {
  readonly root: string
  readonly settings: Settings
  readonly compression: CompressionFormat
  /** The retrying store the engine uses. */
  readonly store: ObjectStore["Service"]
  /** The Effect clock the engine's ticks come from. */
  readonly clock: Clock.Clock
  /** The engine's SST handles: the L0 SSTs checked at open stay open there. */
  readonly tables: TableStore
}

export interface Recovered {
  readonly writer: ManifestWriter
  readonly state: DbState
  /** The last WAL id replayed (the fence, unless a newer writer's WALs were listed). */
  readonly lastWalId: number
  /** WAL files replayed and rows applied (for tests and logs). */
  readonly replayedWals: number
  readonly replayedRows: number
}

/** Writes the fence (an empty compacted SST) at the first free WAL id, refreshing the manifest on conflicts. */
const fenceWal = (options: RecoveryOptions, writer: ManifestWriter) =>
  Effect.gen(function*() {
    const { root, settings, store } = options
    const replayAfter = writer.manifest.replayAfterWalId
    const listed = yield* listWalIds(store, root)
    // Never an id the manifest says was used (a WAL deleted behind our back must not be rewritten).
    let id = Math.max(replayAfter + 1, writer.manifest.nextWalSstId)
    for (const w of listed) if (w >= replayAfter && w + 1 > id) id = w + 1
    const { bytes } = buildSsTable([], {
      blockSize: settings.blockSize,
      compression: options.compression,
      minFilterKeys: settings.minFilterKeys,
      filterBitsPerKey: settings.filterBitsPerKey
    })
    while (true) {
      const written = yield* store.put(walSstPath(root, id), bytes, { mode: "create" }).pipe(
        Effect.as(true),
        Effect.catchTag("ObjectAlreadyExists", () => Effect.succeed(false)),
        Effect.mapError(toDbError)
      )
      if (written) return id
      yield* writer.refresh
      id++
    }
  })

const inconsistent = (id: number, root: string, problems: ReadonlyArray<string>) =>
  new DataError({
    message: `manifest ${id} does not match the store (it may be damaged; nothing was written): ${problems.join("; ")}`,
    object: manifestPath(root, id),
    section: "manifest"
  })

/**
 * Everything an open can check before it writes (manifest/ManifestChecks.ts), so that a database that
 * cannot be opened is left as it was: the latest manifest on its own, against the listing, against the
 * version before it, against the rows of the WALs to replay (read here, and kept in `walRows` for the
 * replay) and against the footers of its L0 SSTs (whose handles stay open in `tables`).
 */
const checkBeforeWriting = (options: RecoveryOptions, manifests: ManifestStore, checked: { id: number }) =>
  Effect.gen(function*() {
    const { root, store, tables } = options
    const walRows = new Map<number, ReadonlyArray<RowEntry>>()
    const latest = yield* manifests.readLatest
    if (latest === undefined) return walRows
    checked.id = latest.id
    const m = latest.manifest
    const walStore = separateWalStoreProblem(m)
    if (walStore !== undefined) return yield* walStore
    const walIds = yield* listWalIds(store, root)
    const compacted = yield* listCompactedIds(store, root)
    const problems = [...structureProblems(m, latest.id), ...missingObjectProblems(m, new Set(walIds), compacted)]
    if (latest.id > 1) {
      // The version before, if it is still there and readable (garbage collection may have removed it).
      const prev = yield* Effect.option(manifests.read(latest.id - 1))
      if (Option.isSome(prev)) problems.push(...successionProblems(prev.value, m, latest.id))
    }
    if (problems.length > 0) return yield* inconsistent(latest.id, root, problems)

    const ids = yield* walsToReplay(walIds, m.replayAfterWalId)
    yield* readWals(store, root, ids, walRows)
    const atReplayPoint = m.replayAfterWalId > 0 && walIds.includes(m.replayAfterWalId)
      ? yield* readWalRows(store, root, m.replayAfterWalId)
      : undefined
    problems.push(...walRowProblems(m, rowsOf(ids, walRows), atReplayPoint))
    const external = new Set(m.externalDbs.flatMap((db) => db.sstIds))
    const handles = yield* Effect.forEach(
      m.l0.filter((sst) => !external.has(sst.id)),
      (sst) => Effect.map(tables.reader(m, sst), (reader) => [sst, reader] as const),
      { concurrency: REPLAY_PREFETCH }
    )
    for (const [sst, reader] of handles) {
      const problem = sstInfoProblem(sst.id, sst.info, reader.info)
      if (problem !== undefined) problems.push(problem)
    }
    if (problems.length > 0) return yield* inconsistent(latest.id, root, problems)
    return walRows
  })

/** Times the checks start over when the manifest moved on while they ran. */
const CHECK_ATTEMPTS = 5

/**
 * `checkBeforeWriting`, started over when it fails and a newer manifest version exists than the one it
 * checked: an older writer still running (or a compactor) moved the database on meanwhile, and a garbage
 * collector may have deleted WAL or SST objects the version checked named. Nothing was wrong with the
 * store then; a failure against the latest version stands.
 */
const checkLatestBeforeWriting = (options: RecoveryOptions, manifests: ManifestStore) =>
  Effect.gen(function*() {
    for (let attempt = 1;; attempt++) {
      const checked = { id: 0 }
      const outcome = yield* Effect.exit(checkBeforeWriting(options, manifests, checked))
      if (Exit.isSuccess(outcome)) return outcome.value
      const latest = attempt < CHECK_ATTEMPTS ? yield* Effect.option(manifests.readLatest) : Option.none()
      const moved = Option.isSome(latest) && latest.value !== undefined && latest.value.id > checked.id
      if (!moved) return yield* Effect.failCause(outcome.cause)
      yield* Effect.logDebug(`open: manifest ${checked.id} changed to ${latest.value!.id} during the checks; checking again`)
    }
  })

/** Claims the database, fences older writers and replays the WAL (see the module comment). */
export const recover = (options: RecoveryOptions): Effect.Effect<Recovered, DbError> =>
  Effect.gen(function*() {
    const { root, settings, store } = options
    const manifests = makeManifestStore(store, root)
    const walRows = yield* checkLatestBeforeWriting(options, manifests)
    const writer = yield* claimWriterEpoch(manifests, { timeoutMs: settings.manifestUpdateTimeoutMs })
    const fenceId = yield* fenceWal(options, writer)

    const manifest = writer.manifest
    const replayAfter = manifest.replayAfterWalId
    const lastL0Seq = manifest.lastL0Seq
    const ids = yield* walsToReplay(yield* listWalIds(store, root), replayAfter)
    const lastWalId = Math.max(fenceId, ids[ids.length - 1] ?? fenceId)
    // A writer that was still running may have written WALs (or a manifest) since the checks: read those
    // now, and check the rows again against the manifest we claimed.
    yield* readWals(store, root, ids, walRows)
    const rowProblems = walRowProblems(manifest, rowsOf(ids, walRows), undefined)
    if (rowProblems.length > 0) return yield* inconsistent(writer.id, root, rowProblems)

    const state = new DbState(new SeqWatermarks(lastL0Seq), new EngineClock(options.clock, manifest.lastL0ClockTick), replayAfter)
    const totals = replayStart(manifest)

    // Test-only (the simulator proves it catches this bug): skip the newest WAL with rows below our fence.
    const switches = yield* TestSwitches
    let skipId: number | undefined
    if (switches.skipLastWalReplay) {
      for (const id of ids) if (id < fenceId && (walRows.get(id)?.length ?? 0) > 0) skipId = id
    }

    const replay = { lastL0Seq, freezeAt: memtableLimit(settings) }
    for (const id of ids) {
      const rows = id === skipId ? [] : walRows.get(id)!
      walRows.delete(id)
      replayWal(state, id, rows, replay, totals)
    }

    finishReplay(state, totals)
    state.recentFlushedWalId = lastWalId
    writer.resetWalIds(lastWalId)
    yield* Effect.annotateCurrentSpan({
      "db.manifest_id": writer.id,
      "db.writer_epoch": writer.epoch,
      "db.replayed_wals": ids.length,
      "db.replayed_rows": totals.rows
    })
    yield* Effect.logDebug(`recovered "${root}": replayed ${ids.length} WAL(s), ${totals.rows} rows`).pipe(Effect.annotateLogs({
      manifest: writer.id,
      writerEpoch: writer.epoch,
      fenceWal: fenceId,
      replayAfterWal: replayAfter,
      replayedWals: ids.length,
      replayedRows: totals.rows,
      lastSeq: state.seqs.lastSeq,
      frozenMemtables: state.imms.length
    }))
    return { writer, state, lastWalId, replayedWals: ids.length, replayedRows: totals.rows }
  }).pipe(Effect.withSpan("Db.recover"))
