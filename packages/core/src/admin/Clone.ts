/**
 * Clones (SlateDB's `Admin::create_clone`, docs/format.md §3.9): a new database at `clonePath` that starts
 * with the state of a parent database at a checkpoint, shares the parent's SSTs instead of copying them,
 * and from then on lives apart (its writes, compactions and garbage collection never touch the parent).
 *
 * Protocol, as SlateDB's, so that a clone made by either engine opens in the other:
 * 1. The parent's checkpoint: the one named, or a new one that expires in 5 minutes (so a failed clone
 *    leaves nothing pinned for long). The parent's manifest at that checkpoint is the clone's start.
 * 2. The clone's manifest version 1, `initialized = false`: the parent's state without its checkpoints, the
 *    same epochs, and `external_dbs` = the parent's own external databases (each with a new final
 *    checkpoint id) plus the parent itself (its path, the source checkpoint, a new final checkpoint id, and
 *    the ids of every SST the parent owns in that state).
 * 3. Each external database gets its final checkpoint (never expiring, pinning the source checkpoint's
 *    manifest), so its garbage collector keeps every SST the clone reads from it for as long as that
 *    checkpoint stays.
 * 4. The WAL SSTs the parent's state still replays (`replay_after_wal_id < id < next_wal_sst_id`) are
 *    copied into the clone; then the next version says `initialized = true`.
 * Every step can be re-run: a crash leaves an uninitialized clone, and calling again with the same parent
 * (and checkpoint) finishes it. A clone already initialized is checked (attached to that parent, and every
 * external database still holds its final checkpoint, else a `DataError`) and left as it is.
 */
import { Clock, Effect } from "effect"
import { DataError, type DbError, InvalidError } from "../errors.ts"
import { normalizeRoot, walSstPath } from "../format/Paths.ts"
import { addCheckpoint, checkpointMissing, newCheckpoint, noManifest, notInitialized, updateLatestManifest } from "../manifest/Checkpoints.ts"
import { makeUuid } from "../manifest/Ids.ts"
import { type Checkpoint, type ExternalDb, Manifest } from "../manifest/Manifest.ts"
import { makeManifestStore, type ManifestStore, type StoredManifest } from "../manifest/ManifestStore.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"

const TIMEOUT_MS = 300_000
/** The lifetime of the checkpoint a clone makes in its parent when none is named (SlateDB: 300 s). */
const EPHEMERAL_CHECKPOINT_MS = 300_000

/** The clone's first manifest: see step 2 of the module comment. */
const cloneManifest = (parent: Manifest, parentPath: string, sourceCheckpointId: string) =>
  Effect.gen(function*() {
    const inherited = new Set<string>()
    const externalDbs: Array<ExternalDb> = []
    for (const db of parent.externalDbs) {
      for (const id of db.sstIds) inherited.add(id)
      externalDbs.push({ ...db, finalCheckpointId: yield* makeUuid })
    }
    const owned = Manifest.ssts(parent).map((s) => s.id).filter((id) => !inherited.has(id))
    externalDbs.push({ path: parentPath, sourceCheckpointId, finalCheckpointId: yield* makeUuid, sstIds: owned })
    return { ...parent, initialized: false, checkpoints: [], externalDbs } satisfies Manifest
  })

/** The clone must be attached to `parentPath` (at `checkpointId`, when given). */
const checkAttached = (clone: Manifest, parentPath: string, checkpointId: string | undefined) => {
  if (clone.externalDbs.length === 0) {
    return Effect.fail(new DataError({ message: "the database at the clone path is not a clone (no external databases)", section: "manifest" }))
  }
  const attached = clone.externalDbs.some((db) =>
    db.path === parentPath && (checkpointId === undefined || db.sourceCheckpointId === checkpointId)
  )
  return attached ? Effect.void : Effect.fail(
    new DataError({
      message: `the clone is attached to another database or checkpoint than "${parentPath}"` +
        (checkpointId === undefined ? "" : ` at checkpoint ${checkpointId}`),
      section: "manifest"
    })
  )
}

/** Step 1: the parent's checkpoint (named, or a new short-lived one). */
const parentCheckpoint = (parent: ManifestStore, checkpointId: string | undefined): Effect.Effect<Checkpoint, DbError> =>
  Effect.gen(function*() {
    const latest = yield* parent.readLatest
    if (latest === undefined) return yield* noManifest(parent.root)
    if (!latest.manifest.initialized) return yield* notInitialized(parent.root)
    if (checkpointId === undefined) return yield* addCheckpoint(parent, { lifetimeMs: EPHEMERAL_CHECKPOINT_MS }, TIMEOUT_MS)
    const found = latest.manifest.checkpoints.find((c) => c.id === checkpointId)
    return found ?? (yield* checkpointMissing(checkpointId))
  })

/** Step 3: every external database holds the clone's final checkpoint. */
const ensureFinalCheckpoints = (store: ObjectStore["Service"], clone: Manifest) =>
  Effect.gen(function*() {
    for (const db of clone.externalDbs) {
      const finalId = db.finalCheckpointId
      if (finalId === undefined) continue
      yield* updateLatestManifest(makeManifestStore(store, db.path), (latest: StoredManifest) =>
        Effect.gen(function*() {
          if (latest.manifest.checkpoints.some((c) => c.id === finalId)) return undefined
          const made = newCheckpoint(latest.manifest, latest.id, db.path, finalId, { source: db.sourceCheckpointId }, yield* Clock.currentTimeMillis)
          if (made instanceof DataError) return yield* made
          return Manifest.withCheckpointAdded(latest.manifest, made)
        }), TIMEOUT_MS, (later) => later.checkpoints.some((c) => c.id === finalId))
    }
  })

/** A finished clone: every external database still holds its final checkpoint. */
const checkFinalCheckpoints = (store: ObjectStore["Service"], clone: Manifest) =>
  Effect.gen(function*() {
    for (const db of clone.externalDbs) {
      const finalId = db.finalCheckpointId
      if (finalId === undefined) continue
      const latest = yield* makeManifestStore(store, db.path).readLatest
      if (latest === undefined) return yield* noManifest(db.path)
      if (!latest.manifest.checkpoints.some((c) => c.id === finalId)) {
        return yield* new DataError({
          message: `the clone's final checkpoint ${finalId} is missing from "${db.path}": its SSTs are no longer protected`,
          section: "manifest"
        })
      }
    }
  })

/** Step 4: the WAL SSTs the start state replays, copied from the parent (overwriting a partial copy). */
const copyWal = (store: ObjectStore["Service"], state: Manifest, parentPath: string, clonePath: string) =>
  Effect.gen(function*() {
    for (let id = state.replayAfterWalId + 1; id < state.nextWalSstId; id++) {
      const bytes = yield* store.get(walSstPath(parentPath, id))
      yield* store.put(walSstPath(clonePath, id), bytes)
    }
  }).pipe(Effect.mapError(toDbError))

/** What `createClone` made or found. */
export interface CloneCreated {
  /** The parent's checkpoint the clone starts from. */
  readonly sourceCheckpointId: string
  /** The manifest version of the clone after the call. */
  readonly manifestId: number
}

/**
 * Makes (or finishes) a clone of the database at `parentPath` at `clonePath`, in the same store (see the
 * module comment). `checkpointId`: start from that checkpoint of the parent (missing ⇒ DataError) instead
 * of its latest state.
 */
export const createClone = (
  clonePath: string,
  parentPath: string,
  checkpointId?: string
): Effect.Effect<CloneCreated, DbError, ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    const cloneRoot = normalizeRoot(clonePath)
    const parentRoot = normalizeRoot(parentPath)
    if (cloneRoot === parentRoot) {
      return yield* new InvalidError({ message: `a clone cannot be made at its parent's path "${parentRoot}"` })
    }
    const cloneStore = makeManifestStore(store, cloneRoot)
    let current = yield* cloneStore.readLatest
    if (current !== undefined) {
      yield* checkAttached(current.manifest, parentRoot, checkpointId)
    } else {
      const parentStore = makeManifestStore(store, parentRoot)
      const checkpoint = yield* parentCheckpoint(parentStore, checkpointId)
      const start = yield* cloneManifest(yield* parentStore.read(checkpoint.manifestId), parentRoot, checkpoint.id)
      if ((yield* cloneStore.write(1, start)) === "exists") {
        return yield* new InvalidError({ message: `another clone is being made at "${cloneRoot}" at the same time` })
      }
      current = { id: 1, manifest: start }
    }
    if (current.manifest.initialized) {
      // Finished earlier: check, change nothing (SlateDB: `CloneIncorrectFinalCheckpoint`).
      yield* checkFinalCheckpoints(store, current.manifest)
    } else {
      yield* ensureFinalCheckpoints(store, current.manifest)
      yield* copyWal(store, current.manifest, parentRoot, cloneRoot)
      const ready: Manifest = { ...current.manifest, initialized: true }
      if ((yield* cloneStore.write(current.id + 1, ready)) === "exists") {
        return yield* new InvalidError({ message: `the clone at "${cloneRoot}" changed while it was being made` })
      }
      current = { id: current.id + 1, manifest: ready }
    }
    const parentDb = current.manifest.externalDbs.find((db) => db.path === parentRoot)
    return { sourceCheckpointId: parentDb?.sourceCheckpointId ?? "", manifestId: current.id }
  })
