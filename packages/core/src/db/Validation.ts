/**
 * Argument validation of every public entry of the database (the `Db` service and the Promise API over
 * it). Each check returns why its input is unacceptable, or undefined; the callers turn a problem into an
 * `InvalidError` before doing anything else, so nothing of an invalid call is written or read.
 *
 * The messages are SlateDB's binding messages where SlateDB has one ("key cannot be empty", "range must be
 * non-empty", ...), and otherwise say which argument was wrong and what it was. JavaScript callers can
 * pass anything (`null` options, a string for a boolean, a number where an options object belongs), so
 * every field is checked by type as well as by value: an option the engine would misread is refused, not
 * ignored.
 */
import { compareKeys } from "../format/KeyComparator.ts"
import type { BatchOp, KeyRange, ReadOptions, ScanOptions } from "./DbApi.ts"

export const MAX_KEY_BYTES = 65_535
export const MAX_VALUE_BYTES = 0xffff_ffff

const show = (x: unknown): string => {
  if (x === undefined) return "undefined"
  if (typeof x === "string") return JSON.stringify(x)
  if (typeof x === "number" || typeof x === "boolean" || typeof x === "bigint" || x === null) return String(x)
  if (x instanceof Uint8Array) return `a ${x.length}-byte Uint8Array`
  if (Array.isArray(x)) return "an array"
  return typeof x === "function" ? "a function" : `an ${typeof x}`
}

/** Why `key` is unacceptable, or undefined. */
export const keyProblem = (key: unknown): string | undefined => {
  if (!(key instanceof Uint8Array)) return `key must be a Uint8Array, got ${show(key)}`
  if (key.length === 0) return "key cannot be empty"
  if (key.length > MAX_KEY_BYTES) return "key size must be <= u16::MAX"
  return undefined
}

export const valueProblem = (value: unknown, what = "value"): string | undefined => {
  if (!(value instanceof Uint8Array)) return `${what} must be a Uint8Array, got ${show(value)}`
  if (value.length > MAX_VALUE_BYTES) return `${what} size must be <= u32::MAX`
  return undefined
}

export const ttlProblem = (ttl: unknown): string | undefined => {
  if (ttl === undefined || ttl === "default" || ttl === "none") return undefined
  if (typeof ttl === "object" && ttl !== null && !Array.isArray(ttl)) {
    const keys = Object.keys(ttl)
    if (keys.length === 1 && "afterMs" in ttl) {
      const ms = (ttl as { afterMs: unknown }).afterMs
      return typeof ms === "number" && Number.isSafeInteger(ms) && ms >= 0
        ? undefined
        : `ttl.afterMs must be a non-negative integer, got ${show(ms)}`
    }
    if (keys.length === 1 && "atMs" in ttl) {
      const at = (ttl as { atMs: unknown }).atMs
      return typeof at === "number" && Number.isSafeInteger(at) ? undefined : `ttl.atMs must be an integer, got ${show(at)}`
    }
  }
  return `ttl must be "default", "none", { afterMs } or { atMs }, got ${typeof ttl === "object" && ttl !== null ? JSON.stringify(ttl) : show(ttl)}`
}

/** `options` must be absent or a plain object (not null, not an array, not a number). */
const objectProblem = (options: unknown, what: string): string | undefined =>
  options === undefined || (typeof options === "object" && options !== null && !Array.isArray(options))
    ? undefined
    : `${what} must be an object, got ${show(options)}`

const booleanProblem = (value: unknown, what: string): string | undefined =>
  value === undefined || typeof value === "boolean" ? undefined : `${what} must be a boolean, got ${show(value)}`

const unknownField = (options: object, fields: ReadonlySet<string>, what: string): string | undefined => {
  for (const key in options) {
    if (!fields.has(key)) return `${what} has no option ${JSON.stringify(key)}`
  }
  return undefined
}

const WRITE_FIELDS: ReadonlySet<string> = new Set(["awaitDurable"])
const PUT_FIELDS: ReadonlySet<string> = new Set(["awaitDurable", "ttl"])
const READ_FIELDS: ReadonlySet<string> = new Set(["durability", "dirty"])
const SCAN_FIELDS: ReadonlySet<string> = new Set(["durability", "dirty", "order", "readAheadBytes", "maxFetchTasks", "cacheBlocks"])

/** Write options (`{ awaitDurable? }`). */
export const writeOptionsProblem = (options: unknown): string | undefined => {
  if (options === undefined) return undefined
  const o = objectProblem(options, "write options")
  if (o !== undefined) return o
  const opts = options as { awaitDurable?: unknown }
  return unknownField(opts, WRITE_FIELDS, "write options") ?? booleanProblem(opts.awaitDurable, "awaitDurable")
}

/** Put options (`{ awaitDurable?, ttl? }`). */
export const putOptionsProblem = (options: unknown): string | undefined => {
  if (options === undefined) return undefined
  const o = objectProblem(options, "put options")
  if (o !== undefined) return o
  const opts = options as { awaitDurable?: unknown; ttl?: unknown }
  return unknownField(opts, PUT_FIELDS, "put options") ?? booleanProblem(opts.awaitDurable, "awaitDurable") ??
    ttlProblem(opts.ttl)
}

const readFieldsProblem = (options: ReadOptions): string | undefined => {
  const d: unknown = options.durability
  if (d !== undefined && d !== "memory" && d !== "remote") {
    return `durability must be "memory" or "remote", got ${show(d)}`
  }
  return booleanProblem(options.dirty, "dirty")
}

/** Read options (`{ durability?, dirty? }`). */
export const readOptionsProblem = (options: unknown): string | undefined => {
  if (options === undefined) return undefined
  const o = objectProblem(options, "read options")
  if (o !== undefined) return o
  return unknownField(options as object, READ_FIELDS, "read options") ?? readFieldsProblem(options as ReadOptions)
}

const positiveIntProblem = (v: unknown, name: string): string | undefined =>
  v === undefined || (Number.isSafeInteger(v) && (v as number) >= 1) ? undefined : `${name} must be a positive integer, got ${show(v)}`

/** Scan options (read options, `order`, `readAheadBytes`, `maxFetchTasks`, `cacheBlocks`). */
export const scanOptionsProblem = (options: unknown): string | undefined => {
  if (options === undefined) return undefined
  const o = objectProblem(options, "scan options")
  if (o !== undefined) return o
  const opts = options as ScanOptions
  const order: unknown = opts.order
  return unknownField(opts, SCAN_FIELDS, "scan options") ?? readFieldsProblem(opts) ??
    (order === undefined || order === "asc" || order === "desc" ? undefined : `order must be "asc" or "desc", got ${show(order)}`) ??
    positiveIntProblem(opts.readAheadBytes, "readAheadBytes") ?? positiveIntProblem(opts.maxFetchTasks, "maxFetchTasks") ??
    booleanProblem(opts.cacheBlocks, "cacheBlocks")
}

/** A user range (SlateDB's binding messages for empty and inverted ranges). */
export const rangeProblem = (range: unknown): string | undefined => {
  if (typeof range !== "object" || range === null || Array.isArray(range)) return `range must be an object, got ${show(range)}`
  const { start, end, startInclusive, endInclusive } = range as KeyRange
  if (start !== undefined && !(start instanceof Uint8Array)) return `range start must be a Uint8Array, got ${show(start)}`
  if (end !== undefined && !(end instanceof Uint8Array)) return `range end must be a Uint8Array, got ${show(end)}`
  const flags = booleanProblem(startInclusive, "range startInclusive") ?? booleanProblem(endInclusive, "range endInclusive")
  if (flags !== undefined) return flags
  if (start !== undefined && end !== undefined) {
    const c = compareKeys(start, end)
    if (c > 0) return "range start must not be greater than range end"
    if (c === 0 && !((startInclusive ?? true) && (endInclusive ?? false))) return "range must be non-empty"
  }
  return undefined
}

/** One op of a write batch (ops can be built by hand, so their shape is checked too). */
export const batchOpProblem = (op: unknown, index: number): string | undefined => {
  if (typeof op !== "object" || op === null) return `batch op ${index} must be an object, got ${show(op)}`
  const tag = (op as { _tag?: unknown })._tag
  const o = op as BatchOp
  let problem: string | undefined
  if (tag === "put" || tag === "merge") problem = keyProblem(o.key) ?? valueProblem((o as { value?: unknown }).value) ?? ttlProblem((o as { ttl?: unknown }).ttl)
  else if (tag === "delete") problem = keyProblem(o.key)
  else return `batch op ${index} has an unknown kind ${show(tag)} (expected "put", "delete" or "merge")`
  return problem === undefined ? undefined : `batch op ${index}: ${problem}`
}

/** Why `Db.createCheckpoint` options are unacceptable, or undefined. */
export const checkpointOptionsProblem = (options: unknown): string | undefined => {
  if (options === undefined) return undefined
  if (typeof options !== "object" || options === null) return `checkpoint options must be an object, got ${show(options)}`
  const o = options as Record<string, unknown>
  if (o.scope !== undefined && o.scope !== "all" && o.scope !== "durable") {
    return `checkpoint scope must be "all" or "durable", got ${show(o.scope)}`
  }
  if (o.lifetimeMs !== undefined && (typeof o.lifetimeMs !== "number" || !Number.isFinite(o.lifetimeMs) || o.lifetimeMs < 0)) {
    return `checkpoint lifetimeMs must be a non-negative number, got ${show(o.lifetimeMs)}`
  }
  if (o.name !== undefined && typeof o.name !== "string") return `checkpoint name must be a string, got ${show(o.name)}`
  if (o.source !== undefined && (typeof o.source !== "string" || !UUID.test(o.source))) {
    return `checkpoint source must be a checkpoint id (a UUID), got ${show(o.source)}`
  }
  return undefined
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
