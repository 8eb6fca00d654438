/**
 * Object paths are relative, `/`-separated, with no empty, `.` or `..` segments (so `a//b`, `/a`, `a/`
 * and `a/../b` are all rejected). The same rule holds for every backend, so a path that works on the
 * memory store works on a local directory and on S3. List prefixes follow the same rule, except that the
 * empty prefix (everything) is allowed.
 */
import { Effect } from "effect"
import { InvalidPath, type StoreOp } from "./ObjectStoreError.ts"

const problem = (path: string, allowEmpty: boolean): string | undefined => {
  if (path.length === 0) return allowEmpty ? undefined : "path is empty"
  if (path.includes("\0")) return "path contains a NUL character"
  const segments = path.split("/")
  for (const s of segments) {
    if (s.length === 0) return "path has an empty segment"
    if (s === "." || s === "..") return `path has a '${s}' segment`
  }
  return undefined
}

/** Fails with `InvalidPath` unless `path` is a valid object path. */
export const validatePath = (op: StoreOp, path: string): Effect.Effect<void, InvalidPath> => {
  const p = problem(path, false)
  return p === undefined ? Effect.void : Effect.fail(new InvalidPath({ op, path, message: p }))
}

/** Fails with `InvalidPath` unless `prefix` is empty or a valid object path. */
export const validatePrefix = (prefix: string): Effect.Effect<void, InvalidPath> => {
  const p = problem(prefix, true)
  return p === undefined ? Effect.void : Effect.fail(new InvalidPath({ op: "list", path: prefix, message: p }))
}

/** Joins path segments, skipping empty ones: `join("db", "", "wal/1.sst")` is `db/wal/1.sst`. */
export const join = (...parts: ReadonlyArray<string>): string => parts.filter((p) => p.length > 0).join("/")

/** True when `path` lies under the directory-like `prefix` (the empty prefix holds everything). */
export const isUnder = (path: string, prefix: string): boolean =>
  prefix.length === 0 || (path.length > prefix.length && path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47)
