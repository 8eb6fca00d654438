/**
 * Reads on the calling thread (`ObjectStore.getRangeNow`, a local directory's open SST files): point reads
 * and scans that miss the block cache read their blocks without an Effect and answer what the Effect path
 * answers; a block that turns out corrupt on that path still fails the read with its `DataError` (the
 * Effect path reads it again and reports it), never a wrong value. The store's request metrics count those
 * reads as they count the others.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Shale } from "../../src/db/Shale.ts"
import { DataError } from "../../src/errors.ts"
import { makeLocalNode } from "../../src/objectstore/LocalObjectStore.ts"
import type { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, listPaths, ND, openOn, s } from "./fixtures.ts"

type Store = ObjectStore["Service"]

const tempRoot = Effect.flatMap(FileSystem.FileSystem, (f) => f.makeTempDirectoryScoped({ prefix: "shale-readnow-" })).pipe(
  Effect.provide(NodeFileSystem.layer)
)

const KEYS = 3000
const keyOf = (i: number) => `key${String(i).padStart(6, "0")}`
const valueOf = (i: number) => `value-${i}-${"x".repeat(40)}`

/** `store` counting its ranged reads: through `getRange`, and answered by `getRangeNow` (or without it). */
const counting = (store: Store, withNow: boolean) => {
  const counts = { range: 0, now: 0 }
  const wrapped: Store = {
    ...store,
    getRange: (path, range) => {
      counts.range++
      return store.getRange(path, range)
    },
    getRangeNow: withNow
      ? (path, range) => {
        const bytes = store.getRangeNow!(path, range)
        if (bytes !== undefined) counts.now++
        return bytes
      }
      : undefined
  }
  return { store: wrapped, counts }
}

/** A database of KEYS keys in several L0 SSTs on a local directory; its root. */
const written = Effect.gen(function*() {
  const root = yield* tempRoot
  const { db, scope } = yield* openOn(yield* makeLocalNode({ root }))
  for (let f = 0; f < 3; f++) {
    for (let i = f; i < KEYS; i += 3) yield* db.put(b(keyOf(i)), b(valueOf(i)), ND)
    yield* db.flush({ type: "memtable" })
  }
  yield* db.close
  void scope
  return root
})

/** Opens the database at `root` with a block cache of a few blocks, so that most reads miss it. */
const reopen = (root: string, withNow: boolean) =>
  Effect.gen(function*() {
    const { store, counts } = counting(yield* makeLocalNode({ root }), withNow)
    const { db } = yield* openOn(store, { settings: { blockCacheBytes: 16 * 1024 } })
    return { db, counts, store }
  })

describe("reads on the calling thread (getRangeNow)", () => {
  it.effect("gets and scans that miss the cache read their blocks without an Effect and answer as the Effect path does", () =>
    Effect.gen(function*() {
      const root = yield* written
      const results: Array<{ gets: Array<string | undefined>; scan: ReadonlyArray<readonly [string, string]> }> = []
      for (const withNow of [true, false]) {
        const { db, counts } = yield* reopen(root, withNow)
        const gets: Array<string | undefined> = []
        for (let i = 0; i < KEYS + 50; i += 7) gets.push(s(yield* db.get(b(keyOf(i)))))
        const scan = yield* collect(db.scan({ start: b(keyOf(100)), end: b(keyOf(2100)) }))
        results.push({ gets, scan })
        if (withNow) {
          assert.isAbove(counts.now, 50, "blocks read on the calling thread")
          // The files' first reads (which open them) and larger pages go through getRange.
          assert.isBelow(counts.range, counts.now)
        } else {
          assert.strictEqual(counts.now, 0)
        }
      }
      const [now, effect] = results
      assert.deepStrictEqual(now!.gets, effect!.gets)
      assert.deepStrictEqual(now!.scan, effect!.scan)
      assert.strictEqual(now!.scan.length, 2000)
      for (let j = 0; j < now!.gets.length; j++) {
        const i = j * 7
        assert.strictEqual(now!.gets[j], i < KEYS ? valueOf(i) : undefined, keyOf(i))
      }
    }))

  it.effect("a corrupt block read on the calling thread fails the get or the scan with DataError, never a wrong value", () =>
    Effect.gen(function*() {
      const root = yield* written
      const { db, counts, store } = yield* reopen(root, true)
      // Open every SST file (a get of each one's first key), then corrupt the middle of each file's data.
      for (let f = 0; f < 3; f++) assert.strictEqual(s(yield* db.get(b(keyOf(f)))), valueOf(f))
      const ssts = (yield* listPaths(store, "db/compacted")).filter((p) => p.endsWith(".sst"))
      assert.strictEqual(ssts.length, 3)
      for (const path of ssts) {
        const file = `${root}/${path}`
        const fd = fs.openSync(file, "r+")
        fs.writeSync(fd, new Uint8Array(64).fill(0xee), 0, 64, 20_000)
        fs.closeSync(fd)
      }
      const before = counts.now
      let failed = 0
      for (let i = 0; i < KEYS; i += 11) {
        const got = yield* Effect.result(db.get(b(keyOf(i))))
        if (got._tag === "Failure") {
          assert.instanceOf(got.failure, DataError)
          failed++
        } else {
          assert.strictEqual(s(got.success), valueOf(i), keyOf(i))
        }
      }
      assert.isAbove(failed, 0)
      assert.isAbove(counts.now, before, "the intact blocks were still read on the calling thread")
      const scan = yield* Effect.flip(collect(db.scan({})))
      assert.instanceOf(scan, DataError)
    }))

  it("the Promise API's gets read on the calling thread too, and the store's metrics count those reads", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shale-readnow-"))
    try {
      const settings = { compactor: null, garbageCollector: null, blockCacheBytes: 16 * 1024 } as const
      const first = await Shale.open("db", { store: Shale.stores.local(dir), settings })
      for (let i = 0; i < KEYS; i++) await first.put(b(keyOf(i)), b(valueOf(i)), ND)
      await first.flush({ type: "memtable" })
      await first.close()
      const db = await Shale.open("db", { store: Shale.stores.local(dir), settings })
      const ranged = () => {
        const m = db.metrics().find((x) =>
          x.name === "slatedb.object_store.request_count" && x.labels.component === "db" && x.labels.api === "get_range"
        )
        return typeof m?.value === "number" ? m.value : 0
      }
      const before = ranged()
      // Out of order (gets in key order read ahead), so that nearly every get reads its block.
      for (let j = 0; j < 600; j++) {
        const i = (j * 7919) % KEYS
        assert.strictEqual(s(await db.get(b(keyOf(i)))), valueOf(i))
      }
      // One block read per get that misses the cache (a few blocks fit in it): counted, sync or not.
      assert.isAbove(ranged() - before, 300)
      await db.close()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
