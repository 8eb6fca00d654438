/**
 * SlateDB's option groups in settings written for SlateDB: `compactor_options` and
 * `garbage_collector_options` as Shale's compactor and collector settings (from files and from the
 * `SLATEDB_*` environment), `object_store_cache_options` as the disk cache, and the groups Shale does not
 * use (checked, ignored with a warning, or refused). The official engine (`@slatedb/uniffi@0.12.1`) reads
 * the same text where its reading matters.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Settings as EngineSettings } from "@slatedb/uniffi"
import { Effect, FileSystem } from "effect"
import { Settings } from "../src/Settings.ts"
import { withLogs } from "./support/logs.ts"
import { failure, tempDir, withEnv } from "./support/settings.ts"

describe("Settings from SlateDB: option groups", () => {
  it.effect("compactor_options: SlateDB's compactor settings are Shale's compactor* settings", () =>
    Effect.gen(function*() {
      const toml = [
        `[compactor_options]`,
        `poll_interval = "2s"`,
        `manifest_update_timeout = "1m"`,
        `max_sst_size = 1048576`,
        `max_concurrent_compactions = 2`,
        `max_fetch_tasks = 1`,
        `scheduler_options = { min_compaction_sources = "2", max_compaction_sources = "6", include_size_threshold = "2.5" }`
      ].join("\n")
      const { value, logs } = yield* withLogs(Settings.fromToml(toml))
      assert.deepStrictEqual(logs, [])
      assert.deepStrictEqual(value, {
        ...Settings.default,
        compactor: {
          pollIntervalMs: 2000,
          manifestUpdateTimeoutMs: 60_000,
          maxSstSizeBytes: 1_048_576,
          maxConcurrentCompactions: 2,
          maxFetchTasks: 1,
          minCompactionSources: 2,
          maxCompactionSources: 6,
          includeSizeThreshold: 2.5,
          executor: "worker"
        }
      })
      // SlateDB reads the same file the same way.
      const theirs = EngineSettings.default()
      theirs.set("compactor_options", JSON.stringify({
        poll_interval: "2s",
        manifest_update_timeout: "1m",
        max_sst_size: 1048576,
        max_concurrent_compactions: 2,
        max_fetch_tasks: 1,
        scheduler_options: { min_compaction_sources: "2", max_compaction_sources: "6", include_size_threshold: "2.5" }
      }))
      assert.deepStrictEqual(yield* Settings.fromJson(theirs.to_json_string()), value)
      // null: no compactor in this process.
      assert.isNull((yield* Settings.fromJson(`{"compactor_options": null}`)).compactor)
      assert.isNull((yield* Settings.fromJson(`{"compactor": false}`)).compactor)
      assert.isNull((yield* Settings.fromEnv().pipe(withEnv({ SHALE_COMPACTOR: "none" }))).compactor)
      // Shale's own spelling: a partial object, or parts from the environment.
      const partial = yield* Settings.fromYaml(`compactor:\n  pollIntervalMs: 1s\n  maxSstSizeBytes: 64MiB`)
      assert.deepStrictEqual(partial.compactor, { ...Settings.default.compactor!, pollIntervalMs: 1000, maxSstSizeBytes: 64 * 1024 * 1024 })
      const env = yield* Settings.fromEnv().pipe(withEnv({ SHALE_COMPACTOR_MAX_CONCURRENT_COMPACTIONS: "2" }))
      assert.strictEqual(env.compactor!.maxConcurrentCompactions, 2)
      assert.include(yield* failure(Settings.fromJson(`{"compactor": {"pollInterval": 5}}`)), `unknown setting "compactor.pollInterval"`)
      assert.include(
        yield* failure(Settings.fromJson(`{"compactor": {"maxCompactionSources": 0}}`)),
        "compactor.maxCompactionSources: Expected a value greater than or equal to 1"
      )
      const bad = yield* failure(Settings.fromJson(
        `{"compactor_options": {"scheduler_options": {"min_compaction_sources": 4, "max_sources": "8", "include_size_threshold": "lots"}}}`
      ))
      assert.include(bad, "compactor_options.scheduler_options.min_compaction_sources: Expected string, got 4")
      const bad2 = yield* failure(Settings.fromJson(
        `{"compactor_options": {"scheduler_options": {"max_sources": "8", "include_size_threshold": "lots"}}}`
      ))
      assert.include(bad2, "compactor_options.scheduler_options.max_sources: unknown scheduler option")
      assert.include(bad2, `compactor_options.scheduler_options.include_size_threshold: Expected a number as a string`)
      assert.include(
        yield* failure(Settings.fromJson(`{"compactor": true, "compactor_options": null}`)),
        `"compactor" and "compactor_options" both set compactor`
      )
    }))

  it.effect("garbage_collector_options: SlateDB's collector settings are Shale's garbageCollector, read as SlateDB reads them", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      const gc = (s: { readonly garbageCollector: unknown }) => s.garbageCollector
      const DEFAULT = Settings.default.garbageCollector!
      // Resources and parts left out keep their defaults, as SlateDB merges a file over its defaults; and
      // SlateDB reads each file to the same settings (its to_json_string, read back, gives the same).
      const cases: ReadonlyArray<readonly [string, string, unknown]> = [
        [
          "partial.toml",
          [`[garbage_collector_options.wal_options]`, `min_age = "1m"`, `[garbage_collector_options.compacted_options]`, `interval = "5m"`, `min_age = "1d"`]
            .join("\n"),
          { ...DEFAULT, wal: { intervalMs: 60_000, minAgeMs: 60_000 }, compacted: { intervalMs: 300_000, minAgeMs: 86_400_000 } }
        ],
        [
          "resource-off.json",
          JSON.stringify({ garbage_collector_options: { manifest_options: null, wal_options: { interval: "5s" }, compactions_options: null } }),
          { ...DEFAULT, manifests: null, wal: { intervalMs: 5000, minAgeMs: 300_000 }, compactions: null }
        ],
        ["empty.json", `{"garbage_collector_options": {}}`, DEFAULT],
        ["zero-age.yaml", `garbage_collector_options:\n  wal_options:\n    min_age: 0s`, { ...DEFAULT, wal: { intervalMs: 60_000, minAgeMs: 0 } }],
        ["off.json", `{"garbage_collector_options": null}`, null]
      ]
      for (const [name, text, expected] of cases) {
        const path = `${dir}/${name}`
        yield* fs.writeFileString(path, text)
        const { value, logs } = yield* withLogs(Settings.fromFile(path))
        assert.deepStrictEqual(gc(value), expected, name)
        assert.deepStrictEqual(logs, [], name)
        assert.deepStrictEqual(gc(yield* Settings.fromJson(EngineSettings.from_file(path).to_json_string())), expected, `${name} via SlateDB`)
      }
      // An interval of null (SlateDB prints one for a resource set without it) is SlateDB's default: its
      // collector runs such a task every 60 s.
      const theirs = EngineSettings.default()
      theirs.set("garbage_collector_options", JSON.stringify({ wal_options: { interval: null, min_age: "1s" } }))
      assert.deepStrictEqual(
        gc(yield* Settings.fromJson(theirs.to_json_string())),
        { manifests: null, wal: { intervalMs: 60_000, minAgeMs: 1000 }, compacted: null, compactions: null }
      )

      // Bad values: the key as written and the file.
      const bad = `${dir}/bad.toml`
      yield* fs.writeFileString(bad, [
        `[garbage_collector_options.wal_options]`,
        `interval = "abc"`,
        `min_age = 300`,
        `[garbage_collector_options.manifest_options]`,
        `interval = "0s"`,
        `max_age = "1h"`
      ].join("\n"))
      const message = yield* failure(Settings.fromFile(bad))
      assert.include(message, `garbage_collector_options.wal_options.interval: Expected a duration like "5s" or "1m 30s", got "abc" (in ${bad})`)
      assert.include(message, `garbage_collector_options.wal_options.min_age: Expected string, got 300 (in ${bad})`)
      assert.include(message, `unknown setting "garbage_collector_options.manifest_options.max_age" (in ${bad})`)
      const zero = yield* failure(Settings.fromToml(`[garbage_collector_options.manifest_options]\ninterval = "0s"`))
      assert.include(zero, `garbage_collector_options.manifest_options.interval: Expected a value greater than or equal to 1, got "0s"`)
      assert.include(yield* failure(Settings.fromJson(`{"garbage_collector_options": false}`)), "garbage_collector_options: Expected")
      assert.include(
        yield* failure(Settings.fromJson(`{"garbageCollector": null, "garbage_collector_options": {}}`)),
        `"garbageCollector" and "garbage_collector_options" both set garbageCollector`
      )
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("garbage_collector_options from the environment: SLATEDB_* at every level, SHALE_* winning", () =>
    Effect.gen(function*() {
      const DEFAULT = Settings.default.garbageCollector!
      const nested = { "SLATEDB_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.MIN_AGE": "1m", "SLATEDB_GARBAGE_COLLECTOR_OPTIONS.COMPACTED_OPTIONS.INTERVAL": "2m" }
      const expected = { ...DEFAULT, wal: { intervalMs: 60_000, minAgeMs: 60_000 }, compacted: { intervalMs: 120_000, minAgeMs: 300_000 } }
      assert.deepStrictEqual((yield* Settings.fromEnv().pipe(withEnv(nested))).garbageCollector, expected)
      // SlateDB's from_env reads the same variables alike.
      const prefix = "SHALE_TEST_GC_"
      const vars = Object.fromEntries(Object.entries(nested).map(([k, v]) => [k.replace("SLATEDB_", prefix), v]))
      Object.assign(process.env, vars)
      try {
        assert.deepStrictEqual((yield* Settings.fromJson(EngineSettings.from_env(prefix).to_json_string())).garbageCollector, expected)
      } finally {
        for (const k of Object.keys(vars)) delete process.env[k]
      }
      // null turns the collector, or one resource, off (Shale's reading: SlateDB's from_env refuses "null").
      assert.isNull((yield* Settings.fromEnv().pipe(withEnv({ SLATEDB_GARBAGE_COLLECTOR_OPTIONS: "null" }))).garbageCollector)
      assert.deepStrictEqual(
        (yield* Settings.fromEnv().pipe(withEnv({ "SLATEDB_GARBAGE_COLLECTOR_OPTIONS.MANIFEST_OPTIONS": "null" }))).garbageCollector,
        { ...DEFAULT, manifests: null }
      )
      // SHALE_* wins over SLATEDB_*: a whole group replaces SlateDB's parts, a part only that part.
      assert.isNull((yield* Settings.fromEnv().pipe(withEnv({ ...nested, SHALE_GARBAGE_COLLECTOR: "none" }))).garbageCollector)
      const mixed = yield* Settings.fromEnv().pipe(withEnv({ ...nested, SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS: "5s" }))
      assert.deepStrictEqual(mixed.garbageCollector, { ...expected, wal: { intervalMs: 60_000, minAgeMs: 5000 } })
      const message = yield* failure(Settings.fromEnv().pipe(withEnv({ "SLATEDB_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.INTERVAL": "often" })))
      assert.include(
        message,
        `garbage_collector_options.wal_options.interval: Expected a duration like "5s" or "1m 30s", got "often" (from SLATEDB_GARBAGE_COLLECTOR_OPTIONS.WAL_OPTIONS.INTERVAL)`
      )
    }))

  it.effect("object_store_cache_options: on with a root_folder (SlateDB's names and values), off without", () =>
    Effect.gen(function*() {
      const toml = [
        `[object_store_cache_options]`,
        `root_folder = "/tmp/slatedb-cache"`,
        `max_cache_size_bytes = 1073741824`,
        `part_size_bytes = 1048576`,
        `cache_puts = true`,
        `preload_disk_cache_on_startup = "L0Sst"`,
        `scan_interval = "3600s"`
      ].join("\n")
      const { value, logs } = yield* withLogs(Settings.fromToml(toml))
      assert.deepStrictEqual(value.objectStoreCache, {
        rootFolder: "/tmp/slatedb-cache",
        maxCacheSizeBytes: 1024 ** 3,
        partSizeBytes: 1024 ** 2,
        cachePuts: true,
        preloadOnStartup: "l0"
      })
      assert.deepStrictEqual(logs, [])
      const env = yield* Settings.fromEnv().pipe(withEnv({
        "SLATEDB_OBJECT_STORE_CACHE_OPTIONS.ROOT_FOLDER": "/var/cache/shale",
        "SLATEDB_OBJECT_STORE_CACHE_OPTIONS.PRELOAD_DISK_CACHE_ON_STARTUP": "AllSst"
      }))
      assert.deepStrictEqual(env.objectStoreCache, {
        rootFolder: "/var/cache/shale",
        maxCacheSizeBytes: 16 * 1024 ** 3,
        partSizeBytes: 4 * 1024 ** 2,
        cachePuts: false,
        preloadOnStartup: "all"
      })
      const shale = yield* Settings.fromEnv().pipe(withEnv({
        SHALE_OBJECT_STORE_CACHE_ROOT_FOLDER: "/c",
        SHALE_OBJECT_STORE_CACHE_PART_SIZE_BYTES: "64KiB"
      }))
      assert.deepStrictEqual([shale.objectStoreCache?.rootFolder, shale.objectStoreCache?.partSizeBytes], ["/c", 65536])
      const off = yield* Settings.fromJson(`{"object_store_cache_options": {"root_folder": null, "cache_puts": true}}`)
      assert.isNull(off.objectStoreCache)
      const bad = yield* failure(Settings.fromJson(`{"objectStoreCache": {"rootFolder": "/c", "partSizeBytes": 1000}}`))
      assert.include(bad, "multiple of 1024")
      const noFolder = yield* failure(Settings.fromJson(`{"objectStoreCache": {"cachePuts": true}}`))
      assert.include(noFolder, "objectStoreCache: Missing key")
    }))

  it.effect("SlateDB groups Shale does not use: checked, ignored with a warning, or refused", () =>
    Effect.gen(function*() {
      const { value, logs } = yield* withLogs(Settings.fromToml(`l0_flush_parallelism = 4`))
      assert.deepStrictEqual(value, Settings.default)
      assert.isTrue(logs.some((l) => l.startsWith(`setting l0_flush_parallelism`) && l.includes("has no effect")))
      // null (no compactor, no GC) and a cache without a folder ask for nothing Shale lacks: no warning.
      const quiet = yield* withLogs(Settings.fromJson(
        `{"compactor_options": null, "garbage_collector_options": null, "object_store_cache_options": {"root_folder": null}}`
      ))
      assert.deepStrictEqual(quiet.logs, [])
      assert.isNull(quiet.value.compactor)
      assert.isNull(quiet.value.garbageCollector)
      const bad = yield* failure(Settings.fromToml([
        `wal_enabled = false`,
        `[compactor_options]`,
        `pol_interval = "5s"`,
        `max_sst_size = "big"`,
        `[garbage_collector_options.wal_options]`,
        `interval = "soon"`
      ].join("\n")))
      assert.include(bad, "Invalid settings (4 problems)")
      assert.include(bad, "wal_enabled: Shale always writes a WAL")
      assert.include(bad, `unknown setting "compactor_options.pol_interval"`)
      assert.include(bad, `compactor_options.max_sst_size: Expected number, got "big"`)
      assert.include(bad, `garbage_collector_options.wal_options.interval: Expected a duration`)
    }))
})
