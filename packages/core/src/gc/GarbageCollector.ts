/**
 * The garbage collector (SlateDB's `GarbageCollector`, docs/format.md §3.8): deletes the manifests, WAL
 * SSTs, compacted SSTs and compactions files a database no longer needs, and the checkpoints that expired.
 *
 * Where it runs: embedded in the writer by default (`Settings.garbageCollector`, SlateDB's
 * `garbage_collector_options`), or on its own (`GarbageCollector.layer({ path })`, `shale gc
 * --schedule`), or once (`runOnce`, `shale gc`). It claims nothing: several collectors (SlateDB's, a
 * standalone one, the writer's) may run on one database at once, since every rule is safe against the
 * others' deletions and every deletion is idempotent.
 *
 * Schedule: each enabled kind on its own interval (SlateDB's tickers, 60 s by default), the first pass of a
 * kind one interval after start; passes never overlap (one permit), and a manual `runOnce` queues behind
 * a scheduled one. A failing pass is logged and counted; the schedule goes on.
 */
import { Context, Effect, Layer, type Scope, Semaphore, SynchronizedRef } from "effect"
import type { DbError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { instrumented } from "../objectstore/InstrumentedObjectStore.ts"
import { collectOnce, type GcRunStats, type ManifestCache } from "./GcPass.ts"
import { deletedAttributes, gcSeries } from "./GcMetrics.ts"
import { registerSeries } from "../Metrics.ts"
import { defaultGcOptions, GC_RESOURCES, type GcOptions, type GcResource } from "./GcRules.ts"

export type { GcRunStats }

/** What the collector has done since it started. */
export interface GcStatus {
  readonly options: GcOptions
  /** Passes run (scheduled, one kind each, and manual, every kind). */
  readonly passes: number
  readonly deleted: Readonly<Record<GcResource, number>>
  readonly expiredCheckpoints: number
  /** Failures seen (each pass's `errors`). */
  readonly errors: number
  readonly lastPass: GcRunStats | undefined
  /** Store requests and time of every pass, summed (divided by `passes`: the mean of a pass). */
  readonly requests: number
  readonly durationMs: number
  /** The most requests and the longest time of one pass. */
  readonly maxRequests: number
  readonly maxDurationMs: number
}

export interface GcHandle {
  /** One pass over every enabled kind now (SlateDB's `run_gc_once`). */
  readonly runOnce: Effect.Effect<GcRunStats, DbError>
  readonly status: Effect.Effect<GcStatus>
}

export interface GcRunnerOptions {
  readonly root: string
  readonly store: ObjectStore["Service"]
  readonly options: GcOptions
  readonly manifestUpdateTimeoutMs: number
}

const noneDeleted = (): Record<GcResource, number> => ({ manifests: 0, wal: 0, compacted: 0, compactions: 0 })

/** Starts the schedule in the current scope (it stops with the scope) and returns the handle. */
export const startGarbageCollector = (runner: GcRunnerOptions): Effect.Effect<GcHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const permit = yield* Semaphore.make(1)
    // Pinned manifests read by earlier passes (immutable versions; see GcPass.ts). Used under the permit.
    const cache: ManifestCache = new Map()
    const state = yield* SynchronizedRef.make<GcStatus>({
      options: runner.options,
      passes: 0,
      deleted: noneDeleted(),
      expiredCheckpoints: 0,
      errors: 0,
      lastPass: undefined,
      requests: 0,
      durationMs: 0,
      maxRequests: 0,
      maxDurationMs: 0
    })
    // Metrics (Metrics.ts): `slatedb.gc.*`, read from these totals.
    const counted = { passes: 0, deleted: noneDeleted() }
    yield* registerSeries(gcSeries(counted))
    const record = (pass: GcRunStats) =>
      SynchronizedRef.update(state, (s) => {
        counted.passes++
        for (const k of GC_RESOURCES) counted.deleted[k] += pass.deleted[k]
        const deleted = { ...s.deleted }
        for (const k of GC_RESOURCES) deleted[k] += pass.deleted[k]
        return {
          ...s,
          passes: s.passes + 1,
          deleted,
          expiredCheckpoints: s.expiredCheckpoints + pass.expiredCheckpoints,
          errors: s.errors + pass.errors.length,
          lastPass: pass,
          requests: s.requests + pass.requests,
          durationMs: s.durationMs + pass.durationMs,
          maxRequests: Math.max(s.maxRequests, pass.requests),
          maxDurationMs: Math.max(s.maxDurationMs, pass.durationMs)
        }
      })
    const pass = (only?: ReadonlyArray<GcResource>) =>
      permit.withPermits(1)(
        collectOnce(runner.store, runner.root, runner.options, {
          manifestUpdateTimeoutMs: runner.manifestUpdateTimeoutMs,
          cache,
          ...(only === undefined ? {} : { only })
        }).pipe(
          Effect.tap(record),
          Effect.tap((p) => Effect.annotateCurrentSpan({ ...deletedAttributes(p), "gc.errors": p.errors.length, "gc.requests": p.requests })),
          Effect.withSpan("GarbageCollector.pass", { attributes: { "gc.resources": (only ?? GC_RESOURCES).join(",") } })
        )
      )
    for (const kind of GC_RESOURCES) {
      const resource = runner.options[kind]
      if (resource === null) continue
      const tick = Effect.sleep(resource.intervalMs).pipe(
        Effect.andThen(pass([kind])),
        Effect.catch((e) => Effect.logWarning(`garbage collector: ${kind} pass failed: ${e.message}`))
      )
      yield* Effect.forkScoped(Effect.forever(tick))
    }
    return { runOnce: pass(), status: SynchronizedRef.get(state) }
  })

export interface GcLayerOptions {
  /** The database root inside the store (`""`: the top level). */
  readonly path: string
  /** Which kinds, how often, how old (default: SlateDB's, every kind each minute, older than 5 minutes). */
  readonly options?: GcOptions
  /** The manifest CAS loop's time limit when removing expired checkpoints (default 300 s). */
  readonly manifestUpdateTimeoutMs?: number
  /** Retry policy of the collector's store wrapper (default: SlateDB's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
}

/**
 * The garbage collector as a service: `GarbageCollector.layer({ path })` collects the database at `path`
 * in the `ObjectStore` in context on its schedule until the layer's scope ends; `runOnce` runs a pass now.
 */
export class GarbageCollector extends Context.Service<GarbageCollector, GcHandle>()("shale/GarbageCollector") {
  static readonly layer = (options: GcLayerOptions): Layer.Layer<GarbageCollector, never, ObjectStore> =>
    Layer.effect(
      GarbageCollector,
      Effect.gen(function*() {
        const store = withRetries(yield* instrumented(yield* ObjectStore, "gc"), options.storeRetry)
        return yield* startGarbageCollector({
          root: normalizeRoot(options.path),
          store,
          options: options.options ?? defaultGcOptions,
          manifestUpdateTimeoutMs: options.manifestUpdateTimeoutMs ?? 300_000
        })
      })
    )
}
