/**
 * The memtable flusher: writes frozen memtables to L0 and records them in the manifest (SlateDB's
 * `memtable_flusher`, docs/format.md §3.4), one background fiber, oldest memtable first.
 *
 * For each immutable memtable, in freeze order:
 * 1. Wait until its last seq is durable in the WAL (flushing the WAL if needed): a row must never reach
 *    L0, where it is visible to every reader of the manifest, before it is durable in the WAL (#1521).
 * 2. Build an L0 SST from its rows (key ascending, seq descending) through SlateDB's retention step with
 *    `compaction_start_ts` = the memtable's last tick and `retention_min_seq` = the lowest of the durable
 *    seq and the seqs open snapshots and transactions read at: values whose `expire_ts ≤ compaction_start_ts` become tombstones (same seq and
 *    create_ts, no expiry), expired merge operands are dropped; per key the newest version is kept, older
 *    versions only while their seq is above `retention_min_seq`, plus the first one at or below it.
 *    Tombstones are kept (they must hide older rows in older SSTs). Before retention, with a merge
 *    operator, each key's operands at or below `retention_min_seq` are folded (iter/MergeFoldIterator.ts;
 *    an operator that fails closes the database as `fatal`). The builder yields to other fibers every few
 *    thousand rows.
 * 3. Write it create-only as `compacted/<ULID>.sst` (the engine's store retries transient failures).
 * 4. Update the manifest through the CAS loop: the SST goes to the front of `l0`, `replay_after_wal_id`
 *    becomes the memtable's WAL tag, `last_l0_seq` its last seq, `last_l0_clock_tick` the max of the old
 *    one and its last tick, `recent_snapshot_min_seq` the lowest seq an open snapshot or transaction reads
 *    at (its last seq when none is open, as SlateDB), and its sequence-tracker samples are
 *    merged. A conflict refreshes, merges (fencing check) and retries.
 * 5. Hand the SST to the table cache (`TableStore.adopt`: its handle is opened from the bytes at hand and its
 *    blocks prepopulate the block cache, so reads right after the flush need no I/O), then drop the
 *    memtable from the read path and wake its waiters.
 *
 * Failures: a newer writer detected by the manifest write closes the database as `fenced`; any other
 * failure (a permanent store error, a manifest that cannot be written in time) closes it as `fatal`.
 * Either way the memtable stays unflushed: its rows are in the WAL and replay on the next open.
 *
 * L0 stall (SlateDB's `l0_max_ssts`): while L0 is full, no memtable is uploaded (L0Stall.ts).
 *
 * Not done (SlateDB does): uploads in parallel (`l0_flush_parallelism`).
 */
import { Cause, Deferred, Effect, Exit, Fiber, Option, Queue } from "effect"
import { ClosedError, type DbError } from "../errors.ts"
import { compactedSstPath } from "../format/Paths.ts"
import { RetentionIterator } from "../iter/RetentionIterator.ts"
import { MergeFoldIterator } from "../iter/MergeFoldIterator.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import { cursorRows, NEED_PULL } from "../iter/RowIterator.ts"
import { concatChunks, SsTableBuilder, type SstSizeOptions } from "../format/SsTableBuilder.ts"
import type { CompressionFormat } from "../format/SstMetadata.ts"
import { makeUlid } from "../Ulid.ts"
import { Manifest } from "../manifest/Manifest.ts"
import type { ManifestWriter } from "../manifest/ManifestStore.ts"
import { SequenceTracker } from "../manifest/SequenceTracker.ts"
import { MIN_TICK } from "../MonotonicClock.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { Settings } from "../Settings.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import type { DbState, ImmutableMemtable } from "./DbState.ts"
import type { TableStore } from "../sst/TableStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import type { WriteLock } from "./WriteLock.ts"
import { DbStats } from "../Metrics.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { makeL0Stall } from "./L0Stall.ts"

export interface FlusherDeps {
  readonly root: string
  readonly settings: Settings
  readonly compression: CompressionFormat
  readonly sizeOptions: SstSizeOptions
  readonly store: ObjectStore["Service"]
  readonly state: DbState
  readonly manifest: ManifestWriter
  readonly tables: TableStore
  readonly wal: WalBufferManager["Service"]
  readonly lock: WriteLock
  /** Called after a memtable reached L0 and left memory (backpressure may admit writers). */
  readonly onFlushed: () => void
  /** Called when an upload waits because L0 is full (the compactor should look now). */
  readonly onL0Full: () => void
  /** Closes the database with `error` (fenced or fatal). */
  readonly closeWith: (error: ClosedError) => Effect.Effect<void>
  /** Fails with the database's error when it is closed. */
  readonly checkOpen: Effect.Effect<void, DbError>
  /** Folds the memtable's operands below the retention barrier (iter/MergeFoldIterator.ts). */
  readonly mergeOperator?: MergeOperator | undefined
  /** Where flushes are counted (`slatedb.db.immutable_memtable_flushes`, `l0_flush_bytes`; Metrics.ts). */
  readonly stats?: DbStats
  /** The lowest seq an open snapshot or transaction reads at (undefined: none is open; TransactionManager.ts). */
  readonly retentionFloor: () => number | undefined
}

export interface MemtableFlusher {
  /** Wakes the flusher (after a freeze). Synchronous. */
  readonly signal: () => void
  /**
   * `flush({ type: "memtable" })`: flushes the WAL, freezes the active memtable (if non-empty) and waits
   * until every memtable frozen so far is in L0 and in the manifest.
   */
  readonly flushMemtables: Effect.Effect<void, DbError>
  /** Lets the flusher finish the memtable it is writing, then stops it. */
  readonly stop: Effect.Effect<void>
  /**
   * Refreshes what the WAL buffer has written: the WAL-id tag source (see DbState.recentFlushedWalId) and
   * the last written WAL the manifest records.
   */
  readonly syncRecentFlushedWalId: Effect.Effect<void>
}

/** Rows between two yields while an L0 SST is built. */
const YIELD_EVERY = 4096

/** A failure of the flusher as the reason the database closes. */
export const asCloseError = (e: DbError | ClosedError, what: string): ClosedError =>
  e._tag === "ClosedError"
    ? e
    : new ClosedError({ reason: "fatal", message: `${what} failed: ${e.message}`, cause: e })

/** Builds the L0 SST of `imm` through the retention step (see the module comment). */
const buildL0 = (deps: FlusherDeps, imm: ImmutableMemtable) =>
  Effect.gen(function*() {
    const { settings } = deps
    const builder = new SsTableBuilder({
      blockSize: settings.blockSize,
      compression: deps.compression,
      minFilterKeys: settings.minFilterKeys,
      filterBitsPerKey: settings.filterBitsPerKey
    })
    const floor = deps.retentionFloor()
    const durable = deps.state.seqs.durable
    // Versions an open snapshot or transaction reads stay, and so do the operands above them (unfolded).
    const retentionMinSeq = floor !== undefined && floor < durable ? floor : durable
    const operator = deps.mergeOperator
    const input = cursorRows(imm.table.cursor())
    const wrongOrder = (yield* TestSwitches).mergeFoldReversesOperands
    const rows = new RetentionIterator(operator === undefined ? input : new MergeFoldIterator(input, operator, retentionMinSeq, wrongOrder), {
      retentionMinSeq,
      expiryCutoff: imm.table.lastTick ?? MIN_TICK,
      dropTombstones: false
    })
    let n = 0
    for (;;) {
      const row = rows.next()
      if (row === undefined) break
      if (row === NEED_PULL) {
        yield* rows.pull // (a memtable cursor never asks; a failed merge operator fails here)
        continue
      }
      if ((++n & (YIELD_EVERY - 1)) === 0) yield* Effect.yieldNow
      builder.add(row)
    }
    const table = builder.finish()
    // Only the object's bytes and its info outlive this: the builder's chunks can be collected.
    return { info: table.info, formatVersion: table.formatVersion, bytes: concatChunks(table.chunks) }
  })

/** Steps 1 to 5 of the module comment for `imm`, the oldest immutable memtable. */
const flushToL0 = (deps: FlusherDeps, stats: DbStats, imm: ImmutableMemtable, syncRecentFlushedWalId: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const { state, manifest } = deps
    const lastSeq = imm.table.lastSeq ?? 0
    while (lastSeq > state.seqs.durable) yield* deps.wal.flush()
    const { info, formatVersion, bytes } = yield* buildL0(deps, imm)
    const id = yield* makeUlid
    const path = compactedSstPath(deps.root, id)
    yield* Effect.annotateCurrentSpan({ "sst.id": id, "sst.bytes": bytes.length, "memtable.rows": imm.table.entryCount })
    yield* deps.store.put(path, bytes, { mode: "create" }).pipe(Effect.mapError(toDbError))
    stats.l0FlushBytes += bytes.length
    const lastTick = imm.table.lastTick ?? MIN_TICK
    const sst = { id, info, formatVersion }
    yield* syncRecentFlushedWalId
    // What compaction must keep: the oldest open snapshot's or transaction's seq, else this memtable's last.
    const snapshotMinSeq = deps.retentionFloor() ?? lastSeq
    yield* manifest.update((m) => {
      const pushed = Manifest.withL0Pushed(
        m,
        sst,
        Math.max(m.replayAfterWalId, imm.recentFlushedWalId),
        Math.max(m.lastL0Seq, lastSeq),
        lastTick
      )
      return {
        ...pushed,
        recentSnapshotMinSeq: snapshotMinSeq,
        sequenceTracker: SequenceTracker.merge(pushed.sequenceTracker, imm.tracker)
      }
    })
    yield* deps.tables.adopt(id, path, bytes)
    state.releaseOldestImm(imm)
    stats.immutableMemtableFlushes++
    yield* Effect.logDebug(`memtable flushed to L0 SST ${id}`).pipe(Effect.annotateLogs({
      sst: id,
      bytes: bytes.length,
      rows: imm.table.entryCount,
      lastSeq,
      manifest: manifest.id,
      l0Ssts: manifest.manifestForReads.l0.length
    }))
    deps.onFlushed()
  })

export const makeMemtableFlusher = (deps: FlusherDeps) =>
  Effect.gen(function*() {
    const { state, wal, manifest } = deps
    const signals = yield* Queue.unbounded<void>()
    const signal = () => void Queue.offerUnsafe(signals, undefined)

    /** Refreshes what the WAL buffer has written: the WAL tag of new imms, and what versions record. */
    const syncRecentFlushedWalId = Effect.map(wal.recentFlushedWalId, (id) => {
      if (id > state.recentFlushedWalId) state.recentFlushedWalId = id
      manifest.noteWalWritten(id)
    })

    const awaitL0Room = makeL0Stall(deps, signals)

    const stats = deps.stats ?? new DbStats()
    const flushOne = (imm: ImmutableMemtable): Effect.Effect<void, DbError> =>
      Effect.andThen(awaitL0Room, Effect.suspend(() =>
        state.closeError !== undefined ? Effect.void : flushToL0(deps, stats, imm, syncRecentFlushedWalId))).pipe(
          Effect.withSpan("Db.memtableFlush")
        )

    const loop: Effect.Effect<void> = Effect.gen(function*() {
      while (true) {
        yield* Queue.take(signals)
        while (state.closeError === undefined) {
          const imm = state.imms[state.imms.length - 1]
          if (imm === undefined) break
          const exit = yield* Effect.exit(flushOne(imm))
          if (Exit.isFailure(exit)) {
            if (Cause.hasInterruptsOnly(exit.cause)) return
            const error = Option.getOrElse(
              Cause.findErrorOption(exit.cause),
              () => new ClosedError({ reason: "fatal", message: "memtable flush failed", cause: Cause.squash(exit.cause) })
            )
            yield* Effect.logError("memtable flush failed; closing the database", error)
            yield* deps.closeWith(asCloseError(error, "memtable flush"))
            return
          }
        }
        if (state.closeError !== undefined) return
      }
    })

    const fiber = yield* Effect.forkScoped(loop)
    // Memtables frozen by replay are waiting already.
    if (state.imms.length > 0) signal()

    const flushMemtables: Effect.Effect<void, DbError> = Effect.gen(function*() {
      yield* deps.checkOpen
      yield* wal.flush().pipe(Effect.catch((e) => Effect.andThen(deps.closeWith(e), deps.checkOpen)))
      yield* syncRecentFlushedWalId
      // Freeze between two writes' critical sections, so the WAL tag is exact (see DbState).
      yield* deps.lock.run(Effect.suspend(() => {
        if (state.closeError !== undefined) return Effect.fail(state.closeError)
        state.freezeMemtable()
        return Effect.void
      }))
      const waiting = state.imms.slice()
      signal()
      for (const imm of waiting) yield* Deferred.await(imm.flushed)
    })

    const stop = Effect.gen(function*() {
      signal()
      yield* Fiber.await(fiber)
    })

    return { signal, flushMemtables, stop, syncRecentFlushedWalId } satisfies MemtableFlusher
  })
