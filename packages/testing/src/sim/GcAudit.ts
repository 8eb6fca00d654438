/**
 * What garbage collection must never break, and what it must leave behind, checked from the objects in
 * the bucket (the inner store: no faults, no clock, no randomness).
 *
 * After every round (`liveProblems`): nothing a live manifest needs is missing.
 * - The latest manifest: every SST in its L0 and sorted runs exists, and every WAL SST that was ever
 *   written with an id above its `replay_after_wal_id` (the ledger knows which) still exists: recovery
 *   replays all of them.
 * - Every checkpoint in the latest manifest: the manifest version it pins exists, every SST of that version
 *   exists, and every WAL SST of its replay range `(replay_after_wal_id, next_wal_sst_id)` that was ever
 *   written still exists. (Expired or not: the collector removes a checkpoint from the manifest before it
 *   collects anything it pinned, so a checkpoint still listed still protects its objects.)
 * - Every checkpoint the simulation made and knows to be live (not deleted, not expired) is still in the
 *   latest manifest, pinning the same version: no manifest merge dropped it.
 * WAL SSTs the runner deleted on purpose (the *lost WAL* event) are not counted as missing.
 *
 * After the final passes (`finalProblems`): the bucket is the rules' fixpoint (gc/GcRules.ts, SlateDB's
 * rules, restated here): no object the rules would delete at `now` is left — every manifest is the
 * latest, pinned by one of its checkpoints, or younger than the minimum age; every WAL SST is at or above
 * the latest `replay_after_wal_id`, in the replay range of a live manifest, or young; every compacted SST
 * is in a live manifest or created at or after the cutoff (min of now − minimum age, the oldest compaction
 * in the latest compactions file, the newest L0 SST of the latest manifest; the epoch where one is
 * unknown); every compactions file is the latest or young. So the bucket stays bounded by what is live,
 * what is pinned and what the cutoff protects.
 */
import { Effect, Stream } from "effect"
import {
  compactedDir,
  compactionsDir,
  compactionsPath,
  decodeCompactions,
  decodeManifest,
  type Manifest,
  manifestDir,
  manifestPath,
  type ObjectStore,
  parseCompactedSstId,
  parseCompactionsId,
  parseManifestId,
  parseUlid,
  parseWalSstId,
  walDir,
  walSstPath
} from "@shale/core/internal"
import type { StoreLedger } from "./StoreLedger.ts"

interface Aged<K> {
  readonly id: K
  readonly lastModified: number
}

/** What the bucket holds now, by kind. */
export interface BucketView {
  readonly manifests: ReadonlyArray<Aged<number>>
  readonly wals: ReadonlyArray<Aged<number>>
  readonly compacted: ReadonlyArray<Aged<string>>
  readonly compactions: ReadonlyArray<Aged<number>>
}

const listed = <K>(store: ObjectStore["Service"], dir: string, parse: (path: string) => K | undefined) =>
  Effect.map(Stream.runCollect(store.list(dir)), (objects) => {
    const out: Array<Aged<K>> = []
    for (const o of objects) {
      const id = parse(o.path)
      if (id !== undefined) out.push({ id, lastModified: o.lastModified })
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  })

export const viewBucket = (store: ObjectStore["Service"], root: string): Effect.Effect<BucketView, unknown> =>
  Effect.all({
    manifests: listed(store, manifestDir(root), parseManifestId),
    wals: listed(store, walDir(root), parseWalSstId),
    compacted: listed(store, compactedDir(root), parseCompactedSstId),
    compactions: listed(store, compactionsDir(root), parseCompactionsId)
  })

/** Manifest version `id`, or undefined if it is gone. */
const readManifest = (store: ObjectStore["Service"], root: string, id: number): Effect.Effect<Manifest | undefined, unknown> =>
  store.get(manifestPath(root, id)).pipe(
    Effect.map(decodeManifest),
    Effect.catchTag("ObjectNotFound", () => Effect.succeed(undefined))
  )

/** The latest version and every version its checkpoints pin (undefined where one is gone). */
const liveManifests = (store: ObjectStore["Service"], root: string, view: BucketView) =>
  Effect.gen(function*() {
    const latestId = view.manifests.at(-1)?.id
    if (latestId === undefined) return undefined
    const latest = (yield* readManifest(store, root, latestId))!
    const pinned = new Map<number, Manifest | undefined>()
    for (const c of latest.checkpoints) {
      if (!pinned.has(c.manifestId)) pinned.set(c.manifestId, c.manifestId === latestId ? latest : yield* readManifest(store, root, c.manifestId))
    }
    return { latestId, latest, pinned }
  })

/** WAL SST ids the versions pinned by the latest manifest's checkpoints replay. */
export const pinnedWalIds = (store: ObjectStore["Service"], root: string): Effect.Effect<Set<number>, unknown> =>
  Effect.gen(function*() {
    const live = yield* liveManifests(store, root, yield* viewBucket(store, root))
    const ids = new Set<number>()
    for (const m of live?.pinned.values() ?? []) {
      if (m !== undefined) for (let id = m.replayAfterWalId + 1; id < m.nextWalSstId; id++) ids.add(id)
    }
    return ids
  })

/**
 * Whether `path` is gone, and a collector may have deleted it legitimately: a WAL SST below the latest
 * `replay_after_wal_id` that no pinned version replays, a compacted SST no live version references, a
 * manifest version neither latest nor pinned. (A process that read an older manifest version may still
 * look for it: WalReplay.ts, Recovery.ts.)
 */
export const collectable = (store: ObjectStore["Service"], root: string, path: string): Effect.Effect<boolean, unknown> =>
  Effect.gen(function*() {
    const gone = yield* Effect.match(store.head(path), { onFailure: () => true, onSuccess: () => false })
    if (!gone) return false
    const view = yield* viewBucket(store, root)
    const live = yield* liveManifests(store, root, view)
    if (live === undefined) return false
    const manifests = [live.latest, ...[...live.pinned.values()].filter((m): m is Manifest => m !== undefined)]
    const dir = path.split("/").at(-2)
    const wal = dir === "wal" ? parseWalSstId(path) : undefined
    if (wal !== undefined) {
      return wal < live.latest.replayAfterWalId && !manifests.some((m) => wal > m.replayAfterWalId && wal < m.nextWalSstId)
    }
    const sst = dir === "compacted" ? parseCompactedSstId(path) : undefined
    if (sst !== undefined) return !manifests.some((m) => sstIds(m).includes(sst))
    const manifest = dir === "manifest" ? parseManifestId(path) : undefined
    return manifest !== undefined && manifest !== live.latestId && !live.pinned.has(manifest)
  })

const sstIds = (m: Manifest): Array<string> => [...m.l0.map((s) => s.id), ...m.compacted.flatMap((r) => r.ssts.map((s) => s.id))]

/** A checkpoint the simulation made and knows to be live. */
export interface ExpectedCheckpoint {
  readonly id: string
  readonly manifestId: number
}

/** Problems with what live manifests need (see the module comment). */
export const liveProblems = (
  store: ObjectStore["Service"],
  root: string,
  ledger: StoreLedger,
  expected: ReadonlyArray<ExpectedCheckpoint>
): Effect.Effect<Array<string>, unknown> =>
  Effect.gen(function*() {
    const view = yield* viewBucket(store, root)
    const live = yield* liveManifests(store, root, view)
    if (live === undefined) return []
    const { latestId, latest, pinned } = live
    const problems: Array<string> = []
    const ssts = new Set(view.compacted.map((s) => s.id))
    const wals = new Set(view.wals.map((w) => w.id))
    const lostWal = (id: number) => ledger.walsEverPut.has(id) && !wals.has(id) && !ledger.deletedOnPurpose.has(walSstPath(root, id))
    const missingSsts = (m: Manifest, what: string) => {
      const gone = sstIds(m).filter((id) => !ssts.has(id))
      if (gone.length > 0) problems.push(`${what} references SST(s) ${gone.join(", ")}, which are gone`)
    }
    missingSsts(latest, `the latest manifest (${latestId})`)
    const goneWals = [...ledger.walsEverPut].filter((id) => id > latest.replayAfterWalId && lostWal(id)).sort((a, b) => a - b)
    if (goneWals.length > 0) {
      problems.push(`WAL SST(s) ${goneWals.join(", ")} are gone, above replay_after_wal_id ${latest.replayAfterWalId} of the latest manifest (${latestId})`)
    }
    for (const c of latest.checkpoints) {
      const m = pinned.get(c.manifestId)
      const what = `manifest ${c.manifestId}, pinned by checkpoint ${c.id}${c.expireTimeS === undefined ? "" : ` (expires at ${c.expireTimeS} s)`}`
      if (m === undefined) {
        problems.push(`${what}, is gone`)
        continue
      }
      missingSsts(m, what)
      const gone: Array<number> = []
      for (let id = m.replayAfterWalId + 1; id < m.nextWalSstId; id++) if (lostWal(id)) gone.push(id)
      if (gone.length > 0) problems.push(`${what}, replays WAL SST(s) ${gone.join(", ")}, which are gone`)
    }
    for (const e of expected) {
      const c = latest.checkpoints.find((c) => c.id === e.id)
      if (c === undefined) {
        problems.push(`checkpoint ${e.id} (pinning manifest ${e.manifestId}) is not in the latest manifest (${latestId}), though it was neither deleted nor expired`)
      } else if (c.manifestId !== e.manifestId) {
        problems.push(`checkpoint ${e.id} pins manifest ${c.manifestId} in the latest manifest, not ${e.manifestId}`)
      }
    }
    return problems
  })

const ulidTime = (id: string): number => parseUlid(id)?.timeMs ?? 0

/** The compacted SSTs' cutoff (see the module comment). */
const cutoffOf = (now: number, minAgeMs: number, compactionIds: ReadonlyArray<string>, latest: Manifest): number => {
  const oldestCompaction = compactionIds.length === 0 ? 0 : Math.min(...compactionIds.map(ulidTime))
  const newestL0 = latest.l0.length > 0
    ? Math.max(...latest.l0.map((s) => ulidTime(s.id)))
    : latest.l0LastCompacted === undefined
    ? 0
    : ulidTime(latest.l0LastCompacted)
  return Math.min(now - minAgeMs, oldestCompaction, newestL0)
}

/** What the bucket holds after the final passes, and what it should not (see the module comment). */
export const finalProblems = (
  store: ObjectStore["Service"],
  root: string,
  now: number,
  minAgeMs: number
): Effect.Effect<{ readonly problems: Array<string>; readonly kept: Record<string, number> }, unknown> =>
  Effect.gen(function*() {
    const view = yield* viewBucket(store, root)
    const live = yield* liveManifests(store, root, view)
    const kept = { manifests: view.manifests.length, wal: view.wals.length, compacted: view.compacted.length, compactions: view.compactions.length }
    if (live === undefined) return { problems: [], kept }
    const { latestId, latest, pinned } = live
    const liveSet = [latest, ...[...pinned.values()].filter((m): m is Manifest => m !== undefined)]
    const young = (o: Aged<unknown>) => now - o.lastModified <= minAgeMs
    const problems: Array<string> = []
    const left = (what: string, ids: ReadonlyArray<unknown>) => {
      if (ids.length > 0) problems.push(`${what} ${ids.join(", ")} outlived the final garbage collection`)
    }
    left("manifest(s)", view.manifests.filter((m) => m.id !== latestId && !pinned.has(m.id) && !young(m)).map((m) => m.id))
    left(
      "WAL SST(s)",
      view.wals.filter((w) =>
        w.id < latest.replayAfterWalId && !young(w) &&
        !liveSet.some((m) => w.id > m.replayAfterWalId && w.id < m.nextWalSstId)
      ).map((w) => w.id)
    )
    const latestFile = view.compactions.at(-1)
    const compactions = latestFile === undefined
      ? []
      : decodeCompactions(yield* store.get(compactionsPath(root, latestFile.id)))
        .recentCompactions.map((c) => c.id)
    const cutoff = cutoffOf(now, minAgeMs, compactions, latest)
    const liveSsts = new Set(liveSet.flatMap(sstIds))
    left("compacted SST(s)", view.compacted.filter((s) => !liveSsts.has(s.id) && ulidTime(s.id) < cutoff).map((s) => s.id))
    left("compactions file(s)", view.compactions.filter((c) => c.id !== latestFile?.id && !young(c)).map((c) => c.id))
    return { problems, kept }
  })
