/**
 * SlateDB's settings names (its `Settings` struct as serde reads it, 0.12.1) and how each maps onto Shale's.
 *
 * Every key SlateDB 0.12.1 reads is known here, so a settings file written for SlateDB (or SlateDB's own
 * `Settings.to_json_string()`) loads in Shale, and a misspelt key is still an error rather than a silent
 * default. Three kinds of key:
 *
 * - Keys with a Shale setting (`flush_interval` → `flushIntervalMs`, ...). Values are read as SlateDB
 *   reads them: durations are strings (`"100ms"`; a bare `"100"` is 100 seconds, and a number is refused
 *   because SlateDB refuses it), `compression_codec` is `null` or `"Snappy"`/`"Zlib"`/`"Lz4"`/`"Zstd"`
 *   (any case), `default_ttl` is milliseconds or `null`. Shale's own extras have snake_case spellings
 *   too (`durable_flush`, `block_size`, `block_cache_bytes`), so one file can use one style.
 * - `compactor_options`: Shale's `compactor` setting, part by part (null turns the embedded compactor
 *   off; an object turns it on), `scheduler_options` values read from strings as SlateDB reads them.
 * - `garbage_collector_options`: Shale's `garbageCollector` setting, part by part. null turns the
 *   collector off; an object turns it on, each of `manifest_options`, `wal_options`,
 *   `compacted_options`, `compactions_options` mapping to `manifests`, `wal`, `compacted`,
 *   `compactions`: null turns that resource off, an object `{ interval, min_age }` (durations as above)
 *   sets `intervalMs` and `minAgeMs`. What is left out keeps its default, as SlateDB's files and
 *   environment merge over its defaults (every resource on, `interval` 60 s, `min_age` 300 s); an
 *   `interval` of null (which SlateDB's `to_json_string` can print) is the default too, as SlateDB's
 *   collector runs such a task every 60 s. The environment reaches every level, as SlateDB's does:
 *   `SLATEDB_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.MIN_AGE=1m`; and `=null` turns a group or a resource
 *   off (`SLATEDB_GARBAGE_COLLECTOR_OPTIONS=null`, `SLATEDB_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS=null`),
 *   which SlateDB's `from_env` refuses (it reads "null" as a string there), as for `compactor_options`.
 * - `object_store_cache_options`: Shale's `objectStoreCache` group, off without a `root_folder` (as in
 *   SlateDB), on with one; `preload_disk_cache_on_startup` `"L0Sst"`/`"AllSst"` is `"l0"`/`"all"`;
 *   `scan_interval` is checked and has no counterpart.
 * - Groups Shale has no counterpart for yet (`l0_flush_parallelism`, `wal_enabled`). Their values are
 *   checked against SlateDB's shape (a wrong type or an unknown nested key is an error). A value asking
 *   for something Shale cannot do while keeping SlateDB's meaning (`wal_enabled = false`) is an error; one
 *   that only asks for tuning Shale does not do (parallel L0 uploads) is accepted, and `Settings.load`
 *   logs a warning saying it has no effect. When
 *   Shale gains one of these, its entry here becomes a mapping and the warning goes away.
 */
import { Schema } from "effect"
import { parseDurationMs } from "./Spellings.ts"

/** What translating one value produced. */
export type Converted =
  | { readonly _tag: "Value"; readonly value: unknown }
  | { readonly _tag: "Clear" }
  | { readonly _tag: "Problem"; readonly message: string }

const value = (v: unknown): Converted => ({ _tag: "Value", value: v })
const problem = (message: string): Converted => ({ _tag: "Problem", message })

/** A SlateDB key with a Shale setting. `shale` is a field name of `SettingsSchema`. */
export interface FieldKey {
  readonly _tag: "Field"
  readonly shale: string
  readonly convert: (raw: unknown) => Converted
}

/** A SlateDB key (usually a nested group) Shale checks but does not use yet. */
export interface GroupKey {
  readonly _tag: "Group"
  /** SlateDB's shape of the value. */
  readonly schema: Schema.Top
  /** A problem when the (well-formed) value cannot be honoured. */
  readonly unsupported?: (value: unknown) => string | undefined
  /** A warning when the value asks for something Shale does not do (the setting is then ignored). */
  readonly ignored?: (value: unknown) => string | undefined
}

/**
 * A SlateDB group whose parts are several Shale settings (`compactor_options`, `garbage_collector_options`):
 * checked against SlateDB's shape, then expanded into one value per Shale field, each with the dotted
 * SlateDB key it came from.
 */
export interface FieldsKey {
  readonly _tag: "Fields"
  readonly schema: Schema.Top
  readonly expand: (value: unknown) => ReadonlyArray<ExpandedPart>
}

/** One Shale setting a `FieldsKey` gives: the dotted SlateDB key, the raw value there, and its conversion. */
export interface ExpandedPart {
  readonly key: string
  readonly shale: string
  readonly raw: unknown
  readonly converted: Converted
}

export type SlateDbKey = FieldKey | GroupKey | FieldsKey

const passThrough = (raw: unknown): Converted => value(raw)

const isNone = (raw: unknown) => raw === null || (typeof raw === "string" && /^\s*(none|null)\s*$/i.test(raw))

/** A SlateDB duration (a string; a bare number in it is seconds) → milliseconds. */
const slateDuration = (options: { readonly nullable: boolean }) => (raw: unknown): Converted => {
  if (options.nullable && isNone(raw)) return value(null)
  if (typeof raw === "string") {
    const ms = parseDurationMs(raw, 1000)
    return ms === undefined
      ? problem(`Expected a duration like "100ms", "1s" or "1m 30s", got ${JSON.stringify(raw)}`)
      : value(ms)
  }
  if (typeof raw === "number") {
    return problem(
      `Expected a duration string like "100ms" (SlateDB reads a duration as a string, and a bare number in it ` +
        `as seconds), got ${raw}`
    )
  }
  return problem(`Expected a duration string like "100ms"${options.nullable ? " or null" : ""}, got ${JSON.stringify(raw)}`)
}

const compressionCodec = (raw: unknown): Converted =>
  isNone(raw) ? value("none") : value(typeof raw === "string" ? raw.toLowerCase() : raw)

const defaultTtl = (raw: unknown): Converted => (isNone(raw) ? { _tag: "Clear" } : value(raw))

const field = (shale: string, convert: (raw: unknown) => Converted = passThrough): FieldKey => ({
  _tag: "Field",
  shale,
  convert
})

// ---- SlateDB's shapes of its nested groups ----------------------------------------------------------------

const Duration = Schema.String.check(
  Schema.makeFilter((s: string) =>
    parseDurationMs(s, 1000) !== undefined || `Expected a duration like "5s" or "1m 30s", got ${JSON.stringify(s)}`
  )
)
const Count = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))
const opt = <S extends Schema.Top>(s: S) => Schema.optionalKey(s)

const CompactorOptions = Schema.NullOr(Schema.Struct({
  poll_interval: opt(Duration),
  manifest_update_timeout: opt(Duration),
  max_sst_size: opt(Count),
  max_concurrent_compactions: opt(Count),
  max_fetch_tasks: opt(Count),
  scheduler_options: opt(Schema.Record(Schema.String, Schema.String))
}))

const GcDirectoryOptions = Schema.NullOr(Schema.Struct({
  interval: opt(Schema.NullOr(Duration)),
  min_age: opt(Duration)
}))

const GarbageCollectorOptions = Schema.NullOr(Schema.Struct({
  manifest_options: opt(GcDirectoryOptions),
  wal_options: opt(GcDirectoryOptions),
  compacted_options: opt(GcDirectoryOptions),
  compactions_options: opt(GcDirectoryOptions)
}))

const ObjectStoreCacheOptions = Schema.Struct({
  root_folder: opt(Schema.NullOr(Schema.String)),
  max_cache_size_bytes: opt(Count),
  part_size_bytes: opt(Count),
  cache_puts: opt(Schema.Boolean),
  preload_disk_cache_on_startup: opt(Schema.NullOr(Schema.Literals(["L0Sst", "AllSst"]))),
  scan_interval: opt(Schema.NullOr(Duration))
})

/** A number SlateDB reads from a string (`scheduler_options` values are strings there). */
const numberIn = (pattern: RegExp, what: string) => (raw: unknown): Converted =>
  typeof raw === "string" && pattern.test(raw.trim())
    ? value(Number(raw.trim()))
    : problem(`Expected ${what} as a string (SlateDB's scheduler options are strings), got ${JSON.stringify(raw)}`)

const SCHEDULER_OPTIONS: Readonly<Record<string, { readonly shale: string; readonly convert: (raw: unknown) => Converted }>> = {
  min_compaction_sources: { shale: "compactor.minCompactionSources", convert: numberIn(/^[0-9]+$/, "an integer") },
  max_compaction_sources: { shale: "compactor.maxCompactionSources", convert: numberIn(/^[0-9]+$/, "an integer") },
  include_size_threshold: { shale: "compactor.includeSizeThreshold", convert: numberIn(/^[0-9]+(\.[0-9]*)?$/, "a number") }
}

const COMPACTOR_FIELDS: Readonly<Record<string, { readonly shale: string; readonly convert: (raw: unknown) => Converted }>> = {
  poll_interval: { shale: "compactor.pollIntervalMs", convert: slateDuration({ nullable: false }) },
  manifest_update_timeout: { shale: "compactor.manifestUpdateTimeoutMs", convert: slateDuration({ nullable: false }) },
  max_sst_size: { shale: "compactor.maxSstSizeBytes", convert: passThrough },
  max_concurrent_compactions: { shale: "compactor.maxConcurrentCompactions", convert: passThrough },
  max_fetch_tasks: { shale: "compactor.maxFetchTasks", convert: passThrough }
}

/** `compactor_options`: null turns the compactor off; an object turns it on with its parts. */
const expandCompactorOptions: FieldsKey["expand"] = (raw) => {
  if (raw === null) return [{ key: "compactor_options", shale: "compactor", raw, converted: value(null) }]
  const out: Array<ExpandedPart> = [{ key: "compactor_options", shale: "compactor", raw: {}, converted: value({}) }]
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (k === "scheduler_options") {
      for (const [sk, sv] of Object.entries(v as Record<string, string>)) {
        const key = `compactor_options.scheduler_options.${sk}`
        const known = SCHEDULER_OPTIONS[sk]
        out.push(
          known === undefined
            ? { key, shale: "", raw: sv, converted: problem(`unknown scheduler option (known: ${Object.keys(SCHEDULER_OPTIONS).join(", ")})`) }
            : { key, shale: known.shale, raw: sv, converted: known.convert(sv) }
        )
      }
      continue
    }
    const known = COMPACTOR_FIELDS[k]
    if (known !== undefined) out.push({ key: `compactor_options.${k}`, shale: known.shale, raw: v, converted: known.convert(v) })
  }
  return out
}

/** SlateDB's garbage collector resources (`GarbageCollectorOptions`' fields) and Shale's names for them. */
const GC_RESOURCES: Readonly<Record<string, string>> = {
  manifest_options: "manifests",
  wal_options: "wal",
  compacted_options: "compacted",
  compactions_options: "compactions"
}

/** `interval`: a duration; null is SlateDB's default interval (its collector runs the task every 60 s). */
const gcInterval = (raw: unknown): Converted => (raw === null ? { _tag: "Clear" } : slateDuration({ nullable: false })(raw))

/**
 * `garbage_collector_options`: null turns the collector off; an object turns it on, each resource in it
 * off (null) or on with its parts. Resources and parts left out keep their defaults.
 */
const expandGarbageCollectorOptions: FieldsKey["expand"] = (raw) => {
  const top = "garbage_collector_options"
  if (raw === null) return [{ key: top, shale: "garbageCollector", raw, converted: value(null) }]
  const out: Array<ExpandedPart> = [{ key: top, shale: "garbageCollector", raw: {}, converted: value({}) }]
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const resource = GC_RESOURCES[k]
    if (resource === undefined) continue // the schema has refused it already
    const key = `${top}.${k}`
    const shale = `garbageCollector.${resource}`
    if (v === null) {
      out.push({ key, shale, raw: v, converted: value(null) })
      continue
    }
    out.push({ key, shale, raw: {}, converted: value({}) })
    for (const [f, fv] of Object.entries(v as Record<string, unknown>)) {
      const part = { key: `${key}.${f}`, raw: fv }
      if (f === "interval") out.push({ ...part, shale: `${shale}.intervalMs`, converted: gcInterval(fv) })
      if (f === "min_age") out.push({ ...part, shale: `${shale}.minAgeMs`, converted: slateDuration({ nullable: false })(fv) })
    }
  }
  return out
}

const PRELOAD_LEVELS: Readonly<Record<string, string>> = { L0Sst: "l0", AllSst: "all" }

const OBJECT_STORE_CACHE_FIELDS: Readonly<Record<string, { readonly shale: string; readonly convert: (raw: unknown) => Converted }>> = {
  root_folder: { shale: "objectStoreCache.rootFolder", convert: passThrough },
  max_cache_size_bytes: { shale: "objectStoreCache.maxCacheSizeBytes", convert: passThrough },
  part_size_bytes: { shale: "objectStoreCache.partSizeBytes", convert: passThrough },
  cache_puts: { shale: "objectStoreCache.cachePuts", convert: passThrough },
  preload_disk_cache_on_startup: {
    shale: "objectStoreCache.preloadOnStartup",
    convert: (raw) => value(raw === null ? null : PRELOAD_LEVELS[raw as string])
  }
}

/**
 * `object_store_cache_options`: without a `root_folder` (absent or null) the cache is off, as in SlateDB,
 * whatever else is set; with one it is on with the parts given. `scan_interval` (how often SlateDB's
 * evictor rescans the folder) has no counterpart: Shale's cache keeps its index as it writes.
 */
const expandObjectStoreCacheOptions: FieldsKey["expand"] = (raw) => {
  const top = "object_store_cache_options"
  const o = raw as Record<string, unknown>
  if (o.root_folder === undefined || o.root_folder === null) return [{ key: top, shale: "objectStoreCache", raw, converted: value(null) }]
  const out: Array<ExpandedPart> = [{ key: top, shale: "objectStoreCache", raw: {}, converted: value({}) }]
  for (const [k, v] of Object.entries(o)) {
    const known = OBJECT_STORE_CACHE_FIELDS[k]
    if (known !== undefined) out.push({ key: `${top}.${k}`, shale: known.shale, raw: v, converted: known.convert(v) })
  }
  return out
}

/** SlateDB 0.12.1's settings keys, by name. */
export const SLATEDB_KEYS: Readonly<Record<string, SlateDbKey>> = {
  flush_interval: field("flushIntervalMs", slateDuration({ nullable: true })),
  manifest_poll_interval: field("manifestPollIntervalMs", slateDuration({ nullable: false })),
  manifest_update_timeout: field("manifestUpdateTimeoutMs", slateDuration({ nullable: false })),
  min_filter_keys: field("minFilterKeys"),
  filter_bits_per_key: field("filterBitsPerKey"),
  l0_sst_size_bytes: field("l0SstSizeBytes"),
  l0_max_ssts: field("l0MaxSsts"),
  max_unflushed_bytes: field("maxUnflushedBytes"),
  compression_codec: field("compression", compressionCodec),
  default_ttl: field("defaultTtlMs", defaultTtl),
  // Shale's own settings, spelt in SlateDB's style.
  block_size: field("blockSize"),
  durable_flush: field("durableFlush"),
  block_cache_bytes: field("blockCacheBytes"),
  max_immutable_memtable_bytes: field("maxImmutableMemtableBytes"),
  compaction_warmup: field("compactionWarmupMs", slateDuration({ nullable: true })),
  // SlateDB's settings Shale does not use (yet).
  wal_enabled: {
    _tag: "Group",
    schema: Schema.Boolean,
    unsupported: (v) => (v === false ? "Shale always writes a WAL (wal_enabled = false is not supported)" : undefined)
  },
  l0_flush_parallelism: {
    _tag: "Group",
    schema: Count.check(Schema.isGreaterThanOrEqualTo(1)),
    ignored: (v) => (v === 1 ? undefined : "Shale uploads one L0 SST at a time")
  },
  compactor_options: { _tag: "Fields", schema: CompactorOptions, expand: expandCompactorOptions },
  garbage_collector_options: { _tag: "Fields", schema: GarbageCollectorOptions, expand: expandGarbageCollectorOptions },
  object_store_cache_options: { _tag: "Fields", schema: ObjectStoreCacheOptions, expand: expandObjectStoreCacheOptions }
}

/**
 * Every leaf name SlateDB's `from_env` reads, dotted for nested keys (`compactor_options.poll_interval`):
 * the names Shale looks for after the `SLATEDB_` prefix (upper-cased, as SlateDB's environment names are).
 */
export const slateDbEnvNames = (): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (prefix: string, schema: Schema.Top) => {
    const fields = structFields(schema)
    if (fields === undefined || prefix.endsWith("scheduler_options")) {
      out.push(prefix)
      return
    }
    out.push(prefix)
    for (const [k, s] of Object.entries(fields)) walk(`${prefix}.${k}`, s)
  }
  for (const [k, key] of Object.entries(SLATEDB_KEYS)) {
    if (key._tag === "Field") out.push(k)
    else walk(k, key.schema)
  }
  return out
}

/** The fields of a struct schema (looking through `NullOr` and `optionalKey`), if it is one. */
const structFields = (schema: Schema.Top): Readonly<Record<string, Schema.Top>> | undefined => {
  const s = schema as { readonly fields?: Readonly<Record<string, Schema.Top>>; readonly members?: ReadonlyArray<Schema.Top>; readonly schema?: Schema.Top }
  if (s.fields !== undefined) return s.fields
  if (s.members !== undefined) {
    for (const m of s.members) {
      const f = structFields(m)
      if (f !== undefined) return f
    }
  }
  if (s.schema !== undefined) return structFields(s.schema)
  return undefined
}
