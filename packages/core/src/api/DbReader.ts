/**
 * SlateDB's `DbReader`: a reader of a database another process writes, which follows the writer. It keeps
 * a checkpoint of its own (so a garbage collector keeps what it reads), replays the WAL after the manifest
 * version it reads, and polls for new WAL SSTs and manifest versions; or it reads at a user's checkpoint and
 * never polls. It sees only durable data and writes nothing but its checkpoint. `changes({ fromSeq })` is the
 * change stream (Changes.ts) as far as the reader has followed the WAL. `DbReader.DbReader` is the
 * service (`DbReader.layer({ path, checkpointId?, options? })` over the `ObjectStore` in context), `open`
 * the same in the caller's scope; the Promise form is `Shale.openReader`. Options as SlateDB's:
 * `manifestPollIntervalMs` (10 s), `checkpointLifetimeMs` (10 minutes), `maxMemtableBytes` (64 MiB),
 * `skipWalReplay`. No merge operator (Shale has none yet).
 */
export {
  DbReader,
  type DbReaderHandle,
  type DbReaderLayerOptions,
  type DbReaderOpenOptions,
  type DbReaderStatus,
  openDbReader
} from "../db/DbReader.ts"
export { type DbReaderOptions, defaultReaderOptions } from "../db/ReaderOptions.ts"

import { DbReader as DbReaderService, openDbReader } from "../db/DbReader.ts"

/** The `DbReader` service of the database at `options.path` in the `ObjectStore` in context. */
export const layer = DbReaderService.layer
/** Opens a `DbReader` in the current scope (closing the scope closes it and removes its checkpoint). */
export const open = openDbReader
