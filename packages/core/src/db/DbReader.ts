/**
 * SlateDB's `DbReader` (db_reader.rs, docs/format.md §3.10): a reader of a database that another process
 * writes, which follows the writer and never writes data. `openDbReader({ root, checkpointId?, options? })`
 * in the caller's scope, or the `DbReader` service (`DbReader.layer({ path, ... })`); the Promise form is
 * `Shale.openReader` (ShaleReader.ts).
 *
 * Opening (options checked first, ReaderOptions.ts):
 * - Without `checkpointId`: a checkpoint of its own (lifetime `checkpointLifetimeMs`) is added to the latest
 *   manifest, pinning the version that contains it, which the reader then reads (ReaderCheckpoint.ts); no
 *   database ⇒ `DataError` "failed to find latest transactional object (e.g. manifest) version", a manifest
 *   not initialized ⇒ `DataError` "invalid DB state". Then it replays the WAL SSTs after the version's
 *   `replay_after_wal_id` up to the last one listed (`skipWalReplay`: up to `next_wal_sst_id − 1`) and
 *   polls (ReaderPoller.ts): new WALs, new manifest versions (re-establishing its checkpoint when L0 or the
 *   sorted runs change), and refreshes of its checkpoint.
 * - With `checkpointId` (a user's checkpoint of the latest manifest; absent ⇒ `DataError` "checkpoint
 *   missing", SlateDB's `CheckpointMissing`): the version it pins and that version's WAL range
 *   (`.. next_wal_sst_id − 1`); it never polls and writes nothing.
 * If opening fails after its checkpoint was written, the checkpoint is removed again.
 *
 * Reads (`get`, `getKeyValue`, `scan` in both orders, `scanPrefix`) go through the writer's read path
 * (Reader.ts) over the replayed memtables and the version's SSTs. The reader sees only durable data: every
 * row of the WALs replayed so far and of the version's SSTs (committed = durable = the highest seq
 * replayed), so every `ReadOptions` gives the same answer. A scan reads the sources of the moment it
 * starts. GC safety: see ReaderPoller.ts.
 *
 * Changes (`changes({ fromSeq })`): wal/ChangeStream.ts's stream, listing no WAL past the last one the
 * reader replayed, so it follows the WAL as the reader sees it grow and ends when the reader closes
 * (docs/design/changes.md).
 *
 * Closing (`close`, or the end of the scope; a second close does nothing): reads fail with
 * `ClosedError("clean")` at once (scans in progress at their next pull), polling stops, and its own
 * checkpoints are removed from the manifest (one CAS write; if that fails, a warning is logged and the
 * checkpoint expires by itself). A reader at a user checkpoint removes nothing.
 *
 * Not here: SlateDB's merge operator (Shale has none yet: reading a merge operand fails with
 * `InvalidError` "merge operator missing"), its disk cache, metrics recorder and status subscription.
 */
import { Clock, Context, Effect, Exit, Fiber, Layer, type Scope, Stream } from "effect"
import { type ChangesGapError, ClosedError, type DbError, InvalidError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { makeUuid } from "../manifest/Ids.ts"
import { makeManifestStore } from "../manifest/ManifestStore.ts"
import { MemTable } from "../memtable/MemTable.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
import { Settings, type SettingsInput } from "../Settings.ts"
import { checkMergeOperator, type MergeOperator } from "../iter/MergeOperator.ts"
import { TableStore } from "../sst/TableStore.ts"
import { configureWarming } from "./ViewWarming.ts"
import { type Change, changesOver, type ChangesOptions } from "../wal/ChangeStream.ts"
import { makeReader, ReadNow } from "./Reader.ts"
import { putReaderCheckpoint, removeReaderCheckpoints } from "./ReaderCheckpoint.ts"
import { type DbReaderOptions, resolveReaderOptions, type ResolvedReaderOptions } from "./ReaderOptions.ts"
import { newCounters, pollForever, type ReaderCore, replayNewWals } from "./ReaderPoller.ts"
import { pinnedManifest, type ReadOnlyDb } from "./ReadOnlyDb.ts"
import { newViewState, replayWalRange } from "./ViewState.ts"
import { separateWalStoreProblem } from "./WalReplay.ts"
import { memoryLimit } from "./MemtableLimit.ts"

export type { DbReaderOptions } from "./ReaderOptions.ts"

export interface DbReaderOpenOptions {
  /** The database root inside the object store (`""` for the store's root). */
  readonly root: string
  /** Read at this user checkpoint of the latest manifest (a UUID); the reader then never polls. */
  readonly checkpointId?: string
  /** SlateDB's `DbReaderOptions` (ReaderOptions.ts). */
  readonly options?: DbReaderOptions
  /** Any subset of the settings (the reader uses `blockCacheBytes` and `manifestUpdateTimeoutMs`). */
  readonly settings?: SettingsInput
  /** Retry policy of the store wrapper (default: the engine's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
  /** Folds merge operands on reads (docs/design/merge.md); without one, a read that meets an operand fails. */
  readonly mergeOperator?: MergeOperator
}

/** What a reader says of itself. */
export interface DbReaderStatus {
  /** The manifest version it reads (the one its checkpoint pins). */
  readonly manifestId: number
  readonly checkpointId: string
  /** True when the checkpoint is its own (no `checkpointId` given), false at a user's. */
  readonly ownCheckpoint: boolean
  /** When its own checkpoint expires (Unix seconds; refreshed before half its lifetime is left). */
  readonly checkpointExpireTimeS: number | undefined
  /** The highest visible seq (committed = durable). */
  readonly seq: number
  /** The last WAL id replayed (or covered by the version's `replay_after_wal_id`). */
  readonly lastWalId: number
  readonly immutableMemtables: number
  /** Polls run (failed ones included), failed polls and the last failure's message. */
  readonly polls: number
  readonly pollErrors: number
  readonly lastPollError: string | undefined
  /** Times its checkpoint was replaced by one pinning a newer version, and refreshed. */
  readonly checkpointsReplaced: number
  readonly checkpointRefreshes: number
  /** Undefined while open. */
  readonly closeReason: "clean" | undefined
}

/** An open `DbReader`: a read-only view (ReadOnlyDb.ts's shape) that moves forward, with its status. */
export interface DbReaderHandle extends ReadOnlyDb {
  /** The checkpoint it reads at: its own (replaced as it follows the writer), or the user's. */
  readonly checkpointId: string
  readonly status: Effect.Effect<DbReaderStatus>
  /**
   * The change stream (wal/ChangeStream.ts) of the WAL as this reader sees it: committed rows in seq order
   * from `options.fromSeq`, never past the last WAL the reader replayed; it grows as the reader polls, and
   * ends (after emitting every row of the WAL the reader had replayed) when the reader closes. Polls every
   * `pollIntervalMs`, by default the reader's `manifestPollIntervalMs`. `ChangesGapError` when the WAL it
   * needs was collected; a closed reader refuses a new stream with `ClosedError("clean")`.
   */
  readonly changes: (options?: ChangesOptions) => Stream.Stream<Change, DbError | ChangesGapError>
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

const openProblem = (options: DbReaderOpenOptions): string | undefined => {
  if (typeof options !== "object" || options === null) return "options must be an object"
  if (typeof options.root !== "string") return "root must be a string"
  const id = options.checkpointId
  if (id !== undefined && (typeof id !== "string" || !UUID_RE.test(id))) return `checkpointId must be a UUID, got ${JSON.stringify(id)}`
  return undefined
}

/** What both ways of opening share. */
interface Base {
  readonly store: ObjectStore["Service"]
  readonly root: string
  readonly manifests: ReturnType<typeof makeManifestStore>
  readonly tables: TableStore
  readonly options: ResolvedReaderOptions
  readonly timeoutMs: number
  readonly clock: Clock.Clock
}

/** Opens at a checkpoint of its own (see the module comment); removes it again if opening fails. */
const openFollowing = (base: Base): Effect.Effect<ReaderCore, DbError> => {
  const owned = new Set<string>()
  return Effect.gen(function*() {
    const id = yield* makeUuid
    owned.add(id)
    const lifetimeMs = base.options.checkpointLifetimeMs
    const put = yield* putReaderCheckpoint(base.manifests, { id, remove: new Set(), lifetimeMs }, base.timeoutMs)
    const m = put.manifest
    const walStore = separateWalStoreProblem(m)
    if (walStore !== undefined) return yield* walStore
    const core: ReaderCore = {
      ...base,
      state: newViewState(base.clock, m),
      view: { manifestForReads: m },
      checkpoint: put.checkpoint,
      lastWalId: m.replayAfterWalId,
      owned,
      counters: newCounters()
    }
    yield* replayNewWals(core)
    return core
  }).pipe(Effect.onExit((exit) =>
    Exit.isSuccess(exit) ? Effect.void : Effect.ignore(removeReaderCheckpoints(base.manifests, owned, base.timeoutMs), { log: "Warn" })
  ))
}

/** Opens at a user's checkpoint: its version and that version's WAL range, fixed. */
const openAtCheckpoint = (base: Base, checkpointId: string): Effect.Effect<ReaderCore, DbError> =>
  Effect.gen(function*() {
    const pinned = yield* pinnedManifest(base.manifests, { root: base.root, checkpointId })
    const m = pinned.manifest
    const walStore = separateWalStoreProblem(m)
    if (walStore !== undefined) return yield* walStore
    const state = newViewState(base.clock, m)
    const replayed = yield* replayWalRange(base.store, base.root, state, {
      first: m.replayAfterWalId + 1,
      last: m.nextWalSstId - 1,
      skipAtOrBelow: m.lastL0Seq,
      freezeAt: memoryLimit(base.options.maxMemtableBytes)
    })
    return {
      ...base,
      state,
      view: { manifestForReads: m },
      checkpoint: { id: checkpointId.toLowerCase(), manifestId: pinned.id },
      lastWalId: replayed.lastWalId,
      owned: new Set(),
      counters: newCounters()
    }
  })

const statusOf = (core: ReaderCore, own: boolean): DbReaderStatus => ({
  manifestId: core.checkpoint.manifestId,
  checkpointId: core.checkpoint.id,
  ownCheckpoint: own,
  checkpointExpireTimeS: core.checkpoint.expireTimeS,
  seq: core.state.seqs.committed,
  lastWalId: core.lastWalId,
  immutableMemtables: core.state.imms.length,
  ...core.counters,
  closeReason: core.state.closeError === undefined ? undefined : "clean"
})

/** The handle over an opened core: reads, status, and the close that stops `poller` and removes its checkpoints. */
const handleOf = (
  core: ReaderCore,
  own: boolean,
  poller: Fiber.Fiber<never> | undefined,
  mergeOperator: MergeOperator | undefined
): DbReaderHandle => {
  const reader = makeReader({ state: core.state, manifest: core.view, tables: core.tables, mergeOperator })
  let closed = false
  const close = Effect.uninterruptible(Effect.suspend(() => {
    if (closed) return Effect.void
    closed = true
    const state = core.state
    state.closeError = new ClosedError({ reason: "clean", message: "db is closed" })
    return Effect.gen(function*() {
      if (poller !== undefined) yield* Fiber.interrupt(poller)
      state.memtable = new MemTable()
      state.imms = []
      state.immBytes = 0
      core.tables.retainOnly(new Set())
      core.tables.blockCache?.clear()
      yield* removeReaderCheckpoints(core.manifests, core.owned, core.timeoutMs).pipe(
        Effect.catch((e) => Effect.logWarning(`DbReader: could not remove its checkpoint of "${core.root}" (it will expire): ${e.message}`))
      )
    })
  }))
  const changes = (options?: ChangesOptions) =>
    Stream.suspend(() =>
      closed
        ? Stream.fail(new ClosedError({ reason: "clean", message: "db is closed" }))
        : changesOver(core.store, core.root, { pollIntervalMs: core.options.manifestPollIntervalMs, ...options }, {
          state: () => (closed ? "closed" : "open"),
          lastWalId: () => core.lastWalId
        })
    )
  return {
    get manifestId() {
      return core.checkpoint.manifestId
    },
    get checkpointId() {
      return core.checkpoint.id
    },
    get seq() {
      return core.state.seqs.committed
    },
    get: reader.get,
    getKeyValue: reader.getKeyValue,
    scan: reader.scan,
    scanPrefix: reader.scanPrefix,
    status: Effect.sync(() => statusOf(core, own)),
    changes,
    close,
    [ReadNow]: { get: reader.getNow, getKeyValue: reader.getKeyValueNow }
  }
}

/** Opens a `DbReader` in the current scope (see the module comment). */
export const openDbReader = (options: DbReaderOpenOptions): Effect.Effect<DbReaderHandle, DbError, ObjectStore | Scope.Scope> =>
  Effect.gen(function*() {
    const problem = openProblem(options)
    if (problem !== undefined) return yield* new InvalidError({ message: problem })
    const resolved = resolveReaderOptions(options.options)
    if (resolved instanceof InvalidError) return yield* resolved
    const settings = yield* Settings.validate(options.settings)
    const mergeOperator = yield* checkMergeOperator(options.mergeOperator)
    const root = normalizeRoot(options.root)
    const store = withRetries(yield* instrumented(yield* ObjectStore, "reader"), options.storeRetry)
    const base: Base = {
      store,
      root,
      manifests: makeManifestStore(store, root),
      tables: new TableStore(store, root, settings.blockCacheBytes),
      options: resolved,
      timeoutMs: settings.manifestUpdateTimeoutMs,
      clock: yield* Clock.Clock
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => base.tables.releaseAll()))
    configureWarming(base.tables, settings.compactionWarmupMs, yield* Effect.scope)
    const own = options.checkpointId === undefined
    const core = own ? yield* openFollowing(base) : yield* openAtCheckpoint(base, options.checkpointId!)
    const poller = own ? yield* Effect.forkScoped(pollForever(core)) : undefined
    const handle = handleOf(core, own, poller, mergeOperator)
    yield* Effect.addFinalizer(() => handle.close)
    return handle
  })

export interface DbReaderLayerOptions {
  /** The database root inside the store. */
  readonly path: string
  readonly checkpointId?: string
  readonly options?: DbReaderOptions
  readonly settings?: SettingsInput
  readonly storeRetry?: RetryOptions
  readonly mergeOperator?: MergeOperator
}

/** SlateDB's `DbReader` as a service: `DbReader.layer({ path, ... })` over the `ObjectStore` in context. */
export class DbReader extends Context.Service<DbReader, DbReaderHandle>()("shale/DbReader") {
  static readonly layer = (options: DbReaderLayerOptions): Layer.Layer<DbReader, DbError, ObjectStore> =>
    Layer.effect(
      DbReader,
      openDbReader({
        root: options.path,
        ...(options.checkpointId === undefined ? {} : { checkpointId: options.checkpointId }),
        ...(options.options === undefined ? {} : { options: options.options }),
        ...(options.settings === undefined ? {} : { settings: options.settings }),
        ...(options.storeRetry === undefined ? {} : { storeRetry: options.storeRetry }),
        ...(options.mergeOperator === undefined ? {} : { mergeOperator: options.mergeOperator })
      })
    )
}
