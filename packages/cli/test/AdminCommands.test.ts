/**
 * The admin commands (SlateDB CLI's), run as child processes against databases made with the core API in
 * this process: checkpoints (create / list / refresh / delete, with --json and SlateDB's names), `gc` (one
 * pass deletes old manifests and WAL SSTs, keeps what a checkpoint pins, the database still reads) and
 * `gc --schedule` (a line per collecting pass, a clean stop on SIGINT), `seq-to-ts` / `ts-to-seq` (no
 * entry, a writer's entry, rounding over a tracker written here), `clone` (the clone reads the parent's
 * rows, its writes stay its own), the read commands beside a writer open in this process (its next write
 * succeeds: nobody was fenced), and the exit codes of bad ids and missing checkpoints.
 */
import { describe, expect, it } from "@effect/vitest"
import { Db, Shale } from "@shale/core"
import { makeManifestStore, ObjectStore } from "@shale/core/internal"
import { Effect, Stream } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { formatDuration, parseCliDuration, parseUuid } from "../src/Durations.ts"
import { ExitCode } from "../src/index.ts"
import { BIN, lines, ok, type Result, shale, tempDir } from "./support.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const b = (s: string) => enc.encode(s)

/** No background work in the writers the tests make (the tests run `gc` and look at what it did). */
const quiet = { settings: { compactor: null, garbageCollector: null } } as const

const openDb = (dir: string, path: string, settings: object = quiet.settings) =>
  Shale.open(path, { store: Shale.stores.local(dir), settings })

/** Opens the database at `path`, puts `keys` (key -> key's value `v:<key>`), flushes the memtable to L0, closes. */
const writeSession = async (dir: string, path: string, keys: ReadonlyArray<string>) => {
  const db = await openDb(dir, path)
  for (const k of keys) await db.put(b(k), b(`v:${k}`))
  await db.flush({ type: "memtable" })
  await db.close()
}

/** Every row, through a read-only view (of the latest state, or of a checkpoint's). */
const readAll = (dir: string, path: string, checkpointId?: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const view = yield* Db.openReadOnly({ root: path, ...(checkpointId === undefined ? {} : { checkpointId }) })
      const rows = yield* Stream.runCollect(view.scan({}))
      return rows.map((kv) => `${dec.decode(kv.key)}=${dec.decode(kv.value)}`)
    }).pipe(Effect.scoped, Effect.provide(Shale.stores.local(dir)))
  )

const json = (r: Result) => JSON.parse(ok(r).stdout)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Manifest ids present on disk under `root`. */
const manifestIds = (dir: string, root: string) =>
  readdirSync(join(dir, root, "manifest")).filter((f) => f.endsWith(".manifest")).map((f) => Number(f.slice(0, 20)))

describe("shale checkpoints", () => {
  it("create / list / refresh / delete round trip, text and --json, SlateDB's names; bad ids exit 2, missing ones 1", async () => {
    const { dir, cleanup } = tempDir()
    try {
      await writeSession(dir, "db", ["a", "b"])
      const at = ["--db", dir, "--path", "db"]
      const empty = ok(await shale([...at, "checkpoints"]))
      expect(empty.stdout).toBe("no checkpoints\n")
      expect(json(await shale([...at, "--json", "checkpoints"]))).toEqual({ checkpoints: [] })

      const made = json(await shale([...at, "--json", "checkpoint", "create", "--lifetime", "1h", "--name", "nightly"]))
      expect(made).toMatchObject({ name: "nightly" })
      expect(made.id).toMatch(UUID)
      expect(made.expireTimeS - made.createTimeS).toBeGreaterThanOrEqual(3599)
      expect(made.expireTimeS - made.createTimeS).toBeLessThanOrEqual(3601)
      expect(made.createTime).toBe(new Date(made.createTimeS * 1000).toISOString().replace(".000Z", "Z"))
      expect(Math.max(...manifestIds(dir, "db"))).toBe(made.manifestId) // it pins the version holding it

      const text = ok(await shale([...at, "checkpoint", "create"])).stdout
      expect(text).toMatch(/^checkpoint [0-9a-f-]{36} created: pins manifest \d+, expires never\n$/)
      const second = /checkpoint ([0-9a-f-]{36})/.exec(text)![1]!
      const fromSource = json(await shale([...at, "--json", "create-checkpoint", "-s", made.id, "-n", "copy"]))
      expect(fromSource.manifestId).toBe(made.manifestId)

      const table = lines(ok(await shale([...at, "checkpoints"])).stdout)
      expect(table[0]).toMatch(/^id\s+manifest\s+created\s+expires\s+name$/)
      expect(table).toHaveLength(4)
      expect(table.find((l) => l.startsWith(made.id))).toMatch(new RegExp(`^${made.id}\\s+${made.manifestId}\\s+\\S+Z\\s+\\S+Z\\s+nightly$`))
      expect(table.find((l) => l.startsWith(second))).toContain("never")
      expect(json(await shale([...at, "--json", "list-checkpoints", "--name", "nightly"])).checkpoints.map((c: { id: string }) => c.id)).toEqual([made.id])
      expect(json(await shale([...at, "--json", "checkpoints", "--name", "nobody"])).checkpoints).toEqual([])

      // Refresh: no lifetime = never expires; a human lifetime from now.
      const never = json(await shale([...at, "--json", "checkpoint", "refresh", "--id", made.id]))
      expect(never).toMatchObject({ id: made.id, expireTimeS: null, expireTime: null, manifestId: made.manifestId })
      const before = Math.floor(Date.now() / 1000)
      const week = json(await shale([...at, "--json", "refresh-checkpoint", "-i", made.id.toUpperCase(), "-l", "7days 30min 10s"]))
      const lifetime = 7 * 86400 + 30 * 60 + 10
      expect(week.expireTimeS).toBeGreaterThanOrEqual(before + lifetime)
      expect(week.expireTimeS).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + lifetime + 1)
      expect(ok(await shale([...at, "checkpoint", "refresh", "--id", second, "--lifetime", "300s"])).stdout).toMatch(
        new RegExp(`^checkpoint ${second} refreshed \\(lifetime 5m\\): pins manifest \\d+, expires \\S+Z\\n$`)
      )

      // Delete.
      expect(json(await shale([...at, "--json", "checkpoint", "delete", "--id", made.id]))).toEqual({ deleted: made.id })
      expect(ok(await shale([...at, "delete-checkpoint", "--id", second])).stdout).toBe(`checkpoint ${second} deleted\n`)
      expect(json(await shale([...at, "--json", "checkpoints"])).checkpoints.map((c: { id: string }) => c.id)).toEqual([fromSource.id])

      // Errors: not a UUID (2), no such checkpoint (1), a bad lifetime (2), no database (1).
      const absent = "01740ee5-6459-44af-9a45-85deb6e468e3"
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
        [["checkpoint", "refresh", "--id", "nope"], ExitCode.usage, "--id expects a checkpoint id"],
        [["checkpoint", "delete", "--id", "1234"], ExitCode.usage, "--id expects a checkpoint id"],
        [["checkpoint", "create", "--source", "x"], ExitCode.usage, "--source expects a checkpoint id"],
        [["checkpoint", "delete", "--id", absent], ExitCode.notFound, `no checkpoint ${absent}`],
        [["checkpoint", "refresh", "--id", absent], ExitCode.notFound, `no checkpoint ${absent}`],
        [["checkpoint", "create", "--source", absent], ExitCode.notFound, `no source checkpoint ${absent}`],
        [["checkpoint", "create", "--lifetime", "300"], ExitCode.usage, "a unit is required"],
        [["checkpoint", "create", "--lifetime", "1M"], ExitCode.usage, `"M" is ambiguous`],
        [["checkpoint", "create", "--lifetime", "soon"], ExitCode.usage, "--lifetime expects a duration"]
      ]
      const results = await Promise.all(cases.map(([args]) => shale([...at, ...args])))
      for (const [i, [args, code, message]] of cases.entries()) {
        expect(results[i]!.code, args.join(" ")).toBe(code)
        expect(results[i]!.stderr, args.join(" ")).toContain(message)
        expect(results[i]!.stdout, args.join(" ")).toBe("")
      }
      const none = await shale(["--db", join(dir, "none"), "checkpoint", "create"])
      expect(none.code).toBe(ExitCode.notFound)
      expect(existsSync(join(dir, "none"))).toBe(false)
      expect(json(await shale([...at, "--json", "checkpoints"])).checkpoints).toHaveLength(1) // nothing else changed
    } finally {
      cleanup()
    }
  }, 240_000)
})

describe("shale gc", () => {
  it("--min-age 0s deletes old manifests and WAL SSTs, keeps a checkpoint's manifest; the database and the checkpoint still read", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const at = ["--db", dir, "--path", "db"]
      await writeSession(dir, "db", ["a", "b", "c"])
      await writeSession(dir, "db", ["d", "e"])
      const cp = json(await shale([...at, "--json", "checkpoint", "create", "--name", "keep"]))
      await writeSession(dir, "db", ["f"])
      await writeSession(dir, "db", ["g", "h"])
      const expected = ["a", "b", "c", "d", "e", "f", "g", "h"].map((k) => `${k}=v:${k}`)
      const atCheckpoint = expected.slice(0, 5)
      expect(await readAll(dir, "db")).toEqual(expected)
      const manifestsBefore = manifestIds(dir, "db")
      const walSsts = () => readdirSync(join(dir, "db", "wal")).filter((f) => f.endsWith(".sst")).length // not the store's "#..." sidecars
      const walsBefore = walSsts()

      // The default minimum age (5 minutes): nothing this young goes.
      const young = ok(await shale([...at, "gc"])).stdout
      expect(young).toMatch(/^garbage collection of .*: one pass in \S+, \d+ store requests\n/)
      expect(young).toMatch(/manifests\s+5m\s+0\n/)
      expect(manifestIds(dir, "db")).toEqual(manifestsBefore)

      const pass = json(await shale([...at, "--json", "gc", "--min-age", "0s"]))
      expect(pass.errors).toEqual([])
      expect(pass.deleted.manifests).toBeGreaterThan(0)
      expect(pass.deleted.wal).toBeGreaterThan(0)
      expect(pass.options.manifests).toMatchObject({ minAgeMs: 0 })
      expect(pass).toMatchObject({ expiredCheckpoints: 0 })
      expect(pass.requests).toBeGreaterThan(0)
      expect(typeof pass.durationMs).toBe("number")
      const left = manifestIds(dir, "db")
      expect(left).toEqual([cp.manifestId, Math.max(...manifestsBefore)])
      expect(walSsts()).toBe(walsBefore - pass.deleted.wal)

      const listed = json(await shale([...at, "--json", "manifests"]))
      expect(listed.manifests.map((m: { id: number }) => m.id)).toEqual(left)
      expect(listed.manifests[0]).toMatchObject({ id: cp.manifestId, checkpoints: [cp.id], latest: false })
      expect(ok(await shale([...at, "manifests"])).stdout).toContain(`pinned by checkpoint ${cp.id} (keep)`)

      expect(await readAll(dir, "db")).toEqual(expected)
      expect(await readAll(dir, "db", cp.id)).toEqual(atCheckpoint)
      const db = await openDb(dir, "db")
      expect(dec.decode((await db.get(b("a")))!)).toBe("v:a")
      await db.close()

      // One kind; a schedule flag without --schedule; bad durations.
      const usageErrors: Array<Promise<void>> = []
      const wal = json(await shale([...at, "--json", "run-garbage-collection", "--resource", "wal", "--min-age", "0s"]))
      expect(wal.options).toEqual({ manifests: null, wal: { intervalMs: 60_000, minAgeMs: 0 }, compacted: null, compactions: null })
      expect(ok(await shale([...at, "gc", "-r", "manifest", "-m", "1h"])).stdout).toMatch(/WAL SSTs\s+\(not collected\)\s+-\n/)
      for (const args of [["gc", "--wal", "min_age=0s,period=1s"], ["gc", "--min-age", "300"], ["gc", "--resource", "sst"], [
        "gc",
        "--schedule",
        "--wal",
        "min_age=0s,period=0s"
      ]])
      {
        usageErrors.push(shale([...at, ...args]).then((r) => expect(r.code, args.join(" ")).toBe(ExitCode.usage)))
      }
      await Promise.all(usageErrors)
      expect((await shale(["--db", join(dir, "none"), "gc"])).code).toBe(ExitCode.notFound)
    } finally {
      cleanup()
    }
  }, 240_000)

  it("--schedule collects on each kind's period, a line per collecting pass, until SIGINT (exit code 130)", async () => {
    const { dir, cleanup } = tempDir()
    try {
      await writeSession(dir, "db", ["a"])
      await writeSession(dir, "db", ["b"])
      const child = spawn(process.execPath, [BIN, "--db", dir, "--path", "db", "gc", "--schedule", "--manifest", "min_age=0s,period=200ms"], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" }
      })
      const out = { stdout: "", stderr: "" }
      child.stdout!.setEncoding("utf8").on("data", (c: string) => (out.stdout += c))
      child.stderr!.setEncoding("utf8").on("data", (c: string) => (out.stderr += c))
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      const end = Date.now() + 60_000
      while (!out.stdout.includes("gc:") && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      expect(out.stderr).toContain("garbage collector running on")
      expect(out.stderr).toContain("manifests every 200ms (min age 0s)")
      expect(lines(out.stdout)[0]).toMatch(/^gc: \d+ manifests deleted \(\d+ pass(es)?, \d+ in all\)$/)
      expect(manifestIds(dir, "db")).toHaveLength(1)
      child.kill("SIGINT")
      expect(await exited).toBe(130)
      expect(out.stderr).toMatch(/garbage collector stopped: \d+ pass(es)?, \d+ manifests deleted/)
      expect(await readAll(dir, "db")).toEqual(["a=v:a", "b=v:b"])
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("shale seq-to-ts / ts-to-seq", () => {
  it("no entry: exit code 1 (JSON still printed); a writer's entry; rounding over a tracker written here", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const at = ["--db", dir, "--path", "db"]
      // A database whose memtable never reached L0: no tracker point.
      const db = await openDb(dir, "db")
      await db.put(b("a"), b("1"))
      await db.close()
      const missing = await shale([...at, "seq-to-ts", "--seq", "1"])
      expect(missing.code).toBe(ExitCode.notFound)
      expect(missing.stdout).toBe("")
      expect(missing.stderr).toContain("no time for seq 1 (rounding down)")
      expect(missing.stderr).toContain("no points yet")
      const missingJson = await shale([...at, "--json", "seq-to-ts", "--seq", "1", "--round", "up"])
      expect(missingJson.code).toBe(ExitCode.notFound)
      expect(JSON.parse(missingJson.stdout)).toEqual({ seq: 1, round: "up", timestampMs: null, timestamp: null })
      const noSeq = await shale([...at, "--json", "ts-to-seq", "--ts", "1700000000"])
      expect(noSeq.code).toBe(ExitCode.notFound)
      expect(JSON.parse(noSeq.stdout)).toEqual({ ts: 1700000000, round: "down", seq: null })

      // A writer records a point when its memtable reaches L0.
      await writeSession(dir, "db", ["b"])
      const store = Shale.stores.local(dir)
      const latest = await Effect.runPromise(
        Effect.gen(function*() {
          return yield* makeManifestStore(yield* ObjectStore, "db").readLatest
        }).pipe(Effect.provide(store))
      )
      const tracker = latest!.manifest.sequenceTracker
      expect(tracker.seqs.length).toBeGreaterThan(0)
      const [seq, ts] = [tracker.seqs[0]!, tracker.timestamps[0]!]
      expect(ok(await shale([...at, "seq-to-ts", "--seq", String(seq)])).stdout).toBe(`${new Date(ts * 1000).toISOString()}\n`)
      expect(ok(await shale([...at, "ts-to-seq", String(ts)])).stdout).toBe(`${seq}\n`)

      // Rounding, over a tracker with two points (a manifest version written here with them).
      await Effect.runPromise(
        Effect.gen(function*() {
          const manifests = makeManifestStore(yield* ObjectStore, "db")
          const last = (yield* manifests.readLatest)!
          const sequenceTracker = { seqs: [10, 20], timestamps: [1_000_000, 1_000_060] }
          expect(yield* manifests.write(last.id + 1, { ...last.manifest, sequenceTracker })).toBe("written")
        }).pipe(Effect.provide(store))
      )
      const iso = (s: number) => new Date(s * 1000).toISOString()
      expect(ok(await shale([...at, "seq-to-ts", "--seq", "15"])).stdout).toBe(`${iso(1_000_000)}\n`)
      expect(ok(await shale([...at, "seq-to-ts", "15", "--round", "up"])).stdout).toBe(`${iso(1_000_060)}\n`)
      expect(json(await shale([...at, "--json", "seq-to-ts", "--seq", "20", "--round", "roundup"]))).toEqual({
        seq: 20,
        round: "up",
        timestampMs: 1_000_060_000,
        timestamp: iso(1_000_060)
      })
      expect(ok(await shale([...at, "ts-to-seq", "--ts", "1000030"])).stdout).toBe("10\n")
      expect(json(await shale([...at, "--json", "ts-to-seq", "--ts", "1000030", "--round", "up"]))).toEqual({ ts: 1000030, round: "up", seq: 20 })
      const usageErrors: Array<Promise<void>> = []
      const below = await shale([...at, "seq-to-ts", "--seq", "5"])
      expect(below.code).toBe(ExitCode.notFound)
      expect(below.stderr).toContain("2 points: seqs 10..20")
      const above = await shale([...at, "ts-to-seq", "--ts", "2000000", "--round", "up"])
      expect(above.code).toBe(ExitCode.notFound)

      for (const args of [["seq-to-ts"], ["seq-to-ts", "--seq", "x"], ["seq-to-ts", "--seq", "-1"], ["seq-to-ts", "--seq", "1", "2"], [
        "ts-to-seq",
        "--ts",
        "1.5"
      ], ["ts-to-seq", "--ts", "1", "--round", "sideways"]])
      {
        usageErrors.push(shale([...at, ...args]).then((r) => expect(r.code, args.join(" ")).toBe(ExitCode.usage)))
      }
      await Promise.all(usageErrors)
    } finally {
      cleanup()
    }
  }, 240_000)
})

describe("shale clone", () => {
  it("the clone opens and reads the parent's rows; its writes do not reach the parent; --checkpoint; errors", async () => {
    const { dir, cleanup } = tempDir()
    try {
      await writeSession(dir, "parent", ["a", "b"])
      const parentDb = await openDb(dir, "parent")
      await parentDb.put(b("c"), b("v:c")) // only in the parent's WAL: the clone copies it
      await parentDb.close()
      const made = ok(await shale(["--db", dir, "--path", "child", "clone", "--parent-path", "parent"]))
      expect(made.stdout).toMatch(/^clone made at .* \(path "child"\): parent "parent" at checkpoint [0-9a-f-]{36}, manifest \d+\n$/)

      const child = await openDb(dir, "child")
      expect(dec.decode((await child.get(b("a")))!)).toBe("v:a")
      expect(dec.decode((await child.get(b("c")))!)).toBe("v:c")
      await child.put(b("z"), b("child only"))
      await child.delete(b("a"))
      await child.close()
      expect(await readAll(dir, "child")).toEqual(["b=v:b", "c=v:c", "z=child only"])
      expect(await readAll(dir, "parent")).toEqual(["a=v:a", "b=v:b", "c=v:c"])

      // Again: already made, left as it is.
      expect(ok(await shale(["--db", dir, "--path", "child", "clone", "--parent", join(dir, "parent")])).stdout).toMatch(/^clone already made/)

      // At a checkpoint of the parent: later parent writes are not in the clone.
      const cp = json(await shale(["--db", dir, "--path", "parent", "--json", "checkpoint", "create"]))
      await writeSession(dir, "parent", ["d"])
      const atCp = json(await shale(["--db", `file://${dir}`, "--path", "child2", "--json", "clone", "--parent-path", "parent", "--checkpoint", cp.id]))
      expect(atCp).toEqual({ path: "child2", parentPath: "parent", sourceCheckpointId: cp.id, manifestId: expect.any(Number) })
      expect(await readAll(dir, "child2")).toEqual(["a=v:a", "b=v:b", "c=v:c"])

      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
        [["--path", "c3", "clone", "--parent-path", "parent", "--checkpoint", "bad"], ExitCode.usage, "--checkpoint expects a checkpoint id"],
        [["--path", "c3", "clone", "--parent-path", "parent", "--checkpoint", "01740ee5-6459-44af-9a45-85deb6e468e3"], ExitCode.notFound, "no checkpoint"],
        [["--path", "c3", "clone", "--parent-path", "nothing"], ExitCode.notFound, "no database at"],
        [["--path", "parent", "clone", "--parent-path", "child"], ExitCode.usage, "there is already a database"],
        [["--path", "parent", "clone", "--parent-path", "parent"], ExitCode.usage, "cannot be at its parent's path"],
        [["--path", "c3", "clone", "--parent-path", "/elsewhere/db"], ExitCode.usage, "is not in the store"]
      ]
      const results = await Promise.all(cases.map(([args]) => shale(["--db", dir, ...args])))
      for (const [i, [args, code, message]] of cases.entries()) {
        expect(results[i]!.code, args.join(" ")).toBe(code)
        expect(results[i]!.stderr, args.join(" ")).toContain(message)
      }
      expect(existsSync(join(dir, "c3"))).toBe(false)
    } finally {
      cleanup()
    }
  }, 240_000)
})

describe("shale admin commands beside a writer", () => {
  it("none of them fences a writer open in this process: its next durable write succeeds", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const at = ["--db", dir, "--path", "db"]
      // The default settings: an embedded compactor (so there is a compactions file) and garbage collector.
      const db = await openDb(dir, "db", {})
      await db.put(b("a"), b("1"))
      await db.flush({ type: "memtable" })
      const commands: ReadonlyArray<ReadonlyArray<string>> = [
        ["manifest"],
        ["read-manifest", "--id", "1"],
        ["manifests"],
        ["list-manifests", "--start", "1", "--end", "3"],
        ["wal"],
        ["checkpoints"],
        ["checkpoint", "create", "--lifetime", "1h"],
        ["gc", "--min-age", "0s"],
        ["seq-to-ts", "--seq", "1"]
      ]
      for (const args of commands) {
        ok(await shale([...at, ...args]))
        await db.put(b(args[0]!), b("written after the command")) // durable: it would fail if fenced
      }
      const until = Date.now() + 30_000
      let compactions = await shale([...at, "--json", "compactions"])
      while (compactions.code !== 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200))
        compactions = await shale([...at, "--json", "compactions"])
      }
      const file = json(compactions)
      expect(file).toMatchObject({ id: expect.any(Number), compactorEpoch: expect.any(Number), compactions: expect.any(Array) })
      expect(ok(await shale([...at, "read-compactions"])).stdout).toMatch(/^compactions file \d+ \(compactor epoch \d+; /)
      await db.put(b("last"), b("ok"))
      expect((await db.status()).durableSeq).toBeGreaterThanOrEqual(commands.length + 2)
      await db.close()
      expect(await readAll(dir, "db")).toContain("last=ok")
      expect((await shale([...at, "compactions", "--id", "999"])).code).toBe(ExitCode.notFound)
    } finally {
      cleanup()
    }
  }, 240_000)
})

describe("admin flags (in process)", () => {
  it("durations: SlateDB's human forms, a unit required, no ambiguous M; printed back in a form they read", () => {
    const ms = (text: string) => Effect.runSync(Effect.result(parseCliDuration("--lifetime", text)))
    const value = (text: string) => {
      const r = ms(text)
      return r._tag === "Success" ? r.success : undefined
    }
    expect(value("7days 30min 10s")).toBe((7 * 86400 + 30 * 60 + 10) * 1000)
    expect(value("1h")).toBe(3_600_000)
    expect(value("300s")).toBe(300_000)
    expect(value("0s")).toBe(0)
    expect(value("2h 37min")).toBe((2 * 3600 + 37 * 60) * 1000)
    expect(value("1month")).toBe(30 * 86_400_000)
    expect(value("250ms")).toBe(250)
    for (const bad of ["300", "1M", "soon", "", "-1s"]) expect(value(bad), bad).toBeUndefined()
    for (const n of [0, 250, 300_000, 3_600_000, (7 * 86400 + 30 * 60 + 10) * 1000]) expect(value(formatDuration(n))).toBe(n)
    expect(formatDuration((7 * 86400 + 30 * 60 + 10) * 1000)).toBe("7d 30m 10s")
  })

  it("checkpoint ids: hyphenated or 32 hex digits, any case; anything else is a usage error", () => {
    const id = (text: string) => {
      const r = Effect.runSync(Effect.result(parseUuid("--id", text)))
      return r._tag === "Success" ? r.success : r.failure.exitCode
    }
    expect(id("01740EE5-6459-44AF-9A45-85DEB6E468E3")).toBe("01740ee5-6459-44af-9a45-85deb6e468e3")
    expect(id("01740ee5645944af9a4585deb6e468e3")).toBe("01740ee5-6459-44af-9a45-85deb6e468e3")
    expect(id("01740ee5-6459-44af-9a45")).toBe(ExitCode.usage)
    expect(id("nope")).toBe(ExitCode.usage)
  })
})

describe("SlateDB CLI's names", () => {
  it("run the same commands and are not listed in --help", async () => {
    const names = [
      "read-manifest",
      "list-manifests",
      "read-compactions",
      "list-checkpoints",
      "create-checkpoint",
      "refresh-checkpoint",
      "delete-checkpoint",
      "run-garbage-collection",
      "schedule-garbage-collection",
      "run-compactor"
    ]
    const [help, ...each] = await Promise.all([shale(["--help"]), ...names.map((n) => shale([n, "--help"]))])
    for (const [i, n] of names.entries()) {
      expect(each[i]!.code, n).toBe(0)
      expect(each[i]!.stdout, n).toContain("USAGE")
      expect(ok(help).stdout, n).not.toContain(n)
    }
    expect(each[names.indexOf("schedule-garbage-collection")]!.stdout).toContain("--compactions")
  }, 120_000)
})
