/**
 * Settings written for SlateDB: its own files (JSON, TOML, YAML), names and duration strings, its
 * `SLATEDB_*` environment beside `SHALE_*`, `Settings.load()` finding `SlateDb.*` files, and one error
 * listing every problem with its source. Where SlateDB's reading of a value matters (durations), the
 * official engine (`@slatedb/uniffi@0.12.1`) reads the same text and the two must agree. SlateDB's option
 * groups (compactor, collector, object-store cache, the ones Shale does not use) are in
 * SettingsSlateDbGroups.test.ts.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Settings as EngineSettings } from "@slatedb/uniffi"
import { Effect, FileSystem } from "effect"
import { parseDurationMs, Settings } from "../src/Settings.ts"
import { withLogs } from "./support/logs.ts"
import { failure, tempDir, withEnv } from "./support/settings.ts"

/** The same settings in SlateDB's three formats, with its names and duration strings. */
const FILES = {
  json: JSON.stringify({
    flush_interval: "250ms",
    manifest_poll_interval: "2s",
    manifest_update_timeout: "5m",
    min_filter_keys: 500,
    filter_bits_per_key: 12,
    l0_sst_size_bytes: 16777216,
    l0_max_ssts: 4,
    max_unflushed_bytes: 536870912,
    compression_codec: "Lz4",
    default_ttl: 60000,
    wal_enabled: true,
    garbage_collector_options: { wal_options: { interval: "30s", min_age: "2m" }, manifest_options: { min_age: "1h" } }
  }),
  toml: [
    `flush_interval = "250ms"`,
    `manifest_poll_interval = "2s"`,
    `manifest_update_timeout = "5m"`,
    `min_filter_keys = 500`,
    `filter_bits_per_key = 12`,
    `l0_sst_size_bytes = 16777216`,
    `l0_max_ssts = 4`,
    `max_unflushed_bytes = 536870912`,
    `compression_codec = "Lz4"`,
    `default_ttl = 60000`,
    `wal_enabled = true`,
    `[garbage_collector_options]`,
    `wal_options = { interval = "30s", min_age = "2m" }`,
    `[garbage_collector_options.manifest_options]`,
    `min_age = "1h"`
  ].join("\n"),
  yaml: [
    `flush_interval: '250ms'`,
    `manifest_poll_interval: 2s`,
    `manifest_update_timeout: "5m"`,
    `min_filter_keys: 500`,
    `filter_bits_per_key: 12`,
    `l0_sst_size_bytes: 16777216`,
    `l0_max_ssts: 4`,
    `max_unflushed_bytes: 536870912`,
    `compression_codec: Lz4`,
    `default_ttl: 60000`,
    `wal_enabled: true`,
    `garbage_collector_options:`,
    `  wal_options: { interval: 30s, min_age: 2m }`,
    `  manifest_options:`,
    `    min_age: 1h`
  ].join("\n")
} as const

const EXPECTED = {
  ...Settings.default,
  flushIntervalMs: 250,
  manifestPollIntervalMs: 2000,
  manifestUpdateTimeoutMs: 300_000,
  minFilterKeys: 500,
  filterBitsPerKey: 12,
  l0SstSizeBytes: 16 * 1024 * 1024,
  l0MaxSsts: 4,
  maxUnflushedBytes: 512 * 1024 * 1024,
  compression: "lz4" as const,
  defaultTtlMs: 60_000,
  garbageCollector: {
    ...Settings.default.garbageCollector!,
    wal: { intervalMs: 30_000, minAgeMs: 120_000 },
    manifests: { intervalMs: 60_000, minAgeMs: 3_600_000 }
  }
}

/** SlateDB's reading of `flush_interval = text`, in milliseconds (via its own serialized form). */
const slateDbFlushIntervalMs = (text: string): number | undefined => {
  const s = EngineSettings.default()
  try {
    s.set("flush_interval", JSON.stringify(text))
  } catch {
    return undefined
  }
  const serialized = (JSON.parse(s.to_json_string()) as { flush_interval: string }).flush_interval
  return parseDurationMs(serialized, 1000)
}

describe("Settings from SlateDB", () => {
  it.effect("SlateDB's own default settings (to_json_string) load as Shale's defaults", () =>
    Effect.gen(function*() {
      const json = EngineSettings.default().to_json_string()
      const { value, logs } = yield* withLogs(Settings.fromJson(json))
      assert.deepStrictEqual(value, Settings.default)
      // SlateDB's defaults run a compactor and a garbage collector, as Shale's do: no warning.
      assert.isFalse(logs.some((l) => l.includes("compactor_options")))
      assert.isFalse(logs.some((l) => l.includes("garbage_collector_options")))
    }))

  it.effect("the same settings in JSON, TOML and YAML, with SlateDB's names and duration strings", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Settings.fromJson(FILES.json), EXPECTED)
      assert.deepStrictEqual(yield* Settings.fromToml(FILES.toml), EXPECTED)
      assert.deepStrictEqual(yield* Settings.fromYaml(FILES.yaml), EXPECTED)
      // Files, by extension, as SlateDB's from_file; and SlateDB reads the very same files alike.
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      for (const [format, text] of Object.entries(FILES)) {
        const path = `${dir}/settings.${format === "yaml" ? "yml" : format}`
        yield* fs.writeFileString(path, text)
        assert.deepStrictEqual(yield* Settings.fromFile(path), EXPECTED, path)
        const theirs = JSON.parse(EngineSettings.from_file(path).to_json_string()) as Record<string, unknown>
        assert.strictEqual(theirs["flush_interval"], "250ms")
        assert.strictEqual(theirs["l0_sst_size_bytes"], 16777216)
        assert.strictEqual(theirs["compression_codec"], "Lz4")
        assert.deepStrictEqual(yield* Settings.fromJson(JSON.stringify({ garbage_collector_options: theirs["garbage_collector_options"] })), {
          ...Settings.default,
          garbageCollector: EXPECTED.garbageCollector
        })
      }
      assert.include(yield* failure(Settings.fromFile(`${dir}/settings.ini`)), "unknown settings format")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it("durations are read as SlateDB reads them (its own output included)", () => {
    for (const text of ["100ms", "1s", "1m 30s", "1m30s", "1m+30s", "1h", "1d", "1w", "1y", "1mon", "100", "10min",
      "2sec", "1minute", "100msec", "1M", "1S", "1MS", "1500ms", "2ms+3ms", "1h30m15s", "1000000us", " 1s ", "1s 500ms"])
    {
      const theirs = slateDbFlushIntervalMs(text)
      assert.isDefined(theirs, text)
      assert.strictEqual(parseDurationMs(text, 1000), theirs, text)
    }
    // What SlateDB prints is what it means: "1s+500ms" and "005ms" come from its serializer.
    assert.strictEqual(parseDurationMs("1s+500ms", 1000), 1500)
    assert.strictEqual(parseDurationMs("005ms", 1000), 5)
    // A bare number is seconds under SlateDB's names, milliseconds under Shale's.
    assert.strictEqual(parseDurationMs("100", 1000), 100_000)
    assert.strictEqual(parseDurationMs("100"), 100)
    for (const text of ["-1s", "1m-30s", "soon", "1s+", ""]) assert.isUndefined(parseDurationMs(text, 1000), text)
  })

  it.effect("values as SlateDB reads them: durations are strings, codecs and TTLs may be null", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* Settings.fromToml(`flush_interval = "100"`)).flushIntervalMs, 100_000)
      assert.strictEqual((yield* Settings.fromJson(`{"flush_interval": null}`)).flushIntervalMs, null)
      assert.strictEqual((yield* Settings.fromJson(`{"compression_codec": null}`)).compression, "none")
      assert.strictEqual((yield* Settings.fromJson(`{"compression_codec": "Zstd"}`)).compression, "zstd")
      assert.isFalse("defaultTtlMs" in (yield* Settings.fromJson(`{"default_ttl": null}`)))
      // Shale's extras in SlateDB's style, beside SlateDB's names.
      const extras = yield* Settings.fromYaml(`durable_flush: eager\nblock_size: 8KiB\nblock_cache_bytes: 0\nl0_max_ssts: 2`)
      assert.deepStrictEqual(extras, { ...Settings.default, durableFlush: "eager", blockSize: 8192, blockCacheBytes: 0, l0MaxSsts: 2 })
      assert.strictEqual((yield* Settings.fromYaml(`compaction_warmup: 250ms`)).compactionWarmupMs, 250)
      assert.isNull((yield* Settings.fromJson(`{"compaction_warmup": null}`)).compactionWarmupMs)
      // A number where SlateDB wants a duration string is refused, as SlateDB refuses it.
      const n = yield* failure(Settings.fromToml(`flush_interval = 100`))
      assert.include(n, `flush_interval: Expected a duration string like "100ms"`)
      assert.include(n, "got 100")
      assert.include(yield* failure(Settings.fromJson(`{"flush_interval": "0s"}`)), "flush_interval: Expected a value greater than or equal to 1")
    }))

  it.effect("environment: SLATEDB_* with SlateDB's names, SHALE_* with Shale's, SHALE_ wins", () =>
    Effect.gen(function*() {
      const slate = yield* Settings.fromEnv().pipe(withEnv({
        SLATEDB_FLUSH_INTERVAL: "200ms",
        SLATEDB_L0_SST_SIZE_BYTES: "1048576",
        SLATEDB_COMPRESSION_CODEC: "Snappy",
        SLATEDB_DEFAULT_TTL: "5000",
        SLATEDB_UNRELATED_THING: "x"
      }))
      assert.deepStrictEqual(slate, {
        ...Settings.default,
        flushIntervalMs: 200,
        l0SstSizeBytes: 1_048_576,
        compression: "snappy",
        defaultTtlMs: 5000
      })
      const both = yield* Settings.fromEnv().pipe(withEnv({
        SLATEDB_FLUSH_INTERVAL: "200ms",
        SHALE_FLUSH_INTERVAL_MS: "300",
        SLATEDB_L0_MAX_SSTS: "3"
      }))
      assert.strictEqual(both.flushIntervalMs, 300)
      assert.strictEqual(both.l0MaxSsts, 3)
      // SlateDB's environment reads digits as a number: a duration needs its unit there too.
      const message = yield* failure(Settings.fromEnv().pipe(withEnv({
        SLATEDB_FLUSH_INTERVAL: "100",
        SLATEDB_COMPACTOR_OPTIONS_NOT_NESTED: "ignored",
        "SLATEDB_COMPACTOR_OPTIONS.POLL_INTERVAL": "whenever",
        SHALE_L0_MAX_SSTS: "many"
      })))
      assert.include(message, "Invalid settings (3 problems)")
      assert.include(message, `flush_interval: Expected a duration string like "100ms"`)
      assert.include(message, "(from SLATEDB_FLUSH_INTERVAL)")
      assert.include(message, `compactor_options.poll_interval: Expected a duration like "5s" or "1m 30s", got "whenever" (from SLATEDB_COMPACTOR_OPTIONS.POLL_INTERVAL)`)
      assert.include(message, `l0MaxSsts: Expected an integer, got "many" (from SHALE_L0_MAX_SSTS)`)
    }))

  it.effect("load() finds SlateDb.json, .toml, .yaml, .yml (later ones win), then SLATEDB_*, then SHALE_*", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      assert.deepStrictEqual(yield* Settings.load({ dir, env: false }), Settings.default)
      yield* fs.writeFileString(`${dir}/SlateDb.json`, JSON.stringify({ l0_max_ssts: 1, min_filter_keys: 1, filter_bits_per_key: 1 }))
      yield* fs.writeFileString(`${dir}/SlateDb.toml`, `l0_max_ssts = 2\nmin_filter_keys = 2\nmax_unflushed_bytes = 2048`)
      yield* fs.writeFileString(`${dir}/SlateDb.yaml`, `l0_max_ssts: 3\nflush_interval: 3s`)
      yield* fs.writeFileString(`${dir}/SlateDb.yml`, `l0_max_ssts: 4`)
      const files = yield* Settings.load({ dir, env: false })
      assert.deepStrictEqual(files, {
        ...Settings.default,
        l0MaxSsts: 4,
        minFilterKeys: 2,
        filterBitsPerKey: 1,
        maxUnflushedBytes: 2048,
        flushIntervalMs: 3000
      })
      const env = yield* Settings.load({ dir }).pipe(withEnv({
        SLATEDB_L0_MAX_SSTS: "5",
        SLATEDB_MIN_FILTER_KEYS: "5",
        SHALE_MIN_FILTER_KEYS: "6"
      }))
      assert.strictEqual(env.l0MaxSsts, 5)
      assert.strictEqual(env.minFilterKeys, 6)
      // An explicit file replaces the search.
      yield* fs.writeFileString(`${dir}/mine.toml`, `filter_bits_per_key = 9`)
      const explicit = yield* Settings.load({ dir, file: `${dir}/mine.toml`, env: false })
      assert.deepStrictEqual(explicit, { ...Settings.default, filterBitsPerKey: 9 })
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("load(): groups merge across files and the environment part by part, as SlateDB's load() merges them", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      yield* fs.writeFileString(
        `${dir}/SlateDb.json`,
        JSON.stringify({
          garbage_collector_options: { manifest_options: { min_age: "1h" }, compactions_options: null },
          compactor_options: { max_sst_size: 1048576 }
        })
      )
      yield* fs.writeFileString(`${dir}/SlateDb.toml`, `[garbage_collector_options.wal_options]\nmin_age = "1m"`)
      const env = {
        "SLATEDB_GARBAGE_COLLECTOR_OPTIONS.COMPACTED_OPTIONS.INTERVAL": "2m",
        "SLATEDB_COMPACTOR_OPTIONS.POLL_INTERVAL": "1s"
      }
      const ours = yield* Settings.load({ dir }).pipe(withEnv(env))
      assert.deepStrictEqual(ours.garbageCollector, {
        manifests: { intervalMs: 60_000, minAgeMs: 3_600_000 },
        wal: { intervalMs: 60_000, minAgeMs: 60_000 },
        compacted: { intervalMs: 120_000, minAgeMs: 300_000 },
        compactions: null
      })
      assert.deepStrictEqual(ours.compactor, { ...Settings.default.compactor!, maxSstSizeBytes: 1_048_576, pollIntervalMs: 1000 })
      // SlateDB's own load() (the current directory and the process environment) reads the same.
      const cwd = process.cwd()
      let theirs: string
      try {
        process.chdir(dir)
        Object.assign(process.env, env)
        theirs = EngineSettings.load().to_json_string()
      } finally {
        process.chdir(cwd)
        for (const k of Object.keys(env)) delete process.env[k]
      }
      const read = yield* Settings.fromJson(theirs)
      assert.deepStrictEqual(read.garbageCollector, ours.garbageCollector)
      assert.strictEqual(read.compactor!.maxSstSizeBytes, 1_048_576)
      assert.strictEqual(read.compactor!.pollIntervalMs, 1000)
      // A whole group turned off, or on with its defaults, replaces what earlier sources said of its parts.
      assert.isNull((yield* Settings.load({ dir }).pipe(withEnv({ ...env, SHALE_GARBAGE_COLLECTOR: "none" }))).garbageCollector)
      const defaults = yield* Settings.load({ dir }).pipe(withEnv({ SHALE_GARBAGE_COLLECTOR: "true", SHALE_GARBAGE_COLLECTOR_WAL: "true" }))
      assert.deepStrictEqual(defaults.garbageCollector, Settings.default.garbageCollector)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("one error lists every problem, each with its source", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      yield* fs.writeFileString(`${dir}/SlateDb.json`, `{"flush_interval": "1s",`)
      yield* fs.writeFileString(`${dir}/SlateDb.toml`, `flush_intervall = "1s"\nl0_max_ssts = 0`)
      yield* fs.writeFileString(`${dir}/SlateDb.yaml`, `compression_codec: gzip\nflush_interval: 1s\nflushIntervalMs: 5`)
      const message = yield* failure(Settings.load({ dir }).pipe(withEnv({ SHALE_BLOCK_SIZE: "5" })))
      assert.include(message, "Invalid settings (6 problems)")
      assert.include(message, `${dir}/SlateDb.json is not valid JSON`)
      assert.include(message, `unknown setting "flush_intervall" (in ${dir}/SlateDb.toml)`)
      assert.include(message, `l0_max_ssts: Expected a value greater than or equal to 1, got 0 (in ${dir}/SlateDb.toml)`)
      assert.include(message, `"flush_interval" and "flushIntervalMs" both set flushIntervalMs (in ${dir}/SlateDb.yaml)`)
      assert.include(message, `compression_codec: Expected "none" | "snappy" | "zlib" | "lz4" | "zstd", got "gzip" (in ${dir}/SlateDb.yaml)`)
      assert.include(message, `blockSize: Expected 1024 | 2048 | 4096 | 8192 | 16384 | 32768 | 65536, got "5" (from SHALE_BLOCK_SIZE)`)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("bad files: unreadable, not an object, syntax errors with positions", () =>
    Effect.gen(function*() {
      assert.include(yield* failure(Settings.fromToml(`a = `)), "the settings text is not valid TOML")
      assert.include(yield* failure(Settings.fromToml(`a = `)), "line 1")
      assert.include(yield* failure(Settings.fromYaml(`a: [1\n`)), "not valid YAML")
      assert.include(yield* failure(Settings.fromYaml(`- 1\n- 2`)), "must hold a YAML object")
      assert.deepStrictEqual(yield* Settings.fromYaml(``), Settings.default)
      assert.include(yield* failure(Settings.load({ file: "/nonexistent/SlateDb.toml" })), "cannot read /nonexistent/SlateDb.toml")
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
