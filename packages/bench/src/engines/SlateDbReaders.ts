/**
 * SlateDB 0.12.1 for the reader workload (ReadersEngine.ts), through `@slatedb/uniffi`: the writer is a
 * `DbBuilder("bench", ObjectStore.resolve("file://<dir>"))` with the default settings, a reader a
 * `DbReaderBuilder` on a store handle of its own with `manifest_poll_interval_ms` set, in the same process.
 */
import { importPeer } from "../Engine.ts"
import { checkpointLifetimeMs, type ReaderHandle, type ReadersEngine } from "../ReadersEngine.ts"

const ALL = { start: undefined, start_inclusive: true, end: undefined, end_inclusive: false }

interface Iterator {
  readonly next: () => Promise<unknown>
  readonly dispose: () => void
}

const drain = async (iterator: Iterator): Promise<number> => {
  let rows = 0
  try {
    while ((await iterator.next()) !== undefined) rows++
  } finally {
    iterator.dispose()
  }
  return rows
}

export const makeSlateDbReaders = async (dir: string): Promise<ReadersEngine> => {
  const slatedb = await importPeer("@slatedb/uniffi", () => import("@slatedb/uniffi"))
  const store = slatedb.ObjectStore.resolve(`file://${dir}`)
  const builder = new slatedb.DbBuilder("bench", store)
  let db: Awaited<ReturnType<typeof builder.build>>
  try {
    db = await builder.build()
  } finally {
    builder.dispose()
  }
  const putOptions = { ttl: slatedb.Ttl.Default() }
  const openReader = async (pollMs: number): Promise<ReaderHandle> => {
    const readerStore = slatedb.ObjectStore.resolve(`file://${dir}`)
    const readerBuilder = new slatedb.DbReaderBuilder("bench", readerStore)
    readerBuilder.with_options({
      manifest_poll_interval_ms: pollMs,
      checkpoint_lifetime_ms: checkpointLifetimeMs(pollMs),
      max_memtable_bytes: 64 * 1024 * 1024,
      skip_wal_replay: false
    })
    let reader: Awaited<ReturnType<typeof readerBuilder.build>>
    try {
      reader = await readerBuilder.build()
    } catch (e) {
      readerStore.dispose()
      throw e
    } finally {
      readerBuilder.dispose()
    }
    return {
      get: (key) => reader.get(key),
      scanAll: async () => drain(await reader.scan(ALL)),
      close: async () => {
        try {
          await reader.shutdown()
        } finally {
          reader.dispose()
          readerStore.dispose()
        }
      }
    }
  }
  return {
    putDurable: async (key, value) => void (await db.put(key, value)),
    putNoDurable: async (key, value) => void (await db.put_with_options(key, value, putOptions, { await_durable: false })),
    flushMemtable: () => db.flush_with_options({ flush_type: slatedb.FlushType.MemTable }),
    get: (key) => db.get(key),
    scanAll: async () => drain(await db.scan(ALL)),
    openReader,
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
