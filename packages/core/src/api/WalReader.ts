/**
 * SlateDB's `WalReader`: the WAL SSTs of a database, read without opening it, for change data capture and
 * tools. `WalReader.make(root)` (over the `ObjectStore` in context) lists the WAL files (`list({ start?,
 * end? })`, ids ascending, `end` exclusive) and hands out a file by id (`get(id)`, no I/O); each file has
 * `id`, `nextId`, `metadata` (size, last-modified time, location) and `rows`: every row stored, in file
 * order, raw (values, tombstones, merge operands, with seq and timestamps). A missing file is a
 * `DataError`. Nothing here writes, so it never fences a writer. The Promise form is `Shale.walReader`.
 */
export {
  makeWalReader,
  toWalRow,
  type WalFile,
  type WalFileMetadata,
  type WalIdRange,
  type WalReader,
  walReaderOver,
  type WalRow,
  type WalRowKind
} from "../wal/WalReader.ts"

import { makeWalReader } from "../wal/WalReader.ts"

/** The WAL reader of the database at `root` in the `ObjectStore` in context (SlateDB's `WalReader::new`). */
export const make = makeWalReader
