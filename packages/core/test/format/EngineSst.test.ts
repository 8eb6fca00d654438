/**
 * Interop with the official engine (`@slatedb/uniffi@0.12.1`):
 * - every WAL SST and L0 SST the engine wrote decodes to exactly the rows written (all codecs, several
 *   block sizes), point lookups find them, bloom filters are bit-identical to ours;
 * - re-encoding the decoded rows with Shale's builders gives byte-identical files (except zlib, whose
 *   deflate output differs between miniz_oxide and zlib: there the decompressed sections are identical);
 * - the engine's `WalReader` reads WAL SSTs written by Shale.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { buildBloomFilter } from "../../src/format/BloomFilter.ts"
import { verifyChecksum } from "../../src/format/Checksum.ts"
import { decompress } from "../../src/format/Compression.ts"
import { type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import { CompressionFormat, SstType } from "../../src/format/SstMetadata.ts"
import { buildSsTable, buildWalSsTable, concatChunks, WalSsTableBuilder } from "../../src/format/SsTableBuilder.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import type { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import {
  type EngineBlockSize,
  type EngineCompression,
  type EngineDb,
  expectedL0s,
  mixedWorkload,
  readWalWithEngine,
  writeEngineDb,
  type WrittenRow
} from "../support/slatedb.ts"
import { hex, plain } from "./fixtures.ts"

const blockSizes: Record<EngineBlockSize, number> = {
  Block1Kib: 1024,
  Block2Kib: 2048,
  Block4Kib: 4096,
  Block8Kib: 8192,
  Block16Kib: 16384,
  Block32Kib: 32768,
  Block64Kib: 65536
}
const formats: Record<EngineCompression | "None", CompressionFormat> = {
  None: CompressionFormat.None,
  Snappy: CompressionFormat.Snappy,
  Zlib: CompressionFormat.Zlib,
  Lz4: CompressionFormat.Lz4,
  Zstd: CompressionFormat.Zstd
}

const fromWritten = (r: WrittenRow): RowEntry => ({
  key: r.key,
  kind: r.kind === "tombstone" ? RowKind.Tombstone : RowKind.Value,
  value: r.value,
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})

const scenarios: ReadonlyArray<{ readonly compression: EngineCompression | "None"; readonly blockSize: EngineBlockSize }> = [
  { compression: "None", blockSize: "Block4Kib" },
  { compression: "None", blockSize: "Block1Kib" },
  { compression: "None", blockSize: "Block64Kib" },
  { compression: "Snappy", blockSize: "Block1Kib" },
  { compression: "Zlib", blockSize: "Block4Kib" },
  { compression: "Lz4", blockSize: "Block2Kib" },
  { compression: "Zstd", blockSize: "Block4Kib" }
]

const ops = mixedWorkload({ writes: 4000, seed: 7 })

for (const scenario of scenarios) {
  const { compression, blockSize } = scenario
  const format = formats[compression]
  const bs = blockSizes[blockSize]

  describe(`engine-written SSTs: ${compression}, ${blockSize}`, () => {
    let db: EngineDb
    beforeAll(async () => {
      db = await writeEngineDb(ops, {
        blockSize,
        ...(compression === "None" ? {} : { compression })
      })
    }, 60_000)
    afterAll(() => db?.cleanup())

    const withStore = <A, E>(eff: Effect.Effect<A, E, ObjectStore>) =>
      eff.pipe(Effect.provide(LocalObjectStore.layer({ root: db.dir })))

    it.effect("WAL SSTs decode to every row written, in order", () =>
      withStore(Effect.gen(function*() {
        const wal = db.listObjects("wal")
        assert.isAbove(wal.length, 10)
        const decoded: Array<RowEntry> = []
        for (const path of wal) {
          const r = yield* SsTableReader.open(path)
          assert.strictEqual(r.info.compressionFormat, format)
          const rows = yield* Stream.runCollect(r.scan())
          if (r.info.sstType === SstType.Compacted) {
            // the fence SST: the compacted builder over zero rows
            assert.strictEqual(rows.length, 0)
            continue
          }
          assert.strictEqual(r.info.sstType, SstType.Wal)
          assert.strictEqual(r.filter, undefined)
          assert.strictEqual(r.info.statsLen, 0)
          assert.strictEqual(hex(r.info.firstEntry!), rows[0]!.seq.toString(16).padStart(16, "0"))
          for (const [i, m] of r.blockMeta.entries()) assert.strictEqual(m.firstKey.length, 8, `block ${i} key`)
          decoded.push(...rows)
        }
        assert.deepStrictEqual(decoded.map(plain), db.rows.map(fromWritten).map(plain))
      })))

    it.effect("L0 SSTs hold the latest row per key of each memtable, and point lookups find them", () =>
      withStore(Effect.gen(function*() {
        const l0 = db.listObjects("compacted") // ULIDs: creation order
        const expected = expectedL0s(ops, db.rows)
        assert.strictEqual(l0.length, expected.length)
        for (const [i, path] of l0.entries()) {
          const r = yield* SsTableReader.open(path)
          const want = expected[i]!.map(fromWritten)
          const rows = yield* Stream.runCollect(r.scan())
          assert.deepStrictEqual(rows.map(plain), want.map(plain))
          assert.strictEqual(hex(r.info.firstEntry!), hex(want[0]!.key))
          assert.strictEqual(hex(r.info.lastEntry!), hex(want[want.length - 1]!.key))
          const stats = (yield* r.readStats())!
          assert.strictEqual(stats.numPuts + stats.numDeletes + stats.numMerges, want.length)
          assert.strictEqual(stats.numDeletes, want.filter((w) => w.kind === RowKind.Tombstone).length)
          assert.strictEqual(stats.blockStats.length, r.numBlocks)
          for (const w of want) {
            const got = yield* r.get(w.key)
            assert.deepStrictEqual(got === undefined ? undefined : plain(got), plain(w))
            assert.strictEqual(yield* r.get(w.key, w.seq - 1), undefined)
          }
          for (const absent of ["key-", "key-0000000", "key-999999z", "a", "zzz"]) {
            assert.strictEqual(yield* r.get(new TextEncoder().encode(absent)), undefined)
          }
        }
      })))

    it.effect("bloom filters are bit-identical to Shale's over the same keys", () =>
      withStore(Effect.gen(function*() {
        let checked = 0
        for (const path of db.listObjects("compacted")) {
          const r = yield* SsTableReader.open(path)
          const rows = yield* Stream.runCollect(r.scan())
          if (rows.length < 1000) {
            assert.strictEqual(r.filter, undefined)
            continue
          }
          const ours = buildBloomFilter(rows.map((x) => x.key))
          assert.strictEqual(r.filter!.numProbes, 6)
          assert.strictEqual(hex(r.filter!.bits), hex(ours.bits))
          checked++
        }
        assert.isAbove(checked, 0, "the workload must produce SSTs with filters")
      })))

    it.effect(
      compression === "Zlib"
        ? "re-encoding with Shale gives identical uncompressed sections (zlib bytes differ)"
        : "re-encoding with Shale gives byte-identical files",
      () =>
        withStore(Effect.gen(function*() {
          for (const path of [...db.listObjects("wal"), ...db.listObjects("compacted")]) {
            const r = yield* SsTableReader.open(path)
            const rows = yield* Stream.runCollect(r.scan())
            const ours = r.info.sstType === SstType.Wal
              ? buildWalSsTable(rows, { blockSize: bs, compression: format })
              : buildSsTable(rows, { blockSize: bs, compression: format })
            const theirs = db.readObject(path)
            if (compression !== "Zlib") {
              assert.strictEqual(Buffer.compare(Buffer.from(ours.bytes), Buffer.from(theirs)), 0, path)
              continue
            }
            // zlib: same block boundaries and same uncompressed contents
            const t = ours.table
            assert.strictEqual(t.blockMeta.length, r.numBlocks, path)
            for (let i = 0; i < r.numBlocks; i++) {
              assert.strictEqual(hex(t.blockMeta[i]!.firstKey), hex(r.blockMeta[i]!.firstKey))
              const raw = (bytes: Uint8Array, start: number, end: number) =>
                decompress(format, verifyChecksum(bytes.subarray(start, end), { section: `block ${i}` }))
              const end = (meta: typeof r.blockMeta, filterOffset: number) =>
                i + 1 < meta.length ? meta[i + 1]!.offset : filterOffset
              assert.strictEqual(
                hex(raw(ours.bytes, t.blockMeta[i]!.offset, end(t.blockMeta, t.info.filterOffset))),
                hex(raw(theirs, r.blockMeta[i]!.offset, end(r.blockMeta, r.info.filterOffset))),
                `${path} block ${i}`
              )
            }
            const section = (bytes: Uint8Array, offset: number, len: number) =>
              len === 0 ? "" : hex(decompress(format, verifyChecksum(bytes.subarray(offset, offset + len), { section: "s" })))
            assert.strictEqual(section(ours.bytes, t.info.filterOffset, t.info.filterLen), section(theirs, r.info.filterOffset, r.info.filterLen))
            assert.strictEqual(section(ours.bytes, t.info.statsOffset, t.info.statsLen), section(theirs, r.info.statsOffset, r.info.statsLen))
            assert.deepStrictEqual(
              { ...t.info, indexOffset: 0, indexLen: 0, filterOffset: 0, filterLen: 0, statsOffset: 0, statsLen: 0 },
              { ...r.info, indexOffset: 0, indexLen: 0, filterOffset: 0, filterLen: 0, statsOffset: 0, statsLen: 0 }
            )
          }
        }))
    )
  })
}

describe("the engine reads Shale's WAL SSTs", () => {
  let db: EngineDb
  let dir: string
  beforeAll(async () => {
    db = await writeEngineDb(mixedWorkload({ writes: 600, seed: 3, memtableEvery: 10_000 }))
    dir = mkdtempSync(join(tmpdir(), "shale-wal-"))
  }, 60_000)
  afterAll(() => {
    db?.cleanup()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("WalReader returns the rows Shale wrote (several files, codecs, block sizes)", async () => {
    const rows = db.rows.map(fromWritten)
    mkdirSync(join(dir, "db", "wal"), { recursive: true })
    const files: Array<ReadonlyArray<RowEntry>> = []
    const codecs = [CompressionFormat.None, CompressionFormat.Snappy, CompressionFormat.Zlib, CompressionFormat.Lz4, CompressionFormat.Zstd]
    for (let i = 0, id = 1; i < rows.length; i += 150, id++) {
      const chunk = rows.slice(i, i + 150)
      const b = new WalSsTableBuilder({ blockSize: id % 2 === 0 ? 1024 : 4096, compression: codecs[id % codecs.length]! })
      for (const r of chunk) b.add(r)
      writeFileSync(join(dir, "db", "wal", `${String(id).padStart(20, "0")}.sst`), concatChunks(b.finish().chunks))
      files.push(chunk)
    }
    const read = await readWalWithEngine(dir)
    assert.strictEqual(read.length, files.length)
    for (const [i, f] of read.entries()) {
      assert.strictEqual(f.id, i + 1)
      assert.deepStrictEqual(
        f.rows.map((r) => ({
          key: hex(r.key),
          kind: r.kind === "Tombstone" ? RowKind.Tombstone : r.kind === "Merge" ? RowKind.Merge : RowKind.Value,
          value: hex(r.value ?? new Uint8Array(0)),
          seq: r.seq,
          createTs: r.createTs,
          expireTs: r.expireTs
        })),
        files[i]!.map(plain)
      )
    }
  })
})
