/**
 * The `shale` command, run as a child process (`node bin/shale.mjs ...`, the file npm links as the `shale`
 * bin) against temp directories: a put/get/scan/delete/manifest/wal round trip, a database written by the
 * official SlateDB 0.12.1, and the messages for bad URLs and missing databases.
 */
import { describe, expect, it } from "@effect/vitest"
import { Db } from "@shale/core"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { mixedWorkload, writeEngineDb } from "../../core/test/support/slatedb.ts"
import { ExitCode, explain, prefixEnd, scanRange, ShaleCliError } from "../src/index.ts"
import { lines, ok, shale, tempDir } from "./support.ts"

describe("shale (child process)", () => {
  it("put / get / scan / delete / manifest / wal round trip on a local directory", async () => {
    const { dir, cleanup } = tempDir()
    const db = join(dir, "data")
    try {
      ok(await shale(["--db", db, "put", "apple", "red"]))
      ok(await shale(["--db", db, "put", "banana", "yellow"]))
      ok(await shale(["put", "cherry", "dark red", "--db", db])) // shared flags also after the subcommand
      ok(await shale(["--db", `file://${db}`, "put", "pre/x", "tab\there"]))

      expect(ok(await shale(["--db", db, "get", "apple"])).stdout).toBe("red\n")
      expect(ok(await shale(["--db", db, "get", "pre/x"])).stdout).toBe("tab\\there\n")

      const all = ok(await shale(["--db", db, "scan"]))
      expect(lines(all.stdout)).toEqual(["apple\tred", "banana\tyellow", "cherry\tdark red", "pre/x\ttab\\there"])
      expect(all.stderr).toContain("(4 rows)")
      expect(lines(ok(await shale(["--db", db, "scan", "--prefix", "pre/"])).stdout)).toEqual(["pre/x\ttab\\there"])
      expect(lines(ok(await shale(["--db", db, "scan", "--start", "b", "--end", "cherry"])).stdout)).toEqual([
        "banana\tyellow"
      ])
      expect(lines(ok(await shale(["--db", db, "scan", "--desc", "--limit", "2"])).stdout)).toEqual([
        "pre/x\ttab\\there",
        "cherry\tdark red"
      ])

      expect(ok(await shale(["--db", db, "delete", "banana"])).stdout).toContain("deleted")
      const gone = await shale(["--db", db, "get", "banana"])
      expect(gone.code).toBe(1)
      expect(gone.stderr).toContain("not found")
      expect(lines(ok(await shale(["--db", db, "scan"])).stdout).map((l) => l.split("\t")[0])).toEqual([
        "apple",
        "cherry",
        "pre/x"
      ])

      const manifest = ok(await shale(["--db", db, "manifest"])).stdout
      expect(manifest).toMatch(/^manifest \d+ /)
      for (const field of ["writer epoch:", "compactor epoch:", "replay after WAL id:", "next WAL id:", "L0 SSTs:", "sorted runs:", "checkpoints:"]) {
        expect(manifest).toContain(field)
      }
      // Only the 4 puts and the delete opened the database as its writer (an epoch each); get and scan
      // read through a read-only view and claimed none.
      expect(Number(/writer epoch:\s+(\d+)/.exec(manifest)![1])).toBe(5)

      const wal = ok(await shale(["--db", db, "wal"])).stdout
      expect(wal).toMatch(/^\d+ WAL SSTs?, .*, \d+ rows?; replay after WAL id \d+, next WAL id \d+/)
      // 4 puts and 1 delete, each in a WAL SST of its own, each a row.
      const rows = lines(wal).slice(2).map((l) => l.trim().split(/\s+/))
      expect(rows.reduce((n, cols) => n + Number(cols[3]), 0)).toBe(5)
      expect(wal).toContain("empty (fence)")
    } finally {
      cleanup()
    }
  }, 120_000)

  it("reads a database written by SlateDB 0.12.1 (--path selects the root inside the directory)", async () => {
    const engine = await writeEngineDb(mixedWorkload({ writes: 600, seed: 3, memtableEvery: 250, walEvery: 100 }))
    try {
      const visible = [...engine.expected.values()]
        .filter((r) => r.kind === "value")
        .sort((a, b) => Buffer.compare(a.key, b.key))
      const first = visible[0]!
      const got = ok(await shale(["--db", engine.dir, "--path", "db", "get", new TextDecoder().decode(first.key)]))
      expect(got.stdout).toBe(`${new TextDecoder().decode(first.value)}\n`)

      const manifest = ok(await shale(["--db", engine.dir, "--path", "db", "manifest"])).stdout
      expect(manifest).toMatch(/L0 SSTs:\s+2 /)
      const wal = ok(await shale(["--db", engine.dir, "--path", "db", "wal"])).stdout
      expect(wal).toContain("in L0 (not replayed)")

      // The top of the directory holds no database; the message points at --path.
      const top = await shale(["--db", engine.dir, "manifest"])
      expect(top.code).toBe(1)
      expect(top.stderr).toContain(`no database at ${engine.dir}`)
      expect(top.stderr).toContain(`--path "db"`)
    } finally {
      engine.cleanup()
    }
  }, 120_000)

  it("bad database URLs: a clear message and exit code 2 (usage)", async () => {
    for (const url of ["ftp://host/x", "s3://", "memory:foo", "file://otherhost/x"]) {
      const r = await shale(["--db", url, "get", "k"])
      expect(r.code, url).toBe(ExitCode.usage)
      expect(r.stderr, url).toContain(`bad database URL "${url}"`)
      expect(r.stdout, url).toBe("")
    }
  }, 60_000)

  it("missing database: says so, exits 1 (not found), creates nothing", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const nowhere = join(dir, "nowhere")
      for (const args of [["get", "k"], ["scan"], ["delete", "k"], ["manifest"], ["wal"]]) {
        const r = await shale(["--db", nowhere, ...args])
        expect(r.code, args.join(" ")).toBe(1)
        expect(r.stderr, args.join(" ")).toContain(`no database at ${nowhere}`)
      }
      expect(existsSync(nowhere)).toBe(false)
      // An existing but empty directory holds no database either.
      const empty = await shale(["--db", dir, "scan"])
      expect(empty.code).toBe(1)
      expect(empty.stderr).toContain(`no database at ${dir}`)
      // memory: is private to the process: a fresh process finds nothing.
      const memory = await shale(["--db", "memory:", "get", "k"])
      expect(memory.stderr).toContain("no database at memory:")
    } finally {
      cleanup()
    }
  }, 60_000)

  it("--db falls back to SHALE_DB; without either the command says --db is missing", async () => {
    const { dir, cleanup } = tempDir()
    try {
      ok(await shale(["put", "k", "v"], { SHALE_DB: dir }))
      expect(ok(await shale(["get", "k"], { SHALE_DB: dir })).stdout).toBe("v\n")
      const missing = await shale(["get", "k"])
      expect(missing.code).toBe(ExitCode.usage)
      expect(missing.stderr).toContain("--db")
      expect(missing.stdout).toBe("")
    } finally {
      cleanup()
    }
  }, 60_000)
})

describe("shale (in process)", () => {
  it("explains a fenced writer", () => {
    const e = explain("/data")(new Db.ClosedError({ reason: "fenced", message: "detected newer DB client" }))
    expect(e).toBeInstanceOf(ShaleCliError)
    expect(e.message).toBe(
      "fenced: another writer opened the database at /data; this command's write was not acknowledged"
    )
    expect((e as ShaleCliError).exitCode).toBe(ExitCode.fenced)
  })

  it("maps each error kind to its exit code", () => {
    const code = (e: unknown) => (explain("d")(e) as ShaleCliError).exitCode
    expect(code(new Db.UnavailableError({ message: "down" }))).toBe(ExitCode.store)
    expect(code(new Db.InvalidError({ message: "bad" }))).toBe(ExitCode.usage)
    expect(code(new Db.DataError({ message: "corrupt" }))).toBe(ExitCode.data)
    expect(code(new Db.InternalError({ message: "bug" }))).toBe(ExitCode.internal)
    expect(code(new Db.ClosedError({ reason: "clean", message: "closed" }))).toBe(ExitCode.store)
    expect(code(new Error("?"))).toBe(ExitCode.internal)
  })

  it("computes scan ranges from --prefix, --start and --end", () => {
    const b = (s: string) => new TextEncoder().encode(s)
    expect(prefixEnd(b("ab"))).toEqual(b("ac"))
    expect(prefixEnd(new Uint8Array([0x61, 0xff]))).toEqual(b("b"))
    expect(prefixEnd(new Uint8Array([0xff]))).toBeUndefined()
    expect(scanRange({})).toEqual({})
    expect(scanRange({ prefix: b("k") })).toEqual({ start: b("k"), startInclusive: true, end: b("l"), endInclusive: false })
    expect(scanRange({ prefix: b("k"), start: b("k5"), end: b("z") })).toEqual({
      start: b("k5"),
      startInclusive: true,
      end: b("l"),
      endInclusive: false
    })
    expect(scanRange({ start: b("b"), end: b("a") })).toBeUndefined()
    expect(scanRange({ prefix: b("k"), start: b("m") })).toBeUndefined()
  })
})
