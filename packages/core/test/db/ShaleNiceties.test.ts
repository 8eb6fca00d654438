/**
 * The Promise API's conveniences: `await using`, an idempotent `close`, write batches consumed by `write`,
 * stores by URL and a reopenable memory store, `loadSettings` without Effect, and the `logger` option
 * (records to a function, nothing at all, or stderr by default: never stdout).
 */
import { Layer } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, assert, describe, it } from "vitest"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { Shale, ShaleDb } from "../../src/db/Shale.ts"
import { ClosedError, InvalidError } from "../../src/errors.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { Settings } from "../../src/Settings.ts"
import type { LogRecord } from "../../src/ShaleLogger.ts"
import { b, s } from "./fixtures.ts"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "shale-promise-"))
  dirs.push(d)
  return d
}

const eager = { durableFlush: "eager" } as const

describe("Promise API niceties", () => {
  it("await using closes the database at the end of the block; close() before it is fine", async () => {
    const store = Shale.stores.memory()
    let handle: ShaleDb | undefined
    {
      await using db = await Shale.open("db", { store, settings: eager })
      handle = db
      await db.put(b("k"), b("v"), { awaitDurable: false })
    }
    assert.strictEqual((await handle!.status()).closeReason, "clean")
    assert.instanceOf(await handle!.get(b("k")).catch((e: unknown) => e), ClosedError)
    {
      await using db = await Shale.open("db", { store, settings: eager })
      // Written before the first close (not awaited durable): the close flushed the WAL.
      assert.strictEqual(s(await db.get(b("k"))), "v")
      await db.close()
    }
  })

  it("a second close() is a no-op; concurrent closes share the first's outcome", async () => {
    const db = await Shale.open("db", { store: Shale.stores.memory() })
    const [a, c] = await Promise.all([db.close(), db.close()])
    assert.isUndefined(a)
    assert.isUndefined(c)
    assert.isUndefined(await db.close())
    // A fenced database: the first close reports the fence, later ones are quiet.
    const store = Shale.stores.memory()
    const first = await Shale.open("db", { store, settings: eager, logger: "silent" })
    const second = await Shale.open("db", { store, settings: eager })
    await first.put(b("x"), b("1")).catch(() => undefined)
    const closing = await first.close().catch((e: unknown) => e)
    assert.instanceOf(closing, ClosedError)
    assert.strictEqual((closing as ClosedError).reason, "fenced")
    assert.isUndefined(await first.close())
    await second.close()
  })

  it("a WriteBatch is consumed by write: writing or extending it again is an InvalidError", async () => {
    const db = await Shale.open("db", { store: Shale.stores.memory(), settings: eager })
    const batch = new Shale.WriteBatch().put(b("a"), b("1")).delete(b("z"))
    assert.isFalse(batch.consumed)
    const h = await db.write(batch)
    assert.isTrue(batch.consumed)
    const again = await db.write(batch).catch((e: unknown) => e)
    assert.instanceOf(again, InvalidError)
    assert.strictEqual((again as InvalidError).message, "write batch has already been consumed")
    assert.throws(() => batch.put(b("b"), b("2")), /write batch has already been consumed/)
    assert.throws(() => batch.delete(b("b")), /write batch has already been consumed/)
    // Nothing was written twice: one seq for the batch, none after it.
    assert.strictEqual((await db.status()).lastCommittedSeq, h.seq)
    // A batch that fails validation is consumed too (as SlateDB's, which `write` takes by value).
    const empty = new WriteBatch()
    assert.instanceOf(await db.write(empty).catch((e: unknown) => e), InvalidError)
    assert.strictEqual((await db.write(empty).catch((e: InvalidError) => e.message)), "write batch has already been consumed")
    await db.close()
  })

  it("stores.memory() can be reopened; two memory() stores are separate", async () => {
    const store = Shale.stores.memory()
    const db = await Shale.open("db", { store, settings: eager })
    await db.put(b("kept"), b("1"))
    await db.close()
    const again = await Shale.open("db", { store })
    assert.strictEqual(s(await again.get(b("kept"))), "1")
    assert.strictEqual((await again.status()).writerEpoch, 2)
    await again.close()
    const other = await Shale.open("db", { store: Shale.stores.memory() })
    assert.isUndefined(await other.get(b("kept")))
    await other.close()
  })

  it("stores.resolve: memory:, a directory path, file:// URLs; bad URLs reject open with InvalidError", async () => {
    const memory = Shale.stores.resolve("memory:")
    const m = await Shale.open("db", { store: memory, settings: eager })
    await m.put(b("a"), b("1"))
    await m.close()
    const m2 = await Shale.open("db", { store: memory })
    assert.strictEqual(s(await m2.get(b("a"))), "1")
    await m2.close()

    const dir = tempDir()
    const byPath = await Shale.open("db", { store: Shale.stores.resolve(dir), settings: eager })
    await byPath.put(b("p"), b("path"))
    await byPath.close()
    const byUrl = await Shale.open("db", { store: Shale.stores.resolve(`file://${dir}`) })
    assert.strictEqual(s(await byUrl.get(b("p"))), "path")
    await byUrl.close()
    const local = await Shale.open("db", { store: Shale.stores.local(dir) })
    assert.strictEqual(s(await local.get(b("p"))), "path")
    await local.close()

    for (const url of ["", "ftp://x/y", "s3://", "memory:named", "file://otherhost/x"]) {
      const e = await Shale.open("db", { store: Shale.stores.resolve(url) }).catch((e: unknown) => e)
      assert.instanceOf(e, InvalidError, url)
      assert.include((e as InvalidError).message, "bad store URL", url)
    }
  })

  it("loadSettings without Effect: SlateDb.* files in a directory, then the environment as it is now", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "SlateDb.toml"), `flush_interval = "50ms"\nl0_max_ssts = 2\n`)
    writeFileSync(join(dir, "SlateDb.yaml"), `l0_max_ssts: 3\n`)
    process.env["SLATEDB_MIN_FILTER_KEYS"] = "7"
    try {
      const settings = await Shale.loadSettings({ dir })
      assert.deepStrictEqual(settings, { ...Settings.default, flushIntervalMs: 50, l0MaxSsts: 3, minFilterKeys: 7 })
      const fileOnly = await Shale.loadSettings({ file: join(dir, "SlateDb.toml"), env: false })
      assert.deepStrictEqual(fileOnly, { ...Settings.default, flushIntervalMs: 50, l0MaxSsts: 2 })
    } finally {
      delete process.env["SLATEDB_MIN_FILTER_KEYS"]
    }
    // The environment is read at each call (not copied once per process, as Effect's default provider does).
    assert.strictEqual((await Shale.loadSettings({ dir })).minFilterKeys, Settings.default.minFilterKeys)
    writeFileSync(join(dir, "bad.json"), `{"l0_max_ssts": 0, "nope": 1}`)
    const e = await Shale.loadSettings({ file: join(dir, "bad.json") }).catch((e: unknown) => e)
    assert.instanceOf(e, InvalidError)
    assert.include((e as InvalidError).message, "Invalid settings (2 problems)")
  })

  it("logger: a function receives the engine's records; 'silent' receives nothing", async () => {
    const records: Array<LogRecord> = []
    const store = Layer.succeed(ObjectStore, makeMemory())
    const first = await Shale.open("db", { store, settings: eager, logger: (r) => records.push(r) })
    const second = await Shale.open("db", { store, settings: eager })
    await first.put(b("x"), b("1")).catch(() => undefined)
    await first.close().catch(() => undefined)
    await second.close()
    const fenced = records.find((r) => r.message.includes("database closed"))
    assert.isDefined(fenced)
    assert.strictEqual(fenced!.level, "warn")
    assert.instanceOf(fenced!.time, Date)

    // Settings Shale ignores are reported through the logger of loadSettings.
    const dir = tempDir()
    writeFileSync(join(dir, "s.json"), `{"l0_flush_parallelism": 2}`)
    const seen: Array<LogRecord> = []
    await Shale.loadSettings({ file: join(dir, "s.json"), env: false, logger: (r) => seen.push(r) })
    assert.strictEqual(seen.length, 1)
    assert.include(seen[0]!.message, "l0_flush_parallelism")
    const none: Array<LogRecord> = []
    await Shale.loadSettings({ file: join(dir, "s.json"), env: false, logger: "silent" })
    await Shale.loadSettings({ file: join(dir, "s.json"), env: false, logger: (r) => none.push(r), logLevel: "error" })
    assert.deepStrictEqual(none, [])
  })

  it("by default records go to stderr, never stdout (a child process is fenced and closes)", () => {
    const script = fileURLToPath(new URL("./support/fencedChild.ts", import.meta.url))
    const r = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 60_000 })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stdout, "")
    assert.include(r.stderr, "database closed")
    assert.include(r.stderr, "WARN")
  })
})
