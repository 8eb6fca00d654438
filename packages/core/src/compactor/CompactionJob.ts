/**
 * One compaction, executed (SlateDB's `compactor_executor.rs`, docs/format.md §3.7.6): the rows of its
 * sources merged, filtered by retention, and written as the SSTs of the destination sorted run.
 *
 * 1. Sources: one stream per L0 SST and one per sorted run (its SSTs one after the other), each read only
 *    through its manifest entry's visible range, a large page at a time (`readAheadBlocks` blocks per GET,
 *    `prefetchPages` pages fetched ahead), without filling the block cache, each page's rows decoded as the
 *    merge reaches them (sst/PageRows.ts). They are merged in key order.
 * 2. Retention (iter/RetentionIterator.ts) with `retention_min_seq` = the manifest's
 *    `recent_snapshot_min_seq`, expiry at the manifest's `last_l0_clock_tick`, and tombstones dropped when
 *    the destination is the last (oldest) sorted run. Before retention, with a merge operator, each key's
 *    operands at or below `retention_min_seq` are folded (iter/MergeFoldIterator.ts, SlateDB's
 *    `MergeOperatorIterator`); without one, a merge operand fails the compaction, as SlateDB's
 *    `MergeOperatorRequiredIterator` does.
 * 3. Output (OutputWriter.ts): rows go to an SST builder; once the finished blocks of the current SST exceed
 * `maxSstSizeBytes` it is finished at the next key (never between two versions of one key), written
 * create-only as `compacted/<ULID>.sst` (streamed as it is built where the store allows), and (all but
 * the last) reported (`onOutput`, which persists it in the compactions file so a crash loses nothing
 * written). SSTs that others wrote may split a key's versions; readers handle that
 * (manifest/SstRanges.ts `runCandidates`).
 * 4. Resume: a compaction that already has output SSTs (it was running when its compactor stopped) reads
 *    the last row of the last one, skips every row up to it (the resume key's versions at or above its
 *    seq), and appends new SSTs after the kept ones. The retention inputs (snapshot barrier, expiry
 *    cutoff) are today's and may have moved since the first attempt, so a key's versions may fold or drop
 *    differently: that is why an output ends only between keys. The resume key's versions are then all in
 *    the kept outputs, and what the new attempt makes of them (a fold at a later barrier reaches no lower
 *    seq than the first one did) is skipped as a whole. A record another writer left with a key split at
 *    its end resumes as before (exact given the same retention inputs).
 *
 * The job yields to other fibers every few thousand rows, so an inline job shares the event loop with the
 * writer (a job in a worker thread, JobLauncher.ts, has one of its own). A job holds its source pages plus,
 * where the store takes a streaming put (a local directory), a few MiB of output; elsewhere one whole
 * output SST (`maxSstSizeBytes`) before its PUT.
 */
import { Effect, Option, Scope, Stream } from "effect"
import { type DbError, mergeOperatorMissing } from "../errors.ts"
import { compareKeys, keysEqual } from "../format/KeyComparator.ts"
import { type RowEntry, RowKind } from "../format/RowEntry.ts"
import type { SsTableBuilderOptions } from "../format/SsTableBuilder.ts"
import { MergeIterator, type Source } from "../iter/MergeIterator.ts"
import { PageSource } from "../iter/PageSource.ts"
import { RetentionIterator } from "../iter/RetentionIterator.ts"
import { MergeFoldIterator } from "../iter/MergeFoldIterator.ts"
import type { MergeOperator } from "../iter/MergeOperator.ts"
import { NEED_PULL } from "../iter/RowIterator.ts"
import type { CompactedSst, SortedRun, SstHandle } from "../manifest/Manifest.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type Bounds, clip, runScanParts } from "../manifest/SstRanges.ts"
import type { ScanOptions } from "../sst/SsTableReader.ts"
import type { SstLocations, TableStore } from "../sst/TableStore.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import { ulidTimeMs } from "../Ulid.ts"
import { OutputWriter, type WrittenSst } from "./OutputWriter.ts"

export interface CompactionJobArgs {
  /** The compaction's id (for messages). */
  readonly id: string
  readonly destination: number
  /** L0 sources, newest first. */
  readonly l0: ReadonlyArray<CompactedSst>
  /** Sorted-run sources, highest id first. */
  readonly runs: ReadonlyArray<SortedRun>
  /** SSTs a previous attempt already wrote (resume after them). */
  readonly outputSsts: ReadonlyArray<SstHandle>
  /** Versions above it stay (the manifest's `recent_snapshot_min_seq`). */
  readonly retentionMinSeq: number
  /** Rows with `expire_ts` at or below it expire (the manifest's `last_l0_clock_tick`). */
  readonly expiryCutoff: number
  /** The destination is the last sorted run: tombstones can go. */
  readonly isDestLastRun: boolean
  /** Where the sources live (the manifest: clones read their parent's SSTs). */
  readonly locations: SstLocations
}

export interface CompactionJobOptions {
  readonly maxSstSizeBytes: number
  readonly builder: SsTableBuilderOptions
  /** Blocks per GET when reading sources. */
  readonly readAheadBlocks: number
  /** Pages each source fetches ahead of the merge. */
  readonly prefetchPages: number
}

export interface CompactionJobDeps {
  readonly root: string
  readonly store: ObjectStore["Service"]
  readonly tables: TableStore
  /** Folds operands at or below `retentionMinSeq` (iter/MergeFoldIterator.ts); without one an operand fails the job. */
  readonly mergeOperator?: MergeOperator | undefined
}

export type { WrittenSst } from "./OutputWriter.ts"

/**
 * The one place where an output SST becomes known to the thread that owns the table store (inline jobs
 * and worker jobs alike): its handle (index, filter) is ready before the run is installed, so first reads
 * fetch only blocks.
 */
export const announceOutput = (tables: TableStore, sst: WrittenSst): Effect.Effect<void> =>
  tables.adopt(sst.handle.id, sst.path, { size: sst.size, suffix: sst.tail }, { prepopulate: false })

/** What a running job has done so far. */
export interface JobProgress {
  /** Every output SST so far (kept ones from an earlier attempt first). */
  readonly outputSsts: ReadonlyArray<SstHandle>
  /** Rows read from the sources (after the resume point). */
  readonly rowsRead: number
  /** Rows written to output SSTs by this attempt. */
  readonly rowsWritten: number
  /** Bytes of output SSTs written by this attempt. */
  readonly bytesWritten: number
}

/** A finished job: the destination run, and what it took. */
export interface JobResult {
  readonly run: SortedRun
  readonly rowsRead: number
  readonly rowsWritten: number
  /** Bytes of output SSTs this attempt wrote. */
  readonly bytesWritten: number
}

/** Counts the rows an iterator yields (the job's input, before retention). */
/** Rows between two yields to other fibers. */
const YIELD_EVERY = 4096

const UNBOUNDED: Bounds = { start: undefined, startInclusive: true, end: undefined, endInclusive: false }

/** The last row of `sst` (the resume point after it), or undefined for an empty SST. */
const lastRowOf = (deps: CompactionJobDeps, locations: SstLocations, sst: SstHandle) =>
  deps.tables.scan(locations, sst, { descending: true, readAheadBlocks: 1 }).pipe(
    Stream.take(1),
    Stream.runHead,
    Effect.map(Option.getOrUndefined)
  )

/** The merge of every source, from `start` (inclusive) on. */
const openSources = (
  deps: CompactionJobDeps,
  args: CompactionJobArgs,
  options: CompactionJobOptions,
  start: Uint8Array | undefined,
  scope: Scope.Scope
): MergeIterator => {
  const bounds: Bounds = start === undefined ? UNBOUNDED : { ...UNBOUNDED, start, startInclusive: true }
  const read = (sst: CompactedSst, scan: ScanOptions) =>
    deps.tables.scanPages(args.locations, sst, { ...scan, cacheBlocks: false, readAheadBlocks: options.readAheadBlocks })
  const ahead = <A>(stream: Stream.Stream<A, DbError>) =>
    options.prefetchPages > 0 ? Stream.bufferArray(stream, { capacity: options.prefetchPages }) : stream
  const sources: Array<Source> = []
  for (const sst of args.l0) {
    const scan = clip(bounds, sst.visibleRange, false)
    if (scan !== undefined) sources.push(new PageSource(ahead(read(sst, scan)), scope))
  }
  for (const run of args.runs) {
    const parts = runScanParts(run, bounds, false)
    if (parts.length === 0) continue
    const stream = Stream.fromIterable(parts).pipe(Stream.flatMap(([sst, scan]) => read(sst, scan)))
    sources.push(new PageSource(ahead(stream), scope))
  }
  return new MergeIterator(sources, { shadows: hidesOlder(args.retentionMinSeq) })
}

/**
 * What retention (iter/RetentionIterator.ts) keeps below a version: nothing under a value or tombstone at
 * or below the oldest snapshot (`retentionMinSeq`; every snapshot reads it or a newer one). The merge
 * drops those versions unbuilt; merge operands and versions a snapshot may read go on to the fold and
 * retention.
 */
const hidesOlder = (retentionMinSeq: number | undefined) => (row: RowEntry): boolean =>
  row.kind !== RowKind.Merge && (retentionMinSeq === undefined || row.seq <= retentionMinSeq)

/**
 * Runs the compaction (see the module comment); the destination sorted run. `hooks` default to this
 * thread's: each SST announced to `deps.tables`; `onOutput` is called for every SST but the last.
 */
export const runCompactionJob = (
  deps: CompactionJobDeps,
  args: CompactionJobArgs,
  options: CompactionJobOptions,
  onOutput: (progress: JobProgress) => Effect.Effect<void, DbError>,
  onWritten: (sst: WrittenSst) => Effect.Effect<void, DbError> = (sst) => announceOutput(deps.tables, sst)
): Effect.Effect<JobResult, DbError> =>
  Effect.scoped(Effect.gen(function*() {
    const outputs: Array<SstHandle> = [...args.outputSsts]
    const last = outputs[outputs.length - 1]
    const resume: RowEntry | undefined = last === undefined ? undefined : yield* lastRowOf(deps, args.locations, last)
    const scope = yield* Scope.Scope
    const input = openSources(deps, args, options, resume?.key, scope)
    const switches = yield* TestSwitches
    const operator = deps.mergeOperator
    const rows = new RetentionIterator(operator === undefined ? input : new MergeFoldIterator(input, operator, args.retentionMinSeq, switches.mergeFoldReversesOperands), {
      retentionMinSeq: args.retentionMinSeq,
      expiryCutoff: args.expiryCutoff,
      dropTombstones: args.isDestLastRun || switches.compactorDropsTombstones
    })

    let rowsWritten = 0
    let bytesWritten = 0
    const writer = new OutputWriter(deps.store, deps.root, options.builder, scope, ulidTimeMs(args.id))
    const writeOutput = (final: boolean) => Effect.gen(function*() {
      const sst = yield* writer.finish
      yield* onWritten(sst)
      bytesWritten += sst.size
      outputs.push(sst.handle)
      if (!final) yield* onOutput({ outputSsts: outputs.slice(), rowsRead: input.rowsRead, rowsWritten, bytesWritten })
    })

    // Rows of the resume key at or above the resume row's seq are already written.
    let skipping = resume !== undefined
    let n = 0
    let lastKey: Uint8Array | undefined = undefined
    for (;;) {
      const row = rows.next()
      if (row === undefined) break
      if (row === NEED_PULL) {
        yield* rows.pull
        continue
      }
      if ((++n & (YIELD_EVERY - 1)) === 0) yield* Effect.yieldNow
      if (skipping) {
        if (keysEqual(row.key, resume!.key) && row.seq >= resume!.seq) continue
        if (compareKeys(row.key, resume!.key) < 0) continue
        skipping = false
      }
      if (row.kind === RowKind.Merge && operator === undefined) return yield* Effect.fail(mergeOperatorMissing())
      // An output is cut only between two keys (see the module comment, 4).
      if (writer.dataSize > options.maxSstSizeBytes && !keysEqual(row.key, lastKey!)) yield* writeOutput(false)
      const problem = writer.add(row)
      if (problem !== undefined) return yield* Effect.fail(problem)
      lastKey = row.key
      rowsWritten++
      if (writer.hasBatch) yield* writer.handOver
    }
    if (writer.numRows > 0) yield* writeOutput(true)
    return { run: { id: args.destination, ssts: outputs }, rowsRead: input.rowsRead, rowsWritten, bytesWritten }
  }))
