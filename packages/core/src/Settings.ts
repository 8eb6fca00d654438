/**
 * Database settings: SlateDB 0.12.1's `Settings` (docs/slatedb-format.md §4.3) with its defaults, plus
 * Shale's own knobs. One immutable plain object, validated once when loaded.
 *
 * Sources, later ones winning: the defaults, a JSON file (any subset of the fields), environment variables
 * `SHALE_<FIELD_IN_SCREAMING_SNAKE_CASE>` read through Effect `Config` (so tests swap the
 * `ConfigProvider`). Every bad value becomes one `InvalidError` whose message names the field (and the
 * variable, when the value came from the environment); unknown fields are rejected, since a misspelt
 * setting silently falling back to its default is worse than an error.
 *
 * Accepted spellings: durations as milliseconds (`100`) or strings (`"100ms"`, `"1s"`, `"5m"`,
 * `"1m 30s"`, `"2 seconds"`); byte sizes as numbers (`67108864`) or strings (`"64MiB"`, `"4 KiB"`,
 * `"1GB"`); `flushIntervalMs: null` (or `"none"`) disables the timed WAL flush; `SHALE_DEFAULT_TTL_MS=none`
 * clears a TTL set by the file.
 */
import { ByteSize, Config, Effect, FileSystem, Option, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { InvalidError } from "./errors.ts"

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

// ---- parsing of the string spellings ----------------------------------------------------------------------

const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  msec: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000
}

/** `"250"`, `"100ms"`, `"1s"`, `"1m 30s"`, `"2 seconds"` → milliseconds; undefined if unparsable. */
export const parseDurationMs = (text: string): number | undefined => {
  const s = text.trim()
  if (/^\d+$/.test(s)) return Number(s)
  const part = /(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*/y
  let total = 0
  let pos = 0
  while (pos < s.length) {
    part.lastIndex = pos
    const m = part.exec(s)
    if (m === null) return undefined
    const unit = DURATION_UNIT_MS[m[2]!.toLowerCase()]
    if (unit === undefined) return undefined
    total += Number(m[1]) * unit
    pos = part.lastIndex
  }
  return pos === 0 ? undefined : total
}

/** `"4096"`, `"64MiB"`, `"4 KiB"`, `"1GB"` → bytes; undefined if unparsable. */
export const parseByteSize = (text: string): number | undefined => {
  const s = text.trim()
  if (/^\d+$/.test(s)) return Number(s)
  return Option.match(ByteSize.fromString(s), {
    onNone: () => undefined,
    onSome: (n) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined)
  })
}

const parseInteger = (text: string): number | undefined => (/^\s*\d+\s*$/.test(text) ? Number(text) : undefined)

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
  /** Freeze the memtable once its estimated L0 SST reaches this; also the WAL size trigger. */
  l0SstSizeBytes: withDefault(byteSize(1), 64 * MiB),
  /** Stall L0 uploads while this many L0 SSTs exist (`l0_max_ssts`). */
  l0MaxSsts: withDefault(integer(1), 8),
  /** Backpressure threshold on unflushed WAL + immutable memtable bytes (`max_unflushed_bytes`). */
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
  blockCacheBytes: withDefault(byteSize(0), 64 * MiB)
})

export type Settings = typeof SettingsSchema.Type
export type SettingsField = keyof typeof SettingsSchema.fields

const FIELDS = Object.keys(SettingsSchema.fields) as ReadonlyArray<SettingsField>

/** `l0SstSizeBytes` → `SHALE_L0_SST_SIZE_BYTES`. */
export const envVarName = (field: SettingsField, prefix = "SHALE_"): string =>
  prefix + field.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()

// ---- loading ----------------------------------------------------------------------------------------------

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Decodes a partial settings object; `fromEnv` names the variable a field's value came from. */
const decode = (
  input: Readonly<Record<string, unknown>>,
  fromEnv: Readonly<Partial<Record<string, string>>>
): Effect.Effect<Settings, InvalidError> =>
  Schema.decodeUnknownEffect(SettingsSchema)(input, { errors: "all", onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => {
      const problems = formatter(error.issue).issues.map(({ message, path }) => {
        const field = path !== undefined && path.length > 0 ? String(path[0]) : undefined
        if (field === undefined) return message
        if (!(field in SettingsSchema.fields)) return `unknown setting "${field}"`
        const got = message.includes(", got ") ? "" : `, got ${JSON.stringify(input[field])}`
        const source = fromEnv[field]
        return `${field}: ${message}${got}${source === undefined ? "" : ` (from ${source})`}`
      })
      return new InvalidError({ message: `Invalid settings: ${problems.join("; ")}` })
    })
  )

const parseJsonObject = (text: string, what: string): Effect.Effect<Record<string, unknown>, InvalidError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) => new InvalidError({ message: `Invalid settings: ${what} is not valid JSON: ${(e as Error).message}` })
  }).pipe(
    Effect.flatMap((json) =>
      typeof json === "object" && json !== null && !Array.isArray(json)
        ? Effect.succeed(json as Record<string, unknown>)
        : Effect.fail(new InvalidError({ message: `Invalid settings: ${what} must hold a JSON object` }))
    )
  )

/** Reads `SHALE_*` overrides through the current `ConfigProvider`; applies them over `input`. */
const applyEnv = (input: Readonly<Record<string, unknown>>, prefix: string) =>
  Effect.gen(function*() {
    const merged: Record<string, unknown> = { ...input }
    const sources: Record<string, string> = {}
    for (const field of FIELDS) {
      const name = envVarName(field, prefix)
      const value = yield* Config.option(Config.String(name)).pipe(
        Effect.mapError((e) => new InvalidError({ message: `Invalid settings: cannot read ${name}: ${e.message}` }))
      )
      if (Option.isNone(value)) continue
      if (field === "defaultTtlMs" && value.value.trim() === "none") delete merged[field]
      else merged[field] = value.value
      sources[field] = name
    }
    return { merged, sources }
  })

export interface LoadOptions {
  /** A JSON file holding any subset of the settings. */
  readonly file?: string
  /** Apply `SHALE_*` environment overrides (default true). */
  readonly env?: boolean
  /** Prefix of the environment variables (default `"SHALE_"`). */
  readonly envPrefix?: string
}

const defaults: Settings = Schema.decodeUnknownSync(SettingsSchema)({})

/**
 * Settings: the type, and its constructors.
 *
 * - `Settings.default`: SlateDB's defaults (and Shale's).
 * - `Settings.fromJson(text)`: a JSON object with any subset of the fields, over the defaults.
 * - `Settings.fromEnv()`: the defaults with `SHALE_*` overrides from the current `ConfigProvider`.
 * - `Settings.load({ file, env })`: defaults, then the file, then the environment.
 */
export const Settings = {
  schema: SettingsSchema,
  default: defaults,
  fields: FIELDS,
  envVarName,

  fromJson: (text: string): Effect.Effect<Settings, InvalidError> =>
    Effect.flatMap(parseJsonObject(text, "the settings text"), (json) => decode(json, {})),

  fromEnv: (options?: { readonly envPrefix?: string }): Effect.Effect<Settings, InvalidError> =>
    Effect.flatMap(applyEnv({}, options?.envPrefix ?? "SHALE_"), ({ merged, sources }) => decode(merged, sources)),

  load: Effect.fn("Settings.load")(function*(options: LoadOptions = {}) {
    let json: Record<string, unknown> = {}
    const file = options.file
    if (file !== undefined) {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs.readFileString(file).pipe(
        Effect.mapError((e) => new InvalidError({ message: `Invalid settings: cannot read ${file}: ${e.message}` }))
      )
      json = yield* parseJsonObject(text, file)
    }
    if (options.env === false) return yield* decode(json, {})
    const { merged, sources } = yield* applyEnv(json, options.envPrefix ?? "SHALE_")
    return yield* decode(merged, sources)
  })
} as const
