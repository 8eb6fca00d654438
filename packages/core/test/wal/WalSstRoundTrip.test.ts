/**
 * The WAL buffer with the real WAL SST encoder: what `flush()` writes decodes, with `SsTableReader`, to
 * the rows that were appended, and is byte-identical to SlateDB 0.12.1's WAL SST (golden vector from
 * docs/format.md §2.3).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric, Stream } from "effect"
import {
  makeMerge,
  makeTombstone,
  makeValue,
  ObjectStore,
  type RowEntry,
  RowKind
} from "../../src/internal.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { SstType } from "../../src/format/SstMetadata.ts"
import { MonotonicClock } from "../../src/MonotonicClock.ts"
import { Oracle } from "../../src/Oracle.ts"
import { WalBufferManager } from "../../src/wal/WalBufferManager.ts"
import { WalIdAllocator } from "../../src/wal/WalIdAllocator.ts"
import { WalSstWriter } from "../../src/wal/WalSstWriter.ts"
import { bytes, row } from "./fixtures.ts"

const ROOT = "db"

const realStack = WalBufferManager.layer({ maxFlushInterval: "Infinity" }).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      WalSstWriter.layer({ root: ROOT }),
      WalIdAllocator.layerCounter(1),
      Oracle.layer(),
      MonotonicClock.layer()
    ).pipe(Layer.provideMerge(ObjectStore.layerMemory))
  )
)

const withRealEncoder = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.provide(realStack), Effect.provideService(Metric.MetricRegistry, new Map()))

const readWal = (id: number) =>
  Effect.gen(function*() {
    const reader = yield* SsTableReader.open(walSstPath(ROOT, id))
    const rows = yield* Stream.runCollect(reader.scan())
    return { reader, rows: Array.from(rows) }
  })

const plain = (r: RowEntry) => ({
  key: Array.from(r.key),
  kind: r.kind,
  value: Array.from(r.value),
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})

const fromHex = (hex: string): Uint8Array => {
  const clean = hex.replace(/\s+/g, "")
  const out = new Uint8Array(clean.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16)
  return out
}

describe("WAL SSTs written by the WAL buffer (real encoder)", () => {
  it.effect("append + flush writes a WAL SST that decodes to the same rows, in order", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const batch1 = [
        makeValue(bytes("b"), bytes("v1"), 1, 1000, 5000),
        makeValue(bytes("a"), bytes("v2"), 1, 1000)
      ]
      const batch2 = [makeTombstone(bytes("a"), 2, 1001), makeMerge(bytes("m"), bytes("+1"), 2, 1001)]
      const batch3 = [row("c", "", 3)]
      for (const b of [batch1, batch2, batch3]) yield* wal.append(b)
      yield* wal.flush()

      const { reader, rows } = yield* readWal(1)
      assert.isTrue(reader.isWal)
      assert.strictEqual(reader.info.sstType, SstType.Wal)
      assert.deepStrictEqual(Array.from(reader.info.firstEntry!), [0, 0, 0, 0, 0, 0, 0, 1])
      assert.deepStrictEqual(rows.map(plain), [...batch1, ...batch2, ...batch3].map(plain))
      assert.strictEqual(rows[2]!.kind, RowKind.Tombstone)
      assert.strictEqual(rows[3]!.kind, RowKind.Merge)
    }).pipe(withRealEncoder))

  it.effect("many rows over many blocks and several WALs decode back in order", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const all: Array<RowEntry> = []
      for (let w = 0; w < 3; w++) {
        for (let i = 0; i < 500; i++) {
          const seq = w * 500 + i + 1
          const r = makeValue(bytes(`key${String(seq).padStart(13, "0")}`), new Uint8Array(100).fill(seq % 251), seq, seq)
          all.push(r)
          yield* wal.append([r])
        }
        yield* wal.flush()
      }
      const read: Array<RowEntry> = []
      for (let id = 1; id <= 3; id++) {
        const { reader, rows } = yield* readWal(id)
        assert.isAbove(reader.numBlocks, 10)
        read.push(...rows)
      }
      assert.deepStrictEqual(read.map(plain), all.map(plain))
    }).pipe(withRealEncoder))

  it.effect("a one-row WAL is byte-identical to SlateDB 0.12.1's (golden vector)", () =>
    Effect.gen(function*() {
      const wal = yield* WalBufferManager
      const store = yield* ObjectStore
      yield* wal.append([row("key1", "value1", 1, 0x1a20e64c38d)])
      yield* wal.flush()
      const sst = yield* store.get(walSstPath(ROOT, 1))
      const block = fromHex("00 04 06 6b657931 76616c756531 0000000000000001 04 000001a20e64c38d 0000 0001 9e00b22f")
      assert.deepStrictEqual(Array.from(sst.subarray(0, block.length)), Array.from(block))
      assert.deepStrictEqual(Array.from(sst.subarray(sst.length - 10)), Array.from(fromHex("0000000000000062 0002")))
    }).pipe(withRealEncoder))
})
