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
 *
 * Groups (settings/BackgroundSettings.ts): `compactor` and `garbageCollector` are objects of settings of
 * their own, on by default and off when `null`, `false` or `"none"`; so is each of the garbage
 * collector's resources (`garbageCollector: { wal: null }`). Their parts have paths of their own
 * (`compactor.pollIntervalMs`, `garbageCollector.wal`, `garbageCollector.wal.minAgeMs`), each with a
 * variable (`SHALE_COMPACTOR=none`, `SHALE_GARBAGE_COLLECTOR_WAL=false`,
 * `SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS=1m`); settings/Gather.ts says how sources combine them.
 */
import { Effect, type FileSystem, Schema, SchemaTransformation } from "effect"
import { InvalidError } from "./errors.ts"
import {
  BACKGROUND_FIELDS,
  type BackgroundField,
  type CompactorSettings,
  compactorSetting,
  garbageCollectorSetting,
  type GcSettingsInput
} from "./settings/BackgroundSettings.ts"
import { byteSize, byteSizeOrNone, durationMs, durationMsOrNone, integer, withDefault } from "./settings/Fields.ts"
import { objectStoreCacheSetting, type ObjectStoreCacheSettings } from "./settings/ObjectStoreCacheSettings.ts"
import { emptyGathered, entryAt, formatter, gather, type Gathered, inputOf } from "./settings/Gather.ts"
import { slateDbEnvNames } from "./settings/SlateDbNames.ts"
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
import { parseByteSize, parseDurationMs } from "./settings/Spellings.ts"

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

export { parseByteSize, parseDurationMs }
export type { SettingsFormat }
export {
  type CompactorSettings,
  type CompactorSettingsField,
  CompactorSettingsSchema,
  type GcResourceInput,
  type GcResourceSettings,
  GcResourceSettingsSchema,
  type GcSettings,
  type GcSettingsInput,
  GcSettingsSchema
} from "./settings/BackgroundSettings.ts"
export {
  type ObjectStoreCacheSettings,
  ObjectStoreCacheSettingsSchema
} from "./settings/ObjectStoreCacheSettings.ts"

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
  /**
   * Shale: writes also wait while the immutable memtables (frozen, waiting for their L0 upload) hold this
   * much memory (counted as `maxUnflushedBytes` counts it): absent, `l0MaxSsts × l0SstSizeBytes`; null
   * (also `"none"`) for `maxUnflushedBytes` alone, as SlateDB. A backlog the flusher cannot upload yet (L0
   * full, or uploads slower than writes) only takes memory, and CPU from the flushes and compactions that
   * would clear it (docs/design/compaction.md §6).
   */
  maxImmutableMemtableBytes: Schema.optionalKey(byteSizeOrNone),
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
   * Shale: when a compaction replaces SSTs whose blocks are in the block cache, the view (writer or
   * `DbReader`) puts the output blocks holding the same keys in the cache before it switches to the new
   * manifest, waiting at most this long (then it switches and the warming finishes in the background);
   * null (also `"none"`) turns warming off. docs/design/object-store-cache.md §9.
   */
  compactionWarmupMs: withDefault(durationMsOrNone, 500),
  /**
   * The compactor in the writer's process (SlateDB's `compactor_options`; on by default, as there): its
   * settings, or `null` (also `false` or `"none"`) when a compactor runs elsewhere (`shale compactor`,
   * `Compactor.layer`, SlateDB's) or none should run. A partial object fills the rest with the defaults.
   */
  compactor: withDefault(compactorSetting, {}),
  /**
   * The garbage collector (SlateDB's `garbage_collector_options`; on by default, as there): which objects
   * it deletes and when, one task per kind of object (`manifests`, `wal`, `compacted`, `compactions`),
   * each `{ intervalMs, minAgeMs }` (every 60 s, objects older than 5 min) or `null` when that kind is
   * never collected. `null` (also `false` or `"none"`) runs no collector in this process; `true` is the
   * defaults; a partial object (or a partial resource) fills the rest with the defaults.
   */
  garbageCollector: withDefault(garbageCollectorSetting, {}),
  /**
   * The disk cache of SST parts (SlateDB's `object_store_cache_options`; off by default): `{ rootFolder,
   * maxCacheSizeBytes?, partSizeBytes?, cachePuts?, preloadOnStartup? }` turns it on for a writer, which
   * then wraps its store in `CachedObjectStore` (Node only); null (also `false` or `"none"`) turns it off.
   * docs/design/object-store-cache.md.
   */
  objectStoreCache: withDefault(objectStoreCacheSetting, null)
})

export type Settings = typeof SettingsSchema.Type

/**
 * What a program passes as settings (`Db.layer`, `Shale.open`, `Settings.validate`): any subset. The
 * compactor's and the garbage collector's are partial objects, `true` (the defaults) or null / false
 * (off); so is each of the garbage collector's resources (`{ wal: { minAgeMs: 60_000 }, manifests: false }`).
 */
export type SettingsInput = {
  readonly [K in keyof Settings]?: K extends "compactor" ? Partial<CompactorSettings> | null | boolean
    : K extends "garbageCollector" ? GcSettingsInput | null | boolean
    : K extends "objectStoreCache" ? (Partial<ObjectStoreCacheSettings> & { readonly rootFolder: string }) | null | false
    : Settings[K]
}

/**
 * A setting's path: a top-level field, or one inside a group (`compactor.pollIntervalMs`,
 * `garbageCollector.wal`, `garbageCollector.wal.minAgeMs`).
 */
export type SettingsField = keyof typeof SettingsSchema.fields | BackgroundField

const FIELDS: ReadonlyArray<SettingsField> = [
  ...(Object.keys(SettingsSchema.fields) as ReadonlyArray<keyof typeof SettingsSchema.fields>),
  ...BACKGROUND_FIELDS
]

/**
 * `l0SstSizeBytes` → `SHALE_L0_SST_SIZE_BYTES`; `compactor.pollIntervalMs` → `SHALE_COMPACTOR_POLL_INTERVAL_MS`;
 * `garbageCollector.wal.minAgeMs` → `SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS`.
 */
export const envVarName = (field: SettingsField, prefix = "SHALE_"): string =>
  prefix + field.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replaceAll(".", "_").toUpperCase()

// ---- loading ----------------------------------------------------------------------------------------------

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
        const entry = entryAt(acc, (path ?? []).map(String))
        if (entry === undefined) {
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

/** Settings from sources in increasing precedence, with problems found while reading them. */
const fromSources = (sources: ReadonlyArray<RawSource>, problems: ReadonlyArray<string> = []) => {
  const acc = emptyGathered(FIELDS)
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
