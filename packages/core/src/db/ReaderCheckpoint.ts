/**
 * The checkpoint a `DbReader` keeps when it has no user checkpoint (SlateDB's `db_reader.rs`:
 * `get_or_create_checkpoint`, `replace_checkpoint`, `maybe_refresh_checkpoint`, and its poller's `cleanup`),
 * written with the CAS loop of a party that is not the writer (manifest/Checkpoints.ts
 * `updateLatestManifest`), so the writer, the compactor and the garbage collector keep it.
 *
 * Guarantees:
 * - `putReaderCheckpoint` writes ONE new manifest version that removes the reader's older checkpoints (any
 *   of `remove` still there; missing ones are fine, as in SlateDB's `replace_checkpoint`) and adds the new
 *   one, which pins exactly that version (latest id + 1, the rule of `newCheckpoint`). So at every version
 *   at least one of the reader's checkpoints pins what it reads, and never more than the one it needs once
 *   the write lands. It returns the version written: the reader reads that manifest without a second GET.
 * - No database ⇒ `DataError` "failed to find latest transactional object (e.g. manifest) version"; a
 *   manifest not yet initialized ⇒ `DataError` "invalid DB state" (SlateDB's `InvalidDBState`).
 * - `removeReaderCheckpoints` removes every id of `ids` still present in one version, or writes nothing
 *   (none of them there, or no manifest at all: a reader that failed to open on a missing database).
 * - `refreshDue`: SlateDB's rule, refresh once less than half the lifetime is left.
 * - Both check that their version is not below the latest, which could lose the change (`landed` in
 *   `updateLatestManifest`): the reader's checkpoint would then pin nothing.
 * - Every CAS loop gives up after `timeoutMs` (`UnavailableError`, SlateDB's `TransactionalObjectTimeout`).
 */
import { Clock, Effect } from "effect"
import { DataError, type DbError } from "../errors.ts"
import { holdsOrExpired, newCheckpoint, updateLatestManifest } from "../manifest/Checkpoints.ts"
import { type Checkpoint, Manifest } from "../manifest/Manifest.ts"
import type { ManifestStore } from "../manifest/ManifestStore.ts"

/** The version `putReaderCheckpoint` wrote and the checkpoint in it. */
export interface ReaderCheckpoint {
  readonly checkpoint: Checkpoint
  /** The version written, which `checkpoint` pins (its id is `checkpoint.manifestId`). */
  readonly manifest: Manifest
}

/** `m` without the checkpoints of `ids`. */
const without = (m: Manifest, ids: ReadonlySet<string>): Manifest =>
  m.checkpoints.some((c) => ids.has(c.id)) ? { ...m, checkpoints: m.checkpoints.filter((c) => !ids.has(c.id)) } : m

/** Adds checkpoint `id` (lifetime `lifetimeMs`) and removes those of `remove`, in one version (see the module comment). */
export const putReaderCheckpoint = (
  manifests: ManifestStore,
  options: { readonly id: string; readonly remove: ReadonlySet<string>; readonly lifetimeMs: number },
  timeoutMs: number
): Effect.Effect<ReaderCheckpoint, DbError> =>
  Effect.gen(function*() {
    let made: Checkpoint | undefined
    const written = yield* updateLatestManifest(manifests, (latest) =>
      Effect.gen(function*() {
        const checkpoint = newCheckpoint(latest.manifest, latest.id, manifests.root, options.id, { lifetimeMs: options.lifetimeMs }, yield* Clock.currentTimeMillis)
        if (checkpoint instanceof DataError) return yield* checkpoint
        made = checkpoint
        return Manifest.withCheckpointAdded(without(latest.manifest, options.remove), checkpoint)
      }), timeoutMs, (later, now) => holdsOrExpired(later, made!, now))
    return { checkpoint: made!, manifest: written.manifest }
  })

/** Removes the checkpoints of `ids` still in the latest manifest, in one version (none there: no write). */
export const removeReaderCheckpoints = (
  manifests: ManifestStore,
  ids: ReadonlySet<string>,
  timeoutMs: number
): Effect.Effect<void, DbError> =>
  ids.size === 0 ? Effect.void : Effect.flatMap(manifests.readLatest, (found) =>
    found === undefined || without(found.manifest, ids) === found.manifest
      ? Effect.void
      : Effect.asVoid(updateLatestManifest(manifests, (latest) => {
        const next = without(latest.manifest, ids)
        return Effect.succeed(next === latest.manifest ? undefined : next)
      }, timeoutMs, (later) => without(later, ids) === later)))

/** Whether `checkpoint` should be refreshed at `nowMs`: less than half of `lifetimeMs` is left (SlateDB's rule). */
export const refreshDue = (checkpoint: Pick<Checkpoint, "expireTimeS">, lifetimeMs: number, nowMs: number): boolean =>
  checkpoint.expireTimeS !== undefined && nowMs > checkpoint.expireTimeS * 1000 - lifetimeMs / 2
