/**
 * The `shale` command's interface for scripts, run as a child process: exit codes per kind of failure,
 * usage errors on stderr, `--json`, key/value encodings, `export` / `import` round trips (binary keys,
 * TTLs), a quiet exit when stdout's reader goes away (`shale scan | head`), and progress reports.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { ExitCode } from "../src/index.ts"
import { BIN, lines, ok, shale, tempDir } from "./support.ts"

/** `n` JSON lines of export format: keys k00000.., values of `size` bytes. */
const rowsJsonl = (n: number, size = 20) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${String(i).padStart(5, "0")}`, value: "v".repeat(size) }))
    .join("\n") + "\n"

describe("shale exit codes and usage errors", () => {
  it("0 ok, 1 not found, 2 usage, 3 store failure, 4 corrupt data; usage errors on stderr only", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      ok(await shale(["--db", db, "put", "a", "1"]))
      expect((await shale(["--db", db, "get", "b"])).code).toBe(ExitCode.notFound)
      expect((await shale(["--db", join(dir, "none"), "scan"])).code).toBe(ExitCode.notFound)

      for (const args of [["--db", db, "scan", "--limit", "x"], ["--db", db, "frobnicate"], ["--db", db, "get"], [
        "--db",
        db,
        "--encoding",
        "hex",
        "get",
        "xyz"
      ], ["--db", db, "--encoding", "rot13", "get", "a"], ["--db", db, "scan", "--limit", "-1"]])
      {
        const r = await shale(args)
        expect(r.code, args.join(" ")).toBe(ExitCode.usage)
        expect(r.stdout, args.join(" ")).toBe("")
        expect(r.stderr.length, args.join(" ")).toBeGreaterThan(0)
      }
      const unknown = await shale(["--db", db, "frobnicate"])
      expect(unknown.stderr).toContain("Run `shale --help` for usage.")
      const noArg = await shale(["--db", db, "get"])
      expect(noArg.stderr).toContain("Run `shale get --help` for usage.")

      // A settings file with a bad value: a usage error naming the file.
      const settings = join(dir, "bad.toml")
      writeFileSync(settings, `l0_max_ssts = 0\n`)
      const bad = await shale(["--db", db, "--settings", settings, "get", "a"])
      expect(bad.code).toBe(ExitCode.usage)
      expect(bad.stderr).toContain(`l0_max_ssts: Expected a value greater than or equal to 1, got 0 (in ${settings})`)

      // A regular file where the store's directory should be: the store fails.
      const file = join(dir, "a-file")
      writeFileSync(file, "x")
      expect((await shale(["--db", file, "put", "a", "1"])).code).toBe(ExitCode.store)

      // A corrupt manifest: unreadable data.
      writeFileSync(join(db, "manifest", "00000000000000000099.manifest"), "garbage")
      const corrupt = await shale(["--db", db, "manifest"])
      expect(corrupt.code).toBe(ExitCode.data)
      expect(corrupt.stderr).toContain("unreadable data in manifest/00000000000000000099.manifest")

      // --help is not an error.
      const help = await shale(["--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("import")
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("shale --json and encodings", () => {
  it("JSON lines for get, scan, put, delete, wal and manifest; hex and base64 keys and values", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      const put = JSON.parse(ok(await shale(["--db", db, "--json", "put", "user/1", "ada"])).stdout)
      expect(put).toMatchObject({ op: "put", key: "user/1", seq: 1 })
      // A binary key and value, given in hex; read back in base64 and in hex.
      ok(await shale(["--db", db, "--encoding", "hex", "put", "00ff10", "c0ffee"]))
      expect(ok(await shale(["--db", db, "--encoding", "hex", "get", "00ff10"])).stdout).toBe("c0ffee\n")
      expect(ok(await shale(["--db", db, "--encoding", "base64", "get", "AP8Q"])).stdout).toBe("wP/u\n")
      // UTF-8 text output escapes what is not printable; JSON keeps it lossless.
      expect(ok(await shale(["--db", db, "--key-encoding", "hex", "get", "00ff10"])).stdout).toBe("\\xc0\\xff\\xee\n")
      const rows = lines(ok(await shale(["--db", db, "--json", "scan"])).stdout).map((l) => JSON.parse(l))
      expect(rows).toEqual([
        { key: { base64: "AP8Q" }, value: { base64: "wP/u" }, seq: 2, createTs: expect.any(Number), expireTs: null },
        { key: "user/1", value: "ada", seq: 1, createTs: expect.any(Number), expireTs: null }
      ])
      const hexRows = lines(ok(await shale(["--db", db, "--json", "--encoding", "hex", "scan", "--prefix", "75"])).stdout)
      expect(hexRows.map((l) => JSON.parse(l).value)).toEqual(["616461"])
      const got = JSON.parse(ok(await shale(["--db", db, "--json", "get", "user/1"])).stdout)
      expect(got).toMatchObject({ key: "user/1", value: "ada", seq: 1 })
      const deleted = JSON.parse(ok(await shale(["--db", db, "--json", "delete", "user/1"])).stdout)
      expect(deleted).toMatchObject({ op: "delete", key: "user/1", seq: 3 })

      const wal = JSON.parse(ok(await shale(["--db", db, "--json", "wal"])).stdout)
      expect(wal.files.reduce((n: number, f: { rows: number }) => n + f.rows, 0)).toBe(3)
      ok(await shale(["--db", db, "import"], {}, rowsJsonl(700)))
      const manifest = JSON.parse(ok(await shale(["--db", db, "--json", "manifest"])).stdout)
      expect(manifest.manifest.writerEpoch).toBeGreaterThan(1)
      expect(Array.isArray(manifest.manifest.l0)).toBe(true)
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("shale export / import", () => {
  it("round trip: binary keys and values, TTLs, a file or stdin/stdout, then equal exports", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const source = join(dir, "source")
      const expireTs = Date.now() + 3_600_000
      const input = [
        JSON.stringify({ key: "plain", value: "text with\ttab" }),
        JSON.stringify({ key: { hex: "00ff" }, value: { base64: "wP/u" } }),
        "",
        JSON.stringify({ key: "ttl", value: "expires", expireTs }),
        JSON.stringify({ key: { utf8: "ünïcödé" }, value: "" })
      ].join("\n")
      const imported = ok(await shale(["--db", source, "import"], {}, input))
      expect(imported.stdout).toBe("imported 4 rows (durable)\n")

      const out = join(dir, "export.jsonl")
      const exported = ok(await shale(["--db", source, "export", "--output", out]))
      expect(exported.stderr).toContain("exported 4 rows")
      const exportedLines = lines(readFileSync(out, "utf8")).map((l) => JSON.parse(l))
      expect(exportedLines).toEqual([
        { key: { base64: "AP8=" }, value: { base64: "wP/u" } },
        { key: "plain", value: "text with\ttab" },
        { key: "ttl", value: "expires", expireTs },
        { key: "ünïcödé", value: "" }
      ])

      const copy = join(dir, "copy")
      ok(await shale(["--db", copy, "import", out]))
      const again = ok(await shale(["--db", copy, "export"])).stdout
      expect(again).toBe(readFileSync(out, "utf8"))
      // The copy really holds the rows, seen through get.
      expect(ok(await shale(["--db", copy, "--key-encoding", "hex", "--value-encoding", "base64", "get", "00ff"])).stdout)
        .toBe("wP/u\n")
      // Hex export of the same rows imports back with --encoding hex.
      const hex = ok(await shale(["--db", copy, "--encoding", "hex", "export"])).stdout
      expect(JSON.parse(lines(hex)[1]!)).toEqual({ key: "706c61696e", value: "746578742077697468097461" + "62" })
      const third = join(dir, "third")
      ok(await shale(["--db", third, "--encoding", "hex", "import"], {}, hex))
      expect(ok(await shale(["--db", third, "export"])).stdout).toBe(again)
    } finally {
      cleanup()
    }
  }, 120_000)

  it("a bad line stops the import with exit code 2, naming the line; every line before it is written", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      const input = `${rowsJsonl(5)}{"key": "x", "value": 7}\n${rowsJsonl(2)}`
      const r = await shale(["--db", db, "import", "--batch-size", "2"], {}, input)
      expect(r.code).toBe(ExitCode.usage)
      expect(r.stderr).toContain(`import: line 6: value: expected a string or {"base64"|"hex"|"utf8": string}, got 7`)
      const scanned = lines(ok(await shale(["--db", db, "scan"])).stdout)
      expect(scanned.length).toBe(5)
      for (const [input, why] of [[`not json\n`, "not valid JSON"], [`{"key":"a","value":"b","ttl":1}\n`, `unknown field "ttl"`], [
        `{"key":"zz","value":"b"}\n`,
        "key: not valid hex"
      ]] as const) {
        const bad = await shale(["--db", db, "--encoding", input.includes("zz") ? "hex" : "utf8", "import"], {}, input)
        expect(bad.code, input).toBe(ExitCode.usage)
        expect(bad.stderr, input).toContain(why)
      }
      expect((await shale(["--db", db, "import", join(dir, "missing.jsonl")])).code).toBe(ExitCode.usage)
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("shale on a pipe and with progress", () => {
  it("`shale scan | head -1` exits 0 quietly (pipefail) and the database stays usable", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      ok(await shale(["--db", db, "import"], {}, rowsJsonl(30_000, 40)))
      const node = process.execPath
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn("bash", ["-c", `set -o pipefail; "${node}" "${BIN}" --db "${db}" scan | head -1`], {
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c))
        child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c))
        child.on("close", (code) => resolve({ code, stdout, stderr }))
      })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe(`k00000\t${"v".repeat(40)}\n`)
      expect(r.stderr).not.toContain("EPIPE")
      expect(r.stderr).not.toContain("ERROR")
      // The scan stopped and closed the database cleanly: the next writer opens it at once.
      expect(ok(await shale(["--db", db, "get", "k29999"])).stdout).toBe(`${"v".repeat(40)}\n`)
    } finally {
      cleanup()
    }
  }, 120_000)

  it("progress on stderr for long imports, exports and scans: with --progress, not by default off a terminal", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      const fast = { SHALE_PROGRESS_INTERVAL_MS: "5" }
      const imported = ok(await shale(["--db", db, "--progress", "import"], fast, rowsJsonl(20_000)))
      expect(imported.stderr).toMatch(/^import: [\d,]+ rows \([\d,]+\/s\)$/m)
      const scanned = ok(await shale(["--db", db, "--progress", "scan"], fast))
      expect(scanned.stderr).toMatch(/^scan: [\d,]+ rows \([\d,]+\/s\)$/m)
      expect(lines(scanned.stdout).length).toBe(20_000)
      const exported = ok(await shale(["--db", db, "--progress", "export", "--output", join(dir, "x.jsonl")], fast))
      expect(exported.stderr).toMatch(/^export: [\d,]+ rows/m)
      // Off a terminal and without --progress: no progress lines (stderr is not a terminal here).
      const quiet = ok(await shale(["--db", db, "scan"], fast))
      expect(quiet.stderr).toBe("(20000 rows)\n")
      const negated = ok(await shale(["--db", db, "--no-progress", "scan"], fast))
      expect(negated.stderr).toBe("(20000 rows)\n")
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("shale settings files", () => {
  it("reads SlateDb.toml from the current directory, and --settings in YAML with SlateDB's names", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const cwd = join(dir, "work")
      mkdirSync(cwd)
      writeFileSync(join(cwd, "SlateDb.toml"), `flush_interval = "1 fortnight"\n`)
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "--db", join(dir, "db"), "put", "a", "b"], { cwd, stdio: ["ignore", "ignore", "pipe"] })
        let stderr = ""
        child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c))
        child.on("close", (code) => resolve({ code, stderr }))
      })
      expect(r.code).toBe(ExitCode.usage)
      expect(r.stderr).toContain(`flush_interval: Expected a duration like "100ms", "1s" or "1m 30s", got "1 fortnight" (in SlateDb.toml)`)
      const yaml = join(dir, "s.yaml")
      writeFileSync(yaml, `flush_interval: 10ms\ncompactor_options: null\n`)
      ok(await shale(["--db", join(dir, "db"), "--settings", yaml, "put", "a", "b"]))
    } finally {
      cleanup()
    }
  }, 60_000)
})
