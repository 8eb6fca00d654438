/**
 * Non-durable writes in a loop that never returns to the event loop must still be flushed: a child process
 * (./loopWriter.ts) awaits `put(..., { awaitDurable: false })` in a tight loop (each put settles
 * synchronously) on a local directory with SlateDB's default 100 ms WAL flush interval, and is killed with
 * SIGKILL after several flush intervals. On reopen the puts that survive are a prefix of those issued, and
 * at most about one flush interval's worth of the acknowledged ones is missing (plus the WAL write in
 * flight: the test allows two intervals' worth) (SlateDB 0.12.1 loses at
 * most about one interval too). Before the fix, such a loop starved the flush timer and the store's I/O
 * callbacks: nothing became durable, and the reopened database was empty.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Db } from "../../src/db/Db.ts"
import { shaleDb } from "../interop/support.ts"

const WRITER = fileURLToPath(new URL("./loopWriter.ts", import.meta.url))
const FLUSH_INTERVAL_MS = 100
const TRIALS = 3

interface Progress {
  readonly n: number
  readonly ms: number
}

/** Runs the loop writer, kills it `killAfterMs` after `ready`; returns its progress lines. */
const runAndKill = (dir: string, killAfterMs: number) =>
  new Promise<{ readonly progress: ReadonlyArray<Progress>; readonly exit: string; readonly stderr: string }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, [WRITER, dir], { stdio: ["ignore", "pipe", "pipe"] })
      const progress: Array<Progress> = []
      let pending = ""
      let stderr = ""
      let timer: ReturnType<typeof setTimeout> | undefined
      child.stdout.setEncoding("utf8")
      child.stdout.on("data", (chunk: string) => {
        pending += chunk
        let nl: number
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl)
          pending = pending.slice(nl + 1)
          if (line === "ready") timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs)
          const m = /^acked (\d+) (\d+)$/.exec(line)
          if (m !== null) progress.push({ n: Number(m[1]), ms: Number(m[2]) })
        }
      })
      child.stderr.setEncoding("utf8")
      child.stderr.on("data", (chunk: string) => {
        stderr += chunk
      })
      child.on("error", reject)
      child.on("close", (code, signal) => {
        if (timer !== undefined) clearTimeout(timer)
        resolve({ progress, exit: signal ?? `code ${code}`, stderr })
      })
    }
  )

const decoder = new TextDecoder()

/** The indexes of the keys in the database, ascending. */
const survivors = (dir: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const db = yield* Db
      const out: Array<number> = []
      yield* Stream.runForEach(db.scan({}), (kv) => Effect.sync(() => void out.push(Number(decoder.decode(kv.key).slice(1)))))
      return out
    }).pipe(Effect.provide(shaleDb(dir)))
  )

describe("non-durable writes in a loop that never yields", () => {
  it(`are flushed while the loop runs: a SIGKILL loses at most about one flush interval (${TRIALS} trials)`, async () => {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = mkdtempSync(join(tmpdir(), "shale-starve-"))
      try {
        const killAfterMs = 600 + trial * 300
        const child = await runAndKill(dir, killAfterMs)
        const context = `trial ${trial}, killed after ${killAfterMs} ms (${child.exit})\n${child.stderr.slice(-2000)}`
        expect(child.exit, context).toBe("SIGKILL")
        const last = child.progress[child.progress.length - 1]
        expect(last, `no progress reported\n${context}`).toBeDefined()
        // The put rate near the end: what one flush interval is worth in puts.
        let earlier = child.progress[0]!
        for (const p of child.progress) if (p.ms <= last!.ms - 300) earlier = p
        const rate = (last!.n - earlier.n) / Math.max(1, last!.ms - earlier.ms) // puts per ms
        const found = await survivors(dir)
        // A prefix: every put up to the last survivor is there.
        expect(found.length === 0 || found[found.length - 1] === found.length - 1, context).toBe(true)
        const missing = last!.n - found.length // at least this many acknowledged puts are gone
        // One interval, plus the WAL write in flight at the kill (encoding and a local PUT with two fsyncs,
        // slower when other tests load the machine): two intervals' worth of puts, and some slack.
        const allowed = Math.ceil(rate * FLUSH_INTERVAL_MS * 2) + 3000
        if (process.env["SHALE_CRASH_VERBOSE"] !== undefined) {
          console.log(`trial ${trial}: acked ≥ ${last!.n}, survived ${found.length}, missing ≤ ${missing}, ${rate.toFixed(1)} puts/ms, allowed ${allowed}`)
        }
        expect(found.length, `nothing survived: the flush never ran\n${context}`).toBeGreaterThan(0)
        expect(
          missing,
          `${found.length} of at least ${last!.n} acknowledged puts survived; ${rate.toFixed(1)} puts/ms, allowed ${allowed} missing\n${context}`
        ).toBeLessThanOrEqual(allowed)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }, 120_000)
})
