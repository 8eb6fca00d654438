/**
 * Database settings: SlateDB 0.12.1's `Settings` (docs/format.md §4.3) with its defaults, plus
 * Shale's own knobs. One immutable plain object, validated once when loaded.
 *
 * Names: Shale's (`flushIntervalMs`, ...) or SlateDB's (`flush_interval`, ...; settings/SlateDbNames.ts),
 * so a settings file written for SlateDB loads as it is. Formats: JSON, TOML, YAML (by file extension).
 *
 * `Settings.load()` reads, later sources winning: the defaults; the settings file (`file`), or else
 * whichever of `SlateDb.json`, `SlateDb.toml`, `SlateDb.yaml`, `SlateDb.yml` exist in the current
 * directory (`dir`), as SlateDB's `Settings::load()`; `SLATEDB_*` environment variables with SlateDB's
 * names (`SLATEDB_FLUSH_INTERVAL=100ms`); `SHALE_*` variables with Shale's names
 * (`SHALE_FLUSH_INTERVAL_MS=100`), which win because they are specific to this engine. Variables are
 * read through Effect `Config`, so tests swap the `ConfigProvider` (Effect's default one copies the
 * environment the first time any `Config` is read in the process; the Promise API gives each call a
 * fresh copy).
 *
 * Problems are collected, not stopped at: every unreadable file, unknown key, and bad value becomes one
 * part of a single `InvalidError`, each naming the key as written and where it came from (the file or the
 * variable). Unknown keys are rejected, since a misspelt setting silently falling back to its default is
 * worse than an error. SlateDB settings Shale does not use yet are checked and then ignored with a logged
 * warning (settings/SlateDbNames.ts says which).
 *
 * Accepted spellings (settings/Spellings.ts): durations as milliseconds (`100`) or strings (`"100ms"`,
 * `"1s"`, `"1m 30s"`; under SlateDB's names a bare `"100"` is seconds, as there); byte sizes as numbers
 * (`67108864`) or strings (`"64MiB"`, `"4 KiB"`); `flushIntervalMs: null` (or `"none"`) disables the timed
 * WAL flush; `SHALE_DEFAULT_TTL_MS=none` clears a TTL set by a file.
 */
import { Effect, type FileSystem, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { InvalidError } from "./errors.ts"
import { type Converted, SLATEDB_KEYS, slateDbEnvNames } from "./settings/SlateDbNames.ts"
import {
  parseText,
  type RawSource,
  readFile,
  readShaleEnv,
  readSlateDbEnv,
  readSlateDbFiles,
  type SettingsFormat,
  sourceIn
} from "./settings/Sources.ts"
import { parseByteSize, parseDurationMs, parseInteger } from "./settings/Spellings.ts"

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

export { parseByteSize, parseDurationMs }
export type { SettingsFormat }

/** A number, or a string spelling of one (JSON may use either; environment variables are strings). */
const numberOrString = (parse: (s: string) => number | undefined, expected: string) =>
  Schema.Union([Schema.Number, Schema.String]).pipe(
    Schema.decodeTo(
      Schema.Number,
      SchemaTransformation.transformEffect({
        decode: (x: number | string, options) => {
          if (typeof x === "number") return Effect.succeed(x)
          const n = parse(x)
          return n === undefined
            ? Effect.fail(new SchemaIssue.InvalidValue({ message: `Expected ${expected}, got ${JSON.stringify(x)}` }, x, options))
            : Effect.succeed(n)
        },
        encode: (n: number) => Effect.succeed(n)
      })
    )
  )

const durationMs = (min: number) =>
  numberOrString(parseDurationMs, `a duration (milliseconds, or a string like "100ms", "1s", "5m")`).check(
    Schema.isInt(),
    Schema.isGreaterThanOrEqualTo(min)
  )
const fraction = (min: number) =>
  numberOrString((x) => (/^\s*[0-9]+(\.[0-9]+)?\s*$/.test(x) ? Number(x) : undefined), "a number").check(
    Schema.isFinite(),
    Schema.isGreaterThanOrEqualTo(min)
  )
const integer = (min: number) => numberOrString(parseInteger, "an integer").check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(min))
const byteSize = (min: number) =>
  numberOrString(parseByteSize, `a byte size (a number, or a string like "64MiB")`).check(
    Schema.isInt(),
    Schema.isGreaterThanOrEqualTo(min)
  )

/** Milliseconds, or null (also spelt `"none"`) for "never". */
const durationMsOrNone = Schema.Union([Schema.Null, Schema.Number, Schema.String]).pipe(
  Schema.decodeTo(
    Schema.NullOr(Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1))),
    SchemaTransformation.transformEffect({
      decode: (x: number | string | null, options) => {
        if (x === null || typeof x === "number") return Effect.succeed(x)
        if (x.trim() === "none" || x.trim() === "null") return Effect.succeed(null)
        const n = parseDurationMs(x)
        return n === undefined
          ? Effect.fail(
            new SchemaIssue.InvalidValue(
              { message: `Expected a duration (milliseconds, or a string like "100ms"), or null / "none", got ${JSON.stringify(x)}` },
              x,
              options
            )
          )
          : Effect.succeed(n)
      },
      encode: (n: number | null) => Effect.succeed(n)
    })
  )
)

/** The SST block sizes SlateDB supports (`SstBlockSize`: 1 KiB to 64 KiB). */
export const BLOCK_SIZES = [1 * KiB, 2 * KiB, 4 * KiB, 8 * KiB, 16 * KiB, 32 * KiB, 64 * KiB] as const
export type BlockSize = (typeof BLOCK_SIZES)[number]

const blockSize = Schema.Union([Schema.Number, Schema.String]).pipe(
  Schema.decodeTo(
    Schema.Literals(BLOCK_SIZES),
    SchemaTransformation.transform({
      // The target schema then checks the value really is one of BLOCK_SIZES.
      decode: (x: number | string) => (typeof x === "number" ? x : parseByteSize(x) ?? Number.NaN) as BlockSize,
      encode: (n: BlockSize): number | string => n
    })
  )
)

export const CompressionCodecs = ["none", "snappy", "zlib", "lz4", "zstd"] as const
export type CompressionCodec = (typeof CompressionCodecs)[number]

const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** The compactor's settings: SlateDB's `CompactorOptions` and its size-tiered scheduler's options. */
export const CompactorSettingsSchema = Schema.Struct({
  /** How often the compactor polls the manifest for work (`poll_interval`). */
  pollIntervalMs: withDefault(durationMs(1), 5000),
  /** Give up a compactor manifest or state update after this long (`manifest_update_timeout`). */
  manifestUpdateTimeoutMs: withDefault(durationMs(1), 300_000),
  /** An output SST is cut once its data blocks exceed this (`max_sst_size`). */
  maxSstSizeBytes: withDefault(byteSize(1), 256 * MiB),
  /** Compactions running at once (`max_concurrent_compactions`). */
  maxConcurrentCompactions: withDefault(integer(1), 4),
  /** Pages each source reads ahead of the merge (`max_fetch_tasks`). */
  maxFetchTasks: withDefault(integer(0), 4),
  /** Fewest L0 SSTs or sorted runs merged at once (`scheduler_options.min_compaction_sources`). */
  minCompactionSources: withDefault(integer(1), 4),
  /** Most L0 SSTs or sorted runs merged at once (`scheduler_options.max_compaction_sources`). */
  maxCompactionSources: withDefault(integer(1), 8),
  /** A run joins a compaction while at most this × the smallest so far (`scheduler_options.include_size_threshold`). */
  includeSizeThreshold: withDefault(fraction(1), 4.0)
})
export type CompactorSettings = typeof CompactorSettingsSchema.Type
export type CompactorSettingsField = keyof typeof CompactorSettingsSchema.fields

const DISABLED: ReadonlyArray<unknown> = [null, false, "none", "null", "false"]
const isDisabled = (x: unknown): boolean => DISABLED.includes(typeof x === "string" ? x.trim() : x)

/** `compactor`: null, false, "none" (off); true (the defaults); or a partial object of its settings. */
const compactorSetting = Schema.Union([
  Schema.Null,
  Schema.Boolean,
  Schema.Literals(["none", "null", "true", "false"]),
  Schema.Record(Schema.String, Schema.Unknown)
]).pipe(
  Schema.decodeTo(
    Schema.NullOr(CompactorSettingsSchema),
    SchemaTransformation.transform<
      typeof CompactorSettingsSchema.Encoded | null,
      boolean | "none" | "null" | "true" | "false" | { readonly [x: string]: unknown } | null
    >({
      decode: (x) => (isDisabled(x) ? null : x === true || x === "true" ? {} : x as typeof CompactorSettingsSchema.Encoded),
      encode: (c) => c
    })
  )
)

// ---- the schema -------------------------------------------------------------------------------------------

/**
 * The settings as a Schema: its `Type` is `Settings`; its `Encoded` side is the JSON form (every key
 * optional, defaults filled in on decoding).
 */
export const SettingsSchema = Schema.Struct({
  /** Timed WAL flush (SlateDB `flush_interval`); null: only size-triggered and explicit flushes. */
  flushIntervalMs: withDefault(durationMsOrNone, 100),
  /** How often the writer re-reads the manifest (`manifest_poll_interval`). */
  manifestPollIntervalMs: withDefault(durationMs(1), 1000),
  /** Give up a manifest update after this long (`manifest_update_timeout`). */
  manifestUpdateTimeoutMs: withDefault(durationMs(1), 300_000),
  /** SSTs with fewer rows get no bloom filter (`min_filter_keys`). */
  minFilterKeys: withDefault(integer(0), 1000),
  /** Bloom filter bits per key (`filter_bits_per_key`); 10 gives 6 probes, ~1 % false positives. */
  filterBitsPerKey: withDefault(integer(1), 10),
  /**
   * Freeze the memtable once its memory (rows counted as key + value + 300 bytes, docs/design/db.md)
   * reaches this, so L0 SSTs are smaller than this for small rows; also the WAL size trigger.
   */
  l0SstSizeBytes: withDefault(byteSize(1), 64 * MiB),
  /** Stall L0 uploads while this many L0 SSTs exist (`l0_max_ssts`). */
  l0MaxSsts: withDefault(integer(1), 8),
  /** Backpressure threshold on unflushed WAL bytes + immutable memtable memory (`max_unflushed_bytes`). */
  maxUnflushedBytes: withDefault(byteSize(1), 1 * GiB),
  /** SST data block size (SlateDB `SstBlockSize`, a builder option there). */
  blockSize: withDefault(blockSize, 4 * KiB),
  /** Block compression for new SSTs (`compression_codec`; SlateDB's None is "none"). */
  compression: withDefault(Schema.Literals(CompressionCodecs), "none"),
  /** TTL in ms applied by puts with `ttl: "default"` (`default_ttl`); absent: no expiry. */
  defaultTtlMs: Schema.optionalKey(durationMs(0)),
  /**
   * Shale: when durable writes flush the WAL. `"interval"`: as SlateDB, on the `flushIntervalMs` timer or
   * the size trigger (durable writes wait up to one interval). `"eager"`: a durable write asks for a
   * flush right away; writes arriving meanwhile share the next one (group commit).
   */
  durableFlush: withDefault(Schema.Literals(["interval", "eager"]), "interval"),
  /** Shale: bytes of SST blocks, indexes and filters kept in memory (0 disables the cache). */
  blockCacheBytes: withDefault(byteSize(0), 64 * MiB),
  /**
   * The compactor in the writer's process (SlateDB's `compactor_options`; on by default, as there): its
   * settings, or `null` (also `false` or `"none"`) when a compactor runs elsewhere (`shale compactor`,
   * `Compactor.layer`, SlateDB's) or none should run. A partial object fills the rest with the defaults.
   */
  compactor: withDefault(compactorSetting, {})
})

export type Settings = typeof SettingsSchema.Type

/**
 * What a program passes as settings (`Db.layer`, `Shale.open`, `Settings.validate`): any subset, the
 * compactor's as a partial object (or null / false to turn it off).
 */
export type SettingsInput = {
  readonly [K in keyof Settings]?: K extends "compactor" ? Partial<CompactorSettings> | null | boolean : Settings[K]
}

/** A setting's path: a top-level field, or one of the compactor's (`compactor.pollIntervalMs`). */
export type SettingsField = keyof typeof SettingsSchema.fields | `compactor.${CompactorSettingsField}`

const COMPACTOR_FIELDS = Object.keys(CompactorSettingsSchema.fields) as ReadonlyArray<CompactorSettingsField>
const FIELDS: ReadonlyArray<SettingsField> = [
  ...(Object.keys(SettingsSchema.fields) as ReadonlyArray<keyof typeof SettingsSchema.fields>),
  ...COMPACTOR_FIELDS.map((f) => `compactor.${f}` as const)
]

/** `l0SstSizeBytes` → `SHALE_L0_SST_SIZE_BYTES`; `compactor.pollIntervalMs` → `SHALE_COMPACTOR_POLL_INTERVAL_MS`. */
export const envVarName = (field: SettingsField, prefix = "SHALE_"): string =>
  prefix + field.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(".", "_").toUpperCase()

// ---- loading ----------------------------------------------------------------------------------------------

/** One setting's value as it will be decoded: the key as written, where it came from, and the raw value. */
interface Entry {
  readonly key: string
  readonly where: string
  readonly raw: unknown
  readonly value: unknown
}

/** Settings gathered from the sources so far, field by field (`"clear"`: unset by a later source). */
interface Gathered {
  readonly fields: Map<SettingsField, Entry | "clear">
  readonly problems: Array<string>
  readonly notes: Array<string>
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const isField = (key: string): key is SettingsField => (FIELDS as ReadonlyArray<string>).includes(key)

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
const gather = (acc: Gathered, source: RawSource): void => {
  const seen = new Map<SettingsField, string>()
  for (const [key, raw] of Object.entries(source.values)) {
    const where = source.where(key)
    const slate = isField(key) ? undefined : SLATEDB_KEYS[key]
    if (!isField(key) && slate === undefined) {
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
      for (const part of slate.expand(raw)) set(acc, seen, part.shale as SettingsField, part.key, where, part.raw, part.converted)
      continue
    }
    if (key === "compactor" && typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
      // A compactor object: enabled, and each of its settings as a path of its own.
      set(acc, seen, "compactor", key, where, raw, { _tag: "Value", value: {} })
      for (const [k, v] of Object.entries(raw)) {
        if ((COMPACTOR_FIELDS as ReadonlyArray<string>).includes(k)) {
          set(acc, seen, `compactor.${k as CompactorSettingsField}`, `compactor.${k}`, where, v, { _tag: "Value", value: v })
        } else acc.problems.push(`unknown setting "compactor.${k}"${where}`)
      }
      continue
    }
    const field = (slate === undefined ? key : slate.shale) as SettingsField
    const converted = slate !== undefined
      ? slate.convert(raw)
      : field === "defaultTtlMs" && (raw === null || (typeof raw === "string" && raw.trim() === "none"))
      ? { _tag: "Clear" as const }
      : { _tag: "Value" as const, value: raw }
    set(acc, seen, field, key, where, raw, converted)
  }
}

/** Records one field's value from one source (a field set twice by one source is a problem). */
const set = (
  acc: Gathered,
  seen: Map<SettingsField, string>,
  field: SettingsField,
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
  seen.set(field, key)
  if (field === "compactor") {
    // The whole compactor setting replaces what earlier sources said of its parts.
    for (const f of COMPACTOR_FIELDS) if (!seen.has(`compactor.${f}`)) acc.fields.delete(`compactor.${f}`)
  } else if (field.startsWith("compactor.")) {
    const whole = acc.fields.get("compactor")
    if (whole !== undefined && whole !== "clear" && isDisabled(whole.value)) {
      if (seen.has("compactor")) {
        acc.problems.push(`"${seen.get("compactor")}" turns the compactor off but "${key}" sets one of its settings${where}`)
        return
      }
      // A later source setting a part of the compactor turns it back on.
      acc.fields.set("compactor", { key, where, raw: {}, value: {} })
    }
  }
  if (converted._tag === "Clear") acc.fields.set(field, "clear")
  else acc.fields.set(field, { key, where, raw, value: converted.value })
}

/** The gathered paths as the schema's input: the compactor's parts inside its object. */
const inputOf = (acc: Gathered): Record<string, unknown> => {
  const input: Record<string, unknown> = {}
  const parts: Record<string, unknown> = {}
  let hasParts = false
  for (const [field, entry] of acc.fields) {
    if (entry === "clear") continue
    if (field.startsWith("compactor.")) {
      parts[field.slice("compactor.".length)] = entry.value
      hasParts = true
    } else input[field] = entry.value
  }
  if (hasParts) {
    const whole = input["compactor"]
    input["compactor"] = whole === undefined || whole === true || whole === "true" ||
        (typeof whole === "object" && whole !== null)
      ? parts
      : whole
  }
  return input
}

/** Problems between settings. */
const crossProblems = (s: Settings): Array<string> => {
  const c = s.compactor
  return c !== null && c.maxCompactionSources < c.minCompactionSources
    ? [`compactor.maxCompactionSources (${c.maxCompactionSources}) is below compactor.minCompactionSources (${c.minCompactionSources})`]
    : []
}

/** Decodes the gathered settings over the defaults; every problem (gathered or found now) in one error. */
const decodeGathered = (acc: Gathered): Effect.Effect<Settings, InvalidError> =>
  Effect.gen(function*() {
    const input = inputOf(acc)
    const problems = [...acc.problems]
    const decoded = Schema.decodeUnknownResult(SettingsSchema)(input, { errors: "all", onExcessProperty: "error" })
    if (decoded._tag === "Failure") {
      for (const { message, path } of formatter(decoded.failure.issue).issues) {
        const field = path !== undefined && path.length > 0 ? String(path[0]) : undefined
        const sub = field === "compactor" && path !== undefined && path.length > 1 ? acc.fields.get(`compactor.${String(path[1])}` as SettingsField) : undefined
        const entry = sub ?? (field === undefined ? undefined : acc.fields.get(field as SettingsField))
        if (entry === undefined || entry === "clear") {
          problems.push(message)
          continue
        }
        const got = message.includes(", got ") ? "" : `, got ${JSON.stringify(entry.raw)}`
        problems.push(`${entry.key}: ${message}${got}${entry.where}`)
      }
    }
    if (decoded._tag === "Success") problems.push(...crossProblems(decoded.success))
    if (problems.length > 0) {
      return yield* new InvalidError({
        message: problems.length === 1
          ? `Invalid settings: ${problems[0]}`
          : `Invalid settings (${problems.length} problems): ${problems.join("; ")}`
      })
    }
    for (const note of acc.notes) yield* Effect.logWarning(`setting ${note}; ignored`)
    return decoded._tag === "Success" ? decoded.success : defaults
  })

const emptyGathered = (): Gathered => ({ fields: new Map(), problems: [], notes: [] })

/** Settings from sources in increasing precedence, with problems found while reading them. */
const fromSources = (sources: ReadonlyArray<RawSource>, problems: ReadonlyArray<string> = []) => {
  const acc = emptyGathered()
  acc.problems.push(...problems)
  for (const source of sources) gather(acc, source)
  return decodeGathered(acc)
}

const textSettings = (text: string, format: SettingsFormat) =>
  parseText(text, format, "the settings text").pipe(
    Effect.matchEffect({
      onFailure: (problem) => fromSources([], [problem]),
      onSuccess: (values) => fromSources([sourceIn(values, undefined)])
    })
  )

export interface EnvOptions {
  /** Prefix of the variables with Shale's names (default `"SHALE_"`: `SHALE_FLUSH_INTERVAL_MS`). */
  readonly envPrefix?: string
  /** Prefix of the variables with SlateDB's names (default `"SLATEDB_"`: `SLATEDB_FLUSH_INTERVAL`). */
  readonly slatedbEnvPrefix?: string
}

export interface LoadOptions extends EnvOptions {
  /** A settings file (`.json`, `.toml`, `.yaml`, `.yml`); absent: SlateDB's `SlateDb.*` files in `dir`. */
  readonly file?: string
  /** Where to look for `SlateDb.{json,toml,yaml,yml}` when no `file` is given (default: the current directory). */
  readonly dir?: string
  /** Apply environment variables (default true). */
  readonly env?: boolean
}

/** The environment's sources, in increasing precedence: `SLATEDB_*`, then `SHALE_*`. */
const envSources = (options: EnvOptions) =>
  Effect.gen(function*() {
    const problems: Array<string> = []
    const sources: Array<RawSource> = []
    const slate = yield* Effect.result(readSlateDbEnv(options.slatedbEnvPrefix ?? "SLATEDB_", slateDbEnvNames()))
    const prefix = options.envPrefix ?? "SHALE_"
    const shale = yield* Effect.result(readShaleEnv(FIELDS, (f) => envVarName(f as SettingsField, prefix)))
    for (const r of [slate, shale]) {
      if (r._tag === "Success") sources.push(r.success)
      else problems.push(r.failure)
    }
    return { sources, problems }
  })

const load = Effect.fn("Settings.load")(function*(options: LoadOptions = {}) {
  const problems: Array<string> = []
  const sources: Array<RawSource> = []
  if (options.file !== undefined) {
    const read = yield* Effect.result(readFile(options.file))
    if (read._tag === "Success") sources.push(read.success)
    else problems.push(read.failure)
  } else {
    const found = yield* readSlateDbFiles(options.dir)
    sources.push(...found.sources)
    problems.push(...found.problems)
  }
  if (options.env !== false) {
    const env = yield* envSources(options)
    sources.push(...env.sources)
    problems.push(...env.problems)
  }
  return yield* fromSources(sources, problems)
})

const defaults: Settings = Schema.decodeUnknownSync(SettingsSchema)({})

/**
 * Settings: the type, and its constructors. All of them accept Shale's and SlateDB's names.
 *
 * - `Settings.default`: SlateDB's defaults (and Shale's).
 * - `Settings.validate(partial)`: a subset of the settings as values, checked, over the defaults.
 * - `Settings.fromJson(text)` / `fromToml(text)` / `fromYaml(text)`: any subset of the settings, over the
 *   defaults (`fromText(text, format)` picks the format).
 * - `Settings.fromFile(path)`: a settings file, format by extension, over the defaults (SlateDB's
 *   `from_file`; no environment).
 * - `Settings.fromEnv()`: the defaults with `SLATEDB_*` and `SHALE_*` overrides.
 * - `Settings.load({ file, dir, env })`: defaults, then the file (or SlateDB's `SlateDb.*` files), then the
 *   environment (see the module comment).
 */
export const Settings = {
  schema: SettingsSchema,
  default: defaults,
  fields: FIELDS,
  envVarName,

  /** Validates settings given as (a subset of) `Settings` values, over the defaults (Shale's names only). */
  validate: (input: SettingsInput | undefined): Effect.Effect<Settings, InvalidError> =>
    Schema.decodeUnknownEffect(SettingsSchema)(input ?? {}, { onExcessProperty: "error" }).pipe(
      Effect.mapError((e) => new InvalidError({ message: `Invalid settings: ${e.message}` })),
      Effect.flatMap((settings) => {
        const problems = crossProblems(settings)
        return problems.length === 0
          ? Effect.succeed(settings)
          : Effect.fail(new InvalidError({ message: `Invalid settings: ${problems.join("; ")}` }))
      })
    ),

  fromText: (text: string, format: SettingsFormat): Effect.Effect<Settings, InvalidError> => textSettings(text, format),
  fromJson: (text: string): Effect.Effect<Settings, InvalidError> => textSettings(text, "json"),
  fromToml: (text: string): Effect.Effect<Settings, InvalidError> => textSettings(text, "toml"),
  fromYaml: (text: string): Effect.Effect<Settings, InvalidError> => textSettings(text, "yaml"),

  fromFile: (path: string): Effect.Effect<Settings, InvalidError, FileSystem.FileSystem> =>
    load({ file: path, env: false }),

  fromEnv: (options: EnvOptions = {}): Effect.Effect<Settings, InvalidError> =>
    Effect.flatMap(envSources(options), ({ problems, sources }) => fromSources(sources, problems)),

  load
} as const
