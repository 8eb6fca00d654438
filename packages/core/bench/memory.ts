/**
 * Memory limits benchmark: does the configured memory (the memtable's `l0SstSizeBytes`, the unflushed
 * limit `maxUnflushedBytes`, the block cache `blockCacheBytes`) bound the process's RSS? Run from the repo
 * root with Node 22:
 *
 *   node_modules/.bin/node packages/core/bench/memory.ts            # every configuration, each in a child
 *   node_modules/.bin/node packages/core/bench/memory.ts child <l0 MiB> <unflushed MiB> <value bytes> <rows>
 *
 * Each child opens a fresh database on a local directory whose PUTs answer 50 ms late (so unflushed data
 * builds up to the limit), writes `rows` keys of 16 bytes with values of the given size through the
 * Promise API (`awaitDurable: false`, each put awaited: a writer that backpressure slows down), then
 * reports its peak RSS above the RSS it had before opening (Node, the harness, the keys) and that
 * increase divided by the configured total `l0SstSizeBytes + maxUnflushedBytes + blockCacheBytes`.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { Shale } from "../src/db/Shale.ts"
import { LocalObjectStore } from "../src/objectstore/LocalObjectStore.ts"
import { ObjectStore } from "../src/objectstore/ObjectStore.ts"

const MiB = 1024 * 1024
const BLOCK_CACHE = 16 * MiB

const slowLocal = (root: string) =>
  Layer.effect(
    ObjectStore,
    Effect.gen(function*() {
      const store = yield* ObjectStore
      return ObjectStore.of({ ...store, put: (p, b, o) => Effect.andThen(Effect.sleep(50), store.put(p, b, o)) })
    })
  ).pipe(Layer.provide(LocalObjectStore.layer({ root })))

const child = async (l0Mib: number, unflushedMib: number, valueBytes: number, rows: number) => {
  const dir = mkdtempSync(join(tmpdir(), "shale-memory-"))
  const enc = new TextEncoder()
  const value = new Uint8Array(valueBytes).fill(0x61)
  const key = new Uint8Array(16)
  const base = process.memoryUsage().rss
  let peak = base
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20)
  const db = await Shale.open("db", {
    store: slowLocal(dir),
    settings: { l0SstSizeBytes: l0Mib * MiB, maxUnflushedBytes: unflushedMib * MiB, blockCacheBytes: BLOCK_CACHE }
  })
  const t0 = performance.now()
  for (let i = 0; i < rows; i++) {
    enc.encodeInto(`key${String(i).padStart(13, "0")}`, key)
    await db.put(key, value, { awaitDurable: false })
  }
  const ms = performance.now() - t0
  await db.close()
  clearInterval(sample)
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024)
  rmSync(dir, { recursive: true, force: true })
  const configured = (l0Mib + unflushedMib) * MiB + BLOCK_CACHE
  process.stdout.write(JSON.stringify({ l0Mib, unflushedMib, valueBytes, rows, ms, base, peak, configured }) + "\n")
}

const CONFIGS: ReadonlyArray<readonly [number, number, number, number]> = [
  // l0 MiB, unflushed MiB, value bytes, rows (about 3× the configured memory, counted as the engine does)
  [8, 32, 32, 360_000],
  [8, 32, 1000, 120_000],
  [32, 128, 32, 1_400_000],
  [32, 128, 1000, 420_000]
]

const driver = () => {
  const fmt = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`
  console.log("| l0SstSizeBytes | maxUnflushedBytes | value | rows | puts/s | RSS above baseline | configured total | ratio |")
  console.log("|---|---|---|---|---|---|---|---|")
  for (const [l0, unflushed, value, rows] of CONFIGS) {
    const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, "child", `${l0}`, `${unflushed}`, `${value}`, `${rows}`], {
      encoding: "utf8",
      maxBuffer: 1 << 20
    })
    const r = JSON.parse(out.trim().split("\n").pop()!) as { ms: number; base: number; peak: number; configured: number }
    const above = r.peak - r.base
    console.log(
      `| ${l0} MiB | ${unflushed} MiB | ${value} B | ${rows.toLocaleString("en-US")} | ${Math.round(rows / (r.ms / 1000)).toLocaleString("en-US")} | ` +
        `${fmt(above)} | ${fmt(r.configured)} | ${(above / r.configured).toFixed(2)} |`
    )
  }
}

if (process.argv[2] === "child") {
  const [l0, unflushed, value, rows] = process.argv.slice(3).map(Number) as [number, number, number, number]
  await child(l0, unflushed, value, rows)
} else {
  driver()
}
