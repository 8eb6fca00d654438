/**
 * SlateDB's estimates of an SST's encoded size from a row count and `Σ estimatedSize` (docs §3.6;
 * `SsTableFormat::estimate_encoded_size_{compacted,wal}` in 0.12.1). They decide when to freeze a memtable,
 * when to flush a WAL buffer, and how much unflushed data counts against backpressure; they never decide
 * bytes on disk. Compression is ignored. Reproduced term by term so that Shale freezes and flushes at
 * the same points as SlateDB.
 *
 * With `n` rows and `bytes = Σ estimatedSize` (key + value + 8 + 8 per timestamp):
 * - rows: `E = bytes + 9n` (u16 prefix len, u16 suffix len, u32 value len, u8 flags per row);
 * - blocks: `B = ceil(E / blockSize)`; data = `E + 2n` (offsets) `+ 4B` (checksums);
 * - index: `B * firstKeyGuess + 2 + 4`; metadata: `firstKeyGuess + 4*8 + 2`; footer: `8 + 2`;
 * - compacted only: bloom filter `ceil(n * bitsPerKey / 8) + 2 + 4` when `n >= minFilterKeys`, and stats
 *   `5*8 + 4`. The first-key guess is 12 bytes for compacted SSTs and 8 (a seq) for WAL SSTs.
 */

/** The settings the estimates depend on (a subset of `Settings`). */
export interface SstSizeOptions {
  readonly blockSize: number
  readonly minFilterKeys: number
  readonly filterBitsPerKey: number
}

const estimateDataIndexMetadata = (
  entries: number,
  bytes: number,
  blockSize: number,
  firstKeyGuess: number
): number => {
  const encodedRows = bytes + 9 * entries
  const blocks = Math.ceil(encodedRows / blockSize)
  return encodedRows + 2 * entries + 4 * blocks + // blocks: rows, u16 offsets, crc32 per block
    (blocks * firstKeyGuess + 2) + 4 + // index
    (firstKeyGuess + 4 * 8 + 2) + // metadata (SsTableInfo)
    8 + 2 // metadata offset + version
}

/** `estimate_encoded_size_compacted`: an L0/compacted SST holding `entries` rows of total `bytes`. */
export const estimateEncodedSizeCompacted = (entries: number, bytes: number, options: SstSizeOptions): number => {
  if (entries === 0) return 0
  let size = estimateDataIndexMetadata(entries, bytes, options.blockSize, 12)
  if (entries >= options.minFilterKeys) size += Math.ceil((entries * options.filterBitsPerKey) / 8) + 2 + 4
  return size + 5 * 8 + 4
}

/** `estimate_encoded_size_wal`: a WAL SST holding `entries` rows of total `bytes` (no filter, no stats). */
export const estimateEncodedSizeWal = (entries: number, bytes: number, options: { readonly blockSize: number }): number =>
  entries === 0 ? 0 : estimateDataIndexMetadata(entries, bytes, options.blockSize, 8)
