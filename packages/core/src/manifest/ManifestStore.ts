/**
 * The manifest store: SlateDB's transactional manifest object (`slatedb-txn-obj`), docs/format.md §1 and §3.1.
 *
 * Every manifest version is an immutable object `<root>/manifest/<id:020>.manifest`; ids are consecutive.
 * There is no `If-Match` anywhere: a writer that last saw version N writes N+1 **create-only**, and the
 * loser of a race gets "version exists", re-reads the latest version and tries again.
 *
 * Two layers:
 * - `ManifestStore` (`makeManifestStore(store, root)`): stateless access. `readLatest` lists the manifest
 *   directory, takes the highest parsable id and reads it (if that object vanished between the list and
 *   the read, e.g. deleted by a garbage collector, it lists again); `write(id, m)` is a create-only put
 *   that reports `"exists"` instead of failing when the version is taken.
 * - `ManifestWriter`: the view of the one writer that owns the database, obtained by `claimWriterEpoch`.
 *   It claims the writer epoch (stored epoch + 1, written as the next version; retried on conflict, within
 *   `timeoutMs`), then keeps a local manifest and the id of the last version it knows. `update(f)` writes
 *   `f(local)` as the next version, and on a conflict refreshes, merges the remote version into the local
 *   one (`mergeRemoteManifest`, SlateDB's writer-side rules) and retries, all within `timeoutMs`.
 *   `refresh` re-reads the latest version and merges it.
 *
 * Fencing. Every version the writer reads after its claim is checked: a stored `writer_epoch` above ours
 * means a newer writer took over, and fails with `ClosedError{reason: "fenced", message: "detected newer
 * DB client"}`; a stored epoch below ours is impossible (InternalError). Updates and refreshes are
 * serialised by one lock, so the local manifest moves through one version at a time.
 *
 * WAL ids: the writer hands them out in memory (`allocateWalId`, the WAL buffer's allocator) and records
 * which are written (`noteWalWritten`). A version it writes says `next_wal_sst_id` = the highest WAL
 * id known to be WRITTEN + 1, never an id allocated but not yet written, so that every WAL in
 * `(replay_after_wal_id, next_wal_sst_id)` of a manifest Shale wrote exists (open checks this, and a WAL
 * deleted behind the database's back is noticed). Merges and refreshes never lower either counter.
 *
 * Errors: store failures map as in `objectstore/StoreErrors.ts`; an undecodable manifest is a `DataError` naming
 * the object; a CAS loop that runs out of time is an `UnavailableError` (SlateDB's
 * `TransactionalObjectTimeout`).
 */
import { Duration, Effect, Semaphore } from "effect"
import { ClosedError, DataError, type DbError } from "../errors.ts"
import { manifestDir, manifestPath, parseManifestId } from "../format/Paths.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { Manifest } from "./Manifest.ts"
import { decodeManifest, encodeManifest } from "./ManifestCodec.ts"
import { checkEpoch, claimEpoch, type EpochField, timedOut } from "./Epochs.ts"
import { makeSequencedStore, type SequencedStore, type WriteOutcome } from "./SequencedStore.ts"

/** One stored manifest version. */
export interface StoredManifest {
  readonly id: number
  readonly manifest: Manifest
}

export type { WriteOutcome }

export interface ManifestStore {
  readonly root: string
  /** The same versions as a generic sequenced object (for epoch claims, manifest/Epochs.ts). */
  readonly versions: SequencedStore<Manifest>
  /** Ids of every manifest version listed, ascending (foreign files ignored). */
  readonly listIds: Effect.Effect<ReadonlyArray<number>, DbError>
  /** The latest version, or undefined for a database that has none yet. */
  readonly readLatest: Effect.Effect<StoredManifest | undefined, DbError>
  /** Reads version `id`. */
  readonly read: (id: number) => Effect.Effect<Manifest, DbError>
  /** Writes version `id` create-only; `"exists"` when that version is already taken. */
  readonly write: (id: number, manifest: Manifest) => Effect.Effect<WriteOutcome, DbError>
}

export const makeManifestStore = (store: ObjectStore["Service"], root: string): ManifestStore => {
  const versions = makeSequencedStore<Manifest>(store, {
    dir: manifestDir(root),
    pathOf: (id) => manifestPath(root, id),
    parseId: parseManifestId,
    encode: encodeManifest,
    decode: decodeManifest,
    what: "manifest"
  })
  return {
    root,
    versions,
    listIds: versions.listIds,
    readLatest: Effect.map(versions.readLatest, (latest) =>
      latest === undefined ? undefined : { id: latest.id, manifest: latest.value }),
    read: versions.read,
    write: versions.write
  }
}

// ---------------------------------------------------------------------------------------------------
// Writer-side merge

/**
 * SlateDB's writer-side merge of a remote version into the writer's local manifest (docs/format.md §3.4): the
 * remote side owns what the compactor and checkpoint makers change (sorted runs, checkpoints, the last
 * compacted L0, the compactor epoch); the writer keeps everything it owns (initialized, WAL ids, replay
 * point, L0 clock tick and seq, snapshot min seq, sequence tracker, WAL store flag, writer epoch). The
 * local L0 list is cut just before the first entry the compactor has consumed (`remote.l0LastCompacted`).
 */
export const mergeRemoteManifest = (local: Manifest, remote: Manifest): Manifest => {
  const last = remote.l0LastCompacted
  let l0 = local.l0
  if (last !== undefined) {
    const cut = l0.findIndex((sst) => sst.id === last)
    if (cut >= 0) l0 = l0.slice(0, cut)
  }
  return {
    ...local,
    l0,
    compacted: remote.compacted,
    checkpoints: remote.checkpoints,
    l0LastCompacted: remote.l0LastCompacted,
    compactorEpoch: remote.compactorEpoch,
    externalDbs: remote.externalDbs
  }
}

// ---------------------------------------------------------------------------------------------------
// The writer's fenceable view

export const fencedError = (): ClosedError =>
  new ClosedError({ reason: "fenced", message: "detected newer DB client" })

/** The writer's epoch in the manifest. */
export const writerEpochField: EpochField<Manifest> = {
  epochOf: (m) => m.writerEpoch,
  withEpoch: Manifest.withWriterEpoch,
  role: "writer",
  fenced: fencedError
}

export interface ManifestWriterOptions {
  /** Overall time limit of one CAS loop (SlateDB `manifest_update_timeout`, 300 s). */
  readonly timeoutMs: number
}

/** The manifest as the database's single writer sees and updates it (see the module comment). */
export class ManifestWriter {
  readonly store: ManifestStore
  /** The writer epoch this writer claimed. */
  readonly epoch: number
  readonly timeoutMs: number
  #storedId: number
  #local: Manifest
  #nextWalSstId: number
  /** The highest WAL id known to be written. */
  #writtenWalId: number
  readonly #lock = Semaphore.makeUnsafe(1)
  /**
   * Runs (with the lock held) before a version read from the store replaces the local manifest, which the
   * read path reads: the database warms its block cache there when a compaction replaced SSTs
   * (db/ViewWarming.ts). It must not fail, and must bound its own time.
   */
  beforeRemoteSwitch: ((from: Manifest, to: Manifest) => Effect.Effect<void>) | undefined = undefined

  constructor(store: ManifestStore, claimed: StoredManifest, options: ManifestWriterOptions) {
    this.store = store
    this.epoch = claimed.manifest.writerEpoch
    this.timeoutMs = options.timeoutMs
    this.#storedId = claimed.id
    this.#local = claimed.manifest
    this.#nextWalSstId = claimed.manifest.nextWalSstId
    this.#writtenWalId = claimed.manifest.nextWalSstId - 1
  }

  /** Id of the latest version this writer knows (written or read). */
  get id(): number {
    return this.#storedId
  }

  /** The local manifest as the next version would record it: `nextWalSstId` is the last written WAL + 1. */
  get manifest(): Manifest {
    const m = this.#local
    const next = this.#writtenWalId + 1
    return m.nextWalSstId === next ? m : { ...m, nextWalSstId: next }
  }

  /**
   * The local manifest as last written or read, without the newer WAL ids: what the read path needs
   * (SSTs, runs, ranges), without the copy `manifest` may make per call.
   */
  get manifestForReads(): Manifest {
    return this.#local
  }

  /** The next WAL id to hand out (in memory; ahead of what versions record while WALs are in flight). */
  get nextWalSstId(): number {
    return this.#nextWalSstId
  }

  /** Hands out the next WAL id and bumps the in-memory counter (synchronous). */
  allocateWalId(): number {
    return this.#nextWalSstId++
  }

  /** Records that WAL `id` (and every WAL before it) is written; later versions say so. */
  noteWalWritten(id: number): void {
    if (id > this.#writtenWalId) this.#writtenWalId = id
    if (id >= this.#nextWalSstId) this.#nextWalSstId = id + 1
  }

  /**
   * After WAL replay: `lastWalId` (the fence, or a newer WAL replayed) is the last WAL written, and the
   * next WAL id follows it (SlateDB does the same), so the WAL sequence has no gap.
   */
  resetWalIds(lastWalId: number): void {
    this.#writtenWalId = lastWalId
    this.#nextWalSstId = lastWalId + 1
  }

  /** Fails with `fenced` if `remote` was written by a newer writer. */
  #check(remote: Manifest): Effect.Effect<void, DbError> {
    return checkEpoch(writerEpochField, remote, this.epoch)
  }

  /** Reads the latest version, checks the epoch and merges it into the local manifest (lock held). */
  readonly #refreshLocked: Effect.Effect<Manifest, DbError> = Effect.suspend(() =>
    this.store.readLatest.pipe(
      Effect.flatMap((latest) =>
        latest === undefined
          ? Effect.fail(
            new DataError({ message: "failed to find latest transactional object (e.g. manifest) version", section: "manifest" })
          )
          : this.#adopt(latest)
      )
    )
  )

  /** Checks the epoch of `latest`, a version read, and merges it into the local manifest (lock held). */
  #adopt(latest: StoredManifest): Effect.Effect<Manifest, DbError> {
    return this.#check(latest.manifest).pipe(Effect.flatMap(() => {
      if (latest.id <= this.#storedId) return Effect.succeed(this.manifest)
      const merged = mergeRemoteManifest(this.#local, latest.manifest)
      const before = this.beforeRemoteSwitch
      return Effect.map(before === undefined ? Effect.void : before(this.#local, merged), () => {
        this.#local = merged
        this.#storedId = latest.id
        return this.manifest
      })
    }))
  }

  /** Re-reads the latest version, fails with `fenced` if a newer writer exists, merges remote changes. */
  get refresh(): Effect.Effect<Manifest, DbError> {
    return this.#lock.withPermits(1)(this.#refreshLocked)
  }

  /**
   * Writes `mutate(local, id)` as the next version `id` (create-only). On a conflict: refresh (fencing check),
   * merge, and retry with `mutate` applied to the merged manifest. Fails with `UnavailableError` after
   * `timeoutMs`. `landed`: as in `updateLatestManifest` (manifest/Checkpoints.ts), for a change the remote
   * side owns (a checkpoint): the version is written with `writeLanded` (SequencedStore.ts), a later
   * version it lists is merged, and when that one does not show the change, `mutate` runs again on top of
   * it. (The writer's own fields need no such check: the merge keeps them, so its next version carries
   * them.)
   */
  update(
    mutate: (local: Manifest, id: number) => Manifest,
    landed?: (later: Manifest, nowMs: number) => boolean
  ): Effect.Effect<Manifest, DbError> {
    const attempt: Effect.Effect<Manifest, DbError> = Effect.gen({ self: this }, function*() {
      while (true) {
        const id = this.#storedId + 1
        const next = mutate(this.manifest, id)
        const outcome = landed === undefined
          ? yield* this.store.write(id, next)
          : yield* this.store.versions.writeLanded(id, next, { shows: landed, change: "a checkpoint change" })
        if (outcome === "exists") {
          yield* this.#refreshLocked
          continue
        }
        this.#storedId = id
        this.#local = next
        if (outcome === "written") return this.manifest
        yield* this.#adopt({ id: outcome.latest.id, manifest: outcome.latest.value })
        if (outcome.landed) return this.manifest
      }
    })
    return this.#lock.withPermits(1)(
      attempt.pipe(Effect.timeoutOrElse({
        duration: Duration.millis(this.timeoutMs),
        orElse: () => Effect.fail(timedOut("manifest update", this.timeoutMs))
      }))
    )
  }
}

/**
 * Opens the manifest for writing (docs/format.md §3.1 steps 4-5): creates version 1 (`Manifest.initial()`) when
 * there is none, then claims the writer epoch by writing `stored.writerEpoch + 1` as the next version,
 * re-reading and retrying on conflicts, within `timeoutMs`. Every older writer is fenced from the moment
 * this returns: its next manifest write conflicts, and its refresh sees our higher epoch.
 */
export const claimWriterEpoch = (
  store: ManifestStore,
  options: ManifestWriterOptions
): Effect.Effect<ManifestWriter, DbError> =>
  Effect.map(
    claimEpoch(store.versions, writerEpochField, { timeoutMs: options.timeoutMs, initial: Manifest.initial }),
    (claimed) => new ManifestWriter(store, { id: claimed.id, manifest: claimed.value }, options)
  )
