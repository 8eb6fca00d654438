/**
 * The WAL buffer as an open database runs it (DbEngine.ts's step 4), and the backpressure gate in front of
 * it.
 *
 * - The WAL buffer (wal/WalBufferManager.ts) with the database's collaborators: WAL ids from the manifest's
 *   `next_wal_sst_id` (`ManifestWriter.allocateWalId`), the watermarks as its `Oracle`, the engine clock as
 *   its `MonotonicClock`, WAL SSTs in the configured block size and codec, numbered on from the last WAL
 *   recovery replayed.
 * - Backpressure (Backpressure.ts): writers wait while the unflushed total (the WAL buffer's estimate plus
 *   the immutable memtables) reaches `maxUnflushedBytes`, and whatever the total while the immutable
 *   memtables' backlog is full (docs/design/compaction.md §6). Each check records the total in
 *   `DbStats.totalMemSizeBytes`.
 */
import { Duration, Effect, type Scope } from "effect"
import type { CompressionFormat } from "../format/SstMetadata.ts"
import type { DbStats } from "../Metrics.ts"
import { MonotonicClock } from "../MonotonicClock.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { Oracle } from "../Oracle.ts"
import type { Settings } from "../Settings.ts"
import { makeWalBufferManager, type WalBufferManager } from "../wal/WalBufferManager.ts"
import { WalIdAllocator } from "../wal/WalIdAllocator.ts"
import { encodeWalSst, makeWalSstWriter, WalSstWriter } from "../wal/WalSstWriter.ts"
import { Backpressure } from "./Backpressure.ts"
import type { DbState } from "./DbState.ts"
import { immutableLimit } from "./MemtableLimit.ts"
import type { Recovered } from "./Recovery.ts"

export interface WalDeps {
  readonly root: string
  readonly settings: Settings
  readonly compression: CompressionFormat
  /** The engine's (retrying) store. */
  readonly store: ObjectStore["Service"]
  readonly recovered: Recovered
}

/** Starts the WAL buffer in the current scope (the database's; see the module comment). */
export const startWal = (deps: WalDeps): Effect.Effect<WalBufferManager["Service"], never, Scope.Scope> => {
  const { root, settings, store, recovered } = deps
  const { state, writer: manifest } = recovered
  return makeWalBufferManager({
    maxWalBytes: settings.l0SstSizeBytes,
    maxFlushInterval: settings.flushIntervalMs === null ? "Infinity" : Duration.millis(settings.flushIntervalMs),
    durableFlush: settings.durableFlush,
    blockSize: settings.blockSize,
    recentFlushedWalId: recovered.lastWalId
  }).pipe(
    Effect.provideService(
      WalSstWriter,
      makeWalSstWriter(store, { root, encode: encodeWalSst({ blockSize: settings.blockSize, compression: deps.compression }) })
    ),
    Effect.provideService(WalIdAllocator, WalIdAllocator.of({ nextWalId: Effect.sync(() => manifest.allocateWalId()) })),
    Effect.provideService(Oracle, state.seqs.oracle),
    Effect.provideService(MonotonicClock, state.clock.service)
  )
}

/** The writers' gate over the WAL buffer and the immutable memtables (see the module comment). */
export const makeBackpressure = (
  settings: Settings,
  state: DbState,
  wal: WalBufferManager["Service"],
  stats: DbStats
): Backpressure => {
  const immutableBytes = immutableLimit(settings)
  const limit = () => (state.immBytes >= immutableBytes ? 0 : settings.maxUnflushedBytes)
  return new Backpressure(limit, () => {
    const total = wal.estimatedBytesNow() + state.immBytes
    stats.totalMemSizeBytes = total
    return total
  })
}
