/**
 * SlateDB's `Admin` as an Effect service: everything an operator does to a database without being its
 * writer, bound to one database (`Admin.layer({ path })` over the `ObjectStore` in context). It opens
 * nothing as a writer and claims no epoch: reading never fences anyone, and the few writes (checkpoints,
 * a submitted compaction, a clone, garbage collection) are CAS writes every other party merges.
 *
 * The same operations exist as functions taking the database root (admin/Admin.ts, Compactions.ts,
 * Checkpoints.ts, Clone.ts) for programs that inspect several databases.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { DbError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import type { GcRunStats } from "../gc/GcPass.ts"
import type { GcOptions } from "../gc/GcRules.ts"
import type { Checkpoint, Manifest } from "../manifest/Manifest.ts"
import { makeManifestStore } from "../manifest/ManifestStore.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import type { CompactionRequest } from "../compactor/CompactorTypes.ts"
import type { CompactionSpec } from "../compactor/CompactorState.ts"
import { latestManifest, listManifests, type NumberedObject } from "./Admin.ts"
import {
  type CheckpointOptions,
  createCheckpoint,
  deleteCheckpoint,
  listCheckpoints,
  refreshCheckpoint,
  runGcOnce,
  sequenceForTimestamp,
  timestampForSequence
} from "./Checkpoints.ts"
import { type CloneCreated, createClone } from "./Clone.ts"
import { type CompactionsFile, readCompactions, submitCompaction } from "./Compactions.ts"

export interface AdminHandle {
  /** The database root this handle works on. */
  readonly path: string
  /** A manifest version decoded: the latest (none: no database), or version `id` (missing: a DataError). */
  readonly readManifest: (id?: number) => Effect.Effect<Option.Option<{ readonly id: number; readonly manifest: Manifest }>, DbError>
  /** Manifest versions stored, ascending. */
  readonly listManifests: Effect.Effect<ReadonlyArray<NumberedObject>, DbError>
  /** The latest compactions file (none: no compactor ever ran). */
  readonly readCompactions: Effect.Effect<Option.Option<CompactionsFile>, DbError>
  readonly submitCompaction: (request: CompactionRequest) => Effect.Effect<{ readonly id: string; readonly spec: CompactionSpec }, DbError>
  readonly listCheckpoints: (name?: string) => Effect.Effect<ReadonlyArray<Checkpoint>, DbError>
  /** A detached checkpoint (no writer needed). */
  readonly createCheckpoint: (options?: CheckpointOptions) => Effect.Effect<Checkpoint, DbError>
  readonly refreshCheckpoint: (id: string, lifetimeMs?: number) => Effect.Effect<Checkpoint, DbError>
  readonly deleteCheckpoint: (id: string) => Effect.Effect<void, DbError>
  /** One garbage-collection pass now. */
  readonly runGcOnce: (options?: GcOptions) => Effect.Effect<GcRunStats, DbError>
  /** Makes this database a clone of `parentPath` (at `checkpointId`), in the same store. */
  readonly createClone: (parentPath: string, checkpointId?: string) => Effect.Effect<CloneCreated, DbError>
  readonly timestampForSequence: (seq: number, roundUp: boolean) => Effect.Effect<number | undefined, DbError>
  readonly sequenceForTimestamp: (timeMs: number, roundUp: boolean) => Effect.Effect<number | undefined, DbError>
}

/** Binds the admin operations to the database at `path` in `store`. */
export const makeAdmin = (store: ObjectStore["Service"], path: string): AdminHandle => {
  const root = normalizeRoot(path)
  const on = <A, E>(effect: Effect.Effect<A, E, ObjectStore>) => Effect.provideService(effect, ObjectStore, store)
  return {
    path: root,
    readManifest: (id) =>
      id === undefined
        ? on(Effect.map(latestManifest(root), Option.map((l) => ({ id: l.id, manifest: l.manifest })))).pipe(
          Effect.mapError(toDbError)
        )
        : Effect.map(makeManifestStore(store, root).read(id), (manifest) => Option.some({ id, manifest })),
    listManifests: on(listManifests(root)).pipe(Effect.mapError(toDbError)),
    readCompactions: on(readCompactions(root)),
    submitCompaction: (request) => on(submitCompaction(root, request)),
    listCheckpoints: (name) => on(listCheckpoints(root, name)),
    createCheckpoint: (options) => on(createCheckpoint(root, options)),
    refreshCheckpoint: (id, lifetimeMs) => on(refreshCheckpoint(root, id, lifetimeMs)),
    deleteCheckpoint: (id) => on(deleteCheckpoint(root, id)),
    runGcOnce: (options) => on(runGcOnce(root, options === undefined ? {} : { options })),
    createClone: (parentPath, checkpointId) => on(createClone(root, parentPath, checkpointId)),
    timestampForSequence: (seq, roundUp) => on(timestampForSequence(root, seq, roundUp)),
    sequenceForTimestamp: (timeMs, roundUp) => on(sequenceForTimestamp(root, timeMs, roundUp))
  }
}

/** SlateDB's `Admin` for one database: `Admin.layer({ path })` over the `ObjectStore` in context. */
export class Admin extends Context.Service<Admin, AdminHandle>()("shale/Admin") {
  static readonly layer = (options: { readonly path: string }): Layer.Layer<Admin, never, ObjectStore> =>
    Layer.effect(Admin, ObjectStore.useSync((store) => makeAdmin(store, options.path)))
}
