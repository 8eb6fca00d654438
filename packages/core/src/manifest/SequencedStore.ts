/**
 * A sequenced object on the store (SlateDB's `slatedb-txn-obj`, docs/format.md §1): every version is an
 * immutable object `<dir>/<id:020>.<suffix>`, ids consecutive from 1. There is no `If-Match`: whoever last
 * saw version N writes N+1 **create-only**, and the loser of a race gets `"exists"`, re-reads and tries
 * again. The manifest (`manifest/`) and the compactor's state (`compactions/`) are two such objects.
 *
 * - `listIds`: every parsable id listed, ascending (foreign files ignored).
 * - `readLatest`: lists, takes the highest id and reads it; if that version vanished between the list and
 *   the read (a garbage collector removed it), lists again (a few times). Versions never change once
 *   written, so the store remembers the newest one it read or wrote and later lists only the paths after
 *   it: a poll that finds nothing new costs one listing of nothing (not a listing of every version ever
 *   kept) and no read.
 * - `write(id, value)`: a create-only put; `"exists"` instead of a failure when the version is taken, and
 *   also when a version at or above `id` is listed just before the put. The garbage collector deletes old
 *   versions, so a writer whose view is older than the collector's minimum age could otherwise create
 *   version N+1 after N+2 (the name was free again) and have an update acknowledged that nobody reads as
 *   the latest. The collector never deletes the latest version, so a stale writer always finds a higher
 *   one listed; it re-reads and tries again, as after a race. (Listing after the put instead would also
 *   catch a successor written on top of this very version: no evidence of a stale view.) What is left to
 *   the minimum age is the time between the listing and the put, one round trip, where before it was the
 *   whole age of the writer's view. Cost: one listing of the names from `id` on (usually none) per version
 *   written, unless the caller's view is current (`current`: it has just listed, or just written `id - 1`),
 *   as in the compactor's manifest version after its `readLatest`. SlateDB 0.12.1 does not check
 *   (with its collector's default minimum age, 5 minutes, a writer's view is rarely that old); the
 *   simulation, whose collector runs with seconds, found it (seed 564: a checkpoint acknowledged in
 *   version 31 after 32 was written, so the latest manifest never listed it).
 * - `writeLanded(id, value, check)`: `write`, then, for a change that must not be lost below the latest,
 *   one listing after the create. The round trip between the listing before a create and the create
 *   itself is still left to the minimum age: with an age near 0 and a slow or retried put, another party
 *   can write N+1 and N+2 meanwhile and a collector delete N+1, so that our create takes N+1 below N+2 and
 *   nobody reads it. Names alone cannot tell that version N+2 from one written on top of ours (a listing
 *   after every write, tried once, took good writes for lost); the contents can: `check.shows` says
 *   whether a later version shows the change (a version written on top of ours carries it, unless someone
 *   undid it since, which `shows` must accept). When it does not, the answer says so, with the latest
 *   version, and the caller makes the change again on top of it. Used by epoch claims (Epochs.ts) and
 *   checkpoint changes (Checkpoints.ts's `updateLatestManifest`, `ManifestWriter.update`); one listing
 *   per such write, usually of nothing. SlateDB 0.12.1 does not check.
 *
 * Errors: store failures map to engine errors (objectstore/StoreErrors.ts); a version that does not decode
 * is a `DataError` naming the object.
 */
import { Clock, Effect, Option, Stream } from "effect"
import { DataError, type DbError } from "../errors.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"

export interface Stored<A> {
  readonly id: number
  readonly value: A
}

export type WriteOutcome = "written" | "exists"

export interface SequencedStore<A> {
  readonly listIds: Effect.Effect<ReadonlyArray<number>, DbError>
  /** The latest version, or undefined when there is none yet. */
  readonly readLatest: Effect.Effect<Stored<A> | undefined, DbError>
  readonly read: (id: number) => Effect.Effect<A, DbError>
  /**
   * Writes version `id` create-only; `"exists"` when that version, or a later one, is already taken (see
   * the module comment). `current`: the caller's view is known to be current, because it has just listed
   * (`readLatest` found `id - 1` the latest, nothing but pure computation since) or has just created
   * `id - 1` itself; the listing before the put is skipped, as it would look at the same names again.
   */
  readonly write: (id: number, value: A, options?: WriteOptions) => Effect.Effect<WriteOutcome, DbError>
  /**
   * `write`, then one listing: `"exists"` as `write`, else where the version landed (see the module
   * comment); logs a warning when a later version does not show the change.
   */
  readonly writeLanded: (
    id: number,
    value: A,
    check: LandedCheck<A>,
    options?: WriteOptions
  ) => Effect.Effect<"exists" | Landing<A>, DbError>
}

export interface WriteOptions {
  readonly current?: boolean
}

/**
 * What `writeLanded` answers when it created its version: the latest version listed right after (its own,
 * or a later one) and whether that one shows the change (see the module comment).
 */
export interface Landing<A> {
  readonly latest: Stored<A>
  readonly landed: boolean
}

/** What `writeLanded` checks in a later version, and how its warning names the change. */
export interface LandedCheck<A> {
  /** Whether `later`, read at `nowMs`, shows the change (or shows it undone since, by someone else). */
  readonly shows: (later: A, nowMs: number) => boolean
  /** The change, for the warning when it did not land: "the writer epoch 7", "a checkpoint change". */
  readonly change: string
}

export interface SequencedStoreOptions<A> {
  /** The directory holding the versions. */
  readonly dir: string
  readonly pathOf: (id: number) => string
  /** The id of a listed object, undefined for a foreign file. */
  readonly parseId: (path: string) => number | undefined
  readonly encode: (value: A) => Uint8Array
  /** Throws on undecodable bytes (a `DataError`, ideally). */
  readonly decode: (bytes: Uint8Array) => A
  /** What a version is, for error messages and `DataError.section` ("manifest", "compactions"). */
  readonly what: string
}

/** How many times `readLatest` re-lists after the newest listed version disappeared before it was read. */
const LATEST_ATTEMPTS = 10

/** The ids of the versions listed after version `after` (all when undefined), ascending; foreign files skipped. */
const listVersionIds = <A>(
  store: ObjectStore["Service"],
  options: SequencedStoreOptions<A>,
  after: number | undefined
): Effect.Effect<Array<number>, DbError> =>
  Stream.runFold(
    store.list(options.dir, { startAfter: after === undefined ? undefined : options.pathOf(after) }),
    () => [] as Array<number>,
    (ids, o) => {
      const id = options.parseId(o.path)
      if (id !== undefined && (after === undefined || id > after)) ids.push(id)
      return ids
    }
  ).pipe(
    Effect.map((ids) => ids.sort((a, b) => a - b)),
    Effect.mapError(toDbError)
  )

/** The version stored at `path`, or a `DataError` naming the object when its bytes do not decode. */
const decodeVersion = <A>(options: SequencedStoreOptions<A>, path: string, bytes: Uint8Array): Effect.Effect<A, DataError> =>
  Effect.try({
    try: () => options.decode(bytes),
    catch: (e) =>
      e instanceof DataError
        ? new DataError({ message: e.message, object: path, section: e.section ?? options.what, cause: e })
        : new DataError({ message: `undecodable ${options.what}: ${String(e)}`, object: path, section: options.what, cause: e })
  })

export const makeSequencedStore = <A>(
  store: ObjectStore["Service"],
  options: SequencedStoreOptions<A>
): SequencedStore<A> => {
  const { what } = options
  const listIdsAfter = (after: number | undefined) => listVersionIds(store, options, after)
  const listIds = listIdsAfter(undefined)
  /** The newest version read or written through this store (immutable, so safe to keep). */
  let newest: Stored<A> | undefined

  const readRaw = (id: number) => {
    const path = options.pathOf(id)
    return store.get(path).pipe(Effect.flatMap((bytes) => decodeVersion(options, path, bytes)))
  }

  const read = (id: number): Effect.Effect<A, DbError> => readRaw(id).pipe(Effect.mapError(toDbError))

  const remember = (stored: Stored<A>): Stored<A> => {
    if (newest === undefined || stored.id > newest.id) newest = stored
    return newest
  }

  const readLatest: Effect.Effect<Stored<A> | undefined, DbError> = Effect.gen(function*() {
    for (let attempt = 1;; attempt++) {
      const known = newest
      const ids = yield* listIdsAfter(known?.id)
      const id = ids[ids.length - 1]
      if (id === undefined) return known
      const result = yield* readRaw(id).pipe(
        Effect.map(Option.some),
        Effect.catchTag("ObjectNotFound", (e) => (attempt < LATEST_ATTEMPTS ? Effect.succeed(Option.none<A>()) : Effect.fail(e)))
      )
      if (Option.isSome(result)) return remember({ id, value: result.value })
    }
  }).pipe(Effect.mapError(toDbError))

  const put = (id: number, value: A): Effect.Effect<WriteOutcome, DbError> =>
    store.put(options.pathOf(id), options.encode(value), { mode: "create" }).pipe(
      Effect.map((): WriteOutcome => {
        remember({ id, value })
        return "written"
      }),
      Effect.catchTag("ObjectAlreadyExists", () => Effect.succeed<WriteOutcome>("exists")),
      Effect.mapError(toDbError)
    )

  // A free name may have been freed: the collector deletes old versions, so a writer whose view is older
  // than its minimum age could create a version below the latest (see the module comment). Listed first,
  // a version at or above `id` is a conflict, like "exists".
  const write = (id: number, value: A, writeOptions?: WriteOptions): Effect.Effect<WriteOutcome, DbError> =>
    writeOptions?.current === true
      ? put(id, value)
      : Effect.flatMap(listIdsAfter(id - 1), (taken) => (taken.length > 0 ? Effect.succeed<WriteOutcome>("exists") : put(id, value)))

  // A later version that does not show the change was there before our create took a freed name below it.
  const writeLanded = (
    id: number,
    value: A,
    check: LandedCheck<A>,
    writeOptions?: WriteOptions
  ): Effect.Effect<"exists" | Landing<A>, DbError> =>
    Effect.gen(function*() {
      if ((yield* write(id, value, writeOptions)) === "exists") return "exists" as const
      const after = yield* readLatest
      if (after === undefined || after.id === id) return { latest: { id, value }, landed: true }
      if (check.shows(after.value, yield* Clock.currentTimeMillis)) return { latest: after, landed: true }
      yield* Effect.logWarning(
        `${check.change} written in ${what} version ${id} is below version ${after.id}, which does not show it (a ` +
          `collector had freed the name): making it again on top`
      )
      return { latest: after, landed: false }
    })

  return { listIds, readLatest, read, write, writeLanded }
}
