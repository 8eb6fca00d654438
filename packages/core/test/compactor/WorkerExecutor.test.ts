/**
 * Compaction jobs in worker threads (compactor/WorkerJob.ts) on a local-directory store: the same rows as
 * a job in the compactor's own thread; a worker that dies fails its compaction, which a later attempt
 * completes; closing the database or stopping the compactor mid-job ends the worker and leaves no temp
 * file behind; a worker is started ahead of the first job once new L0 SSTs come in.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Compactor, type CompactorEvent } from "../../src/compactor/Compactor.ts"
import { WorkerJobTesting } from "../../src/compactor/WorkerJob.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { makeLocalNode } from "../../src/objectstore/LocalObjectStore.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { SettingsInput } from "../../src/Settings.ts"
import { b, collect, ND, openOn } from "../db/fixtures.ts"

type Store = ObjectStore["Service"]

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "shale-worker-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Files anywhere under `dir` (recursively) whose name marks a temp file (`#<digits>`, not a `#0` sidecar). */
const tempFiles = (dir: string): Array<string> =>
  (readdirSync(dir, { recursive: true }) as Array<string>).filter((f) => /#[1-9][0-9]*$/.test(f))

const startCompactor = (store: Store, compactor: Exclude<SettingsInput["compactor"], undefined>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Compactor.layer({ path: "db", settings: { compactor } }).pipe(Layer.provide(Layer.succeed(ObjectStore, store)))
    const context = yield* Layer.buildWithScope(layer, scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { compactor: Context.get(context, Compactor), scope }
  })

/** Small output SSTs; the scheduler proposes nothing (only submitted compactions run). */
const ONLY_SUBMITTED = { maxSstSizeBytes: 64 * 1024, pollIntervalMs: 3_600_000, minCompactionSources: 100, maxCompactionSources: 100 }

/** `files` memtable flushes of `keys` keys each: overwrites, and every seventh key deleted in odd flushes. */
const flushes = (db: DbService, files: number, keys: number) =>
  Effect.gen(function*() {
    for (let f = 0; f < files; f++) {
      for (let i = 0; i < keys; i++) {
        const key = b(`key${String(i).padStart(6, "0")}`)
        if (f % 2 === 1 && i % 7 === 0) yield* db.delete(key, ND)
        else yield* db.put(key, b(`v${f}-${i}-${"x".repeat(40)}`), ND)
      }
      yield* db.flush({ type: "memtable" })
    }
  })

/** The rows as a writer opened afresh reads them (from the compacted manifest). */
const reopenedRows = (db: DbService, store: Store) =>
  Effect.gen(function*() {
    yield* db.close
    const reopened = yield* openOn(store)
    const rows = yield* collect(reopened.db.scan({}))
    yield* reopened.db.close
    return rows
  })

/** Writes the workload into a fresh local directory, fully compacts it with `executor`; the rows after. */
const compactedWith = (executor: "worker" | "inline") =>
  Effect.gen(function*() {
    const store = yield* makeLocalNode({ root: yield* tempDir })
    const { db } = yield* openOn(store)
    yield* flushes(db, 5, 3000)
    const before = yield* collect(db.scan({}))
    const { compactor } = yield* startCompactor(store, { executor, ...ONLY_SUBMITTED })
    yield* compactor.submit("full")
    yield* compactor.awaitIdle
    const status = yield* compactor.status
    assert.strictEqual(status.completed, 1)
    assert.strictEqual(status.l0Ssts, 0)
    assert.strictEqual(status.sortedRuns, 1)
    const after = yield* reopenedRows(db, store)
    assert.deepStrictEqual(after, before)
    return after
  })

describe("compaction in worker threads", () => {
  it.live("a worker compacts a local-directory database to the same rows as an inline job", () =>
    Effect.gen(function*() {
      const started = WorkerJobTesting.started
      const inline = yield* compactedWith("inline")
      assert.strictEqual(WorkerJobTesting.started, started, "inline runs no worker")
      const worker = yield* compactedWith("worker")
      assert.strictEqual(WorkerJobTesting.started, started + 1, "one worker for the one compaction")
      assert.strictEqual(WorkerJobTesting.idle(), 1, "kept for the next job")
      // The next job reuses it.
      yield* compactedWith("worker")
      assert.strictEqual(WorkerJobTesting.started, started + 1)
      assert.deepStrictEqual(worker, inline)
      assert.isAbove(worker.length, 1000)
    }).pipe(Effect.scoped))

  it.live("a worker that dies fails its compaction with a typed error; the next attempt completes it", () =>
    Effect.gen(function*() {
      const store = yield* makeLocalNode({ root: yield* tempDir })
      const { db } = yield* openOn(store)
      yield* flushes(db, 4, 2000)
      const before = yield* collect(db.scan({}))
      WorkerJobTesting.exitAfterSsts = 1
      yield* Effect.addFinalizer(() => Effect.sync(() => void (WorkerJobTesting.exitAfterSsts = undefined)))
      const { compactor } = yield* startCompactor(store, { maxSstSizeBytes: 32 * 1024, pollIntervalMs: 200 })
      const events: Array<CompactorEvent> = []
      yield* Effect.forkScoped(Stream.runForEach(compactor.events, (e) =>
        Effect.sync(() => {
          events.push(e)
          if (e._tag === "Failed") WorkerJobTesting.exitAfterSsts = undefined
        })))
      compactor.nudge()
      while (!events.some((e) => e._tag === "Finished")) yield* Effect.sleep("20 millis")
      const failed = events.find((e) => e._tag === "Failed")
      assert.isDefined(failed)
      assert.match(failed!._tag === "Failed" ? failed!.message : "", /UnavailableError[\s\S]*compaction worker exited \(code 70\)/)
      const status = yield* compactor.status
      assert.strictEqual(status.failed, 1)
      assert.strictEqual(status.l0Ssts, 0)
      assert.deepStrictEqual(yield* reopenedRows(db, store), before)
    }).pipe(Effect.scoped))

  it.live("closing a database mid-job ends its embedded compactor's worker and leaves no temp file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = yield* makeLocalNode({ root: dir })
      const { db } = yield* openOn(store, { settings: { compactor: { maxSstSizeBytes: 64 * 1024, pollIntervalMs: 3_600_000 } } })
      const busy = WorkerJobTesting.busy
      // The fourth flush nudges the compactor: an L0 compaction of 80,000 rows starts in a worker.
      yield* flushes(db, 4, 20_000)
      while (WorkerJobTesting.busy === busy) yield* Effect.sleep("2 millis")
      yield* db.close
      const reopened = yield* openOn(store)
      assert.strictEqual((yield* reopened.db.status).l0Ssts, 4, "the compaction did not finish")
      yield* reopened.db.close
      assert.strictEqual(WorkerJobTesting.busy, busy)
      assert.strictEqual(WorkerJobTesting.alive, WorkerJobTesting.idle(), "the interrupted worker is gone, only idle ones live")
      assert.deepStrictEqual(tempFiles(dir), [])
    }).pipe(Effect.scoped))

  it.live("stopping the compactor mid-job ends the worker and leaves no temp file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const store = yield* makeLocalNode({ root: dir })
      const { db } = yield* openOn(store)
      yield* flushes(db, 4, 20_000)
      const { compactor, scope } = yield* startCompactor(store, ONLY_SUBMITTED)
      const submitted = yield* Effect.forkScoped(compactor.submit("full"))
      yield* Fiber.join(submitted)
      // Mid-job: an output SST recorded, more to come.
      for (;;) {
        const running = (yield* compactor.status).running
        if (running.length === 1 && running[0]!.outputSsts >= 1) break
        yield* Effect.sleep("5 millis")
      }
      assert.strictEqual(WorkerJobTesting.busy, 1)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(WorkerJobTesting.busy, 0)
      assert.strictEqual(WorkerJobTesting.alive, WorkerJobTesting.idle(), "the interrupted worker is gone, only idle ones live")
      assert.deepStrictEqual(tempFiles(dir), [])
      // The compaction resumes from its recorded output under the next compactor.
      const before = yield* collect(db.scan({}))
      const next = yield* startCompactor(store, ONLY_SUBMITTED)
      yield* next.compactor.awaitIdle
      const status = yield* next.compactor.status
      assert.strictEqual(status.completed, 1)
      assert.strictEqual(status.sortedRuns, 1)
      assert.deepStrictEqual(yield* reopenedRows(db, store), before)
    }).pipe(Effect.scoped))

  it.live("a poll that finds a new L0 SST starts a worker for the compaction to come, which then runs it", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => WorkerJobTesting.endIdle())
      assert.strictEqual(WorkerJobTesting.alive, 0)
      const store = yield* makeLocalNode({ root: yield* tempDir })
      const { db } = yield* openOn(store)
      const { compactor } = yield* startCompactor(store, ONLY_SUBMITTED)
      const started = WorkerJobTesting.started
      yield* compactor.tick
      assert.strictEqual(WorkerJobTesting.started, started, "no L0 SST: no worker")
      yield* flushes(db, 1, 500)
      yield* compactor.tick
      assert.strictEqual(WorkerJobTesting.started, started + 1, "a new L0 SST: a worker, before any compaction")
      assert.strictEqual(WorkerJobTesting.idle(), 1)
      yield* compactor.tick
      assert.strictEqual(WorkerJobTesting.started, started + 1, "one is alive: no other")
      // With the pool emptied, only a new L0 SST starts one again (an idle database starts none).
      yield* Effect.promise(() => WorkerJobTesting.endIdle())
      yield* compactor.tick
      assert.strictEqual(WorkerJobTesting.started, started + 1, "no new L0 SST: no worker")
      yield* flushes(db, 1, 500)
      yield* compactor.tick
      assert.strictEqual(WorkerJobTesting.started, started + 2)
      // The compaction runs in the worker started for it.
      yield* compactor.submit("full")
      yield* compactor.awaitIdle
      assert.strictEqual((yield* compactor.status).completed, 1)
      assert.strictEqual(WorkerJobTesting.started, started + 2, "the job took the waiting worker")
      // An inline compactor starts none.
      yield* Effect.promise(() => WorkerJobTesting.endIdle())
      const inline = yield* startCompactor(store, { ...ONLY_SUBMITTED, executor: "inline" })
      yield* flushes(db, 1, 500)
      yield* inline.compactor.tick
      assert.strictEqual(WorkerJobTesting.started, started + 2, "inline: no worker")
    }).pipe(Effect.scoped))
})
