/**
 * The crash test's child process (run by Crash.test.ts with `process.execPath`, i.e. Node 22 with type
 * stripping): opens the Shale database at `<dir>`/db and writes until it is killed.
 *
 * Usage: `node writer.ts <dir> <run> <seed> <settings-json> <fibers>`
 *
 * `fibers` writers run concurrently; writer `f` issues writes `n = 0, 1, 2, ...` one after the other, each
 * awaiting durability (`awaitDurable: true`), and prints one line per acknowledged write:
 *
 *   `ack <run> <f> <n> <size>`   (size 1: a single put; size > 1: a write batch of that many puts)
 *
 * Keys and values name the write, so the parent can check what survived:
 * - single put: key `r<run>/f<f>/<n:6>`, value `r<run>/f<f>/<n>/1/` + padding;
 * - batch: keys `r<run>/f<f>/<n:6>/<j>` (j < size), values `r<run>/f<f>/<n>/<size>/<j>/` + padding.
 * Padding lengths vary (seeded), from a few bytes to 4 KiB, so memtables fill and flush to L0 mid-run.
 *
 * Prints `opening` just before it opens the database and `ready` once it is open. Exits by itself after 120 s in case the parent died.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer } from "effect"
import { Db } from "../../src/db/Db.ts"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { LocalObjectStore } from "../../src/objectstore/LocalObjectStore.ts"
import { Settings } from "../../src/Settings.ts"

const [dir, runArg, seedArg, settingsJson, fibersArg] = process.argv.slice(2)
if (dir === undefined || runArg === undefined || seedArg === undefined || settingsJson === undefined) {
  process.stderr.write("usage: writer.ts <dir> <run> <seed> <settings-json> <fibers>\n")
  process.exit(2)
}
const run = Number(runArg)
const fibers = Number(fibersArg ?? "4")

const encoder = new TextEncoder()

/** A small seeded generator (mulberry32), one per writer fiber. */
const rng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const padding = (next: () => number): string => {
  const r = next()
  const len = r < 0.7 ? Math.floor(next() * 64) : r < 0.95 ? Math.floor(next() * 600) : 4096
  return "p".repeat(len)
}

const writer = (f: number) =>
  Effect.gen(function*() {
    const db = yield* Db
    const next = rng(Number(seedArg) * 1000 + f)
    for (let n = 0;; n++) {
      const id = `r${run}/f${f}/${String(n).padStart(6, "0")}`
      const size = next() < 0.6 ? 1 : 2 + Math.floor(next() * 7)
      if (size === 1) {
        yield* db.put(encoder.encode(id), encoder.encode(`r${run}/f${f}/${n}/1/${padding(next)}`), { awaitDurable: true })
      } else {
        const batch = new WriteBatch()
        for (let j = 0; j < size; j++) {
          batch.put(encoder.encode(`${id}/${j}`), encoder.encode(`r${run}/f${f}/${n}/${size}/${j}/${padding(next)}`))
        }
        yield* db.write(batch, { awaitDurable: true })
      }
      yield* Console.log(`ack ${run} ${f} ${n} ${size}`)
    }
  })

const program = Effect.gen(function*() {
  const settings = yield* Settings.fromJson(settingsJson)
  yield* Console.log("opening")
  yield* Effect.gen(function*() {
    yield* Db
    yield* Console.log("ready")
    yield* Effect.forEach(Array.from({ length: fibers }, (_, f) => f), writer, { concurrency: "unbounded", discard: true })
  }).pipe(
    Effect.provide(Db.layer({ path: "db", settings }).pipe(Layer.provide(LocalObjectStore.layer({ root: dir })))),
    Effect.timeout("120 seconds")
  )
})

NodeRuntime.runMain(program)
