/**
 * The local store's kept files for ranged reads of SSTs (objectstore/LocalReadHandles.ts): the same bytes as
 * reading the file afresh (whole ranges, a range past the end, a range beyond it), a missing SST is
 * `ObjectNotFound`, an SST deleted through the store is gone for its reads too, at most 128 files stay
 * open, reads racing evictions all complete with the right bytes. Small reads of a file already open are
 * synchronous (one `pread`), unless `syncReadMaxBytes` is 0; larger reads and a file's first read are not.
 * `getRangeNow` gives those same reads without an Effect, and undefined for every other one.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Tracer } from "effect"
import * as fs from "node:fs"
import { makeLocalNode } from "../src/objectstore/LocalObjectStore.ts"
import { LocalReadHandles } from "../src/objectstore/LocalReadHandles.ts"

const tempRoot = Effect.flatMap(FileSystem.FileSystem, (f) => f.makeTempDirectoryScoped({ prefix: "shale-handles-" })).pipe(
  Effect.provide(NodeFileSystem.layer)
)

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

describe("local store: kept files for SST reads", () => {
  it.effect("reads the bytes a fresh read gives; past the end is clipped; a missing or deleted SST is not found", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const store = yield* makeLocalNode({ root })
      const bytes = pattern(100_000, 7)
      yield* store.put("db/compacted/a.sst", bytes)
      for (const [start, end] of [[0, 4096], [4096, 8192], [99_000, 100_000], [99_990, 100_100], [100_000, 100_500], [200_000, 200_010]] as const) {
        const got = yield* store.getRange("db/compacted/a.sst", { start, end })
        assert.deepStrictEqual(got, bytes.subarray(Math.min(start, bytes.length), Math.min(end, bytes.length)), `${start}..${end}`)
      }
      const missing = yield* Effect.flip(store.getRange("db/compacted/none.sst", { start: 0, end: 10 }))
      assert.strictEqual(missing._tag, "ObjectNotFound")
      yield* store.delete("db/compacted/a.sst")
      const deleted = yield* Effect.flip(store.getRange("db/compacted/a.sst", { start: 0, end: 10 }))
      assert.strictEqual(deleted._tag, "ObjectNotFound")
      // A new object under the same name is read, not the deleted one's kept file.
      yield* store.put("db/compacted/a.sst", pattern(50, 3))
      assert.deepStrictEqual(yield* store.getRange("db/compacted/a.sst", { start: 0, end: 50 }), pattern(50, 3))
    }))

  it.effect("keeps at most 128 files open; reads racing evictions get the right bytes; closeAll closes them", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const handles = new LocalReadHandles()
      const files = Array.from({ length: 200 }, (_, i) => `${root}/f${i}.sst`)
      files.forEach((f, i) => fs.writeFileSync(f, pattern(8192, i)))
      const fdsBefore = fs.readdirSync("/proc/self/fd").length
      const reads = Array.from({ length: 2000 }, (_, r) => {
        const i = (r * 37) % 200
        const start = (r * 101) % 4096
        return Effect.map(handles.read(`f${i}.sst`, files[i]!, start, start + 4096), (got) =>
          assert.deepStrictEqual(got, pattern(8192, i).subarray(start, start + 4096), `read ${r}`))
      })
      yield* Effect.all(reads, { concurrency: 64, discard: true })
      assert.isAtMost(handles.openFiles, 128)
      assert.isAtMost(fs.readdirSync("/proc/self/fd").length - fdsBefore, 128)
      handles.closeAll()
      assert.strictEqual(handles.openFiles, 0)
      // fs.close runs in the thread pool: give it a moment.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      assert.isAtMost(fs.readdirSync("/proc/self/fd").length, fdsBefore + 2)
    }))

  it.effect("small reads of an open file complete synchronously; larger ones, first ones and syncReadMaxBytes 0 do not", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const bytes = pattern(200_000, 5)
      const isSync = <A, E>(effect: Effect.Effect<A, E>): boolean => Effect.runSyncExit(effect)._tag === "Success"
      const store = yield* makeLocalNode({ root })
      yield* store.put("db/compacted/b.sst", bytes)
      assert.isFalse(isSync(store.getRange("db/compacted/b.sst", { start: 0, end: 4096 })), "the first read opens the file")
      // Let the first read finish opening the file.
      assert.deepStrictEqual(yield* store.getRange("db/compacted/b.sst", { start: 0, end: 4096 }), bytes.subarray(0, 4096))
      const small = Effect.runSync(store.getRange("db/compacted/b.sst", { start: 8192, end: 8192 + 65536 }))
      assert.deepStrictEqual(small, bytes.subarray(8192, 8192 + 65536))
      const tail = Effect.runSync(store.getRange("db/compacted/b.sst", { start: 199_000, end: 201_000 }))
      assert.deepStrictEqual(tail, bytes.subarray(199_000))
      assert.isFalse(isSync(store.getRange("db/compacted/b.sst", { start: 0, end: 65537 })), "above 64 KiB")
      assert.deepStrictEqual(yield* store.getRange("db/compacted/b.sst", { start: 0, end: 65537 }), bytes.subarray(0, 65537))
      yield* store.delete("db/compacted/b.sst")
      assert.strictEqual((yield* Effect.flip(store.getRange("db/compacted/b.sst", { start: 0, end: 10 })))._tag, "ObjectNotFound")

      const asyncOnly = yield* makeLocalNode({ root, syncReadMaxBytes: 0 })
      yield* asyncOnly.put("db/compacted/c.sst", bytes)
      assert.deepStrictEqual(yield* asyncOnly.getRange("db/compacted/c.sst", { start: 0, end: 100 }), bytes.subarray(0, 100))
      assert.isFalse(isSync(asyncOnly.getRange("db/compacted/c.sst", { start: 0, end: 100 })))
    }))

  it.effect("getRangeNow: the bytes of a small read of an open SST file, undefined for any other read", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const bytes = pattern(200_000, 9)
      const store = yield* makeLocalNode({ root })
      const now = store.getRangeNow!
      yield* store.put("db/compacted/d.sst", bytes)
      assert.isUndefined(now("db/compacted/d.sst", { start: 0, end: 4096 }), "not open yet")
      yield* store.getRange("db/compacted/d.sst", { start: 0, end: 10 })
      assert.deepStrictEqual(now("db/compacted/d.sst", { start: 4096, end: 8192 }), bytes.subarray(4096, 8192))
      assert.deepStrictEqual(now("db/compacted/d.sst", { start: 199_990, end: 200_100 }), bytes.subarray(199_990), "clipped")
      assert.isUndefined(now("db/compacted/d.sst", { start: 0, end: 65537 }), "above syncReadMaxBytes")
      assert.isUndefined(now("db/compacted/d.sst", { suffix: 100 }))
      assert.isUndefined(now("db/compacted/d.sst", { start: 10, end: 10 }))
      // Under a tracer the store leaves reads to getRange, which makes their spans.
      const tracer = Tracer.make({ span: (options) => Tracer.nativeTracer.span(options) })
      const traced = yield* Effect.sync(() => now("db/compacted/d.sst", { start: 0, end: 100 })).pipe(
        Effect.provideService(Tracer.Tracer, tracer)
      )
      assert.isUndefined(traced)
      yield* store.delete("db/compacted/d.sst")
      assert.isUndefined(now("db/compacted/d.sst", { start: 0, end: 100 }), "deleted")
      const asyncOnly = yield* makeLocalNode({ root, syncReadMaxBytes: 0 })
      yield* asyncOnly.put("db/compacted/e.sst", bytes)
      yield* asyncOnly.getRange("db/compacted/e.sst", { start: 0, end: 10 })
      assert.isUndefined(asyncOnly.getRangeNow!("db/compacted/e.sst", { start: 0, end: 100 }))
    }))
})
