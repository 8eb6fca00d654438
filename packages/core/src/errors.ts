/**
 * The engine's error kinds, following SlateDB (RFC 0007): a small set a caller can act on.
 *
 * - `ClosedError`: the database (or a component) is closed. `reason` tells a clean close from a fenced
 *   writer (a newer writer took over) and a fatal background failure (the cause is kept).
 * - `UnavailableError`: transient trouble reaching the object store; the operation may succeed later.
 * - `InvalidError`: the caller passed something unacceptable (empty or oversized key, bad range, bad
 *   settings). Nothing was written.
 * - `DataError`: stored bytes are corrupt or not in a format we read (checksum mismatch, bad flags, bad
 *   version). Names the object and the section when known.
 * - `InternalError`: a bug or broken invariant inside Shale.
 *
 * - `TransactionError`: a transaction's commit conflicted with another commit (SlateDB's `Transaction`
 *   kind); it is not a `DbError`, since only transactions fail with it.
 *
 * Beyond SlateDB: `ChangesGapError`, the one failure of a change stream (`Db.changes`, `Changes.stream`)
 * that is not a `DbError`: changes it owes are no longer in the WAL (garbage collection deleted WAL SSTs
 * whose rows are now only in SSTs). It names the lowest seq a new stream can start from.
 *
 * Pure byte-level code (codecs) may `throw` a `DataError` (it is an `Error`); the Effect code that calls
 * it turns the throw into a typed failure with `Effect.try`.
 */
import { Data } from "effect"

export type CloseReason = "clean" | "fenced" | "fatal"

export class ClosedError extends Data.TaggedError("ClosedError")<{
  readonly reason: CloseReason
  readonly message: string
  readonly cause?: unknown
  /**
   * Set on the error a write that awaited durability fails with: `"no"` when its WAL was never written
   * (a newer writer will not see it), `"unknown"` when the WAL's PUT may have reached the store before the
   * failure (the write may be durable, and then a newer writer sees it).
   */
  readonly durable?: "no" | "unknown"
}> {}

export class UnavailableError extends Data.TaggedError("UnavailableError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export class InvalidError extends Data.TaggedError("InvalidError")<{
  readonly message: string
}> {}

export class DataError extends Data.TaggedError("DataError")<{
  readonly message: string
  /** The object (path) the corrupt bytes came from, when known. */
  readonly object?: string
  /** The section: "footer", "info", "index", "filter", "stats", "block 3", "manifest", ... */
  readonly section?: string
  readonly cause?: unknown
}> {}

export class InternalError extends Data.TaggedError("InternalError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A change stream (wal/ChangeStream.ts) cannot go on without skipping changes: WAL SSTs that may hold rows
 * with seq ≥ `fromSeq` are gone (collected after an L0 flush put their rows in SSTs, or deleted). Nothing
 * was emitted past the gap. A stream started at `resumeFrom` finds every change from there on in the WAL
 * (as long as the garbage collector does not overtake it); changes in `[fromSeq, resumeFrom)` are only in
 * the database's SSTs (a scan sees their latest versions, not each change).
 */
export class ChangesGapError extends Data.TaggedError("ChangesGapError")<{
  readonly message: string
  /** The lowest seq the stream still owed when it met the gap (its `fromSeq`, or one past the last row it passed). */
  readonly fromSeq: number
  /** The lowest seq a new stream can start from without a gap. */
  readonly resumeFrom: number
  /** The WAL ids that are missing, `[first, last]` (inclusive). */
  readonly missingWalIds: readonly [number, number]
}> {}

/**
 * SlateDB's `Transaction` error kind: a transaction's commit met a conflict (docs/design/transactions.md)
 * and wrote nothing. The transaction is over; run it again (`Db.transaction` does, under its `retry`
 * schedule). Kept out of `DbError` (as `ChangesGapError` is): only transactions fail with it.
 */
export class TransactionError extends Data.TaggedError("TransactionError")<{
  readonly message: string
}> {}

export type DbError = ClosedError | UnavailableError | InvalidError | DataError | InternalError

/** A merge operand was met where no merge operator is configured (reads, compactions). */
export const mergeOperatorMissing = (): InvalidError =>
  new InvalidError({ message: "merge operator missing: the database holds merge operands but none is configured" })
