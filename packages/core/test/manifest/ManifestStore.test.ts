/**
 * The manifest store: latest-version discovery, create-only CAS writes, the writer-epoch claim, updates
 * with refresh + merge on conflict, fencing checks, the CAS timeout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ClosedError, InternalError, UnavailableError } from "../../src/errors.ts"
import { manifestPath } from "../../src/format/Paths.ts"
import { SstType } from "../../src/format/SstMetadata.ts"
import { Manifest, type CompactedSst } from "../../src/manifest/Manifest.ts"
import { decodeManifest, encodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { claimWriterEpoch, makeManifestStore, ManifestWriter, mergeRemoteManifest } from "../../src/manifest/ManifestStore.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { ObjectAlreadyExists, ObjectNotFound } from "../../src/objectstore/ObjectStoreError.ts"

const ROOT = "db"
const OPTIONS = { timeoutMs: 60_000 }

const sst = (id: string, first: string): CompactedSst => ({
  id,
  formatVersion: 2,
  info: {
    firstEntry: new TextEncoder().encode(first),
    lastEntry: new TextEncoder().encode(first),
    indexOffset: 0,
    indexLen: 4,
    filterOffset: 0,
    filterLen: 0,
    compressionFormat: 0,
    sstType: SstType.Compacted,
    statsOffset: 0,
    statsLen: 0,
    filterFormat: 0
  }
})
const ULID_A = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
const ULID_B = "01BX5ZZKBKACTAV9WEVGEMMVRZ"
const ULID_C = "01CX5ZZKBKACTAV9WEVGEMMVRY"

describe("ManifestStore", () => {
  it.effect("latest version: none, then the highest listed id (foreign files ignored)", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const ms = makeManifestStore(store, ROOT)
      assert.strictEqual(yield* ms.readLatest, undefined)
      assert.strictEqual(yield* ms.write(1, Manifest.initial()), "written")
      assert.strictEqual(yield* ms.write(1, Manifest.initial()), "exists")
      yield* ms.write(2, Manifest.withWriterEpoch(Manifest.initial(), 7))
      yield* store.put(`${ROOT}/manifest/00000000000000000009.tmp`, new Uint8Array(3))
      yield* store.put(`${ROOT}/manifest/notes.txt`, new Uint8Array(3))
      const latest = yield* ms.readLatest
      assert.strictEqual(latest?.id, 2)
      assert.strictEqual(latest?.manifest.writerEpoch, 7)
      assert.deepStrictEqual(yield* ms.listIds, [1, 2])
    }))

  it.effect("the latest version vanishing between list and read is retried", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      yield* inner.put(manifestPath(ROOT, 1), encodeManifest(Manifest.initial()))
      yield* inner.put(manifestPath(ROOT, 2), encodeManifest(Manifest.withWriterEpoch(Manifest.initial(), 1)))
      let vanish = true
      const store = ObjectStore.of({
        ...inner,
        get: (path) =>
          Effect.suspend(() => {
            if (vanish && path === manifestPath(ROOT, 2)) {
              vanish = false
              return Effect.andThen(inner.delete(path), Effect.fail(new ObjectNotFound({ op: "get", path, message: "gc'd" })))
            }
            return inner.get(path)
          })
      })
      const latest = yield* makeManifestStore(store, ROOT).readLatest
      assert.strictEqual(latest?.id, 1)
    }))

  it.effect("claiming the writer epoch: creates version 1, writes epoch + 1 as the next version", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const ms = makeManifestStore(store, ROOT)
      const w1 = yield* claimWriterEpoch(ms, OPTIONS)
      assert.strictEqual(w1.epoch, 1)
      assert.strictEqual(w1.id, 2)
      assert.strictEqual(decodeManifest(yield* store.get(manifestPath(ROOT, 1))).writerEpoch, 0)
      const w2 = yield* claimWriterEpoch(ms, OPTIONS)
      assert.strictEqual(w2.epoch, 2)
      assert.strictEqual(w2.id, 3)
      // The older writer is fenced on its next update and refresh.
      const e1 = yield* Effect.flip(w1.update((m) => m))
      assert.instanceOf(e1, ClosedError)
      assert.strictEqual((e1 as ClosedError).reason, "fenced")
      assert.strictEqual(e1.message, "detected newer DB client")
      const e2 = yield* Effect.flip(w1.refresh)
      assert.strictEqual((e2 as ClosedError).reason, "fenced")
      // The newer one is fine.
      yield* w2.update((m) => m)
      assert.strictEqual(w2.id, 4)
    }))

  it.effect("update: versions record the WALs written (next_wal_sst_id = last written + 1), not those only allocated", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const w = yield* claimWriterEpoch(makeManifestStore(store, ROOT), OPTIONS)
      assert.strictEqual(w.allocateWalId(), 1)
      assert.strictEqual(w.allocateWalId(), 2)
      assert.strictEqual(w.nextWalSstId, 3)
      w.noteWalWritten(1)
      yield* w.update((m) => ({ ...m, lastL0Seq: 42 }))
      const stored = decodeManifest(yield* store.get(manifestPath(ROOT, w.id)))
      assert.strictEqual(stored.nextWalSstId, 2) // WAL 2 is allocated, not written
      assert.strictEqual(stored.lastL0Seq, 42)
      assert.strictEqual(w.manifest.lastL0Seq, 42)
      w.noteWalWritten(2)
      w.noteWalWritten(1) // lower: ignored
      yield* w.update((m) => m)
      assert.strictEqual(decodeManifest(yield* store.get(manifestPath(ROOT, w.id))).nextWalSstId, 3)
      assert.strictEqual(w.allocateWalId(), 3)
    }))

  it.effect("update on conflict: refresh, merge the remote version (writer-side rules), retry", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const ms = makeManifestStore(store, ROOT)
      const w = yield* claimWriterEpoch(ms, OPTIONS)
      // The writer flushed three L0s (newest first: C, B, A).
      yield* w.update((m) => ({ ...m, l0: [sst(ULID_C, "c"), sst(ULID_B, "b"), sst(ULID_A, "a")], lastL0Seq: 9, replayAfterWalId: 4 }))
      w.noteWalWritten(w.allocateWalId())
      // A compactor (same writer epoch) compacted B and A into a sorted run and wrote the next version.
      const remote: Manifest = {
        ...decodeManifest(yield* store.get(manifestPath(ROOT, w.id))),
        l0: [sst(ULID_C, "c")],
        l0LastCompacted: ULID_B,
        compacted: [{ id: 0, ssts: [sst(ULID_A, "a")] }],
        compactorEpoch: 3,
        lastL0Seq: 1,
        replayAfterWalId: 1
      }
      assert.strictEqual(yield* ms.write(w.id + 1, remote), "written")
      yield* w.update((m) => ({ ...m, recentSnapshotMinSeq: 5 }))
      const stored = decodeManifest(yield* store.get(manifestPath(ROOT, w.id)))
      assert.strictEqual(w.id, 5)
      assert.deepStrictEqual(stored.l0.map((x) => x.id), [ULID_C])
      assert.deepStrictEqual(stored.compacted.map((r) => r.id), [0])
      assert.strictEqual(stored.l0LastCompacted, ULID_B)
      assert.strictEqual(stored.compactorEpoch, 3)
      // Writer-owned fields keep the local values.
      assert.strictEqual(stored.lastL0Seq, 9)
      assert.strictEqual(stored.replayAfterWalId, 4)
      assert.strictEqual(stored.nextWalSstId, 2)
      assert.strictEqual(stored.recentSnapshotMinSeq, 5)
      assert.strictEqual(stored.writerEpoch, 1)
    }))

  it.effect("a version the collector deleted is not free: a stale writer's update lands above the latest", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const ms = makeManifestStore(store, ROOT)
      const w = yield* claimWriterEpoch(ms, OPTIONS)
      assert.strictEqual(w.id, 2)
      // Another process (a compactor, an Admin checkpoint) wrote versions 3 and 4 since; a collector then
      // deleted 3 (not the latest). The writer still sees version 2.
      const other = makeManifestStore(store, ROOT)
      const latest = (yield* other.readLatest)!
      assert.strictEqual(yield* other.write(3, { ...latest.manifest, compactorEpoch: 1 }), "written")
      assert.strictEqual(yield* other.write(4, { ...latest.manifest, compactorEpoch: 2 }), "written")
      yield* store.delete(manifestPath(ROOT, 3))
      // The writer creates the free name 3, finds 4 listed above it, so re-reads, merges and writes 5.
      yield* w.update((m) => ({ ...m, recentSnapshotMinSeq: 7 }))
      assert.strictEqual(w.id, 5)
      const read = (yield* makeManifestStore(store, ROOT).readLatest)!
      assert.strictEqual(read.id, 5)
      assert.strictEqual(read.manifest.recentSnapshotMinSeq, 7)
      assert.strictEqual(read.manifest.compactorEpoch, 2)
      // The sequenced store alone: a create below a listed version is "exists".
      yield* store.delete(manifestPath(ROOT, 4))
      assert.strictEqual(yield* makeManifestStore(store, ROOT).write(4, read.manifest), "exists")
      assert.strictEqual(yield* makeManifestStore(store, ROOT).write(6, read.manifest), "written")
    }))

  it.effect("an epoch claim created under a name the collector freed below the latest is claimed again on top; the older writer is fenced", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      const w1 = yield* claimWriterEpoch(makeManifestStore(inner, ROOT), OPTIONS)
      assert.strictEqual(w1.id, 2)
      // The second writer's claim of version 3 is slow (a retried put): meanwhile the first writer writes
      // 3 and 4, and a collector with minimum age 0 deletes 3; then the claim's create of 3 goes through.
      let delayed = false
      const store = {
        ...inner,
        put: (...args: Parameters<typeof inner.put>) =>
          args[0] === manifestPath(ROOT, 3) && !delayed
            ? Effect.gen(function*() {
              delayed = true
              yield* Effect.orDie(w1.update((m) => ({ ...m, recentSnapshotMinSeq: 3 })))
              yield* Effect.orDie(w1.update((m) => ({ ...m, recentSnapshotMinSeq: 4 })))
              yield* inner.delete(manifestPath(ROOT, 3))
              return yield* inner.put(...args)
            })
            : inner.put(...args)
      }
      const w2 = yield* claimWriterEpoch(makeManifestStore(store, ROOT), OPTIONS)
      assert.isTrue(delayed)
      assert.strictEqual(decodeManifest(yield* inner.get(manifestPath(ROOT, 3))).writerEpoch, 2)
      // Claimed again on top of version 4, from its contents.
      assert.strictEqual(w2.epoch, 2)
      assert.strictEqual(w2.id, 5)
      assert.strictEqual(w2.manifest.recentSnapshotMinSeq, 4)
      const e = yield* Effect.flip(w1.update((m) => m))
      assert.strictEqual((e as ClosedError).reason, "fenced")
      yield* w2.update((m) => ({ ...m, recentSnapshotMinSeq: 6 }))
      assert.strictEqual(w2.id, 6)
    }))

  it.effect("a write whose view is current skips the listing; it still cannot take a version twice", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      let lists = 0
      const store = { ...inner, list: (...args: Parameters<typeof inner.list>) => ((lists++), inner.list(...args)) }
      const ms = makeManifestStore(store, ROOT)
      const w = yield* claimWriterEpoch(ms, OPTIONS)
      const versions = makeManifestStore(store, ROOT).versions
      lists = 0
      assert.strictEqual(yield* versions.write(w.id + 1, w.manifest), "written")
      assert.strictEqual(lists, 1)
      assert.strictEqual(yield* versions.write(w.id + 2, w.manifest, { current: true }), "written")
      assert.strictEqual(lists, 1)
      assert.strictEqual(yield* versions.write(w.id + 2, w.manifest, { current: true }), "exists")
    }))

  it("mergeRemoteManifest keeps local L0s when the remote compacted none", () => {
    const local: Manifest = { ...Manifest.initial(), l0: [sst(ULID_B, "b"), sst(ULID_A, "a")] }
    const merged = mergeRemoteManifest(local, Manifest.initial())
    assert.deepStrictEqual(merged.l0.map((x) => x.id), [ULID_B, ULID_A])
  })

  it.effect("a stored epoch below ours is an InternalError", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const ms = makeManifestStore(store, ROOT)
      const w = yield* claimWriterEpoch(ms, OPTIONS)
      yield* ms.write(w.id + 1, Manifest.withWriterEpoch(w.manifest, 0))
      const error = yield* Effect.flip(w.refresh)
      assert.instanceOf(error, InternalError)
    }))

  it.effect("a CAS loop that keeps losing gives up after the timeout with UnavailableError", () =>
    Effect.gen(function*() {
      const inner = makeMemory()
      const claimed = yield* claimWriterEpoch(makeManifestStore(inner, ROOT), OPTIONS)
      // Every put of a manifest now "loses" while the listing shows nothing newer: an endless CAS loop.
      const store = ObjectStore.of({
        ...inner,
        put: (path) => Effect.andThen(Effect.sleep(10), Effect.fail(new ObjectAlreadyExists({ op: "put", path, message: "taken" })))
      })
      const writer = new ManifestWriter(
        makeManifestStore(store, ROOT),
        { id: claimed.id, manifest: claimed.manifest },
        { timeoutMs: 1000 }
      )
      const fiber = yield* Effect.forkChild(Effect.flip(writer.update((m) => m)))
      yield* TestClock.adjust("1001 millis")
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, UnavailableError)
      assert.match(error.message, /did not complete within 1000 ms/)
    }))
})
