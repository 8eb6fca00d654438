/**
 * Writing one frozen WAL (WalBufferManager.ts §6): encode, a create-only PUT retried while the store is
 * unavailable, and the `ClosedError` a failure becomes. A retried PUT that finds the object compares bytes:
 * it may be its own earlier attempt that landed.
 */
import { Effect, type Schedule } from "effect"
import { ClosedError } from "../errors.ts"
import { keysEqual } from "../format/KeyComparator.ts"
import { isTransient, type ObjectAlreadyExists, type ObjectStoreError } from "../objectstore/ObjectStoreError.ts"
import type { WalBuffer } from "./WalBuffer.ts"
import type { WalSstWriter } from "./WalSstWriter.ts"

/** A frozen WAL: its id and buffer. */
export interface ImmutableWal {
  readonly id: number
  readonly wal: WalBuffer
  /** `estimateWalSstSize` at freeze time (the WAL no longer changes). */
  readonly estimatedSize: number
}

/** The WAL whose write failed, and whether an attempt of it may have reached the store. */
export interface FailedWal {
  readonly id: number
  readonly durable: "no" | "unknown"
}

const writeFailure = (id: number, error: ObjectStoreError): ClosedError =>
  error._tag === "ObjectAlreadyExists"
    ? new ClosedError({ reason: "fenced", message: "detected newer DB client", cause: error })
    : new ClosedError({ reason: "fatal", message: `failed to write WAL ${id}: ${error.message}`, cause: error })

/**
 * The error the writers of a WAL that was not written get: the manager's closing error, saying whether
 * their write is durable (`"no"`: its WAL never reached the store; `"unknown"`: an attempt to write it may
 * have). The closing error itself is its `cause`.
 */
export const withDurability = (error: ClosedError, durable: "no" | "unknown"): ClosedError =>
  new ClosedError({
    reason: error.reason,
    message: `${error.message}; ${
      durable === "no"
        ? "the write was not made durable"
        : "the write may or may not be durable (an attempt to write its WAL may have reached the store)"
    }`,
    cause: error,
    durable
  })

/**
 * The write of one WAL; transient store errors are retried with `retrySchedule`, the rest become a
 * `ClosedError` (after `onFailure` learned which WAL failed and whether it may be durable).
 */
export const makeWalWrite = (
  writer: WalSstWriter["Service"],
  retrySchedule: Schedule.Schedule<unknown, ObjectStoreError>,
  onFailure: (failed: FailedWal) => void
) => {
  /** If a retried put finds the object, it may be our own earlier attempt that landed: compare bytes. */
  const ownEarlierPut = (id: number, sst: Uint8Array, error: ObjectAlreadyExists) =>
    Effect.flatMap(
      writer.get(id),
      (stored) => keysEqual(stored, sst) ? Effect.void : Effect.fail(error)
    )

  return Effect.fnUntraced(function*(imm: ImmutableWal) {
    const sst = yield* Effect.mapError(
      writer.encode(imm.wal.rows),
      (cause) => new ClosedError({ reason: "fatal", message: `failed to encode WAL ${imm.id}`, cause })
    )
    let ambiguous = false
    yield* writer.put(imm.id, sst).pipe(
      Effect.catchTag("ObjectAlreadyExists", (e) => ambiguous ? ownEarlierPut(imm.id, sst, e) : Effect.fail(e)),
      Effect.tapError((e) =>
        Effect.sync(() => {
          if (isTransient(e)) ambiguous = true
        })
      ),
      Effect.retry({ schedule: retrySchedule, while: isTransient }),
      Effect.mapError((e) => {
        // Another writer's object at our id (even after attempts of ours that may have landed, the bytes
        // were compared): ours never landed. Any other failure after an ambiguous attempt: unknown.
        onFailure({ id: imm.id, durable: ambiguous && e._tag !== "ObjectAlreadyExists" ? "unknown" : "no" })
        return writeFailure(imm.id, e)
      })
    )
    yield* Effect.logDebug(`WAL ${imm.id} written`).pipe(
      Effect.annotateLogs({ wal: imm.id, rows: imm.wal.rows.length, bytes: sst.length, lastSeq: imm.wal.lastSeq })
    )
  }, (effect, imm) => Effect.withSpan(effect, "Wal.write", { attributes: { "wal.id": imm.id, "wal.rows": imm.wal.rows.length } }))
}
