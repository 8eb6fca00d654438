/**
 * Transactions bench (docs/design/transactions.md, "Cost"): commit rate of small read-modify-write
 * transactions (`Db.transaction`: read one counter, write it plus one; retried at once on a conflict) at 1
 * and 64 in flight, over 10,000 keys (little contention) and 8 keys (a hot spot), with the conflict rate
 * (conflicts per attempt); and the plain non-durable put rate with no transaction open and with one open
 * (conflict tracking on).
 *
 *   node --conditions=@shale/source packages/bench/src/txn.ts [--ops 20000] [--core <path to core's index.ts>]
 *
 * `--core` runs the put and get phases against another checkout's engine (e.g. main's, to measure the cost of the
 * tracking hook when no transaction is open). Memory store, commits not awaiting durability: the engine's
 * own cost, not the store's.
 */
import { Effect, Layer, Ref, Schedule } from "effect"
import type * as Core from "@shale/core"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
const OPS = Number(arg("ops", "20000"))
const corePath = arg("core", "")
const core: typeof Core = corePath === "" ? await import("@shale/core") : await import(corePath)
const { Db, ObjectStore } = core

const settings = { flushIntervalMs: 100, compactor: null, garbageCollector: null } as const
const enc = new TextEncoder()
const dec = new TextDecoder()
const key = (i: number) => enc.encode(`key${String(i).padStart(8, "0")}`)

const withDb = <A, E>(f: (db: Core.Db.Db["Service"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.flatMap(Db.Db, f).pipe(
      Effect.provide(Db.layer({ path: "bench", settings }).pipe(Layer.provide(ObjectStore.layerMemory)))
    ) as Effect.Effect<A, never>
  )

const ND = { awaitDurable: false } as const

/** `OPS` read-modify-write transactions over `keys` keys, `concurrency` at a time. */
const rmw = (isolation: "snapshot" | "serializable", keys: number, concurrency: number) =>
  withDb((db) =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make(0)
      let next = 0
      let rng = 12345
      const rand = () => (rng = (rng * 1103515245 + 12345) % 2147483648) % keys
      const one = db.transaction((txn) =>
        Effect.gen(function*() {
          yield* Ref.update(attempts, (n) => n + 1)
          const k = key(rand())
          const v = yield* txn.get(k)
          yield* txn.put(k, enc.encode(String(Number(v === undefined ? "0" : dec.decode(v)) + 1)))
        }), { isolation, retry: Schedule.forever, awaitDurable: false })
      const worker = Effect.gen(function*() {
        while (next < OPS) {
          next++
          yield* one
        }
      })
      const t0 = performance.now()
      yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded" })
      const ms = performance.now() - t0
      const tried = yield* Ref.get(attempts)
      return { commitsPerSec: Math.round(OPS / (ms / 1000)), conflictRate: (tried - OPS) / tried }
    }))

/** `OPS * 5` non-durable puts, then as many gets, with one transaction open meanwhile or none: [puts/s, gets/s]. */
const putsAndGets = (withOpenTxn: boolean) =>
  withDb((db) =>
    Effect.scoped(Effect.gen(function*() {
      if (withOpenTxn) yield* (db as unknown as { begin: () => Effect.Effect<unknown, never, never> }).begin()
      const n = OPS * 5
      const value = new Uint8Array(100)
      let t0 = performance.now()
      for (let i = 0; i < n; i++) yield* db.put(key(i % 100_000), value, ND)
      const puts = Math.round(n / ((performance.now() - t0) / 1000))
      t0 = performance.now()
      for (let i = 0; i < n; i++) yield* db.get(key((i * 7919) % 100_000))
      return [puts, Math.round(n / ((performance.now() - t0) / 1000))] as const
    })))

const rows: Array<string> = []
if (corePath === "") {
  for (const isolation of ["snapshot", "serializable"] as const) {
    for (const [keys, label] of [[10_000, "10k keys"], [8, "8 hot keys"]] as const) {
      for (const concurrency of [1, 64]) {
        const r = await rmw(isolation, keys, concurrency)
        rows.push(`| ${isolation} | ${label} | ${concurrency} | ${r.commitsPerSec.toLocaleString("en")} | ${(100 * r.conflictRate).toFixed(1)} % |`)
      }
    }
  }
  console.log("| isolation | keys | in flight | commits/s | conflicts per attempt |\n|---|---|---|---|---|")
  console.log(rows.join("\n"))
}
const best = async (open: boolean) => {
  const runs = [await putsAndGets(open), await putsAndGets(open), await putsAndGets(open)]
  return `puts/s ${Math.max(...runs.map((r) => r[0])).toLocaleString("en")}, gets/s ${Math.max(...runs.map((r) => r[1])).toLocaleString("en")}`
}
console.log(`no transaction open (best of 3): ${await best(false)}`)
if (corePath === "") console.log(`one transaction open (best of 3): ${await best(true)}`)
