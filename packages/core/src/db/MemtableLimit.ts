/**
 * When the active memtable is full and freezes (docs/design/db.md, "Memory limits"):
 *
 * - its rows would make an L0 SST of `l0SstSizeBytes`: SlateDB's rule, on its estimate of the encoded size
 *   (`estimatedBytes`: key + value + 8, + 8 per timestamp), so that L0 SSTs are as large as configured
 *   whatever the rows cost in the heap;
 * - or they hold `memoryBytes` in the heap (`memorySize`: key + value + 300), a quarter of
 *   `maxUnflushedBytes` and at least `l0SstSizeBytes`: the active memtable's memory stays bounded when rows
 *   are so small that their heap cost is many times their encoded size.
 */
import type { MemTableReader } from "../memtable/MemTable.ts"

export interface MemtableLimit {
  readonly estimatedBytes: number
  readonly memoryBytes: number
}

export const memtableLimit = (settings: { readonly l0SstSizeBytes: number; readonly maxUnflushedBytes: number }): MemtableLimit => ({
  estimatedBytes: settings.l0SstSizeBytes,
  memoryBytes: Math.max(settings.l0SstSizeBytes, Math.floor(settings.maxUnflushedBytes / 4))
})

/** A limit on memory alone (a `DbReader`'s `maxMemtableBytes`). */
export const memoryLimit = (bytes: number): MemtableLimit => ({ estimatedBytes: Number.POSITIVE_INFINITY, memoryBytes: bytes })

export const isFull = (table: MemTableReader, limit: MemtableLimit): boolean =>
  table.estimatedBytes >= limit.estimatedBytes || table.memoryBytes >= limit.memoryBytes

/**
 * How much memory the immutable memtables may hold before writes wait (`maxImmutableMemtableBytes`): when
 * not set, `l0MaxSsts × l0SstSizeBytes`; no bound of its own (Infinity) when set to null, as in SlateDB.
 */
export const immutableLimit = (settings: {
  readonly l0SstSizeBytes: number
  readonly l0MaxSsts: number
  readonly maxImmutableMemtableBytes?: number | null
}): number => {
  const own = settings.maxImmutableMemtableBytes
  return own === null ? Number.POSITIVE_INFINITY : own ?? settings.l0MaxSsts * settings.l0SstSizeBytes
}
