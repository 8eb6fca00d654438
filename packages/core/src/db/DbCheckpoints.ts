/**
 * `Db.createCheckpoint` (SlateDB's `Db::create_checkpoint`, docs/format.md §3.9): the writer adds the
 * checkpoint in its next manifest version, and the checkpoint pins that very version (the id the version
 * is written as), so it holds the state that includes itself. With scope `"all"` the WAL and the memtables
 * are flushed to L0 first; `"durable"` pins what is durable as it is.
 */
import { Clock, Effect } from "effect"
import { DataError, type DbError, InvalidError } from "../errors.ts"
import { makeUuid } from "../manifest/Ids.ts"
import { holdsOrExpired, newCheckpoint } from "../manifest/Checkpoints.ts"
import { Manifest } from "../manifest/Manifest.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import type { CheckpointCreated, CheckpointOptions } from "./DbApi.ts"
import { checkpointOptionsProblem } from "./Validation.ts"

export interface CheckpointDeps {
  readonly manifest: ManifestWriter
  readonly checkOpen: Effect.Effect<void, DbError>
  /** Flushes the WAL, then the memtables to L0 (scope "all"). */
  readonly flushAll: Effect.Effect<void, DbError>
}

export const makeCreateCheckpoint = (deps: CheckpointDeps) =>
  Effect.fn("Db.createCheckpoint")(function*(options: CheckpointOptions = {}) {
    const problem = checkpointOptionsProblem(options)
    if (problem !== undefined) return yield* new InvalidError({ message: problem })
    yield* deps.checkOpen
    if ((options.scope ?? "all") === "all") yield* deps.flushAll
    const id = yield* makeUuid
    const now = yield* Clock.currentTimeMillis
    const root = deps.manifest.store.root
    // Checked before the update too, so that the usual failures write nothing. A source this writer's copy of
    // the manifest does not know yet (made meanwhile by `Admin`, in another process) is looked up in the
    // latest version before the call fails.
    let early = newCheckpoint(deps.manifest.manifest, deps.manifest.id, root, id, options, now)
    if (early instanceof DataError && options.source !== undefined) {
      yield* deps.manifest.refresh
      early = newCheckpoint(deps.manifest.manifest, deps.manifest.id, root, id, options, now)
    }
    if (early instanceof DataError) return yield* early
    let outcome: ReturnType<typeof newCheckpoint> = early
    yield* deps.manifest.update((local, versionId) => {
      outcome = newCheckpoint(local, versionId - 1, root, id, options, now)
      // A source checkpoint removed meanwhile: this version changes nothing and the call fails.
      return outcome instanceof DataError ? local : Manifest.withCheckpointAdded(local, outcome)
    }, (later, now) => outcome instanceof DataError || holdsOrExpired(later, outcome, now))
    const made = outcome as ReturnType<typeof newCheckpoint>
    if (made instanceof DataError) return yield* made
    return { id: made.id, manifestId: made.manifestId } satisfies CheckpointCreated
  })
