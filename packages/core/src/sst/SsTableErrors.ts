/**
 * How SST reading reports failures: every decoding problem becomes a `DataError` naming the object and the
 * section ("footer", "info", "index", "filter", "stats", "block N"); object-store failures pass through.
 */
import { Effect } from "effect"
import { DataError } from "../errors.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"

export type SsTableError = DataError | ObjectStoreError

/** Attaches the object and the section to a failure thrown by pure decoding code. */
export const toDataError = (object: string, section: string) => (e: unknown): DataError => {
  if (e instanceof DataError && e.object !== undefined) return e
  if (e instanceof DataError) {
    return new DataError({
      message: e.message.startsWith(`${section}: `) ? e.message : `${section}: ${e.message}`,
      object,
      section: e.section ?? section,
      ...(e.cause === undefined ? {} : { cause: e.cause })
    })
  }
  return new DataError({
    message: `${section}: unexpected decoding failure: ${e instanceof Error ? e.message : String(e)}`,
    object,
    section,
    cause: e
  })
}

/** Runs pure decoding `f` as an Effect, attributing any failure to `section` of `object`. */
export const decodeWith = <A>(object: string, section: string, f: () => A): Effect.Effect<A, DataError> =>
  Effect.try({ try: f, catch: toDataError(object, section) })

export const dataError = (object: string, section: string, message: string) =>
  new DataError({ message: `${section}: ${message}`, object, section })

/** Runs pure decoding `f`, attributing any failure to `section` of `object` (for loops over blocks). */
export const inSection = <A>(object: string, section: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    throw toDataError(object, section)(e)
  }
}
