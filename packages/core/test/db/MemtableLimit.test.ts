/**
 * When the active memtable freezes (db/MemtableLimit.ts): at `l0SstSizeBytes` of SlateDB's estimated
 * encoded size, so L0 SSTs are about as large as configured; or at a quarter of `maxUnflushedBytes` of heap
 * memory, so rows whose heap cost is many times their encoded size do not grow it without bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { compactedSstPath, manifestDir } from "../../src/format/Paths.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { listPaths, ND, openOn } from "./fixtures.ts"

const KiB = 1024
const key = (i: number) => new TextEncoder().encode(`key-${String(i).padStart(12, "0")}`) // 16 bytes

/** The L0 SSTs the writer froze by size (all but the newest, which the final flush cut): bytes and rows. */
const frozenL0 = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const paths = yield* listPaths(store, manifestDir("db"))
    const manifest = decodeManifest(yield* store.get(paths.at(-1)!))
    const out: Array<{ readonly bytes: number; readonly rows: number }> = []
    for (const sst of manifest.l0.slice(1)) {
      const path = compactedSstPath("db", sst.id)
      const reader = yield* SsTableReader.open(path)
      out.push({ bytes: reader.size, rows: (yield* Stream.runCollect(reader.scan())).length })
    }
    return out
  }).pipe(Effect.provideService(ObjectStore, store))

const load = (settings: { readonly l0SstSizeBytes: number; readonly maxUnflushedBytes: number }, rows: number, valueBytes: number) =>
  Effect.gen(function*() {
    const store = makeMemory()
    const { db } = yield* openOn(store, { settings: { ...settings, compactor: null } })
    const value = new Uint8Array(valueBytes).fill(7)
    for (let i = 0; i < rows; i++) yield* db.put(key(i), value, ND)
    yield* db.flush({ type: "memtable" })
    return yield* frozenL0(store)
  })

describe("Db: the memtable's size limit", () => {
  it.effect("100-byte values: L0 SSTs of about l0SstSizeBytes, not a third of it (the heap cost)", () =>
    Effect.gen(function*() {
      const l0 = yield* load({ l0SstSizeBytes: 64 * KiB, maxUnflushedBytes: 64 * 1024 * KiB }, 3_000, 100)
      assert.isAtLeast(l0.length, 3)
      // A row's estimate is 16 + 100 + 8 + 8 = 132 bytes: ~496 rows per 64 KiB (the heap rule froze at ~157).
      for (const sst of l0) {
        assert.approximately(sst.rows, 497, 3)
        assert.isAbove(sst.bytes, 0.8 * 64 * KiB)
      }
    }))

  it.effect("empty values: frozen at a quarter of maxUnflushedBytes of memory, before the estimate is reached", () =>
    Effect.gen(function*() {
      const l0 = yield* load({ l0SstSizeBytes: 64 * KiB, maxUnflushedBytes: 512 * KiB }, 3_000, 0)
      assert.isAtLeast(l0.length, 3)
      // 128 KiB of memory at 16 + 0 + 300 bytes a row: 415 rows (estimate 415 × 32 bytes, far below 64 KiB).
      for (const sst of l0) assert.approximately(sst.rows, 415, 3)
    }))
})
