/**
 * The compactor as a process of its own (`Compactor.layer`) beside a writer without one: epoch fencing
 * between compactors, the compactions file's state machine (and its writes: one per step), resuming an interrupted compaction from its
 * recorded output, manual submissions, the checkpoint in each compaction's manifest, and the writer's
 * L0 stall that a compactor elsewhere releases.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Compactor, type CompactorHandle } from "../../src/compactor/Compactor.ts"
import { submitToCompactionsFile } from "../../src/compactor/CompactorStore.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { ClosedError, InvalidError } from "../../src/errors.ts"
import { CompactionStatus, decodeCompactions } from "../../src/manifest/CompactionsCodec.ts"
import { makeManifestStore } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { isUlid } from "../../src/Ulid.ts"
import type { SettingsInput } from "../../src/Settings.ts"
import { b, collect, listPaths, ND, openOn } from "../db/fixtures.ts"
import { eventually } from "./support.ts"

type Store = ObjectStore["Service"]

/** Starts a standalone compactor on `store` in a scope of its own. */
const startOn = (store: Store, compactor: SettingsInput["compactor"] = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Compactor.layer({ path: "db", settings: { compactor } }).pipe(Layer.provide(Layer.succeed(ObjectStore, store)))
    const context = yield* Layer.buildWithScope(layer, scope)
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { compactor: Context.get(context, Compactor), scope }
  })

/** Writes `files` memtable flushes of `keys` keys each (overwrites from the second on). */
const flushes = (db: DbService, files: number, keys = 100, tag = "v") =>
  Effect.gen(function*() {
    for (let f = 0; f < files; f++) {
      for (let i = 0; i < keys; i++) yield* db.put(b(`key${String(i).padStart(5, "0")}`), b(`${tag}${f}-${i}`), ND)
      yield* db.flush({ type: "memtable" })
    }
  })

const latestManifest = (store: Store) => Effect.map(makeManifestStore(store, "db").readLatest, (m) => m!.manifest)

const latestCompactions = (store: Store) =>
  Effect.gen(function*() {
    const paths = yield* listPaths(store, "db/compactions")
    return decodeCompactions(yield* store.get(paths[paths.length - 1]!))
  })

const idle = (c: CompactorHandle) => c.awaitIdle

const statusName = (status: CompactionStatus): string => Object.entries(CompactionStatus).find(([, v]) => v === status)![0]

/** The records of every compactions file version after the compactor's claim (versions 1 and 2), oldest first. */
const versionsAfterClaim = (store: Store) =>
  Effect.gen(function*() {
    const versions: Array<ReadonlyArray<{ readonly status: CompactionStatus; readonly outputSsts: ReadonlyArray<unknown> }>> = []
    for (const path of (yield* listPaths(store, "db/compactions")).slice(2)) {
      versions.push(decodeCompactions(yield* store.get(path)).recentCompactions)
    }
    return versions
  })

describe("standalone compactor", () => {
  it.effect("writes the compactions file once per step: a proposed compaction Running (not Submitted first), then Completed", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 4)
      const { compactor } = yield* startOn(store)
      yield* idle(compactor)
      assert.strictEqual((yield* compactor.status).completed, 1)
      // Each version holds the one compaction: its status and recorded outputs there.
      const steps = (yield* versionsAfterClaim(store)).map((records) => records.map((r) => `${statusName(r.status)} ${r.outputSsts.length}`).join("+"))
      // (A one-SST compaction reports no output before it finishes: nothing to resume from.)
      assert.deepStrictEqual(steps, ["Running 0", "Completed 1"])
    }))

  it.effect("a finish that starts the next compaction records both in one version of the compactions file", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 8)
      // One at a time, four L0 SSTs each: the first one's finish starts the second.
      const { compactor } = yield* startOn(store, { maxConcurrentCompactions: 1, maxCompactionSources: 4 })
      yield* idle(compactor)
      assert.strictEqual((yield* compactor.status).completed, 2)
      // Records are listed in id order, and ids sort in the order the compactions were registered
      // (`nextRecordId`), even when both came in the same millisecond.
      const steps = (yield* versionsAfterClaim(store)).map((records) => records.map((r) => statusName(r.status)).join("+"))
      assert.deepStrictEqual(steps, ["Running", "Completed+Running", "Completed"])
    }))

  it.effect("compacts what a writer without a compactor flushed; the writer's reads follow", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 6)
      const expected = yield* collect(db.scan({}))
      const { compactor } = yield* startOn(store)
      yield* idle(compactor)
      const m = yield* latestManifest(store)
      assert.strictEqual(m.l0.length, 0)
      assert.strictEqual(m.compacted.length, 1)
      const status = yield* compactor.status
      assert.strictEqual(status.completed, 1)
      assert.isAbove(status.bytesWritten, 0)
      // The writer picks the new run up on its next manifest read (a flush writes the manifest).
      yield* flushes(db, 1, 1, "w")
      assert.strictEqual((yield* db.status).sortedRuns, 1)
      const after = yield* collect(db.scan({}))
      assert.deepStrictEqual(after.slice(1), expected.slice(1))
      // The compactions file keeps the last finished compaction, Completed, with its output.
      const file = yield* latestCompactions(store)
      assert.strictEqual(file.compactorEpoch, status.epoch)
      assert.strictEqual(file.recentCompactions.length, 1)
      assert.strictEqual(file.recentCompactions[0]!.status, CompactionStatus.Completed)
      assert.deepStrictEqual(file.recentCompactions[0]!.outputSsts.map((s) => s.id), m.compacted[0]!.ssts.map((s) => s.id))
    }))

  it.effect("each compaction's manifest version carries a 15-minute checkpoint of the version before it, which lists the pre-compaction SSTs", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 4)
      const before = yield* latestManifest(store)
      const { compactor } = yield* startOn(store)
      yield* idle(compactor)
      const manifests = makeManifestStore(store, "db")
      const ids = yield* manifests.listIds
      const last = ids[ids.length - 1]!
      const final = yield* manifests.read(last)
      assert.strictEqual(final.l0.length, 0)
      assert.strictEqual(final.checkpoints.length, 1)
      const cp = final.checkpoints[0]!
      // The version the compaction replaced: one write, no checkpoint-only version in between.
      assert.strictEqual(cp.manifestId, last - 1)
      assert.strictEqual(cp.expireTimeS! - cp.createTimeS, 900)
      const pinned = yield* manifests.read(cp.manifestId)
      assert.deepStrictEqual(pinned.l0.map((s) => s.id), before.l0.map((s) => s.id))
      assert.deepStrictEqual(pinned.checkpoints, [])
    }))

  it.effect("a compactor whose epoch claim is not in the latest manifest (written below a newer version under a freed name) claims it again and compacts", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 2)
      const { compactor } = yield* startOn(store)
      const epoch = (yield* compactor.status).epoch
      // What a garbage collector with minimum age 0 and a slow claim can leave: the claim's version is not
      // the latest; above it, a version (a writer's, from the view before the claim) with the older epoch.
      const manifests = makeManifestStore(store, "db")
      const claim = (yield* manifests.readLatest)!
      assert.strictEqual(claim.manifest.compactorEpoch, epoch)
      assert.strictEqual(yield* manifests.write(claim.id + 1, { ...claim.manifest, compactorEpoch: epoch - 1 }), "written")
      yield* flushes(db, 2, 100, "w")
      const expected = yield* collect(db.scan({}))
      yield* compactor.tick
      yield* idle(compactor)
      const status = yield* compactor.status
      assert.strictEqual(status.failed, 0)
      assert.isAtLeast(status.completed, 1)
      const latest = yield* latestManifest(store)
      assert.strictEqual(latest.compactorEpoch, epoch)
      assert.strictEqual(latest.l0.length, 0)
      assert.deepStrictEqual(yield* collect(db.scan({})), expected)
    }))

  it.effect("a second compactor fences the first: it stops with ClosedError(fenced), the second carries on", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 2)
      const first = yield* startOn(store)
      yield* first.compactor.tick
      const second = yield* startOn(store)
      assert.strictEqual((yield* second.compactor.status).epoch, (yield* first.compactor.status).epoch + 1)
      const fenced = yield* Effect.flip(first.compactor.tick)
      assert.instanceOf(fenced, ClosedError)
      assert.strictEqual((fenced as ClosedError).reason, "fenced")
      assert.include(fenced.message, "newer compactor")
      const done = yield* Effect.flip(first.compactor.done)
      assert.strictEqual(done.reason, "fenced")
      yield* flushes(db, 2)
      yield* idle(second.compactor)
      assert.strictEqual((yield* latestManifest(store)).l0.length, 0)
    }))

  it.effect.each([false, true])("an interrupted compaction resumes after its recorded output SSTs (runs below it: %s)", (withRun) =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      if (withRun) {
        // A sorted run exists: the L0 compaction read back from the file must still go above it.
        yield* flushes(db, 4, 100, "old")
        const early = yield* startOn(store)
        yield* idle(early.compactor)
        yield* Scope.close(early.scope, Exit.void)
      }
      yield* flushes(db, 4, 2000)
      const expected = yield* collect(db.scan({}))
      const small = { maxSstSizeBytes: 4096 }
      // The first compactor's third output SST never lands (its PUT hangs until the compactor stops).
      let outputs = 0
      const hanging: Store = {
        ...store,
        put: (path, bytes, options) =>
          path.startsWith("db/compacted/") && ++outputs > 2 ? Effect.never : store.put(path, bytes, options)
      }
      const first = yield* startOn(hanging, small)
      // Stop it once the compactions file records a Running compaction with two outputs.
      yield* eventually("two recorded outputs", () =>
        Effect.map(latestCompactions(store), (f) => f.recentCompactions.some((c) => c.status === CompactionStatus.Running && c.outputSsts.length === 2)))
      yield* Scope.close(first.scope, Exit.void)
      const recorded = (yield* latestCompactions(store)).recentCompactions.find((c) => c.status === CompactionStatus.Running)!
      const kept = recorded.outputSsts.map((s) => s.id)
      const second = yield* startOn(store, small)
      yield* idle(second.compactor)
      const m = yield* latestManifest(store)
      assert.strictEqual(m.l0.length, 0)
      assert.strictEqual(m.compacted.length, withRun ? 2 : 1)
      const run = m.compacted[0]!
      assert.deepStrictEqual(run.ssts.slice(0, kept.length).map((s) => s.id), kept)
      assert.isAbove(run.ssts.length, kept.length)
      assert.isAbove((yield* second.compactor.status).bytesWritten, 0)
      // The recorded compaction finished (nothing failed, nothing else ran).
      const st = yield* second.compactor.status
      assert.strictEqual(st.completed, 1)
      assert.strictEqual(st.failed, 0)
      assert.isFalse((yield* latestCompactions(store)).recentCompactions.some((c) => c.id === recorded.id && c.status !== CompactionStatus.Completed))
      yield* flushes(db, 1, 1, "w")
      assert.deepStrictEqual((yield* collect(db.scan({}))).slice(1), expected.slice(1))
    }))

  it.effect("manual submissions: a full compaction, a spec through the compactions file, an invalid spec fails", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      const { compactor } = yield* startOn(store)
      // Three runs (one per round of four L0 SSTs): fewer than the four the scheduler waits for.
      for (let i = 0; i < 3; i++) {
        yield* flushes(db, 4, 50, `r${i}-`)
        yield* idle(compactor)
      }
      let m = yield* latestManifest(store)
      assert.strictEqual(m.compacted.length, 3)
      const id = yield* compactor.submit("full")
      assert.isTrue(isUlid(id))
      yield* idle(compactor)
      m = yield* latestManifest(store)
      assert.strictEqual(m.compacted.length, 1)
      assert.strictEqual((yield* compactor.status).completed, 4)
      // Through the file, as `Admin` and the CLI submit: the running compactor picks it up on its next poll.
      yield* flushes(db, 4, 50, "z")
      yield* idle(compactor)
      m = yield* latestManifest(store)
      assert.strictEqual(m.compacted.length, 2)
      yield* submitToCompactionsFile(store, "db", {
        id: "01J00000000000000000000000",
        spec: { sources: m.compacted.map((r) => ({ kind: "sr" as const, id: r.id })), destination: m.compacted[1]!.id },
        status: CompactionStatus.Submitted,
        outputSsts: []
      }, { timeoutMs: 10_000 })
      yield* idle(compactor)
      assert.strictEqual((yield* latestManifest(store)).compacted.length, 1)
      // An invalid spec (a run that does not exist) is marked Failed when it would start.
      yield* submitToCompactionsFile(store, "db", {
        id: "01J00000000000000000000001",
        spec: { sources: [{ kind: "sr", id: 77 }], destination: 77 },
        status: CompactionStatus.Submitted,
        outputSsts: []
      }, { timeoutMs: 10_000 })
      yield* idle(compactor)
      const file = yield* latestCompactions(store)
      assert.strictEqual(file.recentCompactions.find((c) => c.id === "01J00000000000000000000001")?.status, CompactionStatus.Failed)
      assert.strictEqual((yield* compactor.status).failed, 1)
      // A full compaction of nothing is refused at once.
      const empty = makeMemory()
      yield* openOn(empty)
      const lone = yield* startOn(empty)
      const refused = yield* Effect.flip(lone.compactor.submit("full"))
      assert.instanceOf(refused, InvalidError)
    }))

  it.effect("a full compaction asked for while an L0 compaction runs waits for it, then takes everything", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store)
      yield* flushes(db, 8, 50)
      const expected = yield* collect(db.scan({}))
      const { compactor } = yield* startOn(store)
      yield* eventually("an L0 compaction to run", () => Effect.map(compactor.status, (s) => s.running.length === 1))
      const id = yield* compactor.submit("full")
      yield* idle(compactor)
      const status = yield* compactor.status
      assert.deepStrictEqual([status.completed, status.failed, status.l0Ssts, status.sortedRuns], [2, 0, 0, 1])
      assert.isTrue(isUlid(id))
      assert.deepStrictEqual(yield* collect(db.scan({})), expected)
    }))

  it.effect("the writer's uploads wait while L0 is full, and go on when a compactor elsewhere makes room", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, { settings: { l0MaxSsts: 4, compactor: null } })
      // A compactor ran once, so the writer expects one (compactor epoch > 0).
      const once = yield* startOn(store)
      yield* Scope.close(once.scope, Exit.void)
      yield* flushes(db, 4, 20)
      assert.strictEqual((yield* db.status).l0Ssts, 4)
      // The fifth memtable cannot go to L0: its flush waits.
      for (let i = 0; i < 20; i++) yield* db.put(b(`late${i}`), b("x"), ND)
      const waiting = yield* Effect.forkChild(db.flush({ type: "memtable" }))
      yield* eventually("the stall", () => Effect.map(db.status, (s) => s.l0Stalled))
      assert.strictEqual((yield* db.status).l0Ssts, 4)
      // Reads and writes still work meanwhile.
      yield* db.put(b("during"), b("stall"), ND)
      const { compactor } = yield* startOn(store)
      yield* idle(compactor)
      // The writer notices at its next manifest poll.
      yield* TestClock.adjust("1 hour")
      yield* eventually("the upload", () => Effect.map(db.status, (s) => !s.l0Stalled && s.immutableMemtables === 0))
      yield* Fiber.join(waiting)
      const st = yield* db.status
      assert.strictEqual(st.l0Ssts, 1)
      assert.strictEqual(st.sortedRuns, 1)
    }))

  it.effect("while uploads wait on a full L0, writes wait once the immutable memtables hold maxImmutableMemtableBytes", () =>
    Effect.gen(function*() {
      /** A writer without a compactor whose L0 is full; then 60 writes of 1 KB: how many get through. */
      const stalledWrites = (maxImmutableMemtableBytes: number | null | undefined) =>
        Effect.gen(function*() {
          const store = makeMemory()
          const { db } = yield* openOn(store, {
            settings: {
              l0MaxSsts: 2,
              l0SstSizeBytes: 8 * 1024,
              maxUnflushedBytes: 4 * 1024 * 1024,
              compactor: null,
              ...(maxImmutableMemtableBytes === undefined ? {} : { maxImmutableMemtableBytes })
            }
          })
          const once = yield* startOn(store)
          yield* Scope.close(once.scope, Exit.void)
          yield* flushes(db, 2, 20)
          const progress = { done: 0 }
          const writer = yield* Effect.forkChild(Effect.gen(function*() {
            for (let i = 0; i < 60; i++) {
              yield* db.put(b(`w${String(i).padStart(3, "0")}`), new Uint8Array(1000).fill(i), ND)
              progress.done++
            }
          }))
          yield* eventually("the stall", () => Effect.map(db.status, (s) => s.l0Stalled))
          for (let i = 0; i < 2_000; i++) yield* Effect.yieldNow
          return { store, db, writer, progress }
        })
      // SlateDB's behaviour: only maxUnflushedBytes (4 MiB) holds writers, so all 60 go through.
      const slateDb = yield* stalledWrites(null)
      assert.strictEqual(slateDb.progress.done, 60)
      assert.isTrue((yield* slateDb.db.status).l0Stalled)
      // The default: l0MaxSsts × l0SstSizeBytes (2 × 8 KiB) of memory in immutable memtables, then writers wait.
      for (const limit of [undefined, 16 * 1024]) {
        const { store, db, writer, progress } = yield* stalledWrites(limit)
        assert.isAbove(progress.done, 0)
        assert.isBelow(progress.done, 30, `${limit}`)
        // A compactor elsewhere makes room: the writer sees it at its manifest polls and the writes go on.
        const { compactor } = yield* startOn(store, { minCompactionSources: 2 })
        // (the fixtures poll the manifest hourly)
        for (let i = 0; i < 100 && progress.done < 60; i++) {
          yield* TestClock.adjust("1 hour")
          for (let j = 0; j < 200; j++) yield* Effect.yieldNow
        }
        yield* Fiber.join(writer)
        yield* idle(compactor)
        const rows = yield* collect(db.scan({ start: b("w000"), end: b("w999") }))
        assert.strictEqual(rows.length, 60)
      }
    }))
})
