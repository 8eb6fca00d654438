/**
 * The read-path measurement behind issue 11's W2 read targets (docs/design/benchmark.md §5.2): W2's
 * gets and 100-row scans on a W2-shaped database as the load leaves it ("after": < 4 L0 SSTs and several
 * sorted runs) and on a fully compacted copy ("full": one sorted run), without the benchmark harness, so
 * that the same two layouts can be read again and again (and CPU-profiled) while the read path changes.
 *
 *   node --conditions=@shale/source packages/bench/src/readpath.ts build --dir /tmp/readpath [--n 1000000]
 *     W2's load (W2Workload.ts: 3 passes, W2_SETTINGS, the embedded compactor, no garbage collector) into
 *     <dir>/after, a memtable flush, then waits until L0 holds < 4 SSTs and no compaction runs for 600 ms;
 *     copies it to <dir>/full and runs the standalone compactor's `submit("full")` there.
 *   node --conditions=@shale/source packages/bench/src/readpath.ts split --dir /tmp/readpath [--sst-bytes B]
 *     Copies <dir>/after to <dir>/many and fully compacts it into SSTs of at most B bytes (default 1 MiB:
 *     one sorted run of ~100 SSTs), the layout of a database whose runs hold many SSTs.
 *   node --conditions=@shale/source packages/bench/src/readpath.ts merge-recent --dir /tmp/readpath
 *     Copies <dir>/after to <dir>/two and compacts its L0 SSTs and all its sorted runs but the oldest into one
 *     run: the large run beside one small one (docs/design/benchmark.md §5.2, "How many sources").
 *   node --conditions=@shale/source packages/bench/src/readpath.ts read --dir /tmp/readpath --layout after|full|many|two
 *       [--impl <repo root>] [--gets G] [--scans S] [--rows R] [--label L] [--cache-bytes B] [--scan-cache 0|1] [--collect 1]
 *       [--keep-first N]
 *     Opens <dir>/<layout> without a compactor (through the Effect API, as `shale-effect-file` does),
 *     W2's warm-up (half as many gets and scans of other keys), then G gets and S scans of 100 rows from
 *     W2's random keys (`--rows`: scans of R rows instead; a scan's fixed cost against its cost per row);
 *     every value and scanned key is checked against the model (a mismatch exits 1).
 *     Prints one JSON line: gets/s, scan rows/s, the store's ranged GETs per get and per scan (the
 *     deterministic part of the cost, as the machine's timings are noisy), and the garbage collector's time
 *     and full collections during the scans. `--keep-first N`: N scans first whose chunks stay referenced
 *     until the reads begin (an application loading a range at start). `--impl`: the repository whose packages/core/src is
 *     imported (default: this one), e.g. an extracted older commit for A/B runs. `--cache-bytes`: the
 *     block cache's size instead of W2's (0: none; 1e9: every block stays), which separates what a read
 *     that misses the cache costs from what one that hits does. `--scan-cache 1`: scans cache every block
 *     they read (`ScanOptions.cacheBlocks`; by default only the smallest sources' blocks), `0`: none; with
 *     `--cache-bytes 1e9 --scan-cache 1` every read is served from memory, which leaves the read path's CPU.
 *     Scans are checked chunk by chunk as they stream, as W2 does; `--collect 1` collects each scan with
 *     `Stream.runCollect` first, as W2 did until 2026-12-06: V8 may then move that accumulator's allocation
 *     site to the old generation, which makes every scanned row survive to a full collection
 *     (docs/design/benchmark.md §5.2, "A collected scan's rows in the old generation").
 *   node --conditions=@shale/source packages/bench/src/readpath.ts ab --dir /tmp/readpath --layout after|full|many|two
 *       --impl <repo A> --impl2 <repo B> [--rounds R] [read's options]
 *     `read` of two versions in alternating child processes, then each one's medians (see `ab`).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import {
  isW2Value,
  makeKeyOf,
  OP_PUT,
  planLoad,
  randomKeys,
  READ_SEEDS,
  W2_FULL,
  W2_SETTINGS,
  type W2Sizes,
  w2Value,
  WARMUP_SHARE
} from "./W2Workload.ts"
import { quantile } from "./W3Workload.ts"

const arg = (name: string, fallback?: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!
  if (fallback === undefined) throw new Error(`--${name} is required`)
  return fallback
}

/** `--cache-bytes`, as a setting (none when not given). */
const cacheSetting = (): { readonly blockCacheBytes?: number } => {
  const bytes = arg("cache-bytes", "")
  return bytes === "" ? {} : { blockCacheBytes: Number(bytes) }
}

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, "../../..")
const DB = "bench"

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Core = any

const importCore = async (root: string): Promise<{ core: Core; node: Core; effect: Core }> => {
  const core = await import(path.join(root, "packages/core/src/index.ts"))
  const node = await import(path.join(root, "packages/core/src/node.ts"))
  const effect = await import("effect")
  return { core, node, effect }
}

const sizesOf = (n: number): W2Sizes => ({ ...W2_FULL, n })

const build = async (): Promise<void> => {
  const dir = arg("dir")
  const n = Number(arg("n", "1000000"))
  const { core } = await importCore(repoRoot)
  const { Shale, Db } = core
  const after = path.join(dir, "after")
  const full = path.join(dir, "full")
  await fs.rm(dir, { recursive: true, force: true })
  await fs.mkdir(after, { recursive: true })
  const plan = planLoad(sizesOf(n))
  const keyOf = makeKeyOf(n)
  const t0 = performance.now()
  const db = await Shale.open(DB, { store: Shale.stores.local(after), settings: { ...W2_SETTINGS, garbageCollector: null } })
  for (const pass of plan.passes) {
    for (let from = 0; from < pass.keys.length; from += 100) {
      const batch = new Db.WriteBatch()
      for (let j = from; j < Math.min(from + 100, pass.keys.length); j++) {
        const i = pass.keys[j]!
        if (pass.kinds[j] === OP_PUT) batch.put(keyOf(i), w2Value(i, pass.pass))
        else batch.delete(keyOf(i))
      }
      await db.write(batch, { awaitDurable: false })
    }
    console.error(`pass ${pass.pass} done at ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
  await db.flush({ type: "memtable" })
  let calmSince = performance.now()
  for (;;) {
    const s = await db.status()
    const now = performance.now()
    if (s.l0Ssts >= 4 || (s.compactor?.running ?? 0) > 0) calmSince = now
    else if (now - calmSince >= 600) {
      console.error(`settled: L0 ${s.l0Ssts}, sorted runs ${s.sortedRuns}`)
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  await db.close()
  await compactedCopy(after, full, W2_SETTINGS)
  await fs.writeFile(path.join(dir, "model.json"), JSON.stringify({ n }))
  console.error(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}

/**
 * Copies the database at `from` to `to` and compacts the copy (standalone compactor, `settings`): fully, or
 * with the spec `request` makes of the copy's manifest.
 */
const compactedCopy = async (
  from: string,
  to: string,
  settings: typeof W2_SETTINGS,
  request: (manifest: Core) => unknown = () => "full"
): Promise<void> => {
  const { core, node } = await importCore(repoRoot)
  const { Compactor, Shale } = core
  const { Layer, ManagedRuntime } = await import("effect")
  await fs.rm(to, { recursive: true, force: true })
  await fs.cp(from, to, { recursive: true })
  const admin = await Shale.admin(DB, { store: Shale.stores.local(to) })
  const latest = await admin.readManifest()
  await admin.close()
  const layer = Compactor.Compactor.layer({ path: DB, settings }).pipe(Layer.provide(node.LocalObjectStore.layer({ root: to })))
  const runtime = ManagedRuntime.make(layer)
  await runtime.runPromise(Compactor.Compactor.use((c: Core) => c.submit(request(latest.manifest))))
  await runtime.runPromise(Compactor.Compactor.use((c: Core) => c.awaitIdle))
  await runtime.dispose()
}

/**
 * `merge-recent`: `<dir>/after` as `<dir>/two`, its L0 SSTs and every sorted run but the oldest compacted
 * into one run: the large run and one small one, the fewest sources a layout short of a full compaction has.
 */
const mergeRecent = async (): Promise<void> => {
  const dir = arg("dir")
  await compactedCopy(path.join(dir, "after"), path.join(dir, "two"), W2_SETTINGS, (manifest) => {
    const runs: Array<number> = manifest.compacted.map((run: Core) => run.id)
    const recent = runs.slice(0, -1)
    if (recent.length === 0) throw new Error("merge-recent: the after layout holds one sorted run, nothing to merge")
    return {
      sources: [...manifest.l0.map((sst: Core) => ({ kind: "l0", id: sst.id })), ...recent.map((id) => ({ kind: "sr", id }))],
      destination: Math.min(...recent)
    }
  })
}

/** `split`: `<dir>/after` fully compacted into SSTs of at most `--sst-bytes` (default 1 MiB) as `<dir>/many`. */
const split = async (): Promise<void> => {
  const dir = arg("dir")
  const maxSstSizeBytes = Number(arg("sst-bytes", String(1024 * 1024)))
  await compactedCopy(path.join(dir, "after"), path.join(dir, "many"), {
    ...W2_SETTINGS,
    compactor: { ...W2_SETTINGS.compactor, maxSstSizeBytes }
  })
}

const read = async (): Promise<void> => {
  const out = await readOnce(path.resolve(arg("impl", repoRoot)), arg("layout"))
  console.log(JSON.stringify(out))
  if (out.problems > 0) process.exit(1)
}

/**
 * `ab --dir D --layout L --impl A --impl2 B [--rounds R] [read's options]`: `read` of A and of B in
 * alternating child processes (A B, B A, ...), then the median of each. Not both in one process, as this
 * mode did until 2026-12-05: there the two versions share one JIT and one heap, and the same code run as A
 * and as B differed by more than the changes measured (scans only, six rounds: medians ~490k and ~415k rows
 * per second, A ahead; with gets first, B ahead on scans and A on gets, by 5-15 %).
 */
const ab = async (): Promise<void> => {
  const impls = { A: path.resolve(arg("impl", repoRoot)), B: path.resolve(arg("impl2")) }
  const rounds = Number(arg("rounds", "4"))
  const passed: Array<string> = []
  for (let i = 3; i < process.argv.length; i += 2) {
    const name = process.argv[i]!
    if (name !== "--impl" && name !== "--impl2" && name !== "--rounds" && name !== "--label") passed.push(name, process.argv[i + 1]!)
  }
  const results: Record<"A" | "B", Array<{ scanRowsPerSec: number; getsPerSec: number }>> = { A: [], B: [] }
  for (let r = 0; r < rounds; r++) {
    for (const label of r % 2 === 0 ? (["A", "B"] as const) : (["B", "A"] as const)) {
      const argv = [...process.execArgv, fileURLToPath(import.meta.url), "read", ...passed, "--impl", impls[label], "--label", label]
      const out = JSON.parse(execFileSync(process.execPath, argv, { encoding: "utf8" }).trim().split("\n").pop()!)
      console.log(JSON.stringify({ ...out, round: r }))
      results[label].push(out)
    }
  }
  const median = (xs: ReadonlyArray<number>) => quantile(xs, 0.5)
  for (const label of ["A", "B"] as const) {
    const rs = results[label]
    console.log(JSON.stringify({
      label,
      medianGetsPerSec: median(rs.map((x) => x.getsPerSec)),
      medianScanRowsPerSec: median(rs.map((x) => x.scanRowsPerSec))
    }))
  }
}

/** The local store on `root`, counting its ranged reads (`ranged.count`: blocks not in the cache). */
const countedLocalStore = (core: Core, node: Core, effect: Core, root: string, ranged: { count: number }) => {
  const { Effect, Layer } = effect
  const Store = core.ObjectStore.ObjectStore
  return Layer.effect(
    Store,
    Effect.map(Store, (inner: Core) =>
      Store.of({
        ...inner,
        getRange: (p: string, r: unknown) => {
          ranged.count++
          return inner.getRange(p, r)
        },
        // Reads on the calling thread (ObjectStore.getRangeNow) are requests too.
        ...(inner.getRangeNow === undefined ? {} : {
          getRangeNow: (p: string, r: unknown) => {
            const bytes = inner.getRangeNow(p, r)
            if (bytes !== undefined) ranged.count++
            return bytes
          }
        })
      }))
  ).pipe(Layer.provide(node.LocalObjectStore.layer({ root })))
}

/** Checks what gets and scans return against W2's model (per key: the pass of its last put, or 0). */
class ModelCheck {
  problems = 0
  readonly #model: Uint8Array
  readonly #n: number
  readonly #keyText = new TextDecoder()

  constructor(model: Uint8Array, n: number) {
    this.#model = model
    this.#n = n
  }

  get(i: number, v: Uint8Array | undefined): void {
    const pass = this.#model[i]!
    if (pass === 0 ? v !== undefined : v === undefined || !isW2Value(v, i, pass)) this.problems++
  }

  /** The next row a scan must return, and how many it returned (`scanStart`, `scanRows`, `scanEnd`). */
  #expect = 0
  #seen = 0

  /** A scan of up to `rows` rows from key `start` begins. */
  scanStart(start: number): void {
    this.#expect = this.#nextLive(start)
    this.#seen = 0
  }

  /** Rows the scan returned, in order. */
  scanRows(kvs: Iterable<{ readonly key: Uint8Array; readonly value: Uint8Array }>): void {
    for (const kv of kvs) {
      const i = Number(this.#keyText.decode(kv.key.subarray(3)))
      if (i !== this.#expect || !isW2Value(kv.value, i, this.#model[i]!)) this.problems++
      this.#expect = this.#nextLive(i + 1)
      this.#seen++
    }
  }

  /** The scan from `start` ended; returns the rows it checked. */
  scanEnd(start: number, rows: number): number {
    if (this.#seen !== Math.min(rows, this.#countLive(start, rows))) this.problems++
    return this.#seen
  }

  /** The key after i that the model holds (scans return live keys in order). */
  #nextLive(i: number): number {
    while (i < this.#n && this.#model[i] === 0) i++
    return i
  }

  #countLive(from: number, max: number): number {
    let c = 0
    for (let i = this.#nextLive(from); i < this.#n && c < max; i = this.#nextLive(i + 1)) c++
    return c
  }
}

/** Runs `phase`: its seconds and the store's ranged reads meanwhile. */
const timed = async (ranged: { count: number }, phase: () => Promise<unknown>) => {
  ranged.count = 0
  const from = performance.now()
  await phase()
  const to = performance.now()
  return { seconds: (to - from) / 1000, requests: ranged.count, from, to }
}

/** The process's garbage collections (`perf_hooks` "gc" entries), to tell a phase's collections apart. */
const watchGc = () => {
  const gcs: Array<{ readonly start: number; readonly ms: number; readonly major: boolean }> = []
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind
      gcs.push({ start: e.startTime, ms: e.duration, major: kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR })
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  return {
    /** Collections that started in `[from, to)`: their total time, and how many were full ones. */
    within: async (from: number, to: number) => {
      await new Promise((resolve) => setTimeout(resolve, 20)) // entries arrive after the phase
      observer.disconnect()
      const inside = gcs.filter((g) => g.start >= from && g.start < to)
      return { ms: Math.round(inside.reduce((sum, g) => sum + g.ms, 0)), major: inside.filter((g) => g.major).length }
    }
  }
}

const readOnce = async (impl: string, layout: string) => {
  const dir = arg("dir")
  const { n } = JSON.parse(await fs.readFile(path.join(dir, "model.json"), "utf8")) as { n: number }
  const gets = Number(arg("gets", String(W2_FULL.gets)))
  const scans = Number(arg("scans", String(W2_FULL.scans)))
  const rows = Number(arg("rows", String(W2_FULL.scanRows)))
  // `--scan-cache 1`: scans leave their blocks in the cache (ScanOptions.cacheBlocks), as gets do; `0`: none.
  const scanCache = arg("scan-cache", "")
  const scanOptions = scanCache === "" ? {} : { cacheBlocks: scanCache !== "0" }
  const check = new ModelCheck(planLoad(sizesOf(n)).model, n)
  const keyOf = makeKeyOf(n)
  const { core, node, effect } = await importCore(impl)
  const { Effect, Layer, ManagedRuntime, Stream } = effect
  const Db = core.Db
  const ranged = { count: 0 }
  const layer = Db.layer({ path: DB, settings: { ...W2_SETTINGS, compactor: null, garbageCollector: null, ...cacheSetting() } }).pipe(
    Layer.provide(countedLocalStore(core, node, effect, path.join(dir, layout), ranged))
  )
  const runtime = ManagedRuntime.make(layer)
  const status = await runtime.runPromise(Db.Db.use((db: Core) => db.status))
  const runGets = (keys: Uint32Array) =>
    runtime.runPromise(Effect.gen(function*() {
      const db = yield* Db.Db
      for (let j = 0; j < keys.length; j++) check.get(keys[j]!, yield* db.get(keyOf(keys[j]!)))
    }))
  let scanned = 0
  // As W2 does (engines/ShaleW2.ts): each chunk checked as it comes; `--collect 1`: `Stream.runCollect` first,
  // as W2 did until stop 44 (see the module comment).
  const collect = arg("collect", "") === "1"
  const rowsOf = (stream: Core) =>
    collect
      ? Effect.map(Stream.runCollect(stream), (kvs: Core) => check.scanRows(kvs))
      : Stream.runForEachArray(stream, (chunk: Core) => Effect.sync(() => check.scanRows(chunk)))
  /** The first `rows` rows from key `start`, as every scan here reads them. */
  const scanOf = (db: Core, start: number) => Stream.take(db.scan({ start: keyOf(start) }, scanOptions), rows)
  const runScans = (starts: Uint32Array) =>
    runtime.runPromise(Effect.gen(function*() {
      const db = yield* Db.Db
      for (let s = 0; s < starts.length; s++) {
        check.scanStart(starts[s]!)
        yield* rowsOf(scanOf(db, starts[s]!))
        scanned += check.scanEnd(starts[s]!, rows)
      }
    }))
  // `--keep-first N`: first N scans whose chunks are kept until the reads begin, as an application that loads
  // a range into memory at start would (benchmark.md §5.2, "A collected scan's rows in the old generation").
  const keepFirst = Number(arg("keep-first", "0"))
  if (keepFirst > 0) {
    const kept: Array<unknown> = []
    await runtime.runPromise(Effect.gen(function*() {
      const db = yield* Db.Db
      for (const start of randomKeys(n, keepFirst, READ_SEEDS.warmupScans + 1)) {
        yield* Stream.runForEachArray(scanOf(db, start), (chunk: Core) => Effect.sync(() => kept.push(chunk)))
      }
    }))
  }
  await runGets(randomKeys(n, Math.round(gets * WARMUP_SHARE), READ_SEEDS.warmupGets))
  await runScans(randomKeys(n, Math.round(scans * WARMUP_SHARE), READ_SEEDS.warmupScans))
  scanned = 0
  const getPhase = await timed(ranged, () => runGets(randomKeys(n, gets, READ_SEEDS.gets)))
  const gc = watchGc()
  const scanPhase = await timed(ranged, () => runScans(randomKeys(n, scans, READ_SEEDS.scans)))
  const scanGc = await gc.within(scanPhase.from, scanPhase.to)
  await runtime.dispose()
  return {
    label: arg("label", path.basename(impl)),
    layout,
    l0: status.l0Ssts,
    runs: status.sortedRuns,
    getsPerSec: Math.round(gets / getPhase.seconds),
    scanRowsPerSec: Math.round(scanned / scanPhase.seconds),
    requestsPerGet: gets > 0 ? Number((getPhase.requests / gets).toFixed(3)) : 0,
    requestsPerScan: scans > 0 ? Number((scanPhase.requests / scans).toFixed(2)) : 0,
    scanGcMs: scanGc.ms,
    scanFullGcs: scanGc.major,
    problems: check.problems
  }
}

const mode = process.argv[2]
if (mode === "build") await build()
else if (mode === "read") await read()
else if (mode === "ab") await ab()
else if (mode === "split") await split()
else if (mode === "merge-recent") await mergeRecent()
else throw new Error("usage: readpath.ts build|split|merge-recent|read|ab ...")
