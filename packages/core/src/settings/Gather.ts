/**
 * Gathering settings from their sources, path by path, before one decoding: each source's keys
 * translated to Shale's paths (SlateDB's names through settings/SlateDbNames.ts), groups given as objects
 * split into their parts, later sources overriding earlier ones, and every problem kept with the key as
 * written and where it came from (Settings.ts decodes the result and reports them all at once).
 *
 * A group (`compactor`, `garbageCollector`, `garbageCollector.wal`) is a path of its own beside its parts.
 * A source giving a group as an object turns it on and sets the parts it names, keeping what earlier
 * sources said of the others (as SlateDB merges its files and environment over each other: a file's
 * `garbage_collector_options.manifest_options` survives `SLATEDB_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.MIN_AGE`).
 * A source turning a group off (null, false, `"none"`) or on with its defaults (true) replaces what
 * earlier sources said of its parts, and may not set any of them itself. A source setting a part of a
 * group an earlier source turned off turns it back on, the rest defaulted.
 */
import { Schema, SchemaIssue } from "effect"
import { groupName, GROUPS } from "./BackgroundSettings.ts"
import { isDisabled, isObject } from "./Fields.ts"
import { type Converted, SLATEDB_KEYS } from "./SlateDbNames.ts"
import type { RawSource } from "./Sources.ts"

/** The formatter of decoding problems (one `{ message, path }` per problem). */
export const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** One setting's value as it will be decoded: the key as written, where it came from, and the raw value. */
export interface Entry {
  readonly key: string
  readonly where: string
  readonly raw: unknown
  readonly value: unknown
}

/** Settings gathered from the sources so far, path by path (`"clear"`: unset by a later source). */
export interface Gathered {
  /** Every path a source may set (Shale's names: `l0MaxSsts`, `compactor`, `compactor.pollIntervalMs`, ...). */
  readonly paths: ReadonlyArray<string>
  readonly fields: Map<string, Entry | "clear">
  readonly problems: Array<string>
  readonly notes: Array<string>
}

export const emptyGathered = (paths: ReadonlyArray<string>): Gathered => ({
  paths,
  fields: new Map(),
  problems: [],
  notes: []
})

/** Problems of decoding `value` with `schema`, as `path: message` lines under `key`. */
const schemaProblems = (schema: Schema.Top, key: string, value: unknown): ReadonlyArray<string> => {
  const result = Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown>)(value, {
    errors: "all",
    onExcessProperty: "error"
  })
  if (result._tag === "Success") return []
  return formatter(result.failure.issue).issues.map(({ message, path }) => {
    const steps = (path ?? []).map(String)
    const at = [key, ...steps].join(".")
    if (message.includes("excess property")) return `unknown setting "${at}"`
    let got: unknown = value
    for (const step of steps) got = typeof got === "object" && got !== null ? (got as Record<string, unknown>)[step] : undefined
    return `${at}: ${message}${message.includes(", got ") ? "" : `, got ${JSON.stringify(got)}`}`
  })
}

/** Adds one source's values to `acc`: translates SlateDB names, checks groups, flags unknown keys. */
export const gather = (acc: Gathered, source: RawSource): void => {
  const seen = new Map<string, string>()
  for (const [key, raw] of Object.entries(source.values)) {
    const where = source.where(key)
    const slate = acc.paths.includes(key) ? undefined : SLATEDB_KEYS[key]
    if (!acc.paths.includes(key) && slate === undefined) {
      acc.problems.push(`unknown setting "${key}"${where}`)
      continue
    }
    if (slate !== undefined && slate._tag === "Group") {
      const problems = [...schemaProblems(slate.schema, key, raw)]
      const unsupported = problems.length === 0 ? slate.unsupported?.(raw) : undefined
      if (unsupported !== undefined) problems.push(`${key}: ${unsupported}`)
      for (const p of problems) acc.problems.push(`${p}${where}`)
      const ignored = problems.length === 0 ? slate.ignored?.(raw) : undefined
      if (ignored !== undefined) acc.notes.push(`${key}${where} has no effect: ${ignored}`)
      continue
    }
    if (slate !== undefined && slate._tag === "Fields") {
      const problems = schemaProblems(slate.schema, key, raw)
      for (const p of problems) acc.problems.push(`${p}${where}`)
      if (problems.length > 0) continue
      for (const part of slate.expand(raw)) set(acc, seen, part.shale, part.key, where, part.raw, part.converted)
      continue
    }
    if (acc.paths.includes(key) && isGroup(key) && isObject(raw)) {
      setGroup(acc, seen, key, key, where, raw)
      continue
    }
    const field = slate === undefined ? key : slate.shale
    const converted = slate !== undefined
      ? slate.convert(raw)
      : field === "defaultTtlMs" && (raw === null || (typeof raw === "string" && raw.trim() === "none"))
      ? { _tag: "Clear" as const }
      : { _tag: "Value" as const, value: raw }
    set(acc, seen, field, key, where, raw, converted)
  }
}

/** A group given as an object (`compactor: {...}`): on, and each of its settings as a path of its own. */
const setGroup = (
  acc: Gathered,
  seen: Map<string, string>,
  group: string,
  key: string,
  where: string,
  raw: Readonly<Record<string, unknown>>
): void => {
  set(acc, seen, group, key, where, raw, { _tag: "Value", value: {} })
  for (const [k, v] of Object.entries(raw)) {
    const path = `${group}.${k}`
    if (!acc.paths.includes(path)) acc.problems.push(`unknown setting "${key}.${k}"${where}`)
    else if (isGroup(path) && isObject(v)) setGroup(acc, seen, path, `${key}.${k}`, where, v)
    else set(acc, seen, path, `${key}.${k}`, where, v, { _tag: "Value", value: v })
  }
}

const isGroup = (field: string): boolean => GROUPS.includes(field)

/**
 * The groups a path lies in, outermost first (`garbageCollector.wal.minAgeMs`: `garbageCollector`,
 * `garbageCollector.wal`).
 */
const groupsOf = (field: string): ReadonlyArray<string> =>
  field.split(".").slice(0, -1).map((_, i, steps) => steps.slice(0, i + 1).join("."))

/** Records one field's value from one source (a field set twice by one source is a problem). */
const set = (
  acc: Gathered,
  seen: Map<string, string>,
  field: string,
  key: string,
  where: string,
  raw: unknown,
  converted: Converted
): void => {
  if (converted._tag === "Problem") {
    acc.problems.push(`${key}: ${converted.message}${where}`)
    return
  }
  const earlier = seen.get(field)
  if (earlier !== undefined) {
    acc.problems.push(`"${earlier}" and "${key}" both set ${field}${where}`)
    return
  }
  if (isGroup(field) && !(converted._tag === "Value" && isObject(converted.value))) {
    // Off, or on with its defaults: the group replaces what earlier sources said of its parts; this source
    // may not set parts of a group it turns off. (An object only turns it on: its parts are paths of their own.)
    const off = converted._tag === "Value" && isDisabled(converted.value)
    for (const part of acc.paths) {
      if (!part.startsWith(`${field}.`)) continue
      const by = seen.get(part)
      if (by === undefined) acc.fields.delete(part)
      else if (off) {
        acc.problems.push(`"${key}" turns ${groupName(field)} off but "${by}" sets one of its settings${where}`)
        return
      }
    }
  }
  for (const group of groupsOf(field)) {
    const whole = acc.fields.get(group)
    if (whole === undefined || whole === "clear" || !isDisabled(whole.value)) continue
    const by = seen.get(group)
    if (by !== undefined) {
      acc.problems.push(`"${by}" turns ${groupName(group)} off but "${key}" sets one of its settings${where}`)
      return
    }
    // A later source setting a part of a group that is off turns it back on (the rest defaulted).
    acc.fields.set(group, { key, where, raw: {}, value: {} })
  }
  seen.set(field, key)
  if (converted._tag === "Clear") acc.fields.set(field, "clear")
  else acc.fields.set(field, { key, where, raw, value: converted.value })
}

/** The gathered paths as the schema's input: each group's parts inside its object. */
export const inputOf = (acc: Gathered): Record<string, unknown> => {
  const input: Record<string, unknown> = {}
  const depth = (field: string) => field.split(".").length
  const entries = [...acc.fields].sort(([a], [b]) => depth(a) - depth(b))
  for (const [field, entry] of entries) {
    if (entry === "clear") continue
    const steps = field.split(".")
    let target: Record<string, unknown> | undefined = input
    for (const step of steps.slice(0, -1)) {
      const whole: unknown = target[step]
      // A group given only by its parts, or as `true`: its defaults, with those parts.
      if (whole === undefined || whole === true || whole === "true") target[step] = {}
      else if (!isObject(whole)) {
        target = undefined // the group is off: its parts do not matter
        break
      }
      target = target[step] as Record<string, unknown>
    }
    if (target !== undefined) target[steps[steps.length - 1]!] = isGroup(field) && isObject(entry.value) ? {} : entry.value
  }
  return input
}

/**
 * The innermost gathered path a decoding problem at `steps` lies in (`garbageCollector.wal.minAgeMs`, else
 * `garbageCollector.wal`, else `garbageCollector`).
 */
export const entryAt = (acc: Gathered, steps: ReadonlyArray<string>): Entry | undefined => {
  for (let n = steps.length; n > 0; n--) {
    const entry = acc.fields.get(steps.slice(0, n).join("."))
    if (entry !== undefined && entry !== "clear") return entry
  }
  return undefined
}
