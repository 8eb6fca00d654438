/**
 * The flush-starvation test's child process (FlushStarvation.test.ts): opens the database at `<dir>`/db
 * through the Promise API with the default settings (WAL flush every 100 ms) and runs the loop a user
 * writes, `await db.put(key, value, { awaitDurable: false })`, which settles synchronously, until it is
 * killed (or 20 s pass).
 *
 * Usage: `node loopWriter.ts <dir>`
 *
 * Keys are `k` + the put's index (10 digits), in order. Every 1,000 acknowledged puts it prints
 * `acked <n> <ms since ready>` with a synchronous write to stdout (the loop may never yield to the event
 * loop, so a stream write would never be flushed), after `ready`.
 */
import { writeSync } from "node:fs"
import { Shale } from "../../src/db/Shale.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"

const dir = process.argv[2]
if (dir === undefined) {
  process.stderr.write("usage: loopWriter.ts <dir>\n")
  process.exit(2)
}
const encoder = new TextEncoder()
const value = new Uint8Array(100).fill(0x76)

const db = await Shale.open("db", { store: LocalObjectStore.layer({ root: dir }) })
writeSync(1, "ready\n")
const t0 = performance.now()
for (let n = 0; performance.now() - t0 < 20_000; n++) {
  await db.put(encoder.encode(`k${String(n).padStart(10, "0")}`), value, { awaitDurable: false })
  if ((n + 1) % 1000 === 0) writeSync(1, `acked ${n + 1} ${Math.round(performance.now() - t0)}\n`)
}
process.exit(3) // not killed in time
