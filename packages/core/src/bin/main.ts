/**
 * `npm start [-- <dir> [<n>]]`: Shale's main job. Opens (or creates) a database in a local directory
 * (default `./shale-data`; the directory is the database root, so `shale --db <dir> manifest` inspects it),
 * writes benchmark workload W1's keys (`"key"` + index zero-padded to 13 digits, 100-byte values; `n`
 * defaults to 100,000, also settable with `SHALE_MAIN_N`), reads them back, closes, reopens and verifies
 * again. Between the two sessions a standalone compactor merges every L0 SST and sorted run into one sorted
 * run (a full compaction), so the second session reads compacted data; after it, one garbage-collection
 * pass deletes what the sessions and the compaction left behind (old manifests and WAL SSTs, replaced
 * SSTs, by SlateDB's rules). It prints each phase with its throughput (puts/s, gets/s, scan rows/s,
 * compaction MiB/s), a progress line a second during long phases, and the objects it wrote (manifests, WAL
 * SSTs, SSTs, with sizes).
 *
 * Every value carries a tag unique to the run, so a second run over the same directory overwrites every
 * key and the verification proves the overwrite happened. Exits non-zero on any mismatch (or any failure).
 *
 * Settings are Shale's defaults with `SHALE_*` environment overrides (packages/core/src/Settings.ts).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Clock, Console, Data, Effect, Layer, Logger, References, Stream } from "effect"
import { resolve } from "node:path"
import { runGcOnce } from "../admin/Checkpoints.ts"
import { Compactor } from "../compactor/Compactor.ts"
import { defaultGcOptions, withMinAge } from "../gc/GcRules.ts"
import { Db } from "../db/Db.ts"
import { compactedDir, manifestDir, parseCompactedSstId, parseManifestId, parseWalSstId, walDir } from "../format/Paths.ts"
import { LocalObjectStore } from "../objectstore/LocalObjectStore.ts"
import { ObjectStore, type ObjectSummary } from "../objectstore/ObjectStore.ts"
import { Settings } from "../Settings.ts"

class MainJobFailed extends Data.TaggedError("MainJobFailed")<{ readonly message: string }> {}

const DEFAULT_N = 100_000
const VALUE_SIZE = 100
/** The database root inside the directory's store: the top level. */
const DB_PATH = ""

const dir = resolve(process.argv[2] ?? "./shale-data")
const nArg = process.argv[3] ?? process.env["SHALE_MAIN_N"]

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** W1's key: `"key"` + the index zero-padded to 13 digits (16 bytes). */
const keyOf = (i: number): Uint8Array => encoder.encode(`key${String(i).padStart(13, "0")}`)

/** A 100-byte value naming the run and the key, so a stale value from an earlier run is detected. */
const valueOf = (tag: string, i: number): Uint8Array => {
  const head = `${tag}:${i}:`
  return encoder.encode(head.padEnd(VALUE_SIZE, "abcdefghijklmnopqrstuvwxyz"))
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US")
const fmtMs = (ms: number): string => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`)
const rate = (count: number, ms: number): string => (ms <= 0 ? "-" : fmtInt((count * 1000) / ms))
const fmtBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`

const nowMs = Effect.map(Clock.currentTimeNanos, (ns) => Number(ns) / 1e6)

/** Runs `effect`, returning its result and the elapsed milliseconds. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, number], E, R> =>
  Effect.gen(function*() {
    const start = yield* nowMs
    const a = yield* effect
    return [a, (yield* nowMs) - start] as const
  })

/**
 * A progress reporter for a phase of `total` operations started at `startMs`: prints a line (done, percent,
 * rate so far) at most once a second, so only long phases print any. Looks at the clock every 1000 ops.
 */
const progress = (label: string, total: number, startMs: number) => {
  let lastMs = startMs
  return (done: number): Effect.Effect<void> =>
    done % 1000 !== 0 || done >= total
      ? Effect.void
      : Effect.flatMap(nowMs, (now) => {
        if (now - lastMs < 1000) return Effect.void
        lastMs = now
        return Console.log(
          `    ${label} ${fmtInt(done)}/${fmtInt(total)} (${Math.floor((done * 100) / total)} %, ${rate(done, now - startMs)}/s)`
        )
      })
}

/** The order in which W1 reads: `(i * 7919) % n`, a permutation when 7919 does not divide n. */
const readOrder = (n: number) => (i: number): number => (n % 7919 === 0 ? i : (i * 7919) % n)

/** Collects up to 5 mismatch descriptions; fails the job if there were any. */
const makeMismatches = () => {
  const found: Array<string> = []
  let count = 0
  return {
    add: (what: string) => {
      count++
      if (found.length < 5) found.push(what)
    },
    check: (phase: string) =>
      count === 0
        ? Effect.void
        : Effect.fail(new MainJobFailed({ message: `${phase}: ${count} mismatch(es), e.g. ${found.join("; ")}` }))
  }
}

const putAll = (n: number, tag: string) =>
  Effect.gen(function*() {
    const db = yield* Db
    const start = yield* nowMs
    const tick = progress("put", n, start)
    for (let i = 0; i < n; i++) {
      yield* db.put(keyOf(i), valueOf(tag, i), { awaitDurable: false })
      yield* tick(i + 1)
    }
  })

const getAll = (n: number, tag: string, label: string) =>
  Effect.gen(function*() {
    const db = yield* Db
    const bad = makeMismatches()
    const order = readOrder(n)
    const start = yield* nowMs
    const tick = progress(label, n, start)
    for (let j = 0; j < n; j++) {
      const i = order(j)
      const value = yield* db.get(keyOf(i))
      if (value === undefined) bad.add(`key ${i} is missing`)
      else if (!sameBytes(value, valueOf(tag, i))) bad.add(`key ${i} has value "${decoder.decode(value).slice(0, 40)}…"`)
      yield* tick(j + 1)
    }
    yield* bad.check(label)
  })

/** Scans W1's key range ascending and checks it holds exactly keys 0..n-1 with this run's values. */
const scanAll = (n: number, tag: string, label: string) =>
  Effect.gen(function*() {
    const db = yield* Db
    const bad = makeMismatches()
    const start = yield* nowMs
    const tick = progress(label, n, start)
    let next = 0
    yield* Stream.runForEach(db.scan({ start: keyOf(0), end: keyOf(n) }), (kv) => {
      if (!sameBytes(kv.key, keyOf(next))) bad.add(`row ${next} has key "${decoder.decode(kv.key)}"`)
      else if (!sameBytes(kv.value, valueOf(tag, next))) bad.add(`key ${next} has a stale or wrong value`)
      next++
      return tick(next)
    })
    if (next !== n) bad.add(`${fmtInt(next)} rows instead of ${fmtInt(n)}`)
    yield* bad.check(label)
    return next
  })

const listAll = Effect.gen(function*() {
  const store = yield* ObjectStore
  const all = yield* Stream.runCollect(store.list(""))
  return new Map(all.map((o) => [o.path, o] as const))
})

/** Prints the objects of one kind that this run wrote (new or rewritten), with sizes. */
const reportObjects = (
  label: string,
  before: ReadonlyMap<string, ObjectSummary>,
  after: ReadonlyMap<string, ObjectSummary>,
  prefix: string,
  name: (path: string) => string | undefined
) =>
  Effect.gen(function*() {
    const all = [...after.values()].filter((o) => name(o.path) !== undefined && o.path.startsWith(`${prefix}/`))
    const written = all.filter((o) => {
      const old = before.get(o.path)
      return old === undefined || old.etag !== o.etag || old.lastModified !== o.lastModified
    })
    const bytes = written.reduce((s, o) => s + o.size, 0)
    yield* Console.log(
      `  ${label}: ${written.length} written this run (${fmtBytes(bytes)}); ${all.length} in the database (${
        fmtBytes(all.reduce((s, o) => s + o.size, 0))
      })`
    )
    const shown = written.length <= 12 ? written : [...written.slice(0, 5), undefined, ...written.slice(-5)]
    for (const o of shown) {
      if (o === undefined) yield* Console.log(`      … ${written.length - 10} more`)
      else yield* Console.log(`      ${o.path}  ${fmtBytes(o.size)}`)
    }
  })

const runsText = (n: number) => `${n} sorted run${n === 1 ? "" : "s"}`

/**
 * A full compaction by a standalone compactor (the writer is closed): what the scheduler starts on its own
 * first (with 4 or more L0 SSTs), then everything into one run. Prints L0 and sorted runs before and after.
 */
const compactAll =
  Effect.gen(function*() {
    const compactor = yield* Compactor
    const before = yield* compactor.status
    const line = (phase: string, what: string) => Console.log(`  ${phase.padEnd(16)} ${what}`)
    yield* line("compactor", `epoch ${before.epoch}: ${before.l0Ssts} L0 SSTs, ${runsText(before.sortedRuns)}`)
    const [, ms] = yield* timed(Effect.gen(function*() {
      yield* compactor.awaitIdle
      yield* compactor.submit("full")
      yield* compactor.awaitIdle
    }))
    const after = yield* compactor.status
    if (after.failed > 0) return yield* new MainJobFailed({ message: `${after.failed} compaction(s) failed (see the log)` })
    if (after.l0Ssts !== 0 || after.sortedRuns !== 1) {
      return yield* new MainJobFailed({ message: `after a full compaction: ${after.l0Ssts} L0 SSTs, ${runsText(after.sortedRuns)}` })
    }
    const mb = after.bytesWritten / 1024 / 1024
    yield* line(
      "compact",
      `${after.completed} compaction${after.completed === 1 ? "" : "s"} in ${fmtMs(ms)}: ${fmtBytes(after.bytesWritten)} written (${
        (mb / (ms / 1000)).toFixed(1)
      } MiB/s); L0 SSTs ${before.l0Ssts} -> 0, sorted runs ${before.sortedRuns} -> 1`
    )
  })

const job = Effect.gen(function*() {
  const n = nArg === undefined ? DEFAULT_N : Number(nArg)
  if (!Number.isSafeInteger(n) || n <= 0) {
    return yield* new MainJobFailed({ message: `the key count must be a positive integer, got "${nArg}"` })
  }
  const settings = yield* Settings.load()
  const tag = `run-${(yield* Clock.currentTimeMillis).toString(36)}`
  const dbLayer = Db.layer({ path: DB_PATH, settings })

  const before = yield* listAll
  const manifestsBefore = [...before.keys()].filter((p) => parseManifestId(p) !== undefined).length
  yield* Console.log(`Shale main job: database at ${dir} (${manifestsBefore > 0 ? "existing" : "new"})`)
  yield* Console.log(`  W1 keys: ${fmtInt(n)} (key0000000000000..), ${VALUE_SIZE}-byte values tagged ${tag}`)

  const line = (phase: string, what: string) => Console.log(`  ${phase.padEnd(16)} ${what}`)

  // Session 1: write, read back, flush to L0, close.
  const [, session1Ms] = yield* timed(Effect.gen(function*() {
    const db = yield* Db
    const status = yield* db.status
    yield* line("opened", `manifest ${status.manifestId}, writer epoch ${status.writerEpoch}, next WAL id ${status.nextWalId}`)

    const [, putMs] = yield* timed(putAll(n, tag))
    yield* line("put", `${fmtInt(n)} puts in ${fmtMs(putMs)}: ${rate(n, putMs)} puts/s (awaitDurable: false)`)
    const [, walMs] = yield* timed(db.flush({ type: "wal" }))
    yield* line("flush WAL", `${fmtMs(walMs)} (every put durable)`)

    const [, getMs] = yield* timed(getAll(n, tag, "get"))
    yield* line("get", `${fmtInt(n)} gets in ${fmtMs(getMs)}: ${rate(n, getMs)} gets/s (all verified)`)
    const [rows, scanMs] = yield* timed(scanAll(n, tag, "scan"))
    yield* line("scan", `${fmtInt(rows)} rows in ${fmtMs(scanMs)}: ${rate(rows, scanMs)} rows/s (all verified)`)

    const [, l0Ms] = yield* timed(db.flush({ type: "memtable" }))
    const after = yield* db.status
    yield* line("flush memtable", `${fmtMs(l0Ms)} (L0 SSTs now ${after.l0Ssts}, durable seq ${fmtInt(after.durableSeq)})`)
  }).pipe(Effect.provide(dbLayer)))
  yield* line("closed", `session 1 took ${fmtMs(session1Ms)}`)

  // Between the sessions: a standalone compactor merges everything into one sorted run.
  // Its own line says what its informational log lines would (warnings and errors still show).
  yield* compactAll.pipe(
    Effect.provide(Compactor.layer({ path: DB_PATH, settings })),
    Effect.provideService(References.MinimumLogLevel, "Warn")
  )

  // Session 2: reopen (from the manifest, L0 and WAL) and verify everything again.
  const [, session2Ms] = yield* timed(Effect.gen(function*() {
    const db = yield* Db
    const status = yield* db.status
    yield* line(
      "reopened",
      `manifest ${status.manifestId}, writer epoch ${status.writerEpoch}, L0 SSTs ${status.l0Ssts}, ${runsText(status.sortedRuns)}`
    )
    const [, getMs] = yield* timed(getAll(n, tag, "verify get"))
    yield* line("verify get", `${fmtInt(n)} gets in ${fmtMs(getMs)}: ${rate(n, getMs)} gets/s (all verified)`)
    const [rows, scanMs] = yield* timed(scanAll(n, tag, "verify scan"))
    yield* line("verify scan", `${fmtInt(rows)} rows in ${fmtMs(scanMs)}: ${rate(rows, scanMs)} rows/s (all verified)`)
  }).pipe(Effect.provide(dbLayer)))
  yield* line("closed", `session 2 took ${fmtMs(session2Ms)}`)

  // Garbage collection: one pass with no minimum age (nothing else uses this database now).
  const gc = yield* runGcOnce(DB_PATH, { options: withMinAge(defaultGcOptions, 0) })
  if (gc.errors.length > 0) return yield* new MainJobFailed({ message: `garbage collection: ${gc.errors.join("; ")}` })
  yield* line(
    "collect garbage",
    `${gc.deleted.manifests} manifests, ${gc.deleted.wal} WAL SSTs, ${gc.deleted.compacted} SSTs, ${gc.deleted.compactions} compactions files deleted` +
      ` in ${fmtMs(gc.durationMs)} (${gc.requests} requests)`
  )
  yield* line("", "(kept: what a checkpoint pins, e.g. the compactor's for 15 minutes, and SSTs as new as the last compacted L0)")

  const after = yield* listAll
  yield* Console.log(`Objects under ${dir}:`)
  yield* reportObjects("manifests", before, after, manifestDir(DB_PATH), (p) => parseManifestId(p)?.toString())
  yield* reportObjects("WAL SSTs", before, after, walDir(DB_PATH), (p) => parseWalSstId(p)?.toString())
  yield* reportObjects("L0/compacted SSTs", before, after, compactedDir(DB_PATH), parseCompactedSstId)
  yield* Console.log(`ok: ${fmtInt(n)} keys written, read back, and verified again after reopening`)
})

const StoreLive = LocalObjectStore.layer({ root: dir })

// Failures are logged (to stderr) inside the program, then runMain exits with code 1.
job.pipe(
  Effect.tapCause((cause) => (Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError(cause))),
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(Layer.mergeAll(StoreLive, NodeFileSystem.layer)),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
