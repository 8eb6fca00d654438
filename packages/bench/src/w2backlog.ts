/**
 * The writer's backlog under a W2-like load (docs/design/compaction.md §6): three passes putting each of
 * W2's 1M keys (W2's later passes overwrite half and delete a tenth) in batches of 100 non-durable writes,
 * with W2's settings and the embedded compactor, through the Promise
 * API on a local directory, printing every second what `db.status()` and the process say: L0 SSTs, sorted
 * runs, whether uploads wait on a full L0, immutable memtables, JS heap and RSS. Then the time the writes
 * took, where the process's CPU went by thread (`threadCpu`), and the time until the last memtable reached
 * L0.
 *
 *   node --conditions=@shale/source packages/bench/src/w2backlog.ts [--dir /tmp/w2backlog] [--settings JSON]
 *
 * `--settings '{"maxImmutableMemtableBytes": null}'` shows SlateDB's behaviour (only `maxUnflushedBytes`).
 */
import * as fs from "node:fs"
import { Shale } from "@shale/core"
import { makeKeyOf, W2_FULL, W2_SETTINGS, w2Value } from "./W2Workload.ts"

/**
 * Where the process's CPU went by thread (Linux only: `/proc/self/task`; elsewhere nothing is printed): CPU
 * seconds and seconds spent runnable but waiting for a CPU (`schedstat`), for the threads that used any.
 * Node names its V8 helper threads (GC) and the compaction worker "node", libuv's pool "libuv-worker".
 */
const threadCpu = (): void => {
  if (!fs.existsSync("/proc/self/task")) return
  const rows = fs.readdirSync("/proc/self/task").map((tid) => {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const waitNs = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[1])
    // utime and stime, in clock ticks (100 per second on Linux).
    return { tid, name, cpu: (Number(fields[11]) + Number(fields[12])) / 100, wait: waitNs / 1e9 }
  }).sort((a, b) => b.cpu - a.cpu)
  const busy = rows.filter((r) => r.cpu > 0.05)
  console.log(`threads: ${busy.map((r) => `${r.name}(${r.tid}) CPU ${r.cpu.toFixed(1)} s, waited ${r.wait.toFixed(1)} s`).join("; ")}`)
}

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback
}

const dir = arg("dir", "/tmp/w2backlog")
const extra = JSON.parse(arg("settings", "{}")) as Record<string, unknown>
const n = W2_FULL.n
fs.rmSync(dir, { recursive: true, force: true })
const keyOf = makeKeyOf(n)
const db = await Shale.open("w2backlog", {
  store: Shale.stores.local(dir),
  settings: { ...W2_SETTINGS, garbageCollector: null, ...extra },
  logger: "silent"
})
const t0 = Date.now()
const seconds = () => ((Date.now() - t0) / 1000).toFixed(1)
const mb = (x: number) => `${(x / 1e6).toFixed(0)} MB`
let written = 0
const sampler = setInterval(() => {
  void db.status().then((s) => {
    const m = process.memoryUsage()
    console.log(
      `${seconds()} s: ${written} written, L0 ${s.l0Ssts}, runs ${s.sortedRuns}, L0 full ${s.l0Stalled}, ` +
        `immutable memtables ${s.immutableMemtables}, heap ${mb(m.heapUsed)}, RSS ${mb(m.rss)}`
    )
  })
}, 1000)
for (let pass = 0; pass < W2_FULL.passes; pass++) {
  for (let from = 0; from < n; from += W2_FULL.batch) {
    const batch = new Shale.WriteBatch()
    for (let i = from; i < from + W2_FULL.batch; i++) batch.put(keyOf(i), w2Value(i, pass))
    await db.write(batch, { awaitDurable: false })
    written += W2_FULL.batch
  }
}
console.log(`writes done in ${seconds()} s`)
threadCpu()
await db.flush({ type: "memtable" })
console.log(`last memtable in L0 at ${seconds()} s`)
clearInterval(sampler)
await db.close()
