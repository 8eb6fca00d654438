/**
 * Checkpoints (SlateDB's RFC 0004, docs/format.md §3.9): a named, optionally expiring pin on one manifest
 * version, kept in the latest manifest's `checkpoints`. The garbage collector keeps every object a pinned
 * manifest needs (its SSTs, and the WAL SSTs in its `(replay_after_wal_id, next_wal_sst_id)`), so a
 * database can be read (or cloned) at a checkpoint for as long as the checkpoint lives.
 *
 * This module holds the pure rules and the CAS loop a party that is not the writer uses to change the
 * latest manifest (`updateLatestManifest`): read the latest version N, write `f(N)` as N+1 create-only,
 * and on "version exists" read again and retry. The writer and the compactor merge checkpoints from the
 * versions they read (the remote side owns them, manifest/ManifestStore.ts), so none of the three loses
 * another's change.
 *
 * Rules, as SlateDB's:
 * - A new checkpoint pins the manifest version that will contain it (latest id + 1), unless `source`
 *   names an existing checkpoint, whose manifest it pins instead (a missing source is `CheckpointMissing`,
 *   a `DataError`). A database whose manifest says `initialized = false` (a clone being built) cannot be
 *   checkpointed except from a source.
 * - Times are whole Unix seconds (the format's u32); `expireTimeS` absent = never expires. A checkpoint
 *   has expired once `expireTimeS ≤ now`.
 * - Refreshing a missing checkpoint fails (`DataError`, SlateDB's InvalidDBState); deleting a missing one
 *   is a no-op.
 */
import { Clock, Duration, Effect } from "effect"
import { DataError, type DbError } from "../errors.ts"
import { makeUuid } from "./Ids.ts"
import { type Checkpoint, Manifest } from "./Manifest.ts"
import type { ManifestStore, StoredManifest } from "./ManifestStore.ts"
import { timedOut } from "./Epochs.ts"

/** What a new checkpoint looks like (SlateDB's `CheckpointOptions`). */
export interface CheckpointOptions {
  /** Milliseconds until it expires (rounded up to whole seconds); absent: it never expires. */
  readonly lifetimeMs?: number | undefined
  /** Pin the same manifest as this existing checkpoint (its id). */
  readonly source?: string | undefined
  readonly name?: string | undefined
}

/** SlateDB's `CheckpointMissing`: a checkpoint named by id is not in the latest manifest. */
export const checkpointMissing = (id: string): DataError =>
  new DataError({ message: `checkpoint missing: ${id}`, section: "manifest" })

/** SlateDB's `LatestTransactionalObjectVersionMissing`: there is no manifest (no database at the path). */
export const noManifest = (root: string): DataError =>
  new DataError({
    message: `failed to find latest transactional object (e.g. manifest) version (no database at "${root}")`,
    section: "manifest"
  })

/** SlateDB's `InvalidDBState`: a manifest not yet initialized (a clone being built). */
export const notInitialized = (root: string): DataError =>
  new DataError({ message: `invalid DB state: the manifest of "${root}" is not initialized`, section: "manifest" })

const secondsOf = (ms: number): number => Math.floor(ms / 1000)

/**
 * The checkpoint `options` would add to `latest` (version `latestId`) at `nowMs`, with id `id`, or why it
 * cannot be made (pure: the writer calls it inside its manifest update).
 */
export const newCheckpoint = (
  latest: Manifest,
  latestId: number,
  root: string,
  id: string,
  options: CheckpointOptions,
  nowMs: number
): Checkpoint | DataError => {
  let manifestId = latestId + 1
  if (options.source !== undefined) {
    const source = latest.checkpoints.find((c) => c.id === options.source)
    if (source === undefined) return checkpointMissing(options.source)
    manifestId = source.manifestId
  } else if (!latest.initialized) {
    return notInitialized(root)
  }
  const createTimeS = secondsOf(nowMs)
  return {
    id,
    manifestId,
    createTimeS,
    ...(options.lifetimeMs === undefined ? {} : { expireTimeS: createTimeS + Math.ceil(options.lifetimeMs / 1000) }),
    ...(options.name === undefined ? {} : { name: options.name })
  }
}

/** Whether `c` has expired at `nowMs` (SlateDB: `expire_time ≤ now`). */
export const isExpired = (c: Checkpoint, nowMs: number): boolean =>
  c.expireTimeS !== undefined && c.expireTimeS * 1000 <= nowMs

/**
 * `updateLatestManifest`'s `landed` for checkpoint `c` added: a later version lacks it only when the version
 * that added it was created below the latest, or when it was removed since, which nobody does before the
 * call returns its id but the collector and the writer do the moment it expires.
 */
export const holdsOrExpired = (m: Manifest, c: Checkpoint, nowMs: number): boolean =>
  m.checkpoints.some((k) => k.id === c.id) || isExpired(c, nowMs)

/** `m` without its expired checkpoints; undefined when none has expired (nothing to write). */
export const withoutExpired = (m: Manifest, nowMs: number): Manifest | undefined => {
  const kept = m.checkpoints.filter((c) => !isExpired(c, nowMs))
  return kept.length === m.checkpoints.length ? undefined : { ...m, checkpoints: kept }
}

/** Checkpoints of `m` with `name` (SlateDB: the empty name also matches unnamed ones); all without a name. */
export const checkpointsNamed = (m: Manifest, name: string | undefined): ReadonlyArray<Checkpoint> =>
  name === undefined
    ? m.checkpoints
    : m.checkpoints.filter((c) => c.name === name || (name === "" && c.name === undefined))

/**
 * The CAS loop of a party that does not own the manifest: reads the latest version, asks `f` for the next
 * one (`undefined`: nothing to change, nothing written), writes it create-only, and retries from a fresh
 * read when another party took that version. Gives up after `timeoutMs` (`UnavailableError`).
 * Returns the version written (or read, when `f` changed nothing).
 *
 * `landed`: whether a later version shows the change (a checkpoint added is there, one removed is not).
 * With it, the version is written with `writeLanded` (SequencedStore.ts), and when a later version does not
 * show the change (the create took a name the collector freed below the latest), `f` is applied again on
 * top of the latest: a version nobody reads as the latest would lose a change its caller was told is made.
 * A version written on top of ours shows the change, unless someone undid it since (`landed` must accept
 * that: an expired checkpoint removed, a refreshed one deleted).
 */
export const updateLatestManifest = <E>(
  manifests: ManifestStore,
  f: (latest: StoredManifest) => Effect.Effect<Manifest | undefined, E>,
  timeoutMs: number,
  landed?: (later: Manifest, nowMs: number) => boolean
): Effect.Effect<StoredManifest, DbError | E> =>
  Effect.gen(function*() {
    while (true) {
      const latest = yield* manifests.readLatest
      if (latest === undefined) return yield* noManifest(manifests.root)
      const next = yield* f(latest)
      if (next === undefined) return latest
      const id = latest.id + 1
      if (landed === undefined) {
        if ((yield* manifests.write(id, next)) === "written") return { id, manifest: next }
        continue
      }
      const landing = yield* manifests.versions.writeLanded(id, next, { shows: landed, change: "a checkpoint change" })
      if (landing !== "exists" && landing.landed) return { id, manifest: next }
    }
  }).pipe(Effect.timeoutOrElse({
    duration: Duration.millis(timeoutMs),
    orElse: () => Effect.fail(timedOut("manifest update", timeoutMs))
  }))

/** Adds a checkpoint to the latest manifest (a detached checkpoint: no writer involved). */
export const addCheckpoint = (
  manifests: ManifestStore,
  options: CheckpointOptions,
  timeoutMs: number
): Effect.Effect<Checkpoint, DbError> =>
  Effect.gen(function*() {
    const id = yield* makeUuid
    let added: Checkpoint | undefined
    yield* updateLatestManifest(manifests, (latest) =>
      Effect.gen(function*() {
        const made = newCheckpoint(latest.manifest, latest.id, manifests.root, id, options, yield* Clock.currentTimeMillis)
        if (made instanceof DataError) return yield* made
        added = made
        return Manifest.withCheckpointAdded(latest.manifest, made)
      }), timeoutMs, (later, now) => holdsOrExpired(later, added!, now))
    return added!
  })

/** Sets a checkpoint's expiry to now + `lifetimeMs` (absent: never expires); a missing one is a DataError. */
export const refreshCheckpoint = (
  manifests: ManifestStore,
  id: string,
  lifetimeMs: number | undefined,
  timeoutMs: number
): Effect.Effect<Checkpoint, DbError> =>
  Effect.gen(function*() {
    let refreshed: Checkpoint | undefined
    yield* updateLatestManifest(manifests, (latest) =>
      Effect.gen(function*() {
        const found = latest.manifest.checkpoints.find((c) => c.id === id)
        if (found === undefined) return yield* checkpointMissing(id)
        const nowS = secondsOf(yield* Clock.currentTimeMillis)
        const { expireTimeS: _, ...rest } = found
        refreshed = lifetimeMs === undefined ? rest : { ...rest, expireTimeS: nowS + Math.ceil(lifetimeMs / 1000) }
        return { ...latest.manifest, checkpoints: latest.manifest.checkpoints.map((c) => (c.id === id ? refreshed! : c)) }
      }), timeoutMs, (later) => {
        // Deleted since (by whoever): nothing left to refresh.
        const found = later.checkpoints.find((c) => c.id === id)
        return found === undefined || found.expireTimeS === refreshed!.expireTimeS
      })
    return refreshed!
  })

/** Removes a checkpoint from the latest manifest; a missing one changes nothing. */
export const deleteCheckpoint = (manifests: ManifestStore, id: string, timeoutMs: number): Effect.Effect<void, DbError> =>
  Effect.asVoid(updateLatestManifest(manifests, (latest) =>
    Effect.succeed(
      latest.manifest.checkpoints.some((c) => c.id === id) ? Manifest.withCheckpointRemoved(latest.manifest, id) : undefined
    ), timeoutMs, (later) => !later.checkpoints.some((c) => c.id === id)))

/** Removes every expired checkpoint from the latest manifest (one CAS write, or none); returns how many. */
export const deleteExpiredCheckpoints = (manifests: ManifestStore, timeoutMs: number): Effect.Effect<number, DbError> =>
  Effect.gen(function*() {
    let removed = 0
    yield* updateLatestManifest(manifests, (latest) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const next = withoutExpired(latest.manifest, now)
        removed = next === undefined ? 0 : latest.manifest.checkpoints.length - next.checkpoints.length
        return next
      }), timeoutMs)
    return removed
  })
