/**
 * Checkpoints, garbage collection and sequence/time lookups from outside the database (SlateDB's `Admin`,
 * docs/format.md §3.8-§3.9, §4.4). None of these opens the database or claims an epoch, so none fences a
 * running writer or compactor. Checkpoint changes are CAS writes of the next manifest version, which the
 * writer and the compactor merge (manifest/Checkpoints.ts).
 */
import { Effect } from "effect"
import { type DbError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { collectOnce, type GcRunStats } from "../gc/GcPass.ts"
import { defaultGcOptions, type GcOptions } from "../gc/GcRules.ts"
import {
  addCheckpoint,
  type CheckpointOptions,
  checkpointsNamed,
  deleteCheckpoint as deleteFromManifest,
  noManifest,
  refreshCheckpoint as refreshInManifest
} from "../manifest/Checkpoints.ts"
import type { Checkpoint } from "../manifest/Manifest.ts"
import { makeManifestStore } from "../manifest/ManifestStore.ts"
import { SequenceTracker } from "../manifest/SequenceTracker.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"

export type { CheckpointOptions }

/** How long a CAS loop on the manifest may take (SlateDB's `manifest_update_timeout`). */
const TIMEOUT_MS = 300_000

const manifestsOf = (root: string) => ObjectStore.useSync((store) => makeManifestStore(store, normalizeRoot(root)))

/**
 * A checkpoint made without a writer (SlateDB's `create_detached_checkpoint`): it pins the manifest
 * version that contains it, or `source`'s manifest.
 */
export const createCheckpoint = (root: string, options: CheckpointOptions = {}): Effect.Effect<Checkpoint, DbError, ObjectStore> =>
  Effect.flatMap(manifestsOf(root), (manifests) => addCheckpoint(manifests, options, TIMEOUT_MS))

/** Sets a checkpoint to expire `lifetimeMs` from now (absent: never); a missing checkpoint is a DataError. */
export const refreshCheckpoint = (
  root: string,
  id: string,
  lifetimeMs?: number
): Effect.Effect<Checkpoint, DbError, ObjectStore> =>
  Effect.flatMap(manifestsOf(root), (manifests) => refreshInManifest(manifests, id, lifetimeMs, TIMEOUT_MS))

/** Removes a checkpoint (a missing one is no error). */
export const deleteCheckpoint = (root: string, id: string): Effect.Effect<void, DbError, ObjectStore> =>
  Effect.flatMap(manifestsOf(root), (manifests) => deleteFromManifest(manifests, id, TIMEOUT_MS))

/** The checkpoints of the latest manifest; with `name`, only those of that name (`""`: the unnamed ones too). */
export const listCheckpoints = (root: string, name?: string): Effect.Effect<ReadonlyArray<Checkpoint>, DbError, ObjectStore> =>
  Effect.gen(function*() {
    const manifests = yield* manifestsOf(root)
    const latest = yield* manifests.readLatest
    if (latest === undefined) return yield* noManifest(manifests.root)
    return checkpointsNamed(latest.manifest, name)
  })

export interface GcOnceOptions {
  /** Which kinds and how old (default: SlateDB's defaults, every kind older than 5 minutes). */
  readonly options?: GcOptions
}

/** One garbage-collection pass now (SlateDB's `run_gc_once`); fails only when there is no database. */
export const runGcOnce = (root: string, options: GcOnceOptions = {}): Effect.Effect<GcRunStats, DbError, ObjectStore> =>
  ObjectStore.use((store) =>
    collectOnce(store, normalizeRoot(root), options.options ?? defaultGcOptions, { manifestUpdateTimeoutMs: TIMEOUT_MS }))

/**
 * The time (ms since the epoch) the latest manifest's sequence tracker gives for `seq`: the nearest
 * recorded point at or above it (`roundUp`) or at or below it; undefined when there is none (or no
 * database).
 */
export const timestampForSequence = (
  root: string,
  seq: number,
  roundUp: boolean
): Effect.Effect<number | undefined, DbError, ObjectStore> =>
  Effect.gen(function*() {
    const latest = yield* (yield* manifestsOf(root)).readLatest
    if (latest === undefined) return undefined
    const s = SequenceTracker.findTs(latest.manifest.sequenceTracker, seq, roundUp ? "RoundUp" : "RoundDown")
    return s === undefined ? undefined : s * 1000
  })

/** The sequence number the latest manifest's tracker gives for time `timeMs` (see `timestampForSequence`). */
export const sequenceForTimestamp = (
  root: string,
  timeMs: number,
  roundUp: boolean
): Effect.Effect<number | undefined, DbError, ObjectStore> =>
  Effect.gen(function*() {
    const latest = yield* (yield* manifestsOf(root)).readLatest
    if (latest === undefined) return undefined
    const seconds = Math.floor(timeMs / 1000)
    return SequenceTracker.findSeq(latest.manifest.sequenceTracker, seconds, roundUp ? "RoundUp" : "RoundDown")
  })
