import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem } from "effect"
import { InvalidError } from "../src/errors.ts"
import { parseByteSize, parseDurationMs, Settings } from "../src/Settings.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

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
      compactor: {
        pollIntervalMs: 5000,
        manifestUpdateTimeoutMs: 300_000,
        maxSstSizeBytes: 256 * 1024 * 1024,
        maxConcurrentCompactions: 4,
        maxFetchTasks: 4,
        minCompactionSources: 4,
        maxCompactionSources: 8,
        includeSizeThreshold: 4
      }
    })
    assert.isFalse("defaultTtlMs" in Settings.default)
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

  it("environment variable names", () => {
    assert.strictEqual(Settings.envVarName("l0SstSizeBytes"), "SHALE_L0_SST_SIZE_BYTES")
    assert.strictEqual(Settings.envVarName("flushIntervalMs"), "SHALE_FLUSH_INTERVAL_MS")
    assert.strictEqual(Settings.envVarName("filterBitsPerKey"), "SHALE_FILTER_BITS_PER_KEY")
    assert.strictEqual(Settings.envVarName("compactor.maxSstSizeBytes"), "SHALE_COMPACTOR_MAX_SST_SIZE_BYTES")
    const names = Settings.fields.map((f) => Settings.envVarName(f))
    assert.strictEqual(names.length, 22)
    assert.strictEqual(new Set(names).size, names.length)
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
