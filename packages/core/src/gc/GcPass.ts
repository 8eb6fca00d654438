/**
 * One pass of the garbage collector over one kind of object (SlateDB's `GcTask`s), and a whole pass over
 * every enabled kind (`collectOnce`, SlateDB's `run_gc_once`). The rules are gc/GcRules.ts; this module
 * reads what they need and deletes what they return.
 *
 * Order and safety, as SlateDB's:
 * - Before each kind, checkpoints whose expiry has passed are removed from the latest manifest (a CAS
 *   write, manifest/Checkpoints.ts); a kind is then collected against the manifest that results.
 * - Compacted SSTs: the compactions file is read BEFORE the manifests. Read the other way round, a
 *   compaction could finish between the two reads: its outputs would be in no manifest seen, and its
 *   entry (the low watermark that protects them) already gone from the file.
 * - A pinned manifest that cannot be read (missing, corrupt) stops that kind for this pass: nothing is
 *   deleted on a partial view.
 * - Deletions are idempotent (deleting a missing object succeeds), and each failure is logged and counted
 *   while the pass goes on; a store fault mid-pass leaves garbage for the next pass, never a hole.
 *
 * Time is the Effect `Clock` and ages are the store's last-modified times, so a `TestClock` drives both
 * in tests and the simulation.
 */
import { Clock, Effect, Stream } from "effect"
import type { DbError } from "../errors.ts"
import {
  compactedDir,
  compactedSstPath,
  compactionsDir,
  compactionsPath,
  manifestDir,
  manifestPath,
  parseCompactedSstId,
  parseCompactionsId,
  parseManifestId,
  parseWalSstId,
  walDir,
  walSstPath
} from "../format/Paths.ts"
import { makeCompactionsStore } from "../compactor/CompactorStore.ts"
import { deleteExpiredCheckpoints, noManifest } from "../manifest/Checkpoints.ts"
import type { Manifest } from "../manifest/Manifest.ts"
import { makeManifestStore, type ManifestStore, type StoredManifest } from "../manifest/ManifestStore.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { TestSwitches } from "../testing/TestSwitches.ts"
import {
  type AgedObject,
  compactedCutoffMs,
  compactedToDelete,
  compactionsToDelete,
  GC_RESOURCES,
  type GcOptions,
  type GcResource,
  liveSstIds,
  manifestsToDelete,
  walsToDelete
} from "./GcRules.ts"

/** What one pass did. */
export interface GcRunStats {
  /** Objects deleted, by kind. */
  readonly deleted: Readonly<Record<GcResource, number>>
  /** Expired checkpoints removed from the manifest. */
  readonly expiredCheckpoints: number
  /** Failures (a kind that could not be collected, a delete that failed), as messages; the pass went on. */
  readonly errors: ReadonlyArray<string>
  /** Store requests the pass made (one per call: a listing counts once however many pages it has). */
  readonly requests: number
  readonly durationMs: number
}

/** The store the pass uses, with a count of the requests made through it. */
const countingStore = (store: ObjectStore["Service"]) => {
  const counter = { requests: 0 }
  const counted: ObjectStore["Service"] = {
    put: (path, bytes, options) => Effect.suspend(() => (counter.requests++, store.put(path, bytes, options))),
    get: (path) => Effect.suspend(() => (counter.requests++, store.get(path))),
    getRange: (path, range) => Effect.suspend(() => (counter.requests++, store.getRange(path, range))),
    head: (path) => Effect.suspend(() => (counter.requests++, store.head(path))),
    delete: (path) => Effect.suspend(() => (counter.requests++, store.delete(path))),
    list: (prefix, options) => Stream.unwrap(Effect.sync(() => (counter.requests++, store.list(prefix, options))))
  }
  return { counter, store: counted }
}

/** Numbered objects under `dir`, ascending by id. */
const listNumbered = (store: ObjectStore["Service"], dir: string, parse: (path: string) => number | undefined) =>
  Stream.runCollect(store.list(dir)).pipe(
    Effect.map((listed) => {
      const out: Array<AgedObject> = []
      for (const o of listed) {
        const id = parse(o.path)
        if (id !== undefined) out.push({ id, lastModified: o.lastModified })
      }
      return out.sort((a, b) => a.id - b.id)
    }),
    Effect.mapError(toDbError)
  )

/** The latest manifest and every manifest its checkpoints pin (latest first). */
/**
 * Manifest versions already read, by id. A version never changes once written, so a collector keeps one
 * cache across its passes: the manifests checkpoints pin (hundreds while compactions run: each leaves a
 * 15-minute checkpoint) are read once, not once per kind per pass. Versions no longer pinned are dropped.
 */
export type ManifestCache = Map<number, Manifest>

/** The latest manifest and every manifest its checkpoints pin (latest first). */
const liveManifests = (ctx: PassContext, latest: StoredManifest) =>
  Effect.gen(function*() {
    const live: Array<Manifest> = [latest.manifest]
    const seen = new Set([latest.id])
    for (const c of latest.manifest.checkpoints) {
      if (seen.has(c.manifestId)) continue
      seen.add(c.manifestId)
      let pinned = ctx.cache.get(c.manifestId)
      if (pinned === undefined) {
        pinned = yield* ctx.manifests.read(c.manifestId)
        ctx.cache.set(c.manifestId, pinned)
      }
      live.push(pinned)
    }
    for (const id of ctx.cache.keys()) if (!seen.has(id)) ctx.cache.delete(id)
    return live
  })

interface PassContext {
  readonly store: ObjectStore["Service"]
  readonly root: string
  readonly manifests: ManifestStore
  readonly errors: Array<string>
  readonly cache: ManifestCache
  /** Test-only (`TestSwitches.gcIgnoresCheckpoints`): checkpoints pin nothing. */
  readonly ignoreCheckpoints: boolean
}

/** `latest` as the pass sees it: with the test-only bug switch, without its checkpoints. */
const pinning = <M extends { readonly manifest: Manifest }>(ctx: PassContext, latest: M): M =>
  ctx.ignoreCheckpoints ? { ...latest, manifest: { ...latest.manifest, checkpoints: [] } } : latest

/** Deletes `paths` one by one; returns how many were deleted; failures are recorded and skipped. */
const deleteAll = (ctx: PassContext, kind: GcResource, paths: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let deleted = 0
    for (const path of paths) {
      const failed = yield* ctx.store.delete(path).pipe(
        Effect.as(false),
        Effect.catch((e) => {
          ctx.errors.push(`deleting ${path}: ${e.message}`)
          return Effect.logWarning(`garbage collector: could not delete ${path}: ${e.message}`).pipe(Effect.as(true))
        })
      )
      if (!failed) {
        deleted++
        yield* Effect.logDebug(`garbage collector: deleted ${kind} ${path}`)
      }
    }
    return deleted
  })

const readLatest = (manifests: ManifestStore) =>
  Effect.flatMap(manifests.readLatest, (latest) =>
    latest === undefined ? Effect.die(new Error("the manifest vanished")) : Effect.succeed(latest))

/** Collects one kind of object; returns how many were deleted. */
const collect = (ctx: PassContext, kind: GcResource, minAgeMs: number): Effect.Effect<number, DbError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const { store, root, manifests } = ctx
    switch (kind) {
      case "manifests": {
        const listed = yield* listNumbered(store, manifestDir(root), parseManifestId)
        const last = listed[listed.length - 1]
        if (last === undefined) return 0
        const latest = pinning(ctx, { manifest: yield* manifests.read(last.id) }).manifest
        const ids = manifestsToDelete(listed, latest, now, minAgeMs)
        return yield* deleteAll(ctx, kind, ids.map((id) => manifestPath(root, id)))
      }
      case "wal": {
        const live = yield* liveManifests(ctx, pinning(ctx, yield* readLatest(manifests)))
        const listed = yield* listNumbered(store, walDir(root), parseWalSstId)
        const ids = walsToDelete(listed, live, now, minAgeMs)
        return yield* deleteAll(ctx, kind, ids.map((id) => walSstPath(root, id)))
      }
      case "compacted": {
        // The compactions file first: see the module comment.
        const compactions = yield* makeCompactionsStore(store, root).readLatest
        const latest = pinning(ctx, yield* readLatest(manifests))
        const live = yield* liveManifests(ctx, latest)
        const cutoff = compactedCutoffMs(now, minAgeMs, compactions?.value.recentCompactions.map((c) => c.id), latest.manifest)
        const listed = yield* Stream.runCollect(store.list(compactedDir(root))).pipe(Effect.mapError(toDbError))
        const ids: Array<string> = []
        for (const o of listed) {
          const id = parseCompactedSstId(o.path)
          if (id !== undefined) ids.push(id)
        }
        const doomed = compactedToDelete(ids, liveSstIds(live), cutoff)
        return yield* deleteAll(ctx, kind, doomed.map((id) => compactedSstPath(root, id)))
      }
      case "compactions": {
        const listed = yield* listNumbered(store, compactionsDir(root), parseCompactionsId)
        const ids = compactionsToDelete(listed, now, minAgeMs)
        return yield* deleteAll(ctx, kind, ids.map((id) => compactionsPath(root, id)))
      }
    }
  })

export interface CollectOptions {
  /** The CAS loop's time limit when expired checkpoints are removed. */
  readonly manifestUpdateTimeoutMs: number
  /** Only these kinds (default: every kind `options` enables). */
  readonly only?: ReadonlyArray<GcResource>
  /** Pinned manifests read by earlier passes of the same collector (default: a fresh cache). */
  readonly cache?: ManifestCache
}

/**
 * One pass over every enabled kind (manifests, WAL, compacted SSTs, compactions files, in SlateDB's
 * order). Fails only when there is no database at `root` (nothing is then touched); other failures are
 * in `errors`.
 */
export const collectOnce = (
  baseStore: ObjectStore["Service"],
  root: string,
  options: GcOptions,
  collectOptions: CollectOptions
): Effect.Effect<GcRunStats, DbError> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const { counter, store } = countingStore(baseStore)
    const manifests = makeManifestStore(store, root)
    const ctx: PassContext = {
      store,
      root,
      manifests,
      errors: [],
      cache: collectOptions.cache ?? new Map(),
      ignoreCheckpoints: (yield* TestSwitches).gcIgnoresCheckpoints
    }
    if ((yield* manifests.readLatest) === undefined) return yield* noManifest(root)
    const deleted: Record<GcResource, number> = { manifests: 0, wal: 0, compacted: 0, compactions: 0 }
    let expiredCheckpoints = 0
    for (const kind of collectOptions.only ?? GC_RESOURCES) {
      const resource = options[kind]
      if (resource === null) continue
      const outcome = yield* Effect.result(
        deleteExpiredCheckpoints(manifests, collectOptions.manifestUpdateTimeoutMs).pipe(
          Effect.tap((n) => Effect.sync(() => (expiredCheckpoints += n))),
          Effect.andThen(collect(ctx, kind, resource.minAgeMs))
        )
      )
      if (outcome._tag === "Success") deleted[kind] += outcome.success
      else {
        ctx.errors.push(`${kind}: ${outcome.failure.message}`)
        yield* Effect.logWarning(`garbage collector: ${kind} not collected: ${outcome.failure.message}`)
      }
    }
    const durationMs = (yield* Clock.currentTimeMillis) - started
    const stats: GcRunStats = { deleted, expiredCheckpoints, errors: ctx.errors, requests: counter.requests, durationMs }
    yield* Effect.logDebug(
      `garbage collector: pass done: deleted ${deleted.manifests} manifests, ${deleted.wal} WAL SSTs, ` +
        `${deleted.compacted} compacted SSTs, ${deleted.compactions} compactions files; ` +
        `${expiredCheckpoints} expired checkpoints; ${counter.requests} requests; ${ctx.errors.length} errors`
    ).pipe(Effect.annotateLogs({ ...deleted, expiredCheckpoints, requests: counter.requests, errors: ctx.errors.length, durationMs }))
    return stats
  })
