/** fast-check generators for manifest values (shared by the manifest and compactions tests). */
import fc from "fast-check"
import type { SsTableInfo } from "../../src/format/SstMetadata.ts"
import { ulidFromHighLow } from "../../src/Ulid.ts"
import { uuidFromHighLow } from "../../src/manifest/Ids.ts"
import {
  type Checkpoint,
  type CompactedSst,
  type ExternalDb,
  INITIAL_CLOCK_TICK,
  type Manifest,
  type RangeBound,
  type SortedRun,
  type VisibleRange
} from "../../src/manifest/Manifest.ts"
import type { SequenceTracker } from "../../src/manifest/SequenceTracker.ts"

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
export const arbUlid: fc.Arbitrary<string> = fc.tuple(u64, u64).map(([h, l]) => ulidFromHighLow(h, l))
export const arbUuid: fc.Arbitrary<string> = fc.tuple(u64, u64).map(([h, l]) => uuidFromHighLow(h, l))
export const safeNat = fc.maxSafeNat()
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const bytes = fc.uint8Array({ maxLength: 24 })

export const arbInfo: fc.Arbitrary<SsTableInfo> = fc.record({
  firstEntry: fc.option(bytes, { nil: undefined }),
  lastEntry: fc.option(bytes, { nil: undefined }),
  indexOffset: safeNat,
  indexLen: safeNat,
  filterOffset: safeNat,
  filterLen: safeNat,
  compressionFormat: fc.constantFrom(0, 1, 2, 3, 4),
  sstType: fc.constantFrom(0, 1),
  statsOffset: safeNat,
  statsLen: safeNat,
  filterFormat: fc.constantFrom(0, 1)
})

const arbBound: fc.Arbitrary<RangeBound> = fc.oneof(
  fc.constant({ kind: "Unbounded" } as const),
  bytes.map((key) => ({ kind: "Included", key }) as const),
  bytes.map((key) => ({ kind: "Excluded", key }) as const)
)
/** Any range, valid or not (for codec-level tests). */
export const arbRange: fc.Arbitrary<VisibleRange> = fc.record({ start: arbBound, end: arbBound })

const greaterThan = (k: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: 1, maxLength: 4 }).map((suffix) => new Uint8Array([...k, ...suffix]))

const maxBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => (Buffer.compare(Buffer.from(a), Buffer.from(b)) >= 0 ? a : b)

/** A visible range SlateDB accepts for an SST whose first key is `first`. */
const arbValidRange = (first: Uint8Array): fc.Arbitrary<VisibleRange> =>
  fc.option(bytes, { nil: undefined }).chain((startKey) => {
    const start: RangeBound = startKey === undefined ? { kind: "Unbounded" } : { kind: "Included", key: startKey }
    const lowest = startKey === undefined ? first : maxBytes(first, startKey)
    const end: fc.Arbitrary<RangeBound> = fc.oneof(
      fc.constant({ kind: "Unbounded" } as const),
      greaterThan(lowest).map((key) => ({ kind: "Excluded", key }) as const),
      fc.oneof(fc.constant(lowest), greaterThan(lowest)).map((key) => ({ kind: "Included", key }) as const)
    )
    return end.map((e) => ({ start, end: e }))
  })

/** An L0 / sorted-run entry SlateDB accepts: a first entry and a valid visible range (if any). */
export const arbSst: fc.Arbitrary<CompactedSst> = fc
  .tuple(arbUlid, arbInfo, bytes, fc.integer({ min: 0, max: 0xffff }), fc.boolean())
  .chain(([id, info0, first, formatVersion, withRange]) => {
    const info = { ...info0, firstEntry: first }
    return withRange
      ? arbValidRange(first).map((visibleRange): CompactedSst => ({ id, info, formatVersion, visibleRange }))
      : fc.constant<CompactedSst>({ id, info, formatVersion })
  })

export const arbSortedRun: fc.Arbitrary<SortedRun> = fc.record({ id: u32, ssts: fc.array(arbSst, { maxLength: 3 }) })

const text = fc.string({ unit: "grapheme", maxLength: 12 })

export const arbCheckpoint: fc.Arbitrary<Checkpoint> = fc
  .tuple(arbUuid, safeNat, fc.option(fc.integer({ min: 1, max: 0xffffffff }), { nil: undefined }), u32, fc.option(text, { nil: undefined }))
  .map(([id, manifestId, expireTimeS, createTimeS, name]) => ({
    id,
    manifestId,
    ...(expireTimeS === undefined ? {} : { expireTimeS }),
    createTimeS,
    ...(name === undefined ? {} : { name })
  }))

export const arbExternalDb: fc.Arbitrary<ExternalDb> = fc
  .tuple(text, arbUuid, fc.option(arbUuid, { nil: undefined }), fc.array(arbUlid, { maxLength: 3 }))
  .map(([path, sourceCheckpointId, finalCheckpointId, sstIds]) => ({
    path,
    sourceCheckpointId,
    ...(finalCheckpointId === undefined ? {} : { finalCheckpointId }),
    sstIds
  }))

/** Monotonic trackers whose delta-of-deltas fit the version-1 encoding. */
export const arbTracker: fc.Arbitrary<SequenceTracker> = fc
  .tuple(
    fc.integer({ min: 0, max: 2 ** 40 }),
    fc.integer({ min: 0, max: 2 ** 34 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 60, max: 2 ** 20 })), { maxLength: 8 })
  )
  .chain(([seq0, ts0, deltas]) =>
    fc.boolean().map((isEmpty) => {
      if (isEmpty) return { seqs: [], timestamps: [] }
      const seqs = [seq0]
      const timestamps = [ts0]
      for (const [ds, dt] of deltas) {
        seqs.push(seqs[seqs.length - 1]! + ds)
        timestamps.push(timestamps[timestamps.length - 1]! + dt)
      }
      return { seqs, timestamps }
    })
  )

export const arbManifest: fc.Arbitrary<Manifest> = fc
  .record({
    initialized: fc.boolean(),
    writerEpoch: safeNat,
    compactorEpoch: safeNat,
    replayAfterWalId: safeNat,
    nextWalSstId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    l0LastCompacted: fc.option(arbUlid, { nil: undefined }),
    l0: fc.array(arbSst, { maxLength: 4 }),
    compacted: fc.array(arbSortedRun, { maxLength: 3 }),
    lastL0ClockTick: fc.oneof(fc.constant(INITIAL_CLOCK_TICK), fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })),
    lastL0Seq: safeNat,
    checkpoints: fc.array(arbCheckpoint, { maxLength: 3 }),
    walObjectStoreUri: fc.option(text, { nil: undefined }),
    recentSnapshotMinSeq: safeNat,
    sequenceTracker: arbTracker,
    externalDbs: fc.array(arbExternalDb, { maxLength: 2 })
  })
  .map(({ walObjectStoreUri, ...m }) => (walObjectStoreUri === undefined ? m : { ...m, walObjectStoreUri }))
