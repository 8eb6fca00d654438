/**
 * Crash safety: a child process (./writer.ts) writes to a local-directory database with
 * `awaitDurable: true` and prints every acknowledged write; the test kills it with SIGKILL at a random
 * moment, reopens the database and checks:
 * - every acknowledged write is there, with its value;
 * - no write batch is partly applied (each batch's keys carry the batch size, so a partial one shows);
 * - each writer's writes survive as a prefix: writer `f` issued write `n + 1` only after write `n` was
 *   durable, so a surviving `n + 1` with a missing `n` would mean the WAL lost or reordered a write;
 * - nothing is there that was never written, and every value belongs to its key.
 *
 * The same database is reused across iterations, so later children also recover from earlier crashes
 * (WAL replay, half-finished L0 flushes). About one kill in five lands early, within 250 ms of the child
 * starting to open the database, often while it is still recovering (epoch claim, fencing, WAL replay). The timing is random; the seed is printed with any
 * failure and can be replayed.
 *
 * Environment: `SHALE_CRASH_ITERATIONS` (default 12), `SHALE_CRASH_SEED` (default random),
 * `SHALE_CRASH_MAX_KILL_MS` (latest kill after `ready`, default 1500), `SHALE_CRASH_VERBOSE=1` (print
 * what each iteration did).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Db } from "../../src/db/Db.ts"
import { latestManifestOnDisk, shaleDb } from "../interop/support.ts"

const ITERATIONS = Number(process.env["SHALE_CRASH_ITERATIONS"] ?? "12")
const SEED = Number(process.env["SHALE_CRASH_SEED"] ?? String(Math.floor(Math.random() * 2 ** 31)))
const MAX_KILL_MS = Number(process.env["SHALE_CRASH_MAX_KILL_MS"] ?? "1500")
const FIBERS = 4
const WRITER = fileURLToPath(new URL("./writer.ts", import.meta.url))

/** Small memtables (frequent L0 flushes) and a short WAL flush interval, so a kill can land anywhere. */
const baseSettings = {
  flushIntervalMs: 10,
  l0SstSizeBytes: 128 * 1024,
  l0MaxSsts: 1000,
  minFilterKeys: 10
}

const rng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface ChildRun {
  readonly acks: ReadonlyArray<{ readonly f: number; readonly n: number; readonly size: number }>
  /** The child had started opening the database. */
  readonly opening: boolean
  readonly ready: boolean
  /** Milliseconds from spawning to `ready`. */
  readonly readyAfterMs: number | undefined
  readonly killed: boolean
  readonly exit: string
  readonly stderr: string
}

/** Runs the writer and SIGKILLs it `delayMs` after `ready` (after `opening`, when `early`). */
const runAndKill = (dir: string, run: number, seed: number, settings: object, delayMs: number, early: boolean) =>
  new Promise<ChildRun>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [WRITER, dir, String(run), String(seed), JSON.stringify(settings), String(FIBERS)],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    const acks: Array<{ f: number; n: number; size: number }> = []
    const spawnedAt = performance.now()
    let opening = false
    let ready = false
    let readyAfterMs: number | undefined
    let killed = false
    let pending = ""
    let stderr = ""
    const kill = () => {
      killed = child.kill("SIGKILL") || killed
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (line === "opening") {
          opening = true
          if (early) timer = setTimeout(kill, delayMs)
        } else if (line === "ready") {
          ready = true
          readyAfterMs = Math.round(performance.now() - spawnedAt)
          if (!early) timer = setTimeout(kill, delayMs)
        } else {
          const m = /^ack (\d+) (\d+) (\d+) (\d+)$/.exec(line)
          if (m !== null && Number(m[1]) === run) acks.push({ f: Number(m[2]), n: Number(m[3]), size: Number(m[4]) })
        }
      }
    })
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
    })
    child.on("error", reject)
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      // A line cut off by the kill was never acknowledged: `pending` is dropped.
      resolve({ acks, opening, ready, readyAfterMs, killed, exit: signal ?? `code ${code}`, stderr })
    })
  })

interface Found {
  /** run/f/n → keys present (j → value) */
  readonly writes: Map<string, Map<number, string>>
  readonly problems: Array<string>
}

const decoder = new TextDecoder()

/** Opens the database with Shale and reads every row. */
const readBack = (dir: string): Promise<Found> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const db = yield* Db
      const writes = new Map<string, Map<number, string>>()
      const problems: Array<string> = []
      yield* Stream.runForEach(db.scan({}), (kv) =>
        Effect.sync(() => {
          const key = decoder.decode(kv.key)
          const value = decoder.decode(kv.value)
          const m = /^r(\d+)\/f(\d+)\/(\d{6})(?:\/(\d+))?$/.exec(key)
          if (m === null) {
            problems.push(`unexpected key ${JSON.stringify(key)}`)
            return
          }
          const [run, f, n, j] = [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? -1 : Number(m[4])]
          const id = `${run}/${f}/${n}`
          const prefix = j < 0 ? `r${run}/f${f}/${n}/1/` : `r${run}/f${f}/${n}/`
          if (!value.startsWith(prefix) || (j >= 0 && !new RegExp(`^r${run}/f${f}/${n}/\\d+/${j}/`).test(value))) {
            problems.push(`key ${key} holds a value of another write: ${JSON.stringify(value.slice(0, 40))}`)
          }
          const parts = writes.get(id) ?? new Map<number, string>()
          parts.set(j, value)
          writes.set(id, parts)
        }))
      return { writes, problems }
    }).pipe(Effect.provide(shaleDb(dir, baseSettings)))
  )

/** Checks the database against everything acknowledged so far (`acked`: run/f/n → size). */
const check = (found: Found, acked: ReadonlyMap<string, number>): Array<string> => {
  const problems = [...found.problems]
  for (const [id, parts] of found.writes) {
    const single = parts.has(-1)
    if (single && parts.size !== 1) problems.push(`${id}: both a single put and batch keys`)
    if (!single) {
      const size = Number(/^r\d+\/f\d+\/\d+\/(\d+)\//.exec([...parts.values()][0]!)![1])
      if (parts.size !== size) problems.push(`batch ${id} is partly applied: ${parts.size} of its ${size} keys`)
      for (const j of parts.keys()) if (j >= size) problems.push(`batch ${id}: key ${j} beyond its size ${size}`)
    }
    const ackedSize = acked.get(id)
    if (ackedSize !== undefined && ackedSize !== (single ? 1 : parts.size)) {
      problems.push(`${id}: acknowledged with ${ackedSize} key(s), found ${parts.size}`)
    }
  }
  for (const id of acked.keys()) if (!found.writes.has(id)) problems.push(`acknowledged write ${id} is missing`)
  // Per writer, the surviving writes are 0..max with no hole.
  const maxPerWriter = new Map<string, number>()
  for (const id of found.writes.keys()) {
    const [run, f, n] = id.split("/").map(Number) as [number, number, number]
    const w = `${run}/${f}`
    maxPerWriter.set(w, Math.max(maxPerWriter.get(w) ?? -1, n))
  }
  for (const [w, max] of maxPerWriter) {
    for (let n = 0; n <= max; n++) {
      if (!found.writes.has(`${w}/${n}`)) {
        problems.push(`writer ${w}: write ${n} is missing but write ${max} survived`)
        break
      }
    }
  }
  return problems.slice(0, 20)
}

describe("crash safety under SIGKILL", () => {
  it(`every acknowledged write survives; no batch is partly applied (${ITERATIONS} kills, seed ${SEED})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-crash-"))
    const random = rng(SEED)
    const acked = new Map<string, number>()
    const history: Array<string> = []
    try {
      for (let run = 0; run < ITERATIONS; run++) {
        const early = random() < 0.2
        // Early kills are timed from `opening`: they land while the child recovers the database (claims an
        // epoch, fences, replays the WAL) or just after.
        const delayMs = Math.floor(early ? random() * 250 : 50 + random() * (MAX_KILL_MS - 50))
        const settings = { ...baseSettings, durableFlush: run % 2 === 0 ? "interval" : "eager" }
        const child = await runAndKill(dir, run, SEED + run, settings, delayMs, early)
        history.push(
          `run ${run}: ${early ? "early " : ""}kill after ${delayMs} ms (${child.exit}), ` +
            `${child.ready ? `ready after ${child.readyAfterMs} ms` : child.opening ? "killed while opening" : "killed before opening"}, ` +
            `${child.acks.length} acks`
        )
        const context = `seed ${SEED}\n${history.join("\n")}\nchild stderr:\n${child.stderr.slice(-2000)}`
        expect(child.killed, `the writer exited by itself (${child.exit})\n${context}`).toBe(true)
        for (const a of child.acks) acked.set(`${run}/${a.f}/${a.n}`, a.size)
        const found = await readBack(dir)
        expect(check(found, acked), context).toEqual([])
      }
      // Opening the store (readBack) removed the temp files the killed writers left.
      const temps = (readdirSync(dir, { recursive: true }) as Array<string>).filter((f) => /(^|\/)#[12][0-9]+$/.test(f))
      expect(temps.join(", "), `seed ${SEED}: temp files left by killed writers (process ${process.pid} read back)`).toBe("")
      const manifest = latestManifestOnDisk(dir)
      history.push(
        `end: ${acked.size} acknowledged writes; manifest: ${manifest?.l0.length} L0 SSTs, ${manifest?.compacted.length} sorted runs, ` +
          `writer epoch ${manifest?.writerEpoch}, replay after WAL ${manifest?.replayAfterWalId}`
      )
      if (process.env["SHALE_CRASH_VERBOSE"] !== undefined) console.log(`seed ${SEED}\n${history.join("\n")}`)
      // The kills must have landed while writes were flowing, not only before the first one, and the
      // memtable must have been flushed to L0 along the way (and maybe compacted since).
      expect(acked.size, `seed ${SEED}\n${history.join("\n")}`).toBeGreaterThan(0)
      const ssts = (manifest?.l0.length ?? 0) + (manifest?.compacted.reduce((n, run) => n + run.ssts.length, 0) ?? 0)
      expect(ssts, `seed ${SEED}\n${history.join("\n")}`).toBeGreaterThan(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000 + ITERATIONS * 30_000)
})
