/**
 * A reader child process of the cross-process replica test (CrossProcessReaders.test.ts), run with
 * `node --conditions=@shale/source replicaReader.ts <config-json>`.
 *
 * Config: `{ store, root, id, rowsPerBatch, options, pauseMs, gets }`. It opens a `DbReader`
 * (`Shale.openReader`, SlateDB's `DbReaderOptions` in `options`) of the database at `root` in the store
 * the URL `store` names, then until it reads `stop` on stdin: scans the whole database, checks the scan
 * (rows.ts `viewOf`: every batch complete, written by one run, batches 0..max all there) and checks it
 * against every earlier scan (a batch once seen stays, written by the same run: the view only grows, and a
 * batch that changes runs was seen before it was durable), reads `gets` random rows of the visible batches
 * with `get`, and sleeps `pauseMs`. It prints (synchronous writes):
 *
 *   `ready`                  the reader is open
 *   `view <json>`            a scan that saw something new: `{ scan, max, rows, seq, ms, ranges }` (ms: the
 *                            scan's duration; ranges: rows.ts)
 *   `problem <text>`         anything wrong (a read that failed is one too)
 *   `final <json>`           after `stop`: one more scan's ranges, the number of scans and the reader's status
 *   `closed`                 the reader closed (its checkpoint removed); then it exits 0
 */
import { writeSync } from "node:fs"
import { Shale } from "../../src/index.ts"
import { encode, keyOf, maxBatch, rangesOf, valueOf, type View, viewOf } from "./rows.ts"

interface ReaderConfig {
  readonly store: string
  readonly root: string
  readonly id: number
  readonly rowsPerBatch: number
  readonly options: Shale.DbReaderOptions
  readonly pauseMs: number
  readonly gets: number
}

const config = JSON.parse(process.argv[2] ?? "null") as ReaderConfig | null
if (config === null) {
  process.stderr.write("usage: replicaReader.ts <config-json>\n")
  process.exit(2)
}
const line = (text: string) => void writeSync(1, `${text}\n`)
const decoder = new TextDecoder()

let stopping = false
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk: string) => {
  if (chunk.includes("stop")) stopping = true
})
setTimeout(() => process.exit(3), 150_000).unref() // the parent died

const reader = await Shale.openReader(config.root, { store: Shale.stores.resolve(config.store), options: config.options })
line("ready")

/** Batch → run of every batch seen so far. */
const seen = new Map<number, number>()
let scans = 0
let lastScanMs = 0

const scanOnce = async (): Promise<View | undefined> => {
  scans++
  const t0 = performance.now()
  try {
    const rows: Array<Shale.KeyValue> = []
    for await (const kv of reader.scan({})) rows.push(kv)
    lastScanMs = Math.round(performance.now() - t0)
    return viewOf(rows, config.rowsPerBatch)
  } catch (e) {
    line(`problem reader ${config.id}: scan ${scans} failed: ${String(e)}`)
    return undefined
  }
}

/** Checks `view` against earlier scans and remembers it; true when it shows something new. */
const absorb = (view: View): boolean => {
  for (const p of view.problems) line(`problem reader ${config.id}, scan ${scans}: ${p}`)
  for (const [n, run] of seen) {
    const now = view.runs.get(n)
    if (now === undefined) line(`problem reader ${config.id}, scan ${scans}: batch ${n} (run ${run}) was visible and is not any more`)
    else if (now !== run) line(`problem reader ${config.id}, scan ${scans}: batch ${n} was written by run ${run}, now by run ${now}`)
  }
  const grew = view.runs.size > seen.size
  for (const [n, run] of view.runs) seen.set(n, run)
  return grew
}

/** `gets` point reads of random visible rows, each against the value the scan showed. */
const pointReads = async (view: View) => {
  const max = maxBatch(view.runs)
  for (let i = 0; i < config.gets && max >= 0; i++) {
    const n = Math.floor(Math.random() * (max + 1))
    const j = Math.floor(Math.random() * config.rowsPerBatch)
    const run = view.runs.get(n)
    if (run === undefined) continue
    try {
      const got = await reader.get(encode(keyOf(n, j)))
      const expected = valueOf(run, n, j)
      if (got === undefined || decoder.decode(got) !== expected) {
        line(`problem reader ${config.id}: get ${keyOf(n, j)} returned ${got === undefined ? "nothing" : decoder.decode(got).slice(0, 30)}`)
      }
    } catch (e) {
      line(`problem reader ${config.id}: get ${keyOf(n, j)} failed: ${String(e)}`)
    }
  }
}

while (!stopping) {
  const view = await scanOnce()
  if (view !== undefined) {
    if (absorb(view)) {
      const st = await reader.status()
      line(`view ${JSON.stringify({ scan: scans, max: maxBatch(view.runs), rows: view.rows, seq: st.seq, ms: lastScanMs, ranges: rangesOf(view.runs) })}`)
    }
    await pointReads(view)
  }
  await new Promise((resolve) => setTimeout(resolve, config.pauseMs))
}

const last = await scanOnce()
if (last !== undefined) absorb(last)
const status = await reader.status()
line(`final ${JSON.stringify({ scans, ranges: last === undefined ? null : rangesOf(last.runs), status })}`)
await reader.close()
line("closed")
process.exit(0)
