/**
 * SlateDB's SST size estimates as the memtable and the Db name them. There is one implementation, in
 * `format/SsTableBuilder.ts` (`estimateCompactedSstSize`, `estimateWalSstSize`, docs §3.6): they decide
 * when to freeze a memtable, when to flush a WAL buffer and what counts against backpressure, never the
 * bytes on disk.
 */
export {
  estimateCompactedSstSize as estimateEncodedSizeCompacted,
  estimateWalSstSize as estimateEncodedSizeWal
} from "../format/SsTableBuilder.ts"

/** The settings the estimates depend on (a subset of `Settings`). */
export interface SstSizeOptions {
  readonly blockSize: number
  readonly minFilterKeys: number
  readonly filterBitsPerKey: number
}
