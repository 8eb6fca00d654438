/**
 * SlateDB 0.12.1 through its official Node binding (`@slatedb/uniffi`: the Rust engine over FFI), on
 * `memory:///` or a `file://` directory, with its default settings (WAL flush every 100 ms), called the way
 * docs/design/benchmark.md §2 describes: `put_with_options(..., { await_durable: false })` for non-durable puts,
 * `put` (which awaits durability) for durable ones, `flush_with_options({ flush_type: "MemTable" })`,
 * `get`, and a `scan` iterator drained with `next()`.
 */
import { type Engine, importPeer, runConcurrently } from "../Engine.ts"
import { getIndex, valueOf } from "../Workload.ts"

export const makeSlateDb = async (options: { readonly url: string }): Promise<Engine> => {
  const slatedb = await importPeer("@slatedb/uniffi", () => import("@slatedb/uniffi"))
  const store = slatedb.ObjectStore.resolve(options.url)
  const builder = new slatedb.DbBuilder("bench", store)
  let db: Awaited<ReturnType<typeof builder.build>>
  try {
    db = await builder.build()
  } finally {
    builder.dispose()
  }
  const putOptions = { ttl: slatedb.Ttl.Default() }
  const noDurable = { await_durable: false }
  return {
    putNoDurableSeq: async (keys, from, to) => {
      for (let i = from; i < to; i++) await db.put_with_options(keys[i]!, valueOf(i), putOptions, noDurable)
    },
    putDurableConcurrent: (keys, from, to, inFlight) =>
      runConcurrently(from, to, inFlight, (i) => db.put(keys[i]!, valueOf(i))),
    putDurableSeq: async (keys, from, to) => {
      const latencies: Array<number> = []
      for (let i = from; i < to; i++) {
        const t0 = performance.now()
        await db.put(keys[i]!, valueOf(i))
        latencies.push(performance.now() - t0)
      }
      return latencies
    },
    durableSeq: async () => Number(db.status().durable_seq),
    flushMemtable: () => db.flush_with_options({ flush_type: slatedb.FlushType.MemTable }),
    getSeq: async (keys, count) => {
      let found = 0
      for (let i = 0; i < count; i++) {
        if ((await db.get(keys[getIndex(i, keys.length)]!)) !== undefined) found++
      }
      return found
    },
    scanAll: async () => {
      const iterator = await db.scan({ start: undefined, start_inclusive: true, end: undefined, end_inclusive: false })
      let rows = 0
      try {
        while ((await iterator.next()) !== undefined) rows++
      } finally {
        iterator.dispose()
      }
      return rows
    },
    close: async () => {
      try {
        await db.shutdown()
      } finally {
        db.dispose()
        store.dispose()
      }
    }
  }
}
