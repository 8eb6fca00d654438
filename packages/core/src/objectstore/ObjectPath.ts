/**
 * Object paths are relative, `/`-separated, with no empty, `.` or `..` segments (so `a//b`, `/a`, `a/`
 * and `a/../b` are all rejected). The same rule holds for every backend, so a path that works on the
 * memory store works on a local directory and on S3. List prefixes follow the same rule, except that the
 * empty prefix (everything) is allowed.
 */
import { Effect } from "effect"
import { InvalidPath, type StoreOp } from "./ObjectStoreError.ts"

/** What is wrong with `path`, if anything (one pass over its characters: checked on every request). */
const problem = (path: string, allowEmpty: boolean): string | undefined => {
  if (path.length === 0) return allowEmpty ? undefined : "path is empty"
  if (path.includes("\0")) return "path contains a NUL character"
  let start = 0
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 47) continue
    const n = i - start
    if (n === 0) return "path has an empty segment"
    if (n <= 2 && path.charCodeAt(start) === 46 && (n === 1 || path.charCodeAt(start + 1) === 46)) {
      return `path has a '${n === 1 ? "." : ".."}' segment`
    }
    start = i + 1
  }
  return undefined
}

/** The `InvalidPath` error of `path`, or undefined when it is a valid object path. */
export const pathError = (op: StoreOp, path: string): InvalidPath | undefined => {
  const p = problem(path, false)
  return p === undefined ? undefined : new InvalidPath({ op, path, message: p })
}

/** Fails with `InvalidPath` unless `path` is a valid object path. */
export const validatePath = (op: StoreOp, path: string): Effect.Effect<void, InvalidPath> => {
  const e = pathError(op, path)
  return e === undefined ? Effect.void : Effect.fail(e)
}

/** Fails with `InvalidPath` unless `prefix` is empty or a valid object path. */
export const validatePrefix = (prefix: string): Effect.Effect<void, InvalidPath> => {
  const p = problem(prefix, true)
  return p === undefined ? Effect.void : Effect.fail(new InvalidPath({ op: "list", path: prefix, message: p }))
}

/** Joins path segments, skipping empty ones: `join("db", "", "wal/1.sst")` is `db/wal/1.sst`. */
export const join = (...parts: ReadonlyArray<string>): string => {
  let out = ""
  for (const p of parts) {
    if (p.length === 0) continue
    out = out.length === 0 ? p : `${out}/${p}`
  }
  return out
}

/** True when `path` lies under the directory-like `prefix` (the empty prefix holds everything). */
export const isUnder = (path: string, prefix: string): boolean =>
  prefix.length === 0 || (path.length > prefix.length && path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47)
