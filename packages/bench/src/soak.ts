/**
 * A long run of one Shale database with its embedded compactor and garbage collector, to see whether it
 * stays fast and bounded while writes go on (docs/design/benchmark.md §8): the store's objects and bytes,
 * the process's memory, L0 and the sorted runs, and the latency of puts and gets, sampled over the run.
 *
 *   node --conditions=@shale/source packages/bench/src/soak.ts [--store s3|local] [--dir D]
 *       [--minutes 30] [--keys 200000] [--rate 2000] [--gets 500] [--sample 60]
 *
 * - `--store s3` (default): radosgw, as W3 finds or starts it (W3S3.ts), under a prefix of its own that
 *   is deleted at the end; `--store local`: the directory `--dir`.
 * - Writes: 8 writers, each on its own share of `--keys` keys (so each key's order is known): 90 % puts
 *   of 128-byte values, 10 % deletes. Seven do not await durability and share `--rate` writes/s; writer 0
 *   awaits every write's durability and writes as fast as that allows (the durable-put latency over time). Reads: `--gets` gets/s and
 *   one 100-row scan per second, each checked against the model where no write of the key overlapped it.
 * - Settings: 1 MiB L0 SSTs (compaction runs every few seconds), the compactor polling every second, the
 *   collector every 10 s for every kind of object, objects older than 30 s; the rest are the defaults
 *   (each compaction pins the manifest it replaces with a 15-minute checkpoint, so what the store holds
 *   should level off after about 15 minutes).
 * - At the end: the writers stop, a scan of every key is checked against the model, the database closes,
 *   reopens and is scanned again. A mismatch is printed as a PROBLEM and the exit code is 1.
 */
import { Layer, ManagedRuntime, Stream } from "effect"
import { ObjectStore as Store, type Settings, Shale } from "@shale/core"
import { engineEnv, ensureServer, type S3Server, stopServer } from "./W3S3.ts"
import { quantile } from "./W3Workload.ts"

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback
}

const STORE = arg("store", "s3")
const MINUTES = Number(arg("minutes", "30"))
const KEYS = Number(arg("keys", "200000"))
const RATE = Number(arg("rate", "2000"))
const GETS = Number(arg("gets", "500"))
const SAMPLE_S = Number(arg("sample", "60"))
const WRITERS = 8
const VALUE_BYTES = 128
const PATH = "soak"
const GC = { intervalMs: 10_000, minAgeMs: 30_000 }
const SETTINGS: Settings.SettingsInput = {
  l0SstSizeBytes: 1024 * 1024,
  compactor: { pollIntervalMs: 1_000 },
  garbageCollector: { manifests: GC, wal: GC, compacted: GC, compactions: GC }
}

const log = (line: string): void => void process.stdout.write(line + "\n")
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const problems: Array<string> = []
const problem = (what: string): void => {
  if (problems.length < 20) log(`PROBLEM ${what}`)
  problems.push(what)
}

// ---- keys, values, the model -----------------------------------------------------------------------------

const ENCODER = new TextEncoder()
const DECODER = new TextDecoder()
const keyOf = (k: number): Uint8Array => ENCODER.encode(`soak${String(k).padStart(9, "0")}`)
const indexOf = (key: Uint8Array): number => Number(DECODER.decode(key.subarray(4)))

/** Value `version` of key `k`: both as 4-byte little-endian numbers, then a filler. */
const valueOf = (k: number, version: number): Uint8Array => {
  const v = new Uint8Array(VALUE_BYTES)
  const view = new DataView(v.buffer)
  view.setUint32(0, k, true)
  view.setUint32(4, version, true)
  v.fill(0x61 + (version % 26), 8)
  return v
}

/**
 * Per key: the version of its last acknowledged write (0: never written), whether that write was a put,
 * and the tick at which its last write started and was acknowledged. A read that starts at tick t may
 * check key k when k's last write both started and was acknowledged before t.
 */
const version = new Uint32Array(KEYS)
const live = new Uint8Array(KEYS)
const started = new Float64Array(KEYS)
const acked = new Float64Array(KEYS)
let tick = 1
const stableSince = (k: number, t: number): boolean => started[k]! < t && acked[k]! < t && acked[k]! >= started[k]!

const checkRow = (k: number, value: Uint8Array | undefined, t: number, where: string): void => {
  if (!stableSince(k, t)) return
  if (live[k] === 0) {
    if (value !== undefined) problem(`${where}: key ${k} is deleted or never written, read a value`)
    return
  }
  if (value === undefined) return problem(`${where}: key ${k} (version ${version[k]}) missing`)
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  if (value.length !== VALUE_BYTES || view.getUint32(0, true) !== k || view.getUint32(4, true) !== version[k]) {
    problem(`${where}: key ${k} read version ${view.getUint32(4, true)}, expected ${version[k]}`)
  }
}

// ---- latencies per sample window -------------------------------------------------------------------------

class Window {
  samples: Array<number> = []
  add(ms: number): void {
    this.samples.push(ms)
  }
  take(): { n: number; p50: number; p99: number } {
    const s = this.samples
    this.samples = []
    return { n: s.length, p50: quantile(s, 0.5) ?? 0, p99: quantile(s, 0.99) ?? 0 }
  }
}
const puts = new Window()
const durable = new Window()
const gets = new Window()

// ---- the loops ------------------------------------------------------------------------------------------

let running = true

/** Writer 0 awaits durability and writes as fast as that allows; the others share `--rate`. */
const writer = async (db: Shale.ShaleDb, w: number): Promise<void> => {
  const perWriter = RATE / (WRITERS - 1)
  const begin = performance.now()
  let seed = 0x9e3779b9 ^ (w * 7919)
  for (let n = 0; running; n++) {
    const due = w === 0 ? 0 : begin + (n * 1000) / perWriter
    const now = performance.now()
    if (due > now) await sleep(due - now)
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    const k = w + WRITERS * (seed % Math.floor(KEYS / WRITERS))
    const v = version[k]! + 1
    const put = seed % 10 !== 0
    started[k] = tick++
    const t0 = performance.now()
    const options = w === 0 ? {} : { awaitDurable: false }
    if (put) await db.put(keyOf(k), valueOf(k, v), options)
    else await db.delete(keyOf(k), options)
    ;(w === 0 ? durable : puts).add(performance.now() - t0)
    version[k] = v
    live[k] = put ? 1 : 0
    acked[k] = tick++
  }
}

const reader = async (db: Shale.ShaleDb): Promise<void> => {
  const begin = performance.now()
  for (let n = 0; running; n++) {
    const due = begin + (n * 1000) / GETS
    const now = performance.now()
    if (due > now) await sleep(due - now)
    const k = Math.floor(Math.random() * KEYS)
    const t = tick++
    const t0 = performance.now()
    const value = await db.get(keyOf(k))
    gets.add(performance.now() - t0)
    checkRow(k, value, t, "get")
  }
}

/** Checks a scan of `rows` rows (all: Infinity) from key `from`: every key it returns and every key it skips. */
const scanCheck = async (db: Shale.ShaleDb, from: number, rows: number, where: string): Promise<number> => {
  const t = tick++
  let expect = from
  let n = 0
  for await (const kv of db.scan({ start: keyOf(from) })) {
    const k = indexOf(kv.key)
    for (; expect < k; expect++) checkRow(expect, undefined, t, where)
    checkRow(k, kv.value, t, where)
    expect = k + 1
    if (++n === rows) return n
  }
  for (; expect < KEYS; expect++) checkRow(expect, undefined, t, where)
  return n
}

const scanner = async (db: Shale.ShaleDb): Promise<void> => {
  while (running) {
    await sleep(1000)
    await scanCheck(db, Math.floor(Math.random() * KEYS), 100, "scan")
  }
}

// ---- what the store holds -------------------------------------------------------------------------------

type StoreLayer = Layer.Layer<Store.ObjectStore, unknown>

const storeCensus = (layer: StoreLayer) => {
  const runtime = ManagedRuntime.make(layer)
  return {
    /** Objects and bytes under the database, by its top-level folder (manifest, wal, compacted, ...). */
    take: () =>
      runtime.runPromise(Store.ObjectStore.use((store) => Stream.runCollect(store.list(PATH)))).then((all) => {
        const by = new Map<string, number>()
        let bytes = 0
        for (const o of all) {
          const kind = o.path.slice(PATH.length + 1).split("/")[0]!
          by.set(kind, (by.get(kind) ?? 0) + 1)
          bytes += o.size
        }
        return { objects: all.length, mb: bytes / 1e6, by }
      }),
    deleteAll: () =>
      runtime.runPromise(
        Store.ObjectStore.use((store) =>
          Stream.runForEach(store.list(PATH), (o) => store.delete(o.path))
        )
      ),
    close: () => runtime.dispose()
  }
}

// ---- the run ----------------------------------------------------------------------------------------------

interface Row {
  readonly t: number
  readonly cells: ReadonlyArray<string>
  readonly objects: number
  readonly mb: number
  readonly rss: number
  readonly heap: number
}

const HEADER = "| t (s) | writes/s | put p99 | durable put p50 / p99 | get p50 / p99 | L0 | runs | compactions | GC deleted | objects (manifest / wal / compacted / compactions) | MB | RSS MB | heap MB | buffers MB |"

const sampleRow = async (db: Shale.ShaleDb, census: ReturnType<typeof storeCensus>, t: number, seconds: number): Promise<Row> => {
  const status = await db.status()
  const store = await census.take()
  const mem = process.memoryUsage()
  const p = puts.take()
  const d = durable.take()
  const g = gets.take()
  const gc = status.garbageCollector
  const deleted = gc === undefined ? 0 : gc.deleted.manifests + gc.deleted.wal + gc.deleted.compacted + gc.deleted.compactions
  const f = (x: number) => x.toFixed(x < 10 ? 1 : 0)
  const by = (k: string) => store.by.get(k) ?? 0
  const cells = [
    String(Math.round(t)),
    String(Math.round((p.n + d.n) / seconds)),
    `${f(p.p99)} ms`,
    `${f(d.p50)} / ${f(d.p99)} ms`,
    `${f(g.p50)} / ${f(g.p99)} ms`,
    String(status.l0Ssts),
    String(status.sortedRuns),
    String(status.compactor?.completed ?? "-"),
    String(deleted),
    `${store.objects} (${by("manifest")} / ${by("wal")} / ${by("compacted")} / ${by("compactions")})`,
    String(Math.round(store.mb)),
    String(Math.round(mem.rss / 1e6)),
    String(Math.round(mem.heapUsed / 1e6)),
    String(Math.round(mem.arrayBuffers / 1e6))
  ]
  return { t, cells, objects: store.objects, mb: store.mb, rss: mem.rss / 1e6, heap: mem.heapUsed / 1e6 }
}

/** The most of `pick` in the last third of the rows against the middle third (about 1: level). */
const levelOff = (rows: ReadonlyArray<Row>, pick: (r: Row) => number): string => {
  const third = Math.floor(rows.length / 3)
  if (third === 0) return "-"
  const max = (rs: ReadonlyArray<Row>) => Math.max(...rs.map(pick))
  const middle = max(rows.slice(third, 2 * third))
  const last = max(rows.slice(2 * third))
  return `${last.toFixed(0)} / ${middle.toFixed(0)} = ${(last / middle).toFixed(2)}×`
}

const main = async (): Promise<void> => {
  let server: S3Server | undefined
  let layer: StoreLayer
  if (STORE === "s3") {
    server = await ensureServer(log)
    Object.assign(process.env, engineEnv(server, server.endpoint))
    layer = Shale.stores.resolve(`s3://${server.bucket}/soak-${Date.now()}`)
  } else {
    layer = Shale.stores.local(arg("dir", "/tmp/shale-soak"))
  }
  const census = storeCensus(layer)
  log(`soak: ${STORE}, ${MINUTES} min, ${KEYS} keys, ${RATE} writes/s (${WRITERS} writers, writer 0 durable), ${GETS} gets/s`)
  let db = await Shale.open(PATH, { store: layer, settings: SETTINGS })
  const begin = performance.now()
  const loops = [
    ...Array.from({ length: WRITERS }, (_, w) => writer(db, w)),
    reader(db),
    scanner(db)
  ]
  const rows: Array<Row> = []
  log(HEADER)
  log(HEADER.replace(/[^|]+/g, "---"))
  let last = begin
  while (performance.now() - begin < MINUTES * 60_000) {
    await sleep(Math.max(0, last + SAMPLE_S * 1000 - performance.now()))
    const now = performance.now()
    const row = await sampleRow(db, census, (now - begin) / 1000, (now - last) / 1000)
    last = now
    rows.push(row)
    log(`| ${row.cells.join(" | ")} |`)
  }
  running = false
  await Promise.all(loops)
  log(`most in the last third / the middle third: objects ${levelOff(rows, (r) => r.objects)}, MB ${levelOff(rows, (r) => r.mb)}, RSS ${levelOff(rows, (r) => r.rss)}, heap ${levelOff(rows, (r) => r.heap)}`)
  log(`checked every key: ${await scanCheck(db, 0, Infinity, "final scan")} live`)
  await db.close()
  db = await Shale.open(PATH, { store: layer, settings: { ...SETTINGS, compactor: null, garbageCollector: null } })
  log(`after reopening: ${await scanCheck(db, 0, Infinity, "scan after reopening")} live`)
  await db.close()
  if (server !== undefined) await census.deleteAll()
  await census.close()
  if (server !== undefined) await stopServer(server)
  log(problems.length === 0 ? "no problems" : `${problems.length} PROBLEMS`)
  process.exitCode = problems.length === 0 ? 0 : 1
}

await main()
