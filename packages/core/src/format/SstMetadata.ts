/**
 * The metadata sections of an SST, as TypeScript values (the FlatBuffer codec lives in
 * `./flatbuffers/`; see docs/format.md §2.3-§2.4). Offsets and lengths are byte counts in the
 * SST object; lengths include the 4-byte CRC that follows each section.
 */

export const CompressionFormat = { None: 0, Snappy: 1, Zlib: 2, Lz4: 3, Zstd: 4 } as const
export type CompressionFormat = (typeof CompressionFormat)[keyof typeof CompressionFormat]

export const SstType = { Compacted: 0, Wal: 1 } as const
export type SstType = (typeof SstType)[keyof typeof SstType]

/** Legacy = raw bloom filter block (what the released 0.12.1 writes and reads; we write this). */
export const FilterFormat = { Legacy: 0, Composite: 1 } as const
export type FilterFormat = (typeof FilterFormat)[keyof typeof FilterFormat]

export interface SsTableInfo {
  /** Compacted: first key. WAL: 8-byte big-endian seq of the first row. Absent for empty SSTs. */
  readonly firstEntry: Uint8Array | undefined
  /** Compacted: last key. WAL: absent. */
  readonly lastEntry: Uint8Array | undefined
  readonly indexOffset: number
  readonly indexLen: number
  /** Equals the end of the data blocks even when there is no filter. */
  readonly filterOffset: number
  /** 0 means no filter. */
  readonly filterLen: number
  readonly compressionFormat: CompressionFormat
  readonly sstType: SstType
  /** 0 when there are no stats. */
  readonly statsOffset: number
  readonly statsLen: number
  /** Read from files written by newer SlateDB; always written as Legacy (field omitted). */
  readonly filterFormat: FilterFormat
}

/** One index entry: where a data block starts and its first key (a separator in compacted SSTs). */
export interface BlockMeta {
  readonly offset: number
  readonly firstKey: Uint8Array
}

export interface BlockStats {
  readonly numPuts: number
  readonly numDeletes: number
  readonly numMerges: number
}

export interface SstStats {
  readonly numPuts: number
  readonly numDeletes: number
  readonly numMerges: number
  readonly rawKeySize: number
  readonly rawValSize: number
  readonly blockStats: ReadonlyArray<BlockStats>
}
