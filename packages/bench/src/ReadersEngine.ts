/**
 * What the reader workload (ReadersWorkload.ts) needs of an engine: a writer on a fresh local directory and
 * `DbReader`s of its database, each opened with a given manifest poll interval. Adapters:
 * engines/ShaleReaders.ts (Shale's Promise API) and engines/SlateDbReaders.ts (`@slatedb/uniffi`).
 */

/** A `DbReader` of the writer's database. */
export interface ReaderHandle {
  readonly get: (key: Uint8Array) => Promise<Uint8Array | undefined>
  /** Drains a scan of the whole database; the number of rows. */
  readonly scanAll: () => Promise<number>
  readonly close: () => Promise<void>
}

/** The writer, and readers of its database. */
export interface ReadersEngine {
  /** A put that returns once it is durable. */
  readonly putDurable: (key: Uint8Array, value: Uint8Array) => Promise<void>
  readonly putNoDurable: (key: Uint8Array, value: Uint8Array) => Promise<void>
  /** The WAL and the memtable to L0 (durable, in an SST). */
  readonly flushMemtable: () => Promise<void>
  readonly get: (key: Uint8Array) => Promise<Uint8Array | undefined>
  readonly scanAll: () => Promise<number>
  readonly openReader: (pollMs: number) => Promise<ReaderHandle>
  readonly close: () => Promise<void>
}

export const READER_ENGINES = ["shale", "slatedb"] as const
export type ReaderEngineName = (typeof READER_ENGINES)[number]

/** A reader's checkpoint lifetime: SlateDB's default (10 minutes), or twice the poll interval if longer. */
export const checkpointLifetimeMs = (pollMs: number): number => Math.max(600_000, 2 * pollMs)

/** The engine `name` writing to the directory `dir`. */
export const makeReadersEngine = async (name: ReaderEngineName, dir: string): Promise<ReadersEngine> => {
  switch (name) {
    case "shale":
      return (await import("./engines/ShaleReaders.ts")).makeShaleReaders(dir)
    case "slatedb":
      return (await import("./engines/SlateDbReaders.ts")).makeSlateDbReaders(dir)
  }
}
