/**
 * Memtable micro-benchmark on workload W1's shapes (docs/design/benchmark.md §0): 100k rows with 16-byte keys
 * ("key" + i zero-padded to 13 digits) and 100-byte values, inserted in sequential and in random order,
 * then 50k gets of keys (i * 7919) % N and one full scan.
 *
 * It measures the structure the MemTable uses (the hand-written B+ tree in src/memtable/RowTree.ts,
 * through MemTable) against the two alternatives considered in docs/design/memtable.md: `sorted-btree`
 * with the RowEntry itself as the B-tree key, and a hand-written skiplist (SlateDB's choice in Rust).
 *
 *   node_modules/.bin/node --expose-gc packages/core/bench/memtable.ts [--n 100000] [--runs 5] [--key-len 16] [--wall]
 *
 * Prints the median of `runs` runs per phase (each run on a fresh structure), and heap bytes per entry
 * measured after a full GC: "structure" is what the structure adds on top of the rows; "total" counts
 * the rows too (RowEntry objects, key and value arrays, V8 heap plus ArrayBuffer backing stores).
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import SortedBTree from "sorted-btree"
import { compareRows, compareRowTo, keysEqual } from "../src/format/KeyComparator.ts"
import { makeValue, type RowEntry } from "../src/format/RowEntry.ts"
import { type CursorOptions, MemTable } from "../src/memtable/MemTable.ts"

// sorted-btree is CommonJS: under Node's ESM loader the default import is `module.exports`.
const BTree = SortedBTree.default

const argValue = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const N = argValue("--n", 100_000)
const RUNS = argValue("--runs", 5)
const GETS = Math.min(50_000, N)

const gc = (globalThis as { gc?: () => void }).gc
const encoder = new TextEncoder()
/** `--key-len L` (default 16, W1) prepends a shared prefix, as namespaced real-world keys have. */
const KEY_LEN = argValue("--key-len", 16)
const KEY_PREFIX = "tenant-0042/table-users/rows/".repeat(10).slice(0, Math.max(0, KEY_LEN - 16))
const makeKey = (i: number) => encoder.encode(KEY_PREFIX + "key" + String(i).padStart(13, "0"))
const makeRows = (): Array<RowEntry> => {
  const rows: Array<RowEntry> = []
  for (let i = 0; i < N; i++) {
    const value = new Uint8Array(100)
    value.fill(i & 0xff)
    rows.push(makeValue(makeKey(i), value, i + 1, 1_700_000_000_000 + i))
  }
  return rows
}
/** Deterministic shuffle (xorshift32), so every run and every structure sees the same order. */
const shuffled = <A>(xs: ReadonlyArray<A>): Array<A> => {
  const out = xs.slice()
  let s = 0x9e3779b9
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    const j = (s >>> 0) % (i + 1)
    const t = out[i]!
    out[i] = out[j]!
    out[j] = t
  }
  return out
}

interface Candidate {
  readonly name: string
  make(): {
    insert(row: RowEntry): void
    get(key: Uint8Array, maxSeq: number): RowEntry | undefined
    scan(): number
  }
}

// --- candidate 1: MemTable (hand-written B+ tree) ---------------------------------------------------------
const memtable: Candidate = {
  name: "MemTable (B+ tree)",
  make() {
    const t = new MemTable()
    return {
      insert: (row) => t.put(row),
      get: (key, maxSeq) => t.get(key, maxSeq),
      scan: () => {
        const c = t.cursor()
        let n = 0
        while (c.next() !== undefined) n++
        return n
      }
    }
  }
}

// --- candidate 2: sorted-btree, the row as B-tree key -------------------------------------------------------
const sortedBtree: Candidate = {
  name: "sorted-btree",
  make() {
    const t = new BTree<RowEntry, undefined>(undefined, compareRows)
    const reused: [RowEntry, undefined] = [undefined as unknown as RowEntry, undefined]
    // A mutable probe with RowEntry's exact shape (keeps the comparator monomorphic).
    const probe = { key: new Uint8Array(0), kind: 0, value: new Uint8Array(0), seq: 0, createTs: 0, expireTs: 0 } as {
      key: Uint8Array
      kind: 0
      value: Uint8Array
      seq: number
      createTs: number | undefined
      expireTs: number | undefined
    }
    return {
      insert: (row) => {
        t.set(row, undefined, true)
      },
      get: (key, maxSeq) => {
        probe.key = key
        probe.seq = maxSeq
        const p = t.getPairOrNextHigher(probe, reused)
        return p !== undefined && keysEqual(p[0].key, key) ? p[0] : undefined
      },
      scan: () => {
        let n = 0
        const pair: Array<RowEntry | undefined> = []
        for (const _ of t.entries(undefined, pair)) n++
        return n
      }
    }
  }
}

// --- candidate 3: skiplist (p = 1/4, deterministic levels) -------------------------------------------------
const MAX_LEVEL = 12
class SkipNode {
  row: RowEntry
  readonly next: Array<SkipNode | undefined>
  constructor(row: RowEntry, height: number) {
    this.row = row
    this.next = new Array<SkipNode | undefined>(height).fill(undefined)
  }
}
class SkipList {
  private readonly head = new SkipNode(undefined as unknown as RowEntry, MAX_LEVEL)
  private level = 1
  private rng = 0x2545f491
  private readonly update: Array<SkipNode> = new Array<SkipNode>(MAX_LEVEL).fill(this.head)
  private randomHeight(): number {
    let h = 1
    for (;;) {
      let s = this.rng
      s ^= s << 13
      s ^= s >>> 17
      s ^= s << 5
      this.rng = s
      if (h < MAX_LEVEL && (s & 3) === 0) h++
      else return h
    }
  }
  insert(row: RowEntry): void {
    const key = row.key
    const seq = row.seq
    let x = this.head
    for (let l = this.level - 1; l >= 0; l--) {
      let n = x.next[l]
      while (n !== undefined && compareRowTo(n.row, key, seq) < 0) {
        x = n
        n = x.next[l]
      }
      this.update[l] = x
    }
    const found = x.next[0]
    if (found !== undefined && found.row.seq === seq && keysEqual(found.row.key, key)) {
      found.row = row
      return
    }
    const h = this.randomHeight()
    if (h > this.level) {
      for (let l = this.level; l < h; l++) this.update[l] = this.head
      this.level = h
    }
    const node = new SkipNode(row, h)
    for (let l = 0; l < h; l++) {
      const u = this.update[l]!
      node.next[l] = u.next[l]
      u.next[l] = node
    }
  }
  get(key: Uint8Array, maxSeq: number): RowEntry | undefined {
    let x = this.head
    for (let l = this.level - 1; l >= 0; l--) {
      let n = x.next[l]
      while (n !== undefined && compareRowTo(n.row, key, maxSeq) < 0) {
        x = n
        n = x.next[l]
      }
    }
    const n = x.next[0]
    return n !== undefined && keysEqual(n.row.key, key) ? n.row : undefined
  }
  scan(): number {
    let n = 0
    for (let x = this.head.next[0]; x !== undefined; x = x.next[0]) n++
    return n
  }
}
const skiplist: Candidate = {
  name: "skiplist",
  make() {
    const s = new SkipList()
    return { insert: (row) => s.insert(row), get: (k, m) => s.get(k, m), scan: () => s.scan() }
  }
}

// --- harness -------------------------------------------------------------------------------------------------
/**
 * Milliseconds of CPU time used by this process (user + system). These shared 2-core machines often run
 * other jobs; wall-clock rates then swing by 3x between runs while CPU-time rates stay within ~10 %.
 * `--wall` switches to wall-clock time.
 */
const WALL = process.argv.includes("--wall")
const now = (): number => {
  if (WALL) return performance.now()
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const median = (xs: Array<number>): number => {
  const s = xs.slice().sort((a, b) => a - b)
  return s[s.length >> 1]!
}
const heap = (): number => {
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const fmt = (x: number) => Math.round(x).toLocaleString("en-US")

const rows = makeRows()
const random = shuffled(rows)
const getKeys: Array<Uint8Array> = []
for (let i = 0; i < GETS; i++) getKeys.push(rows[(i * 7919) % N]!.key)

/** Heap bytes per entry that a structure holding the (already allocated) rows adds. */
const structureBytesPerEntry = (cand: Candidate): number => {
  if (gc === undefined) return Number.NaN
  const before = heap()
  const s = cand.make()
  for (let i = 0; i < N; i++) s.insert(random[i]!)
  const after = heap()
  if (s.scan() !== N) throw new Error("lost rows")
  return (after - before) / N
}

const measure = (cand: Candidate): Record<string, string> => {
  const structBytes = structureBytesPerEntry(cand)
  const seqIns: Array<number> = []
  const rndIns: Array<number> = []
  const getsPerS: Array<number> = []
  const scanPerS: Array<number> = []
  for (let run = 0; run <= RUNS; run++) {
    // run 0 warms up the JIT and is not counted
    gc?.()
    let s = cand.make()
    let t0 = now()
    for (let i = 0; i < N; i++) s.insert(rows[i]!)
    let ms = now() - t0
    if (run > 0) seqIns.push(N / ms * 1000)
    s = undefined as unknown as typeof s
    gc?.()
    s = cand.make()
    t0 = now()
    for (let i = 0; i < N; i++) s.insert(random[i]!)
    ms = now() - t0
    if (run > 0) rndIns.push(N / ms * 1000)
    let hits = 0
    t0 = now()
    for (let i = 0; i < GETS; i++) if (s.get(getKeys[i]!, Number.MAX_SAFE_INTEGER) !== undefined) hits++
    ms = now() - t0
    if (hits !== GETS) throw new Error(`${cand.name}: ${hits} hits of ${GETS}`)
    if (run > 0) getsPerS.push(GETS / ms * 1000)
    t0 = now()
    const n = s.scan()
    ms = now() - t0
    if (n !== N) throw new Error(`${cand.name}: scan saw ${n} rows`)
    if (run > 0) scanPerS.push(N / ms * 1000)
  }
  return {
    structure: cand.name,
    "seq inserts/s": fmt(median(seqIns)),
    "random inserts/s": fmt(median(rndIns)),
    "gets/s": fmt(median(getsPerS)),
    "scan rows/s": fmt(median(scanPerS)),
    "structure B/entry": gc ? fmt(structBytes) : "(run with --expose-gc)"
  }
}

const candidates = [memtable, sortedBtree, skiplist]
const onlyIndex = process.argv.indexOf("--only")
if (onlyIndex >= 0) {
  // Child process: one candidate, result as JSON on stdout.
  const cand = candidates.find((c) => c.name === process.argv[onlyIndex + 1])
  if (cand === undefined) throw new Error(`unknown candidate ${process.argv[onlyIndex + 1]}`)
  process.stdout.write(JSON.stringify(measure(cand)))
  process.exit(0)
}

// Each candidate runs in its own process so that JIT feedback (call sites turning polymorphic) and heap
// state from one cannot slow another down.
const self = fileURLToPath(import.meta.url)
const results = candidates.map((c) =>
  JSON.parse(
    execFileSync(process.execPath, [
      ...process.execArgv,
      self,
      "--only",
      c.name,
      "--n",
      String(N),
      "--runs",
      String(RUNS),
      "--key-len",
      String(KEY_LEN),
      ...(WALL ? ["--wall"] : [])
    ], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"]
    })
  ) as Record<string, string>
)

// MemTable cursor modes and versioned gets (random insertion order, as the table above).
const modes: Array<Record<string, string>> = []
{
  const t = new MemTable()
  for (let i = 0; i < N; i++) t.put(random[i]!)
  /** `expected`: the row count to check, if known. */
  const time = (label: string, expected: number | undefined, body: () => number) => {
    const rates: Array<number> = []
    for (let run = 0; run <= RUNS; run++) {
      const t0 = now()
      const n = body()
      const ms = now() - t0
      if (expected !== undefined && n !== expected) throw new Error(`${label}: ${n} rows`)
      if (run > 0) rates.push(n / ms * 1000)
    }
    modes.push({ operation: label, "rows/s": fmt(median(rates)) })
  }
  const drain = (options: CursorOptions) => () => {
    const c = t.cursor(undefined, options)
    let n = 0
    while (c.next() !== undefined) n++
    return n
  }
  time("scan asc, all versions", N, drain({}))
  time("scan asc, latest per key", N, drain({ versions: "latest" }))
  time("scan desc, all versions", N, drain({ order: "desc" }))
  time("scan desc, latest per key", N, drain({ order: "desc", versions: "latest" }))
  time("get, maxSeq = N/2", GETS, () => {
    let n = 0
    for (let i = 0; i < GETS; i++) {
      t.get(getKeys[i]!, N >> 1)
      n++
    }
    return n
  })
  time("range scan of 100 rows from a seek", undefined, () => {
    let n = 0
    for (let i = 0; i < 1000; i++) {
      const c = t.cursor({ start: getKeys[i]! })
      for (let j = 0; j < 100 && c.next() !== undefined; j++) n++
    }
    return n
  })
}

// Total bytes per entry, rows included, for the MemTable.
let totalPerEntry = "(run with --expose-gc)"
if (gc) {
  const base = heap()
  const t = new MemTable()
  for (let i = 0; i < N; i++) {
    const value = new Uint8Array(100)
    value.fill(i & 0xff)
    t.put(makeValue(makeKey(i), value, i + 1, 1_700_000_000_000 + i))
  }
  totalPerEntry = fmt((heap() - base) / N)
  if (t.entryCount !== N) throw new Error("lost rows")
}

console.log(
  `memtable bench: N=${fmt(N)}, key ${KEY_LEN} B, gets=${fmt(GETS)}, median of ${RUNS} runs, ${WALL ? "wall-clock" : "CPU"} time, node ${process.version}`
)
console.table(results)
console.log("MemTable cursor modes (random insertion order):")
console.table(modes)
console.log(`MemTable total heap per entry (row objects + ${KEY_LEN} B key + 100 B value + structure): ${totalPerEntry} B`)
