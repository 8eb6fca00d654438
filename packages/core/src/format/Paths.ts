/**
 * Where SlateDB keeps each object under a database root (docs/format.md §1):
 *
 * | object | path |
 * |---|---|
 * | manifest version | `<root>/manifest/<id:020>.manifest` |
 * | compactor state version | `<root>/compactions/<id:020>.compactions` |
 * | WAL SST | `<root>/wal/<id:020>.sst` |
 * | L0 / sorted-run SST | `<root>/compacted/<ULID>.sst` |
 *
 * Ids are u64 in decimal, zero-padded to 20 digits; SST ULIDs are 26 upper-case Crockford characters.
 * The root is normalised like `object_store::path::Path`: leading and trailing slashes are dropped, and
 * an empty root puts everything at the top of the store (`manifest/…`).
 *
 * The parsers take a listed path and look at its file name only (callers list the right directory).
 * They return `undefined` for foreign files, which callers ignore (SlateDB logs and skips them):
 * - manifests / compactions: the extension (after the last `.`) must be `manifest` / `compactions`, and
 *   the stem (before the first `.`) a decimal u64 (ids beyond 2^53 are not representable and count as
 *   foreign);
 * - WAL SSTs: `<u64>.<anything>`; compacted SSTs: `<ULID>.<anything>` (returned upper-case).
 */
import { InvalidError } from "../errors.ts"
import { isUlid } from "../Ulid.ts"

export const MANIFEST_DIR = "manifest"
export const COMPACTIONS_DIR = "compactions"
export const WAL_DIR = "wal"
export const COMPACTED_DIR = "compacted"

/** Drops leading and trailing slashes: `/db/` → `db`, `/` → ``. */
export const normalizeRoot = (root: string): string => {
  let start = 0
  let end = root.length
  while (start < end && root.charCodeAt(start) === 47) start++
  while (end > start && root.charCodeAt(end - 1) === 47) end--
  return root.slice(start, end)
}

const dir = (root: string, name: string): string => {
  const r = normalizeRoot(root)
  return r.length === 0 ? name : `${r}/${name}`
}

/** A u64 id as SlateDB writes it in file names: decimal, zero-padded to 20 digits. */
export const formatId = (id: number): string => {
  if (!Number.isSafeInteger(id) || id < 0) throw new InvalidError({ message: `object id must be a u64, got ${id}` })
  return id.toString().padStart(20, "0")
}

/** Directory prefixes, for listing (no trailing slash). */
export const manifestDir = (root: string): string => dir(root, MANIFEST_DIR)
export const compactionsDir = (root: string): string => dir(root, COMPACTIONS_DIR)
export const walDir = (root: string): string => dir(root, WAL_DIR)
export const compactedDir = (root: string): string => dir(root, COMPACTED_DIR)

export const manifestPath = (root: string, id: number): string => `${manifestDir(root)}/${formatId(id)}.manifest`
export const compactionsPath = (root: string, id: number): string =>
  `${compactionsDir(root)}/${formatId(id)}.compactions`
export const walSstPath = (root: string, id: number): string => `${walDir(root)}/${formatId(id)}.sst`
export const compactedSstPath = (root: string, ulid: string): string => `${compactedDir(root)}/${ulid}.sst`

const fileName = (path: string): string => path.slice(path.lastIndexOf("/") + 1)

const MAX_U64_DIGITS = 20

/** A decimal u64 that fits a safe integer, or undefined. */
const parseU64 = (s: string): number | undefined => {
  if (s.length === 0 || s.length > MAX_U64_DIGITS) return undefined
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return undefined
  }
  const v = Number(s)
  return Number.isSafeInteger(v) ? v : undefined
}

const parseVersioned = (path: string, extension: string): number | undefined => {
  const name = fileName(path)
  const lastDot = name.lastIndexOf(".")
  if (lastDot <= 0 || name.slice(lastDot + 1) !== extension) return undefined
  return parseU64(name.slice(0, name.indexOf(".")))
}

/** The id of a listed manifest file, or undefined for foreign files. */
export const parseManifestId = (path: string): number | undefined => parseVersioned(path, "manifest")

/** The id of a listed compactions file, or undefined for foreign files. */
export const parseCompactionsId = (path: string): number | undefined => parseVersioned(path, "compactions")

const stem = (path: string): string | undefined => {
  const name = fileName(path)
  const dot = name.indexOf(".")
  return dot < 0 ? undefined : name.slice(0, dot)
}

/** The id of a listed WAL SST (`<u64>.<anything>`), or undefined for foreign files. */
export const parseWalSstId = (path: string): number | undefined => {
  const s = stem(path)
  return s === undefined ? undefined : parseU64(s)
}

/** The ULID of a listed compacted SST (`<ULID>.<anything>`, returned upper-case), or undefined. */
export const parseCompactedSstId = (path: string): string | undefined => {
  const s = stem(path)
  return s !== undefined && isUlid(s) ? s.toUpperCase() : undefined
}
