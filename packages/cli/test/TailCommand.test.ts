/**
 * `shale tail`, run as a child process beside a writer open in this process: it prints the rows the writer
 * makes durable as they arrive (text and JSON, tombstones and TTLs, encodings), stops cleanly on SIGINT and
 * SIGTERM (exit code 130, a summary on stderr), ends quietly when its reader closes the pipe, fences nobody
 * (the writer goes on), and after garbage collection says which `--from-seq` works (exit code 1).
 */
import { describe, expect, it } from "@effect/vitest"
import { Shale } from "@shale/core"
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { ExitCode } from "../src/index.ts"
import { BIN, lines, ok, shale, tempDir } from "./support.ts"

const enc = new TextEncoder()
const b = (s: string) => enc.encode(s)

/** A writer in this process: no background compactor or collector; WALs on the default 100 ms interval. */
const openWriter = (dir: string) =>
  Shale.open("db", { store: Shale.stores.local(dir), settings: { compactor: null, garbageCollector: null } })

/** Starts `shale <args>` (a `tail`) in the background, collecting its output. */
const startTail = (args: ReadonlyArray<string>) => {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" }
  })
  const out = { stdout: "", stderr: "" }
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out.stdout += c))
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (out.stderr += c))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return { child, out, exited }
}

const until = async (what: string, cond: () => boolean, timeoutMs = 30_000) => {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe("shale tail", () => {
  it("prints the writer's rows as they arrive, in seq order; SIGINT stops it (exit code 130); nobody is fenced", async () => {
    const { dir, cleanup } = tempDir()
    const db = await openWriter(dir)
    try {
      await db.put(b("a"), b("1"))
      const tail = startTail(["--db", dir, "--path", "db", "tail", "--from-seq", "1"])
      await until("the first row", () => lines(tail.out.stdout).length >= 1)
      expect(tail.out.stderr).toContain("from seq 1; Ctrl-C stops")
      await db.write(new Shale.WriteBatch().put(b("c"), b("3")).delete(b("a")))
      await db.put(b("b"), b("2"))
      await until("three more rows", () => lines(tail.out.stdout).length >= 4)
      expect(lines(tail.out.stdout)).toEqual(["1\tvalue\ta\t1", "2\ttombstone\ta", "2\tvalue\tc\t3", "3\tvalue\tb\t2"])
      tail.child.kill("SIGINT")
      expect(await tail.exited).toBe(130)
      expect(tail.out.stderr).toContain("tail stopped: 4 changes, the last at seq 3")
      // It read only: the writer was not fenced.
      expect((await db.put(b("d"), b("4"))).seq).toBe(4)
    } finally {
      await db.close()
      cleanup()
    }
  }, 120_000)

  it("--json with encodings, TTLs and tombstones; latest by default; SIGTERM stops it too", async () => {
    const { dir, cleanup } = tempDir()
    const db = await openWriter(dir)
    try {
      await db.put(b("old"), b("x"))
      const tail = startTail(["--db", dir, "--path", "db", "--json", "--key-encoding", "hex", "tail"])
      await until("the start", () => tail.out.stderr.includes("from the next change"))
      // Let it list the WAL before writing (latest: what is there when it starts is not printed).
      await new Promise((r) => setTimeout(r, 500))
      const put = await db.put(b("k"), b("v"), { ttl: { afterMs: 60_000 } })
      const del = await db.delete(b("k"))
      await until("two rows", () => lines(tail.out.stdout).length >= 2)
      expect(lines(tail.out.stdout).map((l) => JSON.parse(l))).toEqual([
        { seq: put.seq, kind: "value", key: "6b", value: "v", createTs: put.createTs, expireTs: put.createTs + 60_000 },
        { seq: del.seq, kind: "tombstone", key: "6b", value: null, createTs: del.createTs, expireTs: null }
      ])
      tail.child.kill("SIGTERM")
      expect(await tail.exited).toBe(130)
    } finally {
      await db.close()
      cleanup()
    }
  }, 120_000)

  it("`shale tail | head -2` ends quietly (exit code 0 with pipefail) at the change after the reader left", async () => {
    const { dir, cleanup } = tempDir()
    const db = await openWriter(dir)
    try {
      for (const k of ["a", "b"]) await db.put(b(k), b(k))
      const node = process.execPath
      const child = spawn("bash", ["-c", `set -o pipefail; "${node}" "${BIN}" --db "${dir}" --path db tail --from-seq 1 | head -2`], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      const out = { stdout: "", stderr: "" }
      child.stdout.setEncoding("utf8").on("data", (c: string) => (out.stdout += c))
      child.stderr.setEncoding("utf8").on("data", (c: string) => (out.stderr += c))
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      await until("two rows", () => lines(out.stdout).length >= 2)
      // `head` is gone; the next changes find the pipe closed.
      let code: number | null | undefined
      void exited.then((c) => (code = c))
      for (let i = 0; i < 100 && code === undefined; i++) {
        await db.put(b(`more${i}`), b("x"))
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(await exited, out.stderr).toBe(0)
      expect(out.stdout).toBe("1\tvalue\ta\ta\n2\tvalue\tb\tb\n")
      expect(out.stderr).not.toContain("EPIPE")
      expect(out.stderr).not.toContain("ERROR")
    } finally {
      await db.close()
      cleanup()
    }
  }, 120_000)

  it("--once prints what is there; after gc, a start below the WAL exits 1 naming the --from-seq that works", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = await openWriter(dir)
      for (const k of ["a", "b", "c"]) await db.put(b(k), b(k))
      await db.flush({ type: "memtable" })
      await db.put(b("d"), b("d"))
      await db.close()
      const at = ["--db", dir, "--path", "db"]
      expect(ok(await shale([...at, "tail", "--once", "--from-seq", "1"])).stdout).toBe(
        "1\tvalue\ta\ta\n2\tvalue\tb\tb\n3\tvalue\tc\tc\n4\tvalue\td\td\n"
      )
      ok(await shale([...at, "gc", "--resource", "wal", "--min-age", "0s"]))
      const gap = await shale([...at, "tail", "--once", "--from-seq", "1"])
      expect(gap.code).toBe(ExitCode.notFound)
      const resume = /--from-seq (\d+)/.exec(gap.stderr)
      expect(resume, gap.stderr).not.toBeNull()
      expect(gap.stdout).toBe("")
      const rest = ok(await shale([...at, "tail", "--once", "--from-seq", resume![1]!])).stdout
      expect(rest.endsWith("4\tvalue\td\td\n")).toBe(true)
      expect(lines(rest)[0]!.startsWith(`${resume![1]}\t`)).toBe(true)
      expect((await shale([...at, "tail", "--from-seq", "x"])).code).toBe(ExitCode.usage)
      expect((await shale([...at, "tail", "--interval", "0s"])).code).toBe(ExitCode.usage)
      expect((await shale(["--db", join(dir, "none"), "tail"])).code).toBe(ExitCode.notFound)
    } finally {
      cleanup()
    }
  }, 120_000)
})
