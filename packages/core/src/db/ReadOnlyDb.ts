/**
 * A read-only view of a database: SlateDB's `DbReader` over a fixed state (docs/format.md §3.10). It reads
 * one manifest version and the WAL SSTs after it, and writes nothing.
 *
 * Opening (`openReadOnly`, in the caller's scope):
 * 1. The manifest version: the latest one (none ⇒ `DataError` "failed to find latest transactional object
 *    (e.g. manifest) version"; `initialized = false` ⇒ `DataError` "invalid DB state", SlateDB's
 *    `InvalidDBState`); with `checkpointId`, the checkpoint of that id in the latest version (absent ⇒
 *    `DataError` "checkpoint missing", SlateDB's `CheckpointMissing`) and then the version it pins; with
 *    `manifestId`, that version.
 * 2. Replay (ViewState.ts, WalReplay.ts): the WAL SSTs after the version's `replay_after_wal_id`, up to the last WAL
 *    listed when reading the latest version, up to `next_wal_sst_id − 1` when reading a pinned one (a
 *    checkpoint's or `manifestId`'s: later WALs belong to later versions). A WAL that does not exist ends
 *    replay quietly, unless the view reads the latest version and a newer one has appeared meanwhile: then
 *    the WAL was covered and collected, and the view starts over from the newer version
 *    (`replayedVersion`). Rows with `seq ≤ last_l0_seq` are skipped (already in L0).
 * 3. Reads go through the writer's read path (Reader.ts) over that state: the replayed memtables, then the
 *    version's L0 SSTs and sorted runs (the SSTs a clone borrows are read under the parent's path,
 *    TableStore.ts). Everything replayed is visible: committed = durable = the highest seq replayed (or
 *    `last_l0_seq`), so every `ReadOptions` gives the same answers; that seq is the view's `seq`.
 *
 * What it never does: claim a writer or compactor epoch, write a manifest, a WAL, a fence or a checkpoint,
 * or create a database. It only lists and reads objects (through the engine's retrying store wrapper,
 * `storeRetry`), so it never fences a running writer.
 *
 * The state is fixed when it opens: writes made afterwards are not seen (open again for a newer view).
 * Unlike SlateDB's `DbReader`, it does not create a checkpoint of its own to pin what it reads (that would
 * be a write): reading the latest version while a garbage collector runs, an SST or WAL the view needs may
 * be deleted once a compaction or an L0 flush has replaced it, and a read then fails with `DataError`
 * (object not found). A checkpoint pins its version's SSTs and WALs: reading at one is stable. For a view
 * that follows the writer under a checkpoint of its own, use the `DbReader` (DbReader.ts).
 *
 * Closing (`close`, or the end of the scope): later reads fail with `ClosedError("clean")`, scans in
 * progress fail at their next pull; the memtables, the SST handles and the block cache are dropped.
 */
import { Clock, Effect, type Scope, type Stream } from "effect"
import { ClosedError, DataError, type DbError, InvalidError } from "../errors.ts"
import { checkpointMissing } from "../manifest/Checkpoints.ts"
import { normalizeRoot, walSstPath } from "../format/Paths.ts"
import type { Manifest } from "../manifest/Manifest.ts"
import { makeManifestStore, type ManifestStore } from "../manifest/ManifestStore.ts"
import { MemTable } from "../memtable/MemTable.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { checkMergeOperator, type MergeOperator } from "../iter/MergeOperator.ts"
import { TableStore } from "../sst/TableStore.ts"
import type { KeyRange, KeyValue, ReadOptions, ScanOptions } from "./DbApi.ts"
import { makeReader, ReadNow, type ReadNowHooks } from "./Reader.ts"
import { lastListedWalId, newViewState, replayWalRange } from "./ViewState.ts"
import { separateWalStoreProblem } from "./WalReplay.ts"
import type { DbState } from "./DbState.ts"
import { memtableLimit } from "./MemtableLimit.ts"

export interface ReadOnlyOptions {
  /** The database root inside the object store (`""` for the store's root). */
  readonly root: string
  /** Any subset of the settings (the view uses `blockCacheBytes` and `l0SstSizeBytes`). Validated. */
  readonly settings?: SettingsInput
  /** Read at this checkpoint of the latest manifest (the version it pins, and that version's WALs). */
  readonly checkpointId?: string
  /** Read at this manifest version (and its WALs). Not together with `checkpointId`. */
  readonly manifestId?: number
  /** Retry policy of the store wrapper (default: the engine's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
  /** Folds merge operands on reads (docs/design/merge.md); without one, a read that meets an operand fails. */
  readonly mergeOperator?: MergeOperator
}

/** A read-only view of a database (see the module comment). */
export interface ReadOnlyDb {
  /** The manifest version the view reads. */
  readonly manifestId: number
  /** The checkpoint it reads at, if opened with one. */
  readonly checkpointId: string | undefined
  /** The highest visible seq: the highest seq replayed from the WAL, or the version's `last_l0_seq`. */
  readonly seq: number
  readonly get: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<Uint8Array | undefined, DbError>
  readonly getKeyValue: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<KeyValue | undefined, DbError>
  /** Rows of `range` in key order (`options.order`: ascending by default, or descending), as `Db.scan`. */
  readonly scan: (range: KeyRange, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  readonly scanPrefix: (prefix: Uint8Array, options?: ScanOptions) => Stream.Stream<KeyValue, DbError>
  /** Drops the view's state; later reads fail with `ClosedError("clean")`. A second close does nothing. */
  readonly close: Effect.Effect<void>
  /** Internal: the synchronous read hooks of the Promise API (Reader.ts's `ReadNow`). */
  readonly [ReadNow]: ReadNowHooks
}

/** The version a view reads: `fixed` when its WAL range ends at its `next_wal_sst_id` (a pinned version). */
export interface Pinned {
  readonly id: number
  readonly manifest: Manifest
  readonly fixed: boolean
}

const optionsProblem = (options: ReadOnlyOptions): string | undefined => {
  if (typeof options !== "object" || options === null) return "options must be an object"
  if (typeof options.root !== "string") return "root must be a string"
  const { checkpointId, manifestId } = options
  if (checkpointId !== undefined && typeof checkpointId !== "string") return "checkpointId must be a string"
  if (manifestId !== undefined && !(Number.isSafeInteger(manifestId) && manifestId >= 1)) {
    return `manifestId must be a positive integer, got ${String(manifestId)}`
  }
  if (checkpointId !== undefined && manifestId !== undefined) return "give checkpointId or manifestId, not both"
  return undefined
}

/** SlateDB's `InvalidDBState` for manifest version `id`. */
export const uninitialized = (id: number) =>
  new DataError({ message: `invalid DB state: manifest ${id} is not initialized (a clone still being created?)`, section: "manifest" })

/** The manifest version to read (step 1 of the module comment); also the `DbReader`'s at a user checkpoint. */
export const pinnedManifest = (manifests: ManifestStore, options: ReadOnlyOptions): Effect.Effect<Pinned, DbError> =>
  Effect.gen(function*() {
    if (options.manifestId !== undefined) {
      const manifest = yield* manifests.read(options.manifestId)
      if (!manifest.initialized) return yield* uninitialized(options.manifestId)
      return { id: options.manifestId, manifest, fixed: true }
    }
    const latest = yield* manifests.readLatest
    if (latest === undefined) {
      return yield* new DataError({ message: "failed to find latest transactional object (e.g. manifest) version", section: "manifest" })
    }
    if (!latest.manifest.initialized) return yield* uninitialized(latest.id)
    if (options.checkpointId === undefined) return { ...latest, fixed: false }
    const wanted = options.checkpointId.toLowerCase()
    const checkpoint = latest.manifest.checkpoints.find((c) => c.id === wanted)
    if (checkpoint === undefined) return yield* checkpointMissing(options.checkpointId)
    const manifest = checkpoint.manifestId === latest.id ? latest.manifest : yield* manifests.read(checkpoint.manifestId)
    return { id: checkpoint.manifestId, manifest, fixed: true }
  })

/** How many times a view of the latest version starts over when a WAL it listed vanished (see below). */
const LATEST_ATTEMPTS = 5

/**
 * The version to read and its WALs replayed (steps 1 and 2 of the module comment). Reading the latest
 * version, a WAL the listing showed can vanish before it is read: an L0 flush covered it in a newer version
 * and the garbage collector deleted it. Replay would end there quietly and the view would miss writes that
 * were durable when it opened, so when a newer version exists it starts over from that one; after
 * `LATEST_ATTEMPTS` it fails with the missing WAL (`DataError`, object not found), as a read of a deleted
 * SST does. (Found by the simulation, seed 3250.)
 */
const replayedVersion = (
  store: ObjectStore["Service"],
  root: string,
  options: ReadOnlyOptions,
  freezeAt: ReturnType<typeof memtableLimit>
): Effect.Effect<{ readonly pinned: Pinned; readonly state: DbState }, DbError> =>
  Effect.gen(function*() {
    const manifests = makeManifestStore(store, root)
    for (let attempt = 1;; attempt++) {
      const pinned = yield* pinnedManifest(manifests, options)
      const m = pinned.manifest
      const walStore = separateWalStoreProblem(m)
      if (walStore !== undefined) return yield* walStore
      const lastWal = pinned.fixed ? m.nextWalSstId - 1 : ((yield* lastListedWalId(store, root, m.replayAfterWalId)) ?? 0)
      const state = newViewState(yield* Clock.Clock, m)
      const replay = { first: m.replayAfterWalId + 1, last: lastWal, skipAtOrBelow: m.lastL0Seq, freezeAt }
      const replayed = yield* replayWalRange(store, root, state, replay)
      if (pinned.fixed || replayed.lastWalId >= lastWal) return { pinned, state }
      // A WAL the listing showed is gone. Without a newer version it is a gap in the WAL, which ends replay
      // quietly (as SlateDB's reader does); with one, an L0 flush covered it and the collector deleted it.
      const latest = yield* manifests.readLatest
      if (latest === undefined || latest.id === pinned.id) return { pinned, state }
      if (attempt === LATEST_ATTEMPTS) {
        const missing = walSstPath(root, replayed.lastWalId + 1)
        return yield* new DataError({
          message: `object not found: ${missing} (listed, then deleted before the view read it, ${attempt} times)`,
          object: missing
        })
      }
    }
  })

/** Opens a read-only view in the current scope (see the module comment); writes nothing. */
export const openReadOnly = (options: ReadOnlyOptions): Effect.Effect<ReadOnlyDb, DbError, ObjectStore | Scope.Scope> =>
  Effect.gen(function*() {
    const problem = optionsProblem(options)
    if (problem !== undefined) return yield* new InvalidError({ message: problem })
    const settings = yield* Settings.validate(options.settings)
    const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
    const root = normalizeRoot(options.root)
    const store = withRetries(yield* instrumented(yield* ObjectStore, "reader"), options.storeRetry)
    const { pinned, state } = yield* replayedVersion(store, root, options, memtableLimit(settings))
    const m = pinned.manifest

    // ---------------------------------------------------------------- reads
    const tables = new TableStore(store, root, settings.blockCacheBytes)
    yield* Effect.addFinalizer(() => Effect.sync(() => tables.releaseAll()))
    const reader = makeReader({ state, manifest: { manifestForReads: m }, tables, mergeOperator })

    const close = Effect.sync(() => {
      if (state.closeError !== undefined) return
      state.closeError = new ClosedError({ reason: "clean", message: "db is closed" })
      state.memtable = new MemTable()
      state.imms = []
      state.immBytes = 0
      tables.retainOnly(new Set())
      tables.blockCache?.clear()
    })
    yield* Effect.addFinalizer(() => close)

    return {
      manifestId: pinned.id,
      checkpointId: options.checkpointId === undefined ? undefined : options.checkpointId.toLowerCase(),
      seq: state.seqs.committed,
      get: reader.get,
      getKeyValue: reader.getKeyValue,
      scan: reader.scan,
      scanPrefix: reader.scanPrefix,
      close,
      [ReadNow]: { get: reader.getNow, getKeyValue: reader.getKeyValueNow }
    } satisfies ReadOnlyDb
  })
