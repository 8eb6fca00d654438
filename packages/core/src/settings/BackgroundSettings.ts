/**
 * The settings of the background workers beside the writer: the compactor (`compactor`, SlateDB's
 * `compactor_options`) and the garbage collector (`garbageCollector`, SlateDB's
 * `garbage_collector_options`). Each is a group that can be turned off as a whole (`null`, `false`,
 * `"none"`), and the garbage collector's four resources each on their own.
 *
 * Each group's settings also have paths of their own (`compactor.pollIntervalMs`,
 * `garbageCollector.wal`, `garbageCollector.wal.minAgeMs`), which Settings.ts reads from separate
 * sources (a file, then `SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS`) and puts back together.
 */
import { Schema } from "effect"
import { byteSize, durationMs, fraction, integer, optionalGroup, withDefault } from "./Fields.ts"
import { ObjectStoreCacheSettingsSchema, type ObjectStoreCacheSettingsField } from "./ObjectStoreCacheSettings.ts"

const MiB = 1024 * 1024

// ---- the compactor --------------------------------------------------------------------------------------

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
  includeSizeThreshold: withDefault(fraction(1), 4.0),
  /**
   * Where compaction jobs run (Shale's own): `worker`, a worker thread per job where the store allows it
   * (a local directory, S3; not the memory store, nor with a merge operator), else this thread; `inline`,
   * always this thread (docs/design/compaction.md §8).
   */
  executor: withDefault(Schema.Literals(["worker", "inline"]), "worker")
})
export type CompactorSettings = typeof CompactorSettingsSchema.Type
export type CompactorSettingsField = keyof typeof CompactorSettingsSchema.fields

/** `compactor`: null, false, "none" (off); true (the defaults); or a partial object of its settings. */
export const compactorSetting = optionalGroup(CompactorSettingsSchema)

// ---- the garbage collector ------------------------------------------------------------------------------

/** SlateDB's defaults for every resource (`garbage_collector::DEFAULT_INTERVAL`, `DEFAULT_MIN_AGE`). */
export const GC_DEFAULT_INTERVAL_MS = 60_000
export const GC_DEFAULT_MIN_AGE_MS = 300_000

/**
 * How the garbage collector treats one kind of object (SlateDB's `GarbageCollectorDirectoryOptions`).
 */
export interface GcResourceSettings {
  /** How often its task runs, ≥ 1 (`interval`; SlateDB's default 60 s). */
  readonly intervalMs: number
  /** Objects younger than this are never deleted, ≥ 0 (`min_age`; SlateDB's default 300 s). */
  readonly minAgeMs: number
}

/**
 * The garbage collector's settings (SlateDB's `GarbageCollectorOptions`): one task per kind of object,
 * each `null` when that kind is never collected.
 */
export interface GcSettings {
  /** Manifest versions other than the latest that no checkpoint pins (`manifest_options`). */
  readonly manifests: GcResourceSettings | null
  /** WAL SSTs below the replay point that no live manifest needs (`wal_options`). */
  readonly wal: GcResourceSettings | null
  /** SSTs under `compacted/` (L0 and sorted runs) that no live manifest references (`compacted_options`). */
  readonly compacted: GcResourceSettings | null
  /** Versions of the compactions file other than the latest (`compactions_options`). */
  readonly compactions: GcResourceSettings | null
}

/**
 * One resource as a program gives it: a partial object (the rest defaulted), true (the defaults), or
 * null / false (off).
 */
export type GcResourceInput = Partial<GcResourceSettings> | boolean | null

/** The garbage collector's settings as a program gives them: any subset of the resources. */
export type GcSettingsInput = { readonly [R in keyof GcSettings]?: GcResourceInput }

export const GcResourceSettingsSchema = Schema.Struct({
  intervalMs: withDefault(durationMs(1), GC_DEFAULT_INTERVAL_MS),
  minAgeMs: withDefault(durationMs(0), GC_DEFAULT_MIN_AGE_MS)
})

const gcResource = withDefault(optionalGroup(GcResourceSettingsSchema), {})

export const GcSettingsSchema = Schema.Struct({
  manifests: gcResource,
  wal: gcResource,
  compacted: gcResource,
  compactions: gcResource
})

/** `garbageCollector`: null, false, "none" (off); true (the defaults); or a partial object of its resources. */
export const garbageCollectorSetting = optionalGroup(GcSettingsSchema)

// The interfaces above are the schemas' types, spelt out for the reader; this fails to compile if they drift.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Holds<T extends true> = T
export type GcTypesMatch = [
  Holds<Same<GcResourceSettings, typeof GcResourceSettingsSchema.Type>>,
  Holds<Same<GcSettings, typeof GcSettingsSchema.Type>>
]

export const GC_RESOURCES = ["manifests", "wal", "compacted", "compactions"] as const satisfies ReadonlyArray<
  keyof GcSettings
>
export type GcResource = (typeof GC_RESOURCES)[number]
export type GcResourceField = keyof GcResourceSettings
const GC_RESOURCE_FIELDS: ReadonlyArray<GcResourceField> = ["intervalMs", "minAgeMs"]

// ---- paths ----------------------------------------------------------------------------------------------

/**
 * The path of one of the background workers' settings (a group's own path included, for the nested ones),
 * or of the disk cache's (settings/ObjectStoreCacheSettings.ts), the other group.
 */
export type BackgroundField =
  | `compactor.${CompactorSettingsField}`
  | `garbageCollector.${GcResource}`
  | `garbageCollector.${GcResource}.${GcResourceField}`
  | `objectStoreCache.${ObjectStoreCacheSettingsField}`

/** Every `BackgroundField`, each group before its parts. */
export const BACKGROUND_FIELDS: ReadonlyArray<BackgroundField> = [
  ...(Object.keys(CompactorSettingsSchema.fields) as ReadonlyArray<CompactorSettingsField>).map((f) =>
    `compactor.${f}` as const
  ),
  ...GC_RESOURCES.flatMap((r) => [
    `garbageCollector.${r}` as const,
    ...GC_RESOURCE_FIELDS.map((f) => `garbageCollector.${r}.${f}` as const)
  ]),
  ...(Object.keys(ObjectStoreCacheSettingsSchema.fields) as ReadonlyArray<ObjectStoreCacheSettingsField>).map((f) =>
    `objectStoreCache.${f}` as const
  )
]

/** The paths that are groups of settings (which can be off, and have parts), outermost first. */
export const GROUPS: ReadonlyArray<string> = [
  "compactor",
  "garbageCollector",
  ...GC_RESOURCES.map((r) => `garbageCollector.${r}`),
  "objectStoreCache"
]

/** A group, as messages name it. */
export const groupName = (path: string): string =>
  path === "compactor"
    ? "the compactor"
    : path === "garbageCollector"
    ? "the garbage collector"
    : path === "objectStoreCache"
    ? "the disk cache"
    : `the garbage collector's ${path.slice("garbageCollector.".length)} task`
