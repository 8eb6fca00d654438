/**
 * Db benchmark: workload W1 (docs/design/benchmark.md §0) through the Effect API and the Promise API, on the memory
 * store and a local directory. Run from the repo root with Node 22:
 *
 *   node_modules/.bin/node packages/core/bench/db.ts [effect|promise|all] [memory|local|all] [N] [interval|eager|all]
 *
 * Each (api, store, mode) runs in a child process of its own (fresh heap; its peak RSS is reported).
 * Phases on one fresh database: put_nodurable_seq (N), put_durable_c256 (N/5, 256 in flight),
 * put_durable_seq (20, mean latency), flush memtable, get_random_seq (N/2 gets of (i*7919)%N),
 * scan_all. Each (api, store) runs in this process one after another; durable puts use SlateDB's
 * interval mode (100 ms) and, separately, eager mode, where a durable put costs one store PUT (the
 * local store's PUT is measured on its own for comparison).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Stream } from "effect"
import { Db } from "../src/db/Db.ts"
import { Shale } from "../src/db/Shale.ts"
import { LocalObjectStore } from "../src/objectstore/LocalObjectStore.ts"
import { ObjectStore } from "../src/objectstore/ObjectStore.ts"
import type { SettingsInput } from "../src/Settings.ts"

const args = process.argv.slice(2)
const apiArg = args[0] ?? "all"
const storeArg = args[1] ?? "all"
const N = Number(args[2] ?? 100_000)
const modeArg = args[3] ?? "all"
const C256 = Math.min(20_000, Math.floor(N / 5))
const SEQ = 20
const GETS = Math.floor(N / 2)

const enc = new TextEncoder()
const keys = Array.from({ length: N }, (_, i) => enc.encode(`key${String(i).padStart(13, "0")}`))
const valueOf = (i: number) => new Uint8Array(100).fill(i & 0xff)
const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
const now = () => performance.now()

type Row = Record<string, string>
const results: Array<Row> = []

const tempDir = () => mkdtempSync(join(tmpdir(), "shale-bench-"))

// ------------------------------------------------------------------ Effect API

const runEffect = (store: "memory" | "local", durableFlush: "interval" | "eager") =>
  Effect.gen(function*() {
    const db = yield* Db
    const row: Row = { api: "effect", store, mode: durableFlush }
    let t = now()
    for (let i = 0; i < N; i++) yield* db.put(keys[i]!, valueOf(i), { awaitDurable: false })
    row.put_nodurable_seq = fmt(N / ((now() - t) / 1000))
    t = now()
    yield* Effect.forEach(Array.from({ length: C256 }, (_, i) => i), (i) => db.put(keys[i]!, valueOf(i)), {
      concurrency: 256,
      discard: true
    })
    row.put_durable_c256 = fmt(C256 / ((now() - t) / 1000))
    t = now()
    for (let i = 0; i < SEQ; i++) yield* db.put(keys[i]!, valueOf(i + 1))
    row.put_durable_seq_ms = ((now() - t) / SEQ).toFixed(2)
    t = now()
    yield* db.flush({ type: "memtable" })
    row.flush_ms = (now() - t).toFixed(0)
    t = now()
    let found = 0
    for (let i = 0; i < GETS; i++) if ((yield* db.get(keys[(i * 7919) % N]!)) !== undefined) found++
    row.get_random_seq = fmt(GETS / ((now() - t) / 1000))
    if (found !== GETS) throw new Error(`found ${found} of ${GETS}`)
    t = now()
    const rows = yield* Stream.runCount(db.scan({}))
    row.scan_all = fmt(rows / ((now() - t) / 1000))
    if (rows !== N) throw new Error(`scanned ${rows} of ${N}`)
    results.push(row)
  })

const effectRun = async (store: "memory" | "local", durableFlush: "interval" | "eager") => {
  const dir = store === "local" ? tempDir() : undefined
  const storeLayer: Layer.Layer<ObjectStore, unknown> = dir === undefined
    ? ObjectStore.layerMemory
    : LocalObjectStore.layer({ root: dir })
  const settings: SettingsInput = { durableFlush }
  await Effect.runPromise(
    runEffect(store, durableFlush).pipe(
      Effect.provide(Db.layer({ path: "bench", settings }).pipe(Layer.provide(storeLayer)))
    ) as Effect.Effect<void>
  )
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
}

// ------------------------------------------------------------------ Promise API

const promiseRun = async (store: "memory" | "local", durableFlush: "interval" | "eager") => {
  const dir = store === "local" ? tempDir() : undefined
  const db = await Shale.open("bench", {
    store: dir === undefined ? Shale.stores.memory() : Shale.stores.local(dir),
    settings: { durableFlush }
  })
  const row: Row = { api: "promise", store, mode: durableFlush }
  let t = now()
  for (let i = 0; i < N; i++) await db.put(keys[i]!, valueOf(i), { awaitDurable: false })
  row.put_nodurable_seq = fmt(N / ((now() - t) / 1000))
  t = now()
  let next = 0
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < C256) {
      const i = next++
      await db.put(keys[i]!, valueOf(i))
    }
  }))
  row.put_durable_c256 = fmt(C256 / ((now() - t) / 1000))
  t = now()
  for (let i = 0; i < SEQ; i++) await db.put(keys[i]!, valueOf(i + 1))
  row.put_durable_seq_ms = ((now() - t) / SEQ).toFixed(2)
  t = now()
  await db.flush({ type: "memtable" })
  row.flush_ms = (now() - t).toFixed(0)
  t = now()
  let found = 0
  for (let i = 0; i < GETS; i++) if ((await db.get(keys[(i * 7919) % N]!)) !== undefined) found++
  row.get_random_seq = fmt(GETS / ((now() - t) / 1000))
  if (found !== GETS) throw new Error(`found ${found} of ${GETS}`)
  t = now()
  let rows = 0
  for await (const _ of db.scan({})) rows++
  row.scan_all = fmt(rows / ((now() - t) / 1000))
  if (rows !== N) throw new Error(`scanned ${rows} of ${N}`)
  await db.close()
  results.push(row)
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
}

/** One create-only PUT of a W1-sized WAL SST on the local store (the eager-mode yardstick). */
const localPutMs = async () => {
  const dir = tempDir()
  const bytes = new Uint8Array(200).fill(7)
  const ms = await Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const t = now()
      for (let i = 0; i < SEQ; i++) yield* store.put(`p/${i}.sst`, bytes, { mode: "create" })
      return (now() - t) / SEQ
    }).pipe(Effect.provide(LocalObjectStore.layer({ root: dir }))) as Effect.Effect<number>
  )
  rmSync(dir, { recursive: true, force: true })
  return ms
}

const child = async (api: string, store: "memory" | "local", mode: "interval" | "eager") => {
  if (api === "effect") await effectRun(store, mode)
  else await promiseRun(store, mode)
  const row = results[results.length - 1]!
  row.peak_rss_mb = (process.resourceUsage().maxRSS / 1024).toFixed(0)
  console.log(`RESULT ${JSON.stringify(row)}`)
}

const main = async () => {
  if (process.env.SHALE_BENCH_CHILD === "1") return child(apiArg, storeArg as "memory" | "local", modeArg as "interval" | "eager")
  const { execFileSync } = await import("node:child_process")
  const stores = storeArg === "all" ? (["memory", "local"] as const) : [storeArg as "memory" | "local"]
  const apis = apiArg === "all" ? (["effect", "promise"] as const) : [apiArg as "effect" | "promise"]
  const modes = modeArg === "all" ? (["interval", "eager"] as const) : [modeArg as "interval" | "eager"]
  for (const mode of modes) {
    for (const store of stores) {
      for (const api of apis) {
        const out = execFileSync(process.execPath, [process.argv[1]!, api, store, String(N), mode], {
          env: { ...process.env, SHALE_BENCH_CHILD: "1" },
          encoding: "utf8",
          maxBuffer: 1 << 26
        })
        const line = out.split("\n").find((l) => l.startsWith("RESULT "))
        if (line === undefined) throw new Error(`no result from ${api}/${store}/${mode}:\n${out}`)
        results.push(JSON.parse(line.slice(7)) as Row)
        console.log(line.slice(7))
      }
    }
  }
  if (stores.includes("local" as never)) console.log(`local store create-only PUT: ${(await localPutMs()).toFixed(2)} ms`)
  console.table(results)
  console.log(`N=${N} c256=${C256} seq=${SEQ} gets=${GETS}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
