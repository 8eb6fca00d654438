/**
 * A sequenced object on the store (SlateDB's `slatedb-txn-obj`, docs/format.md §1): every version is an
 * immutable object `<dir>/<id:020>.<suffix>`, ids consecutive from 1. There is no `If-Match`: whoever last
 * saw version N writes N+1 **create-only**, and the loser of a race gets `"exists"`, re-reads and tries
 * again. The manifest (`manifest/`) and the compactor's state (`compactions/`) are two such objects.
 *
 * - `listIds`: every parsable id listed, ascending (foreign files ignored).
 * - `readLatest`: lists, takes the highest id and reads it; if that version vanished between the list and
 *   the read (a garbage collector removed it), lists again (a few times).
 * - `write(id, value)`: a create-only put; `"exists"` instead of a failure when the version is taken.
 *
 * Errors: store failures map to engine errors (objectstore/StoreErrors.ts); a version that does not decode
 * is a `DataError` naming the object.
 */
import { Effect, Option, Stream } from "effect"
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
  /** Writes version `id` create-only; `"exists"` when that version is already taken. */
  readonly write: (id: number, value: A) => Effect.Effect<WriteOutcome, DbError>
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

export const makeSequencedStore = <A>(
  store: ObjectStore["Service"],
  options: SequencedStoreOptions<A>
): SequencedStore<A> => {
  const { what } = options
  const listIds = Stream.runFold(store.list(options.dir), () => [] as Array<number>, (ids, o) => {
    const id = options.parseId(o.path)
    if (id !== undefined) ids.push(id)
    return ids
  }).pipe(
    Effect.map((ids) => ids.sort((a, b) => a - b)),
    Effect.mapError(toDbError)
  )

  const decodeAt = (path: string, bytes: Uint8Array): Effect.Effect<A, DataError> =>
    Effect.try({
      try: () => options.decode(bytes),
      catch: (e) =>
        e instanceof DataError
          ? new DataError({ message: e.message, object: path, section: e.section ?? what, cause: e })
          : new DataError({ message: `undecodable ${what}: ${String(e)}`, object: path, section: what, cause: e })
    })

  const readRaw = (id: number) => {
    const path = options.pathOf(id)
    return store.get(path).pipe(Effect.flatMap((bytes) => decodeAt(path, bytes)))
  }

  const read = (id: number): Effect.Effect<A, DbError> => readRaw(id).pipe(Effect.mapError(toDbError))

  const readLatest: Effect.Effect<Stored<A> | undefined, DbError> = Effect.gen(function*() {
    for (let attempt = 1;; attempt++) {
      const ids = yield* listIds
      const id = ids[ids.length - 1]
      if (id === undefined) return undefined
      const result = yield* readRaw(id).pipe(
        Effect.map(Option.some),
        Effect.catchTag("ObjectNotFound", (e) => (attempt < LATEST_ATTEMPTS ? Effect.succeed(Option.none<A>()) : Effect.fail(e)))
      )
      if (Option.isSome(result)) return { id, value: result.value }
    }
  }).pipe(Effect.mapError(toDbError))

  const write = (id: number, value: A): Effect.Effect<WriteOutcome, DbError> =>
    Effect.suspend(() =>
      store.put(options.pathOf(id), options.encode(value), { mode: "create" }).pipe(
        Effect.as<WriteOutcome>("written"),
        Effect.catchTag("ObjectAlreadyExists", () => Effect.succeed<WriteOutcome>("exists")),
        Effect.mapError(toDbError)
      )
    )

  return { listIds, readLatest, read, write }
}
