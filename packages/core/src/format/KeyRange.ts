/**
 * A range of keys (raw bytes, compared as such): the vocabulary of scans, memtable cursors and SST reads.
 * The start is inclusive and the end exclusive unless told otherwise; an absent bound is unbounded.
 */
export interface KeyRange {
  readonly start?: Uint8Array
  readonly startInclusive?: boolean
  readonly end?: Uint8Array
  readonly endInclusive?: boolean
}
