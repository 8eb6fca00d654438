/**
 * How object-store failures become the engine's error kinds (SlateDB's RFC 0007 mapping, docs/format.md §4.5):
 *
 * - `ObjectNotFound` ⇒ `DataError` (an object the database references is missing);
 * - `InvalidPath` ⇒ `InvalidError` (the database path itself is unusable);
 * - every other store error (`StoreUnavailable`, `StoreFailure`, an unexpected `ObjectAlreadyExists`)
 *   ⇒ `UnavailableError`, with the store error as `cause`.
 *
 * Errors that already are engine errors pass through unchanged, so the mapping can be applied to the
 * mixed error channel of SST reads (`DataError | ObjectStoreError`).
 */
import { DataError, type DbError, InvalidError, UnavailableError } from "../errors.ts"
import type { ObjectStoreError } from "./ObjectStoreError.ts"

const STORE_TAGS = new Set(["ObjectNotFound", "ObjectAlreadyExists", "StoreUnavailable", "StoreFailure", "InvalidPath"])

/** True for the object store's own error classes. */
export const isStoreError = (e: unknown): e is ObjectStoreError =>
  typeof e === "object" && e !== null && "_tag" in e && STORE_TAGS.has((e as { _tag: string })._tag)

/** Maps a store error to an engine error; engine errors pass through. */
export const toDbError = (e: ObjectStoreError | DbError): DbError => {
  switch (e._tag) {
    case "ObjectNotFound":
      return new DataError({ message: `object not found: ${e.path}`, object: e.path, cause: e })
    case "InvalidPath":
      return new InvalidError({ message: `invalid object path ${JSON.stringify(e.path)}: ${e.message}` })
    case "ObjectAlreadyExists":
    case "StoreUnavailable":
    case "StoreFailure":
      return new UnavailableError({ message: `object store ${e.op} ${e.path} failed: ${e.message}`, cause: e })
    default:
      return e
  }
}
