/**
 * The writer child process of the cross-process replica test (CrossProcessReaders.test.ts), run with
 * `node --conditions=@shale/source replicaWriter.ts <config-json>` (Node 22's type stripping; the condition
 * lets an `s3://` store load `@shale/s3` from its sources).
 *
 * Config: `{ store, root, run, rowsPerBatch, statusEveryMs, settings }`. It opens the database
 * at `root` in the store named by the URL `store` (`Shale.stores.resolve`) with `settings`, finds the newest
 * batch in it, and prints on stdout (synchronous writes, one line each):
 *
 *   `resume <next>`          the newest batch is next-1, and it is complete (otherwise `problem ...`)
 *   `ack <run> <n>`          batch n (rows.ts) is durable: `db.write` awaited durability and returned
 *   `status <json>`          every `statusEveryMs`: its compactor's and collector's counters, L0, runs
 *   `closed`                 it read `stop` on stdin, finished the batch in flight, closed the database
 *                            cleanly (then it exits 0)
 *
 * Batches are written one after the other, each awaiting durability before the next starts, so batch n + 1
 * is never in flight before batch n was acknowledged. It writes until `stop` or until it is killed (at most
 * 120 s, in case the parent died).
 */
import { writeSync } from "node:fs"
import { Shale } from "../../src/index.ts"
import { batchPrefix, encode, keyOf, valueOf, viewOf } from "./rows.ts"

interface WriterConfig {
  readonly store: string
  readonly root: string
  readonly run: number
  readonly rowsPerBatch: number
  readonly statusEveryMs: number
  readonly settings: NonNullable<Shale.OpenOptions["settings"]>
}

const config = JSON.parse(process.argv[2] ?? "null") as WriterConfig | null
if (config === null) {
  process.stderr.write("usage: replicaWriter.ts <config-json>\n")
  process.exit(2)
}
const line = (text: string) => void writeSync(1, `${text}\n`)

let stopping = false
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk: string) => {
  if (chunk.includes("stop")) stopping = true
})

const statusLine = async (db: Shale.ShaleDb) => {
  const st = await db.status()
  line(`status ${
    JSON.stringify({
      compactions: st.compactor?.completed ?? 0,
      gcDeleted: st.garbageCollector?.deleted,
      gcErrors: st.garbageCollector?.errors ?? 0,
      l0: st.l0Ssts,
      sortedRuns: st.sortedRuns,
      manifestId: st.manifestId
    })
  }`)
}

/**
 * The batch after the newest one in the database (its newest key, by a descending scan), which must be
 * complete: a batch cut short by a crash would be a torn write batch.
 */
async function resumePoint(db: Shale.ShaleDb): Promise<number> {
  let newest: string | undefined
  for await (const kv of db.scan({}, { order: "desc" })) {
    newest = new TextDecoder().decode(kv.key)
    break
  }
  if (newest === undefined) return 0
  const n = Number(/^b(\d{7})\//.exec(newest)?.[1] ?? "-1")
  if (n < 0) line(`problem writer run ${config!.run} at open: unexpected key ${newest}`)
  const rows: Array<Shale.KeyValue> = []
  for await (const kv of db.scanPrefix(encode(batchPrefix(n)))) rows.push(kv)
  for (const p of viewOf(rows, config!.rowsPerBatch, n).problems) {
    line(`problem writer run ${config!.run} at open: ${p}`)
  }
  return n + 1
}

const db = await Shale.open(config.root, { store: Shale.stores.resolve(config.store), settings: config.settings })
let n = await resumePoint(db)
line(`resume ${n}`)

const t0 = performance.now()
let lastStatus = t0
while (!stopping) {
  if (performance.now() - t0 > 120_000) process.exit(3) // the parent died
  const batch = new Shale.WriteBatch()
  for (let j = 0; j < config.rowsPerBatch; j++) batch.put(encode(keyOf(n, j)), encode(valueOf(config.run, n, j)))
  await db.write(batch, { awaitDurable: true })
  line(`ack ${config.run} ${n}`)
  n++
  if (performance.now() - lastStatus >= config.statusEveryMs) {
    lastStatus = performance.now()
    await statusLine(db)
  }
}
await statusLine(db)
await db.close()
line("closed")
process.exit(0)
