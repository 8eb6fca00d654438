/**
 * Where settings come from, as raw key → value objects: settings text (JSON, TOML or YAML), settings files,
 * and environment variables. Nothing here knows what the keys mean (Settings.ts does); this module only
 * reads and parses, and says where each value came from so that errors can name it.
 *
 * Parsers: JSON by the platform, TOML by `smol-toml`, YAML by `yaml` (docs/design/packaging.md says why),
 * each loaded the first time a text in its format is parsed (a program that never reads TOML or YAML
 * settings does not pay for loading them).
 * Files SlateDB's `Settings::load()` reads, in its order (a later one overrides an earlier one):
 * `SlateDb.json`, `SlateDb.toml`, `SlateDb.yaml`, `SlateDb.yml`; a missing file is skipped.
 *
 * Environment: `SLATEDB_<NAME>` with SlateDB's names (`SLATEDB_FLUSH_INTERVAL`,
 * `SLATEDB_COMPACTOR_OPTIONS.POLL_INTERVAL`), values read as SlateDB's `figment` reads them (digits are a
 * number, `true`/`false` a boolean, anything else a string); and `SHALE_<FIELD>` with Shale's names
 * (`SHALE_FLUSH_INTERVAL_MS`), values as strings. Only known names are read, through Effect's `Config`
 * (so tests swap the `ConfigProvider`); other variables with these prefixes are not Shale's business.
 */
import { Config, Effect, FileSystem } from "effect"

export type SettingsFormat = "json" | "toml" | "yaml"

/** One source of settings: raw values, and where each came from. */
export interface RawSource {
  readonly values: Readonly<Record<string, unknown>>
  /** `" (in SlateDb.toml)"`, `" (from SHALE_L0_MAX_SSTS)"`, or `""`, for the value of `key`. */
  readonly where: (key: string) => string
}

/** SlateDB's settings files, in the order `Settings::load()` merges them. */
export const SLATEDB_FILES: ReadonlyArray<string> = ["SlateDb.json", "SlateDb.toml", "SlateDb.yaml", "SlateDb.yml"]

/** The format of a settings file, by its extension (as SlateDB's `from_file`). */
export const formatOf = (path: string): SettingsFormat | undefined => {
  const ext = /\.([^./\\]+)$/.exec(path)?.[1]?.toLowerCase()
  switch (ext) {
    case "json":
      return "json"
    case "toml":
      return "toml"
    case "yaml":
    case "yml":
      return "yaml"
    default:
      return undefined
  }
}

const FORMAT_NAMES: Readonly<Record<SettingsFormat, string>> = { json: "JSON", toml: "TOML", yaml: "YAML" }

/** A parser's error in one line: its first line, and the position when the parser gives it separately. */
const describeParseError = (e: unknown): string => {
  const first = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.trim().replace(/:$/, "")
  const { line, column } = (typeof e === "object" && e !== null ? e : {}) as { line?: unknown; column?: unknown }
  return typeof line === "number" && !first.includes(" line ")
    ? `${first} (line ${line}${typeof column === "number" ? `, column ${column}` : ""})`
    : first
}

/** The parser of a format, loaded on first use. */
const parserOf = (format: SettingsFormat): Effect.Effect<(text: string) => unknown> =>
  format === "json"
    ? Effect.succeed(JSON.parse)
    : format === "toml"
    ? Effect.promise(() => import("smol-toml")).pipe(Effect.map((m) => (text: string) => m.parse(text)))
    : Effect.promise(() => import("yaml")).pipe(Effect.map((m) => (text: string) => m.parse(text)))

/** Parses settings text; fails with one problem (naming `what`) if it is not an object in that format. */
export const parseText = (
  text: string,
  format: SettingsFormat,
  what: string
): Effect.Effect<Record<string, unknown>, string> =>
  Effect.flatMap(parserOf(format), (parse) => {
    let parsed: unknown
    try {
      parsed = parse(text)
    } catch (e) {
      return Effect.fail(`${what} is not valid ${FORMAT_NAMES[format]}: ${describeParseError(e)}`)
    }
    // An empty YAML document is null: no settings, like an empty file in the other formats.
    if (format === "yaml" && (parsed === null || parsed === undefined)) return Effect.succeed({})
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return Effect.fail(`${what} must hold a ${FORMAT_NAMES[format]} object (a table of settings)`)
    }
    return Effect.succeed(parsed as Record<string, unknown>)
  })

/** A source whose every value comes from one place. */
export const sourceIn = (values: Readonly<Record<string, unknown>>, place: string | undefined): RawSource => ({
  values,
  where: () => (place === undefined ? "" : ` (in ${place})`)
})

/** Reads and parses one settings file (format by extension). */
export const readFile = (path: string): Effect.Effect<RawSource, string, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const format = formatOf(path)
    if (format === undefined) {
      return yield* Effect.fail(`${path}: unknown settings format (expected a .json, .toml, .yaml or .yml file)`)
    }
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(Effect.mapError((e) => `cannot read ${path}: ${e.message}`))
    return sourceIn(yield* parseText(text, format, path), path)
  })

/**
 * Reads whichever of SlateDB's settings files exist in `dir` (default: the current directory), in
 * SlateDB's order. Returns the sources found and a problem for each one that cannot be read or parsed.
 */
export const readSlateDbFiles = (dir: string | undefined) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const sources: Array<RawSource> = []
    const problems: Array<string> = []
    for (const name of SLATEDB_FILES) {
      const path = dir === undefined ? name : `${dir.replace(/[/\\]+$/, "")}/${name}`
      const exists = yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))
      if (!exists) continue
      const read = yield* Effect.result(readFile(path))
      if (read._tag === "Success") sources.push(read.success)
      else problems.push(read.failure)
    }
    return { sources, problems }
  })

/** An environment value as SlateDB's `figment` reads it: digits → number, true/false → boolean. */
const figmentValue = (text: string): unknown => {
  const t = text.trim()
  if (/^-?\d+$/.test(t) && Number.isSafeInteger(Number(t))) return Number(t)
  if (t === "true") return true
  if (t === "false") return false
  if (t === "null") return null
  return text
}

const readVar = (name: string) =>
  Config.option(Config.String(name)).pipe(Effect.mapError((e) => `cannot read ${name}: ${e.message}`))

/**
 * The `SLATEDB_*` variables among `names` (SlateDB's keys, dotted for nested ones), as one nested source;
 * each value names its variable.
 */
export const readSlateDbEnv = (prefix: string, names: ReadonlyArray<string>): Effect.Effect<RawSource, string> =>
  Effect.gen(function*() {
    const values: Record<string, unknown> = {}
    const vars: Record<string, string> = {}
    for (const name of names) {
      const variable = prefix + name.toUpperCase()
      const v = yield* readVar(variable)
      if (v._tag === "None") continue
      const path = name.split(".")
      const top = path[0]!
      vars[top] = vars[top] === undefined ? variable : `${vars[top]}, ${variable}`
      let target = values
      for (const p of path.slice(0, -1)) {
        const next = target[p]
        target = target[p] = typeof next === "object" && next !== null ? next as Record<string, unknown> : {}
      }
      target[path[path.length - 1]!] = figmentValue(v.value)
    }
    return { values, where: (key: string) => (vars[key] === undefined ? "" : ` (from ${vars[key]})`) }
  })

/** The `SHALE_*` variables naming the given fields (`envName(field)`), as strings. */
export const readShaleEnv = (
  fields: ReadonlyArray<string>,
  envName: (field: string) => string
): Effect.Effect<RawSource, string> =>
  Effect.gen(function*() {
    const values: Record<string, unknown> = {}
    const vars: Record<string, string> = {}
    for (const field of fields) {
      const variable = envName(field)
      const v = yield* readVar(variable)
      if (v._tag === "None") continue
      values[field] = v.value
      vars[field] = variable
    }
    return { values, where: (key: string) => (vars[key] === undefined ? "" : ` (from ${vars[key]})`) }
  })
