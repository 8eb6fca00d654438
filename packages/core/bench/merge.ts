/**
 * Merge read cost (docs/design/merge.md): the latency of a point read whose key has 1, 10 or 100 unmerged
 * operands (in the memtable, on a base value in an L0 SST), a scan over such keys, and the plain get and
 * scan (no operands) with and without an operator configured, through the Promise API on the memory
 * store. Run from the repo root with Node 22:
 *
 *   node_modules/.bin/node packages/core/bench/merge.ts [--keys 100] [--gets 20000] [--plain 20000]
 *
 * Operands stay unmerged until an L0 flush (or compaction) folds them; this measures reads before that.
 * Times are CPU time per operation (the process's user + system), each case run twice (read the second).
 */
import { Shale } from "../src/db/Shale.ts"
import type { MergeOperator } from "../src/iter/MergeOperator.ts"

const argValue = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const KEYS = argValue("--keys", 100)
const GETS = argValue("--gets", 20_000)
const PLAIN = argValue("--plain", 20_000)

const enc = new TextEncoder()
const key = (i: number) => enc.encode(`key${String(i).padStart(13, "0")}`)
const settings = { flushIntervalMs: null, durableFlush: "eager", compactor: null, garbageCollector: null } as const
const concat: MergeOperator = {
  merge: (_k, existing, operand) => {
    const out = new Uint8Array((existing?.length ?? 0) + operand.length)
    if (existing !== undefined) out.set(existing)
    out.set(operand, existing?.length ?? 0)
    return out
  }
}
/** CPU time of the process (ms): on a shared machine far steadier than wall time for these single-fiber loops. */
/** The same concatenation with `mergeBatch`: one allocation per batch instead of one per operand. */
const concatBatch: MergeOperator = {
  merge: concat.merge,
  mergeBatch: (_k, existing, operands) => {
    let n = existing?.length ?? 0
    for (const o of operands) n += o.length
    const out = new Uint8Array(n)
    let at = 0
    if (existing !== undefined) {
      out.set(existing)
      at = existing.length
    }
    for (const o of operands) {
      out.set(o, at)
      at += o.length
    }
    return out
  }
}

const now = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(2)

/** Mean µs per get of `keys` (round robin), after a warm-up of the same size. */
const timeGets = async (db: Awaited<ReturnType<typeof Shale.open>>, n: number, count: number): Promise<string> => {
  for (let i = 0; i < count; i++) await db.get(key(i % n))
  const t = now()
  for (let i = 0; i < count; i++) await db.get(key(i % n))
  return us(now() - t, count)
}

/** Mean µs per row of full scans repeated until `minRows` rows were read, after one warm-up scan. */
const timeScan = async (db: Awaited<ReturnType<typeof Shale.open>>, minRows: number): Promise<{ rows: number; usPerRow: string }> => {
  let rows = 0
  for await (const _ of db.scan({})) rows++
  const perScan = rows
  const t = now()
  rows = 0
  while (rows < minRows) for await (const _ of db.scan({})) rows++
  return { rows: perScan, usPerRow: us(now() - t, rows) }
}

const plain = async (withOperator: boolean) => {
  const db = await Shale.open("db", { store: Shale.stores.memory(), settings, ...(withOperator ? { mergeOperator: concat } : {}) })
  for (let i = 0; i < PLAIN; i++) await db.put(key(i), new Uint8Array(100).fill(i & 0xff), { awaitDurable: false })
  await db.flush({ type: "memtable" })
  for (let i = 0; i < PLAIN; i += 2) await db.put(key(i), new Uint8Array(100), { awaitDurable: false })
  const get = await timeGets(db, PLAIN, GETS * 5)
  const scan = await timeScan(db, PLAIN * 5)
  await db.close()
  console.log(`plain values, operator ${withOperator ? "set" : "none"}: get ${get} µs, scan ${scan.usPerRow} µs/row (${scan.rows} rows)`)
}

const merged = async (operands: number, batch: boolean) => {
  const db = await Shale.open("db", { store: Shale.stores.memory(), settings, mergeOperator: batch ? concatBatch : concat })
  for (let i = 0; i < KEYS; i++) await db.put(key(i), enc.encode("base"), { awaitDurable: false })
  await db.flush({ type: "memtable" }) // the bases in an L0 SST
  for (let j = 0; j < operands; j++) {
    for (let i = 0; i < KEYS; i++) await db.merge(key(i), enc.encode(`+${j}`), { awaitDurable: false })
  }
  const get = await timeGets(db, KEYS, GETS)
  const scan = await timeScan(db, GETS)
  await db.close()
  console.log(`${operands} unmerged operand(s) per key, ${batch ? "mergeBatch" : "merge only"}: get ${get} µs, scan ${scan.usPerRow} µs/key (${scan.rows} keys)`)
}

// Each case twice (the first warms the JIT up); the second is the one to read.
for (const round of [1, 2]) {
  console.log(`-- round ${round}`)
  await plain(false)
  await plain(true)
  for (const n of [1, 10, 100]) await merged(n, false)
  for (const n of [10, 100]) await merged(n, true)
}
