/**
 * What the manifest interop tests need from the official engine beyond the shared helper
 * (`test/support/slatedb.ts`, which writes a database and shuts it down): keeping a writer open while its
 * embedded compactor works, point reads on an open writer, and a reader pinned to a checkpoint.
 */
import { type Db, DbBuilder, DbReaderBuilder, ObjectStore, WriteBatch } from "@slatedb/uniffi"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { buildEngineDb, engineSettings } from "../support/slatedb.ts"

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b))

/** A temp directory used as a `file://` object store, with the database at `<dir>/db`. */
export interface TempStore {
  readonly dir: string
  readonly dbPath: string
  /** Object paths under `<dbPath>/<sub>`, relative to `dir`, sorted. */
  readonly list: (sub: string) => Array<string>
  readonly read: (path: string) => Uint8Array
  readonly write: (path: string, bytes: Uint8Array) => void
  readonly cleanup: () => void
}

export const makeTempStore = (dbPath = "db"): TempStore => {
  const dir = mkdtempSync(join(tmpdir(), "shale-manifest-"))
  return {
    dir,
    dbPath,
    list: (sub) => {
      try {
        return readdirSync(join(dir, dbPath, sub)).sort().map((n) => `${dbPath}/${sub}/${n}`)
      } catch {
        return []
      }
    },
    read: (p) => new Uint8Array(readFileSync(join(dir, p))),
    write: (p, bytes) => {
      mkdirSync(dirname(join(dir, p)), { recursive: true })
      writeFileSync(join(dir, p), bytes)
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true })
  }
}

export interface OpenDb {
  readonly db: Db
  readonly close: () => Promise<void>
}

/**
 * Opens the engine's writer on `s` with the embedded compactor polling every 100 ms and a 10 ms WAL flush
 * interval (writes await durability), so compactions and flushes happen within a test.
 */
export const openWriter = async (s: TempStore): Promise<OpenDb> => {
  const store = ObjectStore.resolve(`file://${s.dir}`)
  const settings = engineSettings({
    compactor: true,
    settings: { flush_interval: "10ms", manifest_poll_interval: "100ms", "compactor_options.poll_interval": "100ms" }
  })
  const builder = new DbBuilder(s.dbPath, store)
  builder.with_settings(settings)
  const db: Db = await buildEngineDb(builder, settings, store)
  return {
    db,
    close: async () => {
      await db.shutdown()
      db.dispose()
      store.dispose()
    }
  }
}

/** Writes `entries` in one atomic batch (null value = delete) and waits until it is durable. */
export const writeBatch = async (db: Db, entries: ReadonlyArray<readonly [string, string | null]>): Promise<void> => {
  const batch = new WriteBatch()
  for (const [k, v] of entries) {
    if (v === null) batch.delete(enc(k))
    else batch.put(enc(k), enc(v))
  }
  await db.write(batch)
  batch.dispose()
}

export const flushMemtable = (db: Db): Promise<void> => db.flush_with_options({ flush_type: "MemTable" })

export const getString = async (db: Db, key: string): Promise<string | undefined> => dec(await db.get(enc(key)))

/** Opens a read-only reader (pinned to `checkpointId` if given), reads `keys`, closes it. */
export const readWithReader = async (
  s: TempStore,
  keys: ReadonlyArray<string>,
  checkpointId?: string
): Promise<Array<string | undefined>> => {
  const store = ObjectStore.resolve(`file://${s.dir}`)
  const b = new DbReaderBuilder(s.dbPath, store)
  try {
    if (checkpointId !== undefined) b.with_checkpoint_id(checkpointId)
    const reader = await b.build()
    try {
      const out: Array<string | undefined> = []
      for (const k of keys) out.push(dec(await reader.get(enc(k))))
      return out
    } finally {
      await reader.shutdown()
      reader.dispose()
    }
  } finally {
    b.dispose()
    store.dispose()
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export const waitFor = async (cond: () => boolean, timeoutMs: number): Promise<boolean> => {
  const end = performance.now() + timeoutMs
  while (performance.now() < end) {
    if (cond()) return true
    await sleep(50)
  }
  return cond()
}
