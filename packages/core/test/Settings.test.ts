import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem } from "effect"
import { InvalidError } from "../src/errors.ts"
import { immutableLimit } from "../src/db/MemtableLimit.ts"
import { parseByteSize, parseDurationMs, Settings } from "../src/Settings.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

/** SlateDB's garbage collector defaults for one resource: every 60 s, objects older than 5 min. */
const GC_RESOURCE = { intervalMs: 60_000, minAgeMs: 300_000 }
const GC_DEFAULTS = { manifests: GC_RESOURCE, wal: GC_RESOURCE, compacted: GC_RESOURCE, compactions: GC_RESOURCE }

const failure = <A, R>(effect: Effect.Effect<A, InvalidError, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => {
    assert.instanceOf(e, InvalidError)
    return e.message
  }))

describe("Settings", () => {
  it("defaults are SlateDB 0.12.1's (and Shale's)", () => {
    assert.deepStrictEqual(Settings.default, {
      flushIntervalMs: 100,
      manifestPollIntervalMs: 1000,
      manifestUpdateTimeoutMs: 300_000,
      minFilterKeys: 1000,
      filterBitsPerKey: 10,
      l0SstSizeBytes: 64 * 1024 * 1024,
      l0MaxSsts: 8,
      maxUnflushedBytes: 1_073_741_824,
      blockSize: 4096,
      compression: "none",
      durableFlush: "interval",
      blockCacheBytes: 64 * 1024 * 1024,
      compactionWarmupMs: 500,
      compactor: {
        pollIntervalMs: 5000,
        manifestUpdateTimeoutMs: 300_000,
        maxSstSizeBytes: 256 * 1024 * 1024,
        maxConcurrentCompactions: 4,
        maxFetchTasks: 4,
        minCompactionSources: 4,
        maxCompactionSources: 8,
        includeSizeThreshold: 4,
        executor: "worker"
      },
      garbageCollector: GC_DEFAULTS,
      objectStoreCache: null
    })
    assert.isFalse("defaultTtlMs" in Settings.default)
    assert.isFalse("maxImmutableMemtableBytes" in Settings.default)
  })

  it.effect("fromJson: a partial object over the defaults, with string spellings", () =>
    Effect.gen(function*() {
      const s = yield* Settings.fromJson(
        `{"flushIntervalMs": "1s", "l0SstSizeBytes": "16MiB", "blockSize": "8 KiB", "defaultTtlMs": "1m 30s",
          "compression": "zstd", "durableFlush": "eager", "maxUnflushedBytes": 1000000, "l0MaxSsts": 4}`
      )
      assert.deepStrictEqual(s, {
        ...Settings.default,
        flushIntervalMs: 1000,
        l0SstSizeBytes: 16 * 1024 * 1024,
        blockSize: 8192,
        defaultTtlMs: 90_000,
        compression: "zstd",
        durableFlush: "eager",
        maxUnflushedBytes: 1_000_000,
        l0MaxSsts: 4
      })
      assert.deepStrictEqual(yield* Settings.fromJson("{}"), Settings.default)
      assert.strictEqual((yield* Settings.fromJson(`{"flushIntervalMs": null}`)).flushIntervalMs, null)
      assert.strictEqual((yield* Settings.fromJson(`{"flushIntervalMs": "none"}`)).flushIntervalMs, null)
    }))

  it.effect("fromJson: bad values fail with InvalidError naming every bad field", () =>
    Effect.gen(function*() {
      const message = yield* failure(Settings.fromJson(
        `{"blockSize": 3000, "compression": "gzip", "l0MaxSsts": 0, "minFilterKeys": 1.5,
          "manifestPollIntervalMs": "soon", "flushIntervalMS": 5}`
      ))
      assert.include(message, "blockSize: Expected 1024 | 2048 | 4096 | 8192 | 16384 | 32768 | 65536, got 3000")
      assert.include(message, `compression: Expected "none" | "snappy" | "zlib" | "lz4" | "zstd", got "gzip"`)
      assert.include(message, "l0MaxSsts: Expected a value greater than or equal to 1, got 0")
      assert.include(message, "minFilterKeys: Expected an integer, got 1.5")
      assert.include(message, `manifestPollIntervalMs: Expected a duration`)
      assert.include(message, `got "soon"`)
      assert.include(message, `unknown setting "flushIntervalMS"`)
      assert.include(yield* failure(Settings.fromJson(`{"flushIntervalMs": 0}`)), "flushIntervalMs")
      assert.include(yield* failure(Settings.fromJson(`{"l0SstSizeBytes": "lots"}`)), "l0SstSizeBytes")
      assert.include(yield* failure(Settings.fromJson(`{"durableFlush": "sometimes"}`)), "durableFlush")
      assert.include(yield* failure(Settings.fromJson(`{"defaultTtlMs": -1}`)), "defaultTtlMs")
      assert.include(yield* failure(Settings.fromJson(`{"blockCacheBytes": true}`)), "blockCacheBytes")
      assert.include(yield* failure(Settings.fromJson(`[1, 2]`)), "must hold a JSON object")
      assert.include(yield* failure(Settings.fromJson(`{"flushIntervalMs": `)), "not valid JSON")
    }))

  it.effect("fromEnv: SHALE_* variables through the ConfigProvider", () =>
    Effect.gen(function*() {
      const s = yield* Settings.fromEnv().pipe(withEnv({
        SHALE_FLUSH_INTERVAL_MS: "250ms",
        SHALE_L0_SST_SIZE_BYTES: "1048576",
        SHALE_COMPRESSION: "lz4",
        SHALE_DURABLE_FLUSH: "eager",
        SHALE_MIN_FILTER_KEYS: "10",
        SHALE_BLOCK_CACHE_BYTES: "0",
        UNRELATED: "x"
      }))
      assert.deepStrictEqual(s, {
        ...Settings.default,
        flushIntervalMs: 250,
        l0SstSizeBytes: 1_048_576,
        compression: "lz4",
        durableFlush: "eager",
        minFilterKeys: 10,
        blockCacheBytes: 0
      })
      assert.strictEqual((yield* Settings.fromEnv().pipe(withEnv({ SHALE_FLUSH_INTERVAL_MS: "none" }))).flushIntervalMs, null)
      const custom = yield* Settings.fromEnv({ envPrefix: "MYDB_" }).pipe(withEnv({ MYDB_L0_MAX_SSTS: "3", SHALE_L0_MAX_SSTS: "5" }))
      assert.strictEqual(custom.l0MaxSsts, 3)
    }))

  it.effect("fromEnv: a bad variable names both the field and the variable", () =>
    Effect.gen(function*() {
      const message = yield* failure(Settings.fromEnv().pipe(withEnv({ SHALE_BLOCK_SIZE: "5", SHALE_L0_MAX_SSTS: "many" })))
      assert.include(message, `blockSize: Expected 1024 | 2048 | 4096 | 8192 | 16384 | 32768 | 65536, got "5" (from SHALE_BLOCK_SIZE)`)
      assert.include(message, `l0MaxSsts: Expected an integer, got "many" (from SHALE_L0_MAX_SSTS)`)
    }))

  it.effect("load: defaults < file < environment", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "shale-settings-" })
      const file = `${dir}/shale.json`
      yield* fs.writeFileString(file, JSON.stringify({ flushIntervalMs: 50, l0MaxSsts: 2, defaultTtlMs: 60_000 }))
      const fileOnly = yield* Settings.load({ file, env: false }).pipe(withEnv({ SHALE_L0_MAX_SSTS: "7" }))
      assert.deepStrictEqual(fileOnly, { ...Settings.default, flushIntervalMs: 50, l0MaxSsts: 2, defaultTtlMs: 60_000 })
      const both = yield* Settings.load({ file }).pipe(withEnv({ SHALE_L0_MAX_SSTS: "7", SHALE_DEFAULT_TTL_MS: "none" }))
      assert.deepStrictEqual(both, { ...Settings.default, flushIntervalMs: 50, l0MaxSsts: 7 })
      const envOnly = yield* Settings.load().pipe(withEnv({ SHALE_MANIFEST_POLL_INTERVAL_MS: "2s" }))
      assert.deepStrictEqual(envOnly, { ...Settings.default, manifestPollIntervalMs: 2000 })

      yield* fs.writeFileString(file, `{"l0MaxSsts": -3}`)
      assert.include(yield* failure(Settings.load({ file, env: false })), "l0MaxSsts")
      assert.include(yield* failure(Settings.load({ file: `${dir}/missing.json` })), "cannot read")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("maxImmutableMemtableBytes: absent (l0MaxSsts × l0SstSizeBytes), a byte size, or null (no bound of its own)", () =>
    Effect.gen(function*() {
      const base = { l0SstSizeBytes: 1024 * 1024, l0MaxSsts: 8 }
      assert.strictEqual(immutableLimit(base), 8 * 1024 * 1024)
      assert.strictEqual(immutableLimit({ ...base, maxImmutableMemtableBytes: null }), Number.POSITIVE_INFINITY)
      assert.strictEqual(immutableLimit({ ...base, maxImmutableMemtableBytes: 1000 }), 1000)
      assert.strictEqual((yield* Settings.fromJson(`{"maxImmutableMemtableBytes": "16MiB"}`)).maxImmutableMemtableBytes, 16 * 1024 * 1024)
      for (const none of [`null`, `"none"`]) {
        assert.isNull((yield* Settings.fromJson(`{"maxImmutableMemtableBytes": ${none}}`)).maxImmutableMemtableBytes)
      }
      assert.isNull((yield* Settings.fromJson(`{"max_immutable_memtable_bytes": "none"}`)).maxImmutableMemtableBytes)
      const bad = yield* Effect.flip(Settings.fromJson(`{"maxImmutableMemtableBytes": 0}`))
      assert.instanceOf(bad, InvalidError)
      assert.include(bad.message, "maxImmutableMemtableBytes")
    }))

  it("environment variable names", () => {
    assert.strictEqual(Settings.envVarName("l0SstSizeBytes"), "SHALE_L0_SST_SIZE_BYTES")
    assert.strictEqual(Settings.envVarName("flushIntervalMs"), "SHALE_FLUSH_INTERVAL_MS")
    assert.strictEqual(Settings.envVarName("filterBitsPerKey"), "SHALE_FILTER_BITS_PER_KEY")
    assert.strictEqual(Settings.envVarName("compactor.maxSstSizeBytes"), "SHALE_COMPACTOR_MAX_SST_SIZE_BYTES")
    assert.strictEqual(Settings.envVarName("garbageCollector"), "SHALE_GARBAGE_COLLECTOR")
    assert.strictEqual(Settings.envVarName("garbageCollector.wal"), "SHALE_GARBAGE_COLLECTOR_WAL")
    assert.strictEqual(Settings.envVarName("garbageCollector.wal.minAgeMs"), "SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS")
    assert.strictEqual(Settings.envVarName("garbageCollector.compactions.intervalMs"), "SHALE_GARBAGE_COLLECTOR_COMPACTIONS_INTERVAL_MS")
    const names = Settings.fields.map((f) => Settings.envVarName(f))
    // 18 top-level settings, 9 of the compactor's, 4 GC resources each with its 2 settings, 5 of the disk cache's.
    assert.strictEqual(names.length, 18 + 9 + 4 * 3 + 5)
    assert.include(names, "SHALE_MAX_IMMUTABLE_MEMTABLE_BYTES")
    assert.include(names, "SHALE_COMPACTOR_EXECUTOR")
    assert.include(names, "SHALE_OBJECT_STORE_CACHE_ROOT_FOLDER")
    assert.include(names, "SHALE_COMPACTION_WARMUP_MS")
    assert.strictEqual(new Set(names).size, names.length)
  })

  describe("garbageCollector", () => {
    it.effect("off, on, and partial objects filled with the defaults", () =>
      Effect.gen(function*() {
        for (const off of [`null`, `false`, `"none"`]) {
          assert.isNull((yield* Settings.fromJson(`{"garbageCollector": ${off}}`)).garbageCollector, off)
        }
        assert.isNull((yield* Settings.validate({ garbageCollector: null })).garbageCollector)
        assert.isNull((yield* Settings.validate({ garbageCollector: false })).garbageCollector)
        assert.deepStrictEqual((yield* Settings.fromJson(`{"garbageCollector": true}`)).garbageCollector, GC_DEFAULTS)
        assert.deepStrictEqual((yield* Settings.fromJson(`{"garbageCollector": {}}`)).garbageCollector, GC_DEFAULTS)
        assert.deepStrictEqual((yield* Settings.validate({ garbageCollector: true })).garbageCollector, GC_DEFAULTS)

        // A partial resource fills its other field; resources left out keep theirs; durations in any spelling.
        const partial = yield* Settings.fromJson(
          `{"garbageCollector": {"wal": {"minAgeMs": "1m"}, "compacted": {"intervalMs": "5m", "minAgeMs": 86400000}}}`
        )
        assert.deepStrictEqual(partial.garbageCollector, {
          ...GC_DEFAULTS,
          wal: { intervalMs: 60_000, minAgeMs: 60_000 },
          compacted: { intervalMs: 300_000, minAgeMs: 86_400_000 }
        })
        assert.deepStrictEqual(
          (yield* Settings.validate({ garbageCollector: { wal: { intervalMs: 1000 } } })).garbageCollector,
          { ...GC_DEFAULTS, wal: { intervalMs: 1000, minAgeMs: 300_000 } }
        )

        // A resource off on its own: null, false or "none"; true is its defaults; minAgeMs may be 0.
        const some = yield* Settings.fromYaml(
          `garbageCollector:\n  manifests: null\n  compacted: false\n  compactions: none\n  wal: {minAgeMs: 0}`
        )
        assert.deepStrictEqual(some.garbageCollector, { manifests: null, wal: { intervalMs: 60_000, minAgeMs: 0 }, compacted: null, compactions: null })
        assert.deepStrictEqual(
          (yield* Settings.validate({ garbageCollector: { manifests: false, wal: true } })).garbageCollector,
          { ...GC_DEFAULTS, manifests: null }
        )
        const toml = yield* Settings.fromToml(`[garbageCollector.wal]\nintervalMs = "10s"\n[garbageCollector]\ncompactions = false`)
        assert.deepStrictEqual(toml.garbageCollector, { ...GC_DEFAULTS, wal: { intervalMs: 10_000, minAgeMs: 300_000 }, compactions: null })
      }))

    it.effect("bad values name the key as written and where it came from", () =>
      Effect.gen(function*() {
        const message = yield* failure(Settings.fromJson(
          `{"garbageCollector": {"wal": {"minAgeMs": -1, "intervalMs": 0}, "manifests": {"intervalMs": "soon"},
            "compacted": {"minAge": 5}, "trash": null}}`
        ))
        assert.include(message, "Invalid settings (5 problems)")
        assert.include(message, "garbageCollector.wal.minAgeMs: Expected a value greater than or equal to 0, got -1")
        assert.include(message, "garbageCollector.wal.intervalMs: Expected a value greater than or equal to 1, got 0")
        assert.include(message, `garbageCollector.manifests.intervalMs: Expected a duration (milliseconds, or a string like "100ms", "1s", "5m"), got "soon"`)
        assert.include(message, `unknown setting "garbageCollector.compacted.minAge"`)
        assert.include(message, `unknown setting "garbageCollector.trash"`)
        assert.include(yield* failure(Settings.fromJson(`{"garbageCollector": 5}`)), "garbageCollector: Expected")
        assert.include(yield* failure(Settings.fromJson(`{"garbageCollector": {"wal": "sometimes"}}`)), "garbageCollector.wal: Expected")
        const validated = yield* failure(Settings.validate({ garbageCollector: { wal: { minAgeMs: -1 } } }))
        assert.include(validated, "Expected a value greater than or equal to 0")
        assert.include(validated, `["garbageCollector"]["wal"]["minAgeMs"]`)
        const env = yield* failure(Settings.fromEnv().pipe(withEnv({
          SHALE_GARBAGE_COLLECTOR_MANIFESTS_INTERVAL_MS: "0",
          SHALE_GARBAGE_COLLECTOR_WAL: "maybe"
        })))
        assert.include(env, "garbageCollector.manifests.intervalMs: Expected a value greater than or equal to 1, got \"0\" (from SHALE_GARBAGE_COLLECTOR_MANIFESTS_INTERVAL_MS)")
        assert.include(env, `garbageCollector.wal: Expected`)
        assert.include(env, `(from SHALE_GARBAGE_COLLECTOR_WAL)`)
      }))

    it.effect("environment: the whole collector, a resource, or one of its settings", () =>
      Effect.gen(function*() {
        assert.isNull((yield* Settings.fromEnv().pipe(withEnv({ SHALE_GARBAGE_COLLECTOR: "none" }))).garbageCollector)
        assert.isNull((yield* Settings.fromEnv().pipe(withEnv({ SHALE_GARBAGE_COLLECTOR: "false" }))).garbageCollector)
        const parts = yield* Settings.fromEnv().pipe(withEnv({
          SHALE_GARBAGE_COLLECTOR_WAL: "none",
          SHALE_GARBAGE_COLLECTOR_COMPACTED_MIN_AGE_MS: "1h",
          SHALE_GARBAGE_COLLECTOR_MANIFESTS_INTERVAL_MS: "30000"
        }))
        assert.deepStrictEqual(parts.garbageCollector, {
          ...GC_DEFAULTS,
          wal: null,
          compacted: { intervalMs: 60_000, minAgeMs: 3_600_000 },
          manifests: { intervalMs: 30_000, minAgeMs: 300_000 }
        })
        // One source may not turn a group off and set one of its parts.
        const both = yield* failure(Settings.fromEnv().pipe(withEnv({
          SHALE_GARBAGE_COLLECTOR: "none",
          SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS: "1m"
        })))
        assert.include(both, `"garbageCollector" turns the garbage collector off but "garbageCollector.wal.minAgeMs" sets one of its settings`)
        const resource = yield* failure(Settings.fromJson(`{"garbageCollector.wal": null, "garbageCollector.wal.minAgeMs": 5}`))
        assert.include(resource, `turns the garbage collector's wal task off`)
      }))

    it.effect("load: a later source's part turns a group back on; a later whole group replaces earlier parts", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "shale-settings-" })
        const file = `${dir}/shale.json`
        yield* fs.writeFileString(file, JSON.stringify({ garbageCollector: { wal: null, compacted: { minAgeMs: "1d" } } }))
        const fileOnly = yield* Settings.load({ file, env: false })
        assert.deepStrictEqual(fileOnly.garbageCollector, { ...GC_DEFAULTS, wal: null, compacted: { intervalMs: 60_000, minAgeMs: 86_400_000 } })
        // The environment sets one part: the file's other settings stay, the wal task comes back on.
        const env = yield* Settings.load({ file }).pipe(withEnv({ SHALE_GARBAGE_COLLECTOR_WAL_INTERVAL_MS: "5s" }))
        assert.deepStrictEqual(env.garbageCollector, {
          ...GC_DEFAULTS,
          wal: { intervalMs: 5000, minAgeMs: 300_000 },
          compacted: { intervalMs: 60_000, minAgeMs: 86_400_000 }
        })
        // The environment turns it all off, then on again with its defaults.
        assert.isNull((yield* Settings.load({ file }).pipe(withEnv({ SHALE_GARBAGE_COLLECTOR: "null" }))).garbageCollector)
        assert.deepStrictEqual((yield* Settings.load({ file }).pipe(withEnv({ SHALE_GARBAGE_COLLECTOR: "true" }))).garbageCollector, GC_DEFAULTS)
        // A file that turns it off, and a variable setting a part: on, the rest defaulted.
        yield* fs.writeFileString(file, `{"garbageCollector": false}`)
        const back = yield* Settings.load({ file }).pipe(withEnv({ SHALE_GARBAGE_COLLECTOR_WAL_MIN_AGE_MS: "0" }))
        assert.deepStrictEqual(back.garbageCollector, { ...GC_DEFAULTS, wal: { intervalMs: 60_000, minAgeMs: 0 } })
        yield* fs.writeFileString(file, `{"garbageCollector": {"wal": {"minAgeMs": -1}}}`)
        assert.include(
          yield* failure(Settings.load({ file, env: false })),
          `garbageCollector.wal.minAgeMs: Expected a value greater than or equal to 0, got -1 (in ${file})`
        )
      }).pipe(Effect.provide(NodeFileSystem.layer)))
  })

  it("duration and byte-size spellings", () => {
    assert.strictEqual(parseDurationMs("100"), 100)
    assert.strictEqual(parseDurationMs("100ms"), 100)
    assert.strictEqual(parseDurationMs("1s"), 1000)
    assert.strictEqual(parseDurationMs("1.5s"), 1500)
    assert.strictEqual(parseDurationMs("5m"), 300_000)
    assert.strictEqual(parseDurationMs("1h 1m 1s"), 3_661_000)
    assert.strictEqual(parseDurationMs("2 seconds"), 2000)
    assert.strictEqual(parseDurationMs(" 300 millis "), 300)
    assert.isUndefined(parseDurationMs(""))
    assert.isUndefined(parseDurationMs("soon"))
    assert.isUndefined(parseDurationMs("5 fortnights"))
    assert.isUndefined(parseDurationMs("-5ms"))
    assert.strictEqual(parseByteSize("4096"), 4096)
    assert.strictEqual(parseByteSize("64MiB"), 64 * 1024 * 1024)
    assert.strictEqual(parseByteSize("4 KiB"), 4096)
    assert.strictEqual(parseByteSize("1GB"), 1_000_000_000)
    assert.isUndefined(parseByteSize("lots"))
  })
})
