/**
 * `shale compact` and `shale compactor`, run as child processes: compacting with a compactor in the command
 * (`--run`) and through a running `shale compactor` (the compactions file), its line per finished
 * compaction, a clean stop on SIGINT and SIGTERM, exit code 5 when another compactor takes over, and the
 * errors a user can meet (no compactor ever ran, bad --runs).
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { ExitCode } from "../src/index.ts"
import { BIN, lines, ok, shale, tempDir } from "./support.ts"

/** Writes `rounds` imports of `n` rows each as a writer without a compactor, with small L0 SSTs (an import makes one). */
const fill = async (db: string, dir: string, rounds: number, n = 500) => {
  for (let r = 0; r < rounds; r++) {
    const file = join(dir, `rows${r}.jsonl`)
    const rows = Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${String(i).padStart(5, "0")}`, value: `v${r}-${i}` }))
    writeFileSync(file, rows.join("\n") + "\n")
    ok(await shale(["--db", db, "import", file], { SHALE_COMPACTOR: "null", SHALE_L0_SST_SIZE_BYTES: "4000" }))
  }
}

/** The `L0 SSTs:` and `sorted runs:` counts of `shale manifest`. */
const shape = async (db: string) => {
  const out = ok(await shale(["--db", db, "manifest"])).stdout
  const l0 = Number(/L0 SSTs:\s+(\d+)/.exec(out)![1])
  const runs = Number(/sorted runs:\s+(\d+)/.exec(out)![1])
  return { l0, runs }
}

/** Starts `shale compactor` in the background, collecting its output. */
const startCompactor = (db: string) => {
  const child: ChildProcess = spawn(process.execPath, [BIN, "--db", db, "--progress", "compactor"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", SHALE_COMPACTOR_POLL_INTERVAL_MS: "200", SHALE_PROGRESS_INTERVAL_MS: "200" }
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

describe("shale compact", () => {
  it("--run compacts everything into one run; without any compactor it says how to get one", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      await fill(db, dir, 3)
      const before = await shape(db)
      expect(before.l0).toBeGreaterThanOrEqual(3)
      expect(before.runs).toBe(0)
      const refused = await shale(["--db", db, "compact"])
      expect(refused.code).toBe(ExitCode.notFound)
      expect(refused.stderr).toContain("no compactor has run")
      expect(refused.stderr).toContain("--run")
      const expected = ok(await shale(["--db", db, "scan"])).stdout
      const done = ok(await shale(["--db", db, "compact", "--run"]))
      expect(done.stdout).toMatch(/^compaction completed \(1 SSTs\) after [0-9.]+ s\n$/)
      expect(await shape(db)).toEqual({ l0: 0, runs: 1 })
      expect(ok(await shale(["--db", db, "scan"])).stdout).toBe(expected)
      const bad = await shale(["--db", db, "compact", "--runs", "2,x"])
      expect(bad.code).toBe(ExitCode.usage)
      expect(bad.stderr).toContain("--runs expects sorted run ids")
    } finally {
      cleanup()
    }
  }, 120_000)
})

describe("shale compactor", () => {
  it("compacts while it runs, a line per compaction; `shale compact` goes through it; SIGINT stops it cleanly (exit code 130)", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      await fill(db, dir, 4) // the scheduler's minimum of 4 sources
      const c = startCompactor(db)
      await until("the L0 compaction", () => c.out.stdout.includes("L0 SSTs -> run 0"))
      expect(lines(c.out.stdout)[0]).toMatch(/^compaction \w{26} finished in [0-9.]+ s: \d+ L0 SSTs -> run 0, [0-9,]+ rows read, 1 SST \(.*\) written; now 0 L0 SSTs, 1 sorted run$/)
      expect(c.out.stderr).toContain("compactor running on")
      await until("a status line", () => /compactor \(epoch \d+\): 0 running; 1 completed/.test(c.out.stderr))
      await fill(db, dir, 4)
      await until("the second L0 compaction", () => lines(c.out.stdout).length >= 2)
      const compact = ok(await shale(["--db", db, "compact"]))
      expect(compact.stdout).toMatch(/^compaction (completed \(1 SSTs\)|ended) after [0-9.]+ s\n$/)
      expect(compact.stderr).toContain("waiting for the compactor")
      expect(await shape(db)).toEqual({ l0: 0, runs: 1 })
      c.child.kill("SIGINT")
      expect(await c.exited).toBe(130)
      expect(c.out.stderr).toMatch(/compactor stopped: \d+ compactions finished/)
    } finally {
      cleanup()
    }
  }, 120_000)

  it("a second compactor takes over: the first exits with code 5; SIGTERM stops the second", async () => {
    const { dir, cleanup } = tempDir()
    try {
      const db = join(dir, "db")
      await fill(db, dir, 1)
      const first = startCompactor(db)
      await until("the first to run", () => first.out.stderr.includes("compactor running on"))
      const second = startCompactor(db)
      await until("the second to run", () => second.out.stderr.includes("compactor running on"))
      expect(await first.exited).toBe(ExitCode.fenced)
      expect(first.out.stderr).toContain("another compactor took over")
      second.child.kill("SIGTERM")
      expect(await second.exited).toBe(130)
      expect(second.out.stderr).toMatch(/compactor stopped: 0 compactions finished/)
    } finally {
      cleanup()
    }
  }, 120_000)
})
