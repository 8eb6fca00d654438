/**
 * Micro-benchmark of the SST format code on workload W1 rows (16-byte keys "key" + i zero-padded to 13
 * digits, 100-byte values, N = 100,000):
 * - build a compacted SST and a WAL SST (encode: rows → bytes, incl. bloom filter, CRCs, FlatBuffers);
 * - full read of the compacted SST: pure decoding (blocks → rows) and through the Effect reader (open +
 *   `scan()` stream over the in-memory object store);
 * - point lookups through the reader with a warm block cache (present keys, and absent keys answered by
 *   the bloom filter);
 * - the same build/read with each compression codec.
 *
 * Run: node_modules/.bin/node packages/core/bench/format.ts [N]
 */
import { Effect, Stream } from "effect"
import { type Block, decodeBlock, decodeBlockRows } from "../src/format/Block.ts"
import { verifyChecksum } from "../src/format/Checksum.ts"
import { decompress } from "../src/format/Compression.ts"
import { makeValue, type RowEntry } from "../src/format/RowEntry.ts"
import { CompressionFormat } from "../src/format/SstMetadata.ts"
import { buildSsTable, buildWalSsTable } from "../src/format/SsTableBuilder.ts"
import { type SstBlockCache, SsTableReader } from "../src/sst/SsTableReader.ts"
import { ObjectStore } from "../src/objectstore/ObjectStore.ts"

const N = Number(process.argv[2] ?? 100_000)
const encoder = new TextEncoder()

let seed = 42
const nextByte = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed >>> 16
}
const rows: Array<RowEntry> = Array.from({ length: N }, (_, i) => {
  const value = new Uint8Array(100)
  for (let j = 0; j < 100; j++) value[j] = 0x61 + (nextByte() % 26)
  return makeValue(encoder.encode(`key${String(i).padStart(13, "0")}`), value, i + 1, 1_700_000_000_000 + i)
})
const rawBytes = rows.reduce((s, r) => s + r.key.length + r.value.length, 0)

const time = (f: () => void, minMs = 1500): number => {
  f() // warm-up
  let runs = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < minMs || runs < 3) {
    f()
    runs++
    t = performance.now()
  }
  return (t - t0) / runs
}

const timeAsync = async (f: () => Promise<void>, minMs = 1500): Promise<number> => {
  await f()
  let runs = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < minMs || runs < 3) {
    await f()
    runs++
    t = performance.now()
  }
  return (t - t0) / runs
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
const line = (name: string, ms: number, count: number, bytes: number) =>
  console.log(
    `${name.padEnd(44)} ${ms.toFixed(2).padStart(9)} ms  ${fmt((count / ms) * 1000).padStart(11)} rows/s  ${
      ((bytes / ms) * 1000 / 1e6).toFixed(1).padStart(7)
    } MB/s`
  )

console.log(`N = ${fmt(N)} rows, ${(rawBytes / 1e6).toFixed(1)} MB of keys+values; MB/s counts keys+values\n`)

const codecs = [
  ["none", CompressionFormat.None],
  ["snappy", CompressionFormat.Snappy],
  ["lz4", CompressionFormat.Lz4],
  ["zstd", CompressionFormat.Zstd],
  ["zlib", CompressionFormat.Zlib]
] as const

/** Pure decoding of every data block of an SST held in memory. */
const decodeAll = (bytes: Uint8Array, reader: SsTableReader): number => {
  let count = 0
  const meta = reader.blockMeta
  for (let i = 0; i < meta.length; i++) {
    const end = i + 1 < meta.length ? meta[i + 1]!.offset : reader.info.filterOffset
    const stored = verifyChecksum(bytes.subarray(meta[i]!.offset, end), { section: `block ${i}` })
    count += decodeBlockRows(decodeBlock(decompress(reader.info.compressionFormat, stored), 2)).length
  }
  return count
}

const program = Effect.gen(function*() {
  const store = yield* ObjectStore
  for (const [name, compression] of codecs) {
    if (name !== "none") console.log("")
    let sst: Uint8Array = new Uint8Array(0)
    const buildMs = time(() => {
      sst = buildSsTable(rows, { compression }).bytes
    })
    line(`build compacted SST (${name}, ${(sst.length / 1e6).toFixed(1)} MB)`, buildMs, N, rawBytes)
    if (name === "none") {
      let wal: Uint8Array = new Uint8Array(0)
      const walMs = time(() => {
        wal = buildWalSsTable(rows, { compression }).bytes
      })
      line(`build WAL SST (${name}, ${(wal.length / 1e6).toFixed(1)} MB)`, walMs, N, rawBytes)
    }
    const path = `bench/${name}.sst`
    yield* store.put(path, sst)
    const reader = yield* SsTableReader.open(path, { size: sst.length })
    let decoded = 0
    const decodeMs = time(() => {
      decoded = decodeAll(sst, reader)
    })
    if (decoded !== N) throw new Error(`decoded ${decoded} rows`)
    line(`decode all blocks, pure (${name})`, decodeMs, N, rawBytes)
    const readMs = yield* Effect.promise(() =>
      timeAsync(async () => {
        const n = await Effect.runPromise(
          SsTableReader.open(path, { size: sst.length, readAheadBlocks: 64 }).pipe(
            Effect.flatMap((r) => Stream.runFold(r.scan(), () => 0, (acc) => acc + 1)),
            Effect.provideService(ObjectStore, store)
          )
        )
        if (n !== N) throw new Error(`scanned ${n} rows`)
      })
    )
    line(`open + scan() via Effect reader (${name})`, readMs, N, rawBytes)
  }

  // Point lookups with a warm block cache.
  const { bytes } = buildSsTable(rows)
  yield* store.put("bench/get.sst", bytes)
  const map = new Map<string, Block>()
  const cache: SstBlockCache = {
    table: (path) => ({ get: (i) => map.get(`${path}#${i}`), set: (i, b) => void map.set(`${path}#${i}`, b) })
  }
  const reader = yield* SsTableReader.open("bench/get.sst", { size: bytes.length, cache })
  yield* Stream.runDrain(reader.scan()) // warm: (scan does not fill the cache) ...
  for (let i = 0; i < N; i += 10) yield* reader.get(rows[i]!.key) // ... point reads do
  const lookups = 50_000
  const keys = Array.from({ length: lookups }, (_, i) => rows[(i * 7919) % N]!.key)
  const absent = Array.from({ length: lookups }, (_, i) => encoder.encode(`key${String(N + i).padStart(13, "0")}`))
  for (const [label, list, expectFound] of [["present keys", keys, true], ["absent keys (bloom)", absent, false]] as const) {
    const t0 = performance.now()
    for (const k of list) {
      const row = yield* reader.get(k)
      if ((row !== undefined) !== expectFound) throw new Error("wrong lookup result")
    }
    const ms = performance.now() - t0
    console.log(`${`get(), warm block cache, ${label}`.padEnd(44)} ${ms.toFixed(2).padStart(9)} ms  ${fmt((lookups / ms) * 1000).padStart(11)} gets/s  ${(ms * 1000 / lookups).toFixed(2)} µs/get`)
  }
  const t0 = performance.now()
  let found = 0
  for (const k of keys) {
    if (reader.mightContain(k)) found++
  }
  const ms = performance.now() - t0
  console.log(`${"bloom filter query".padEnd(44)} ${ms.toFixed(2).padStart(9)} ms  ${fmt((lookups / ms) * 1000).padStart(11)} q/s  (${found} maybe)`)
})

await Effect.runPromise(program.pipe(Effect.provide(ObjectStore.layerMemory)))
