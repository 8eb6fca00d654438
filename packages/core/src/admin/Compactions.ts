/**
 * Compactions from outside the compactor (SlateDB's `Admin` submission, docs/format.md §3.7.3): read the
 * compactions file, submit a compaction to it, and follow one until it ends.
 *
 * Submitting appends a Submitted record to the compactions file (create-only, retried on conflicts); the
 * database's running compactor (embedded in the writer, or `shale compactor`) validates and starts it on
 * its next poll. Nothing here opens the database or claims an epoch, so it fences no writer and no
 * compactor. With no compactions file (no compactor ever ran on the database) submitting fails with an
 * `InvalidError`: nobody would run the compaction.
 */
import { Clock, Duration, Effect, Option } from "effect"
import { type DbError, InvalidError } from "../errors.ts"
import { type CompactionRecord, type CompactionSpec, describeSpec, fromStored } from "../compactor/CompactorState.ts"
import { makeCompactionsStore, submitToCompactionsFile } from "../compactor/CompactorStore.ts"
import type { CompactionRequest } from "../compactor/CompactorTypes.ts"
import { fullCompaction } from "../compactor/SizeTieredScheduler.ts"
import { CompactionStatus } from "../manifest/CompactionsCodec.ts"
import { makeManifestStore } from "../manifest/ManifestStore.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { makeUlid } from "../Ulid.ts"

/** The compactions file as the compactor last wrote it. */
export interface CompactionsFile {
  readonly id: number
  readonly compactorEpoch: number
  /** Active compactions and the last finished one. */
  readonly compactions: ReadonlyArray<CompactionRecord>
}

/** The latest compactions file of the database at `root`; none if no compactor ever ran there. */
export const readCompactions = (root: string): Effect.Effect<Option.Option<CompactionsFile>, DbError, ObjectStore> =>
  Effect.gen(function*() {
    const latest = yield* makeCompactionsStore(yield* ObjectStore, root).readLatest
    if (latest === undefined) return Option.none()
    return Option.some({
      id: latest.id,
      compactorEpoch: latest.value.compactorEpoch,
      compactions: latest.value.recentCompactions.map(fromStored)
    })
  })

export interface SubmitOptions {
  /**
   * Give up when the compactions file cannot be written within this long, or (`"full"`) when compactions
   * keep running for this long (default 300 s).
   */
  readonly timeoutMs?: number
}

/**
 * Waits until the compactions file shows no submitted or running compaction (read twice a second), so that
 * a full compaction is not submitted beside one that already took some of its sources (it would fail).
 */
const awaitQuiet = (root: string, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
    while (true) {
      const file = yield* readCompactions(root)
      const busy = Option.isSome(file) && file.value.compactions.some((c) =>
        c.status === CompactionStatus.Submitted || c.status === CompactionStatus.Running
      )
      if (!busy) return
      if ((yield* Clock.currentTimeMillis) > deadline) {
        return yield* new InvalidError({ message: `compactions kept running for ${timeoutMs} ms: a full compaction was not submitted` })
      }
      yield* Effect.sleep(Duration.millis(500))
    }
  })

/**
 * Submits a compaction (see the module comment): `"full"` (every L0 SST and sorted run into one run, as the
 * latest manifest lists them once no compaction is submitted or running) or a spec. Returns the compaction's id and spec.
 */
export const submitCompaction = (
  root: string,
  request: CompactionRequest,
  options: SubmitOptions = {}
): Effect.Effect<{ readonly id: string; readonly spec: CompactionSpec }, DbError, ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    let spec: CompactionSpec | undefined
    if (request === "full") {
      yield* awaitQuiet(root, options.timeoutMs ?? 300_000)
      const latest = yield* makeManifestStore(store, root).readLatest
      if (latest === undefined) return yield* new InvalidError({ message: `no database at "${root}"` })
      spec = fullCompaction(latest.manifest)
      if (spec === undefined) return yield* new InvalidError({ message: "nothing to compact: the database has no SST" })
    } else {
      spec = request
    }
    const id = yield* makeUlid
    yield* submitToCompactionsFile(store, root, { id, spec, status: CompactionStatus.Submitted, outputSsts: [] }, {
      timeoutMs: options.timeoutMs ?? 300_000
    })
    return { id, spec }
  })

/** Where a submitted compaction is. */
export type CompactionState =
  | { readonly _tag: "Submitted" }
  | { readonly _tag: "Running"; readonly outputSsts: number }
  | { readonly _tag: "Completed"; readonly outputSsts: number }
  | { readonly _tag: "Failed" }
  /** No longer in the file: it ended and a later compaction replaced it as the last finished one. */
  | { readonly _tag: "Ended" }

const stateOf = (record: CompactionRecord | undefined): CompactionState => {
  if (record === undefined) return { _tag: "Ended" }
  switch (record.status) {
    case CompactionStatus.Submitted:
      return { _tag: "Submitted" }
    case CompactionStatus.Running:
      return { _tag: "Running", outputSsts: record.outputSsts.length }
    case CompactionStatus.Completed:
      return { _tag: "Completed", outputSsts: record.outputSsts.length }
    default:
      return { _tag: "Failed" }
  }
}

export interface AwaitOptions<E = never, R = never> {
  /** How often the compactions file is read (default 1000 ms). */
  readonly pollMs?: number
  /** Called with each new state while it waits (progress). */
  readonly onState?: (state: CompactionState, elapsedMs: number) => Effect.Effect<void, E, R>
}

/** Polls the compactions file until compaction `id` has ended: Completed, Failed or Ended. */
export const awaitCompaction = <E = never, R = never>(
  root: string,
  id: string,
  options: AwaitOptions<E, R> = {}
): Effect.Effect<CompactionState, DbError | E, ObjectStore | R> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    let last = ""
    while (true) {
      const file = yield* readCompactions(root)
      const state = stateOf(Option.getOrUndefined(file)?.compactions.find((c) => c.id === id))
      const key = JSON.stringify(state)
      if (key !== last) {
        last = key
        if (options.onState !== undefined) yield* options.onState(state, (yield* Clock.currentTimeMillis) - start)
      }
      if (state._tag !== "Submitted" && state._tag !== "Running") return state
      yield* Effect.sleep(Duration.millis(options.pollMs ?? 1000))
    }
  })

export { describeSpec }
