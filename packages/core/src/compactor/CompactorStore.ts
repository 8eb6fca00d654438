/**
 * The compactor's two objects on the store and its fenced view of them (SlateDB's
 * `compactor_state_protocols.rs`, docs/format.md §3.7.1-§3.7.2, §3.7.9):
 *
 * - the manifest, where a compactor claims `compactor_epoch` and records the sorted runs it writes;
 * - the compactions file `compactions/<id:020>.compactions`, the compactor's own state (active
 *   compactions and their output so far), which holds the same epoch.
 *
 * Claiming (`openCompactorStore`): read the latest manifest (there must be a database), claim the
 * compactor epoch E = stored + 1 in it; create `compactions/1` (epoch 0) if there is none and claim E
 * there too. From then on every read of either object checks its epoch: a higher one means a newer
 * compactor took over (`ClosedError` fenced, "detected newer compactor"). Compactions that were Running
 * when the previous compactor stopped become Submitted again (they resume from their output SSTs).
 *
 * Writing: both objects are sequenced, create-only versions. The compactions file is written whole
 * (`writeCompactions`): on a conflict it re-reads (epoch check), keeps manual submissions that arrived
 * meanwhile, and tries again. A finished compaction is recorded in the manifest (`writeManifest`) in one
 * version: the compactor's merged view (docs/format.md §3.7.9) with the new sorted runs and a 15-minute
 * checkpoint of the version it replaces, which still lists the SSTs the compaction replaced (so a reader
 * still using them keeps them safe from garbage collection for a while); a conflict re-reads and starts
 * over. SlateDB writes two versions, the checkpoint (pinning itself) and then the merged view: the same
 * SSTs are pinned from the same moment, with one manifest write fewer per compaction (compaction.md §5).
 * Checkpoints whose expiry has passed are dropped, so the manifest does not grow by one checkpoint per
 * compaction forever.
 */
import { Clock, Duration, Effect } from "effect"
import { ClosedError, type DbError, InvalidError } from "../errors.ts"
import { compactionsDir, compactionsPath, parseCompactionsId } from "../format/Paths.ts"
import {
  type Compactions,
  CompactionStatus,
  decodeCompactions,
  encodeCompactions
} from "../manifest/CompactionsCodec.ts"
import { checkEpoch, claimEpoch, claimGivenEpoch, type EpochField, timedOut } from "../manifest/Epochs.ts"
import { makeUuid } from "../manifest/Ids.ts"
import { Manifest } from "../manifest/Manifest.ts"
import { makeManifestStore } from "../manifest/ManifestStore.ts"
import { makeSequencedStore, type SequencedStore, type Stored } from "../manifest/SequencedStore.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import {
  type CompactionRecord,
  fromStored,
  mergeRemoteCompactions,
  mergeRemoteManifest,
  retainActiveAndLastFinished,
  toCompactions
} from "./CompactorState.ts"

/** For a write right after `readLatest` or the previous version's write (SequencedStore's `write`). */
const CURRENT = { current: true } as const

/** How long the checkpoint written before a compaction's manifest lives (SlateDB: 900 s). */
export const COMPACTION_CHECKPOINT_LIFETIME_S = 900

export const compactorFenced = (): ClosedError => new ClosedError({ reason: "fenced", message: "detected newer compactor" })

const manifestField: EpochField<Manifest> = {
  epochOf: (m) => m.compactorEpoch,
  withEpoch: Manifest.withCompactorEpoch,
  role: "compactor",
  fenced: compactorFenced
}

const compactionsField: EpochField<Compactions> = {
  epochOf: (c) => c.compactorEpoch,
  withEpoch: (c, compactorEpoch) => ({ ...c, compactorEpoch }),
  role: "compactor",
  fenced: compactorFenced
}

export const makeCompactionsStore = (store: ObjectStore["Service"], root: string): SequencedStore<Compactions> =>
  makeSequencedStore(store, {
    dir: compactionsDir(root),
    pathOf: (id) => compactionsPath(root, id),
    parseId: parseCompactionsId,
    encode: encodeCompactions,
    decode: decodeCompactions,
    what: "compactions"
  })

/** Compactions Running when their compactor stopped run again (resuming from their output SSTs). */
const resubmitRunning = (records: ReadonlyArray<CompactionRecord>): Array<CompactionRecord> =>
  records.map((r) => (r.status === CompactionStatus.Running ? { ...r, status: CompactionStatus.Submitted } : r))

const emptyCompactions = (): Compactions => ({ compactorEpoch: 0, recentCompactions: [] })

/** The compactor's fenced view of the manifest and the compactions file (see the module comment). */
export class CompactorStore {
  readonly epoch: number
  readonly #manifests: SequencedStore<Manifest>
  readonly #compactions: SequencedStore<Compactions>
  readonly #timeoutMs: number
  /** The compactor's manifest: the latest version read, with its own runs merged in. */
  manifest: Manifest
  manifestId: number
  records: Array<CompactionRecord>
  compactionsId: number

  constructor(fields: {
    epoch: number
    manifests: SequencedStore<Manifest>
    compactions: SequencedStore<Compactions>
    timeoutMs: number
    manifest: Stored<Manifest>
    compactionsFile: Stored<Compactions>
  }) {
    this.epoch = fields.epoch
    this.#manifests = fields.manifests
    this.#compactions = fields.compactions
    this.#timeoutMs = fields.timeoutMs
    this.manifest = fields.manifest.value
    this.manifestId = fields.manifest.id
    this.records = fields.compactionsFile.value.recentCompactions.map(fromStored)
    this.compactionsId = fields.compactionsFile.id
  }

  #within<A>(what: string, effect: Effect.Effect<A, DbError>): Effect.Effect<A, DbError> {
    return effect.pipe(Effect.timeoutOrElse({
      duration: Duration.millis(this.#timeoutMs),
      orElse: () => Effect.fail(timedOut(what, this.#timeoutMs))
    }))
  }

  /** Reads the latest compactions file (epoch check) and takes the submissions it holds. */
  readonly loadCompactions: Effect.Effect<void, DbError> = Effect.suspend(() =>
    Effect.flatMap(this.#latestCompactions, (latest) =>
      Effect.sync(() => {
        if (latest.id <= this.compactionsId) return
        this.records = mergeRemoteCompactions(this.records, latest.value.recentCompactions.map(fromStored))
        this.compactionsId = latest.id
      }))
  )

  /** Reads the latest manifest (epoch check) and merges it into the compactor's view. */
  readonly loadManifest: Effect.Effect<void, DbError> = Effect.suspend(() =>
    Effect.flatMap(this.#latestManifest, (latest) =>
      Effect.sync(() => {
        if (latest.id <= this.manifestId) return
        this.manifest = mergeRemoteManifest(this.manifest, latest.value)
        this.manifestId = latest.id
      }))
  )

  /**
   * Starts over from what the store says (after a failure of the event loop): the latest manifest and
   * compactions file replace the local view (epoch checks included), Running compactions become
   * Submitted, and the compactions file is written.
   */
  get reset(): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const manifest = yield* this.#latestManifest
      const file = yield* this.#latestCompactions
      this.manifest = manifest.value
      this.manifestId = manifest.id
      const records = file.value.recentCompactions.map(fromStored)
      this.records = resubmitRunning(records)
      this.compactionsId = file.id
      if (this.records.some((r, i) => r !== records[i])) yield* this.writeCompactions
    })
  }

  /** Both, compactions first (SlateDB's `refresh`). */
  get refresh(): Effect.Effect<void, DbError> {
    return Effect.andThen(this.loadCompactions, this.loadManifest)
  }

  get #latestCompactions(): Effect.Effect<Stored<Compactions>, DbError> {
    return Effect.flatMap(this.#compactions.readLatest, (latest) =>
      latest === undefined
        ? Effect.fail(new InvalidError({ message: "the compactions file disappeared" }))
        : this.#checked(this.#compactions, compactionsField, "compactions file", latest))
  }

  get #latestManifest(): Effect.Effect<Stored<Manifest>, DbError> {
    return Effect.flatMap(this.#manifests.readLatest, (latest) =>
      latest === undefined
        ? Effect.fail(new InvalidError({ message: "the manifest disappeared" }))
        : this.#checked(this.#manifests, manifestField, "manifest", latest))
  }

  /**
   * `latest` after the epoch check. An older epoch than this compactor's means its claim is not in the
   * latest version: the claim was created under a name a garbage collector had just freed, below a newer
   * version (the one round trip between listing and create that the collector's minimum age must cover;
   * docs/format.md §1, "a freed name is not a free version"). Such a version is never read, so the epoch is
   * claimed again on top of the latest (fenced if a newer compactor claimed meanwhile).
   */
  #checked<A>(store: SequencedStore<A>, field: EpochField<A>, what: string, latest: Stored<A>): Effect.Effect<Stored<A>, DbError> {
    if (field.epochOf(latest.value) >= this.epoch) return Effect.as(checkEpoch(field, latest.value, this.epoch), latest)
    return Effect.logWarning(
      `compactor epoch ${this.epoch}: the latest ${what} (${latest.id}) holds epoch ${field.epochOf(latest.value)}; ` +
        "the claim was written below it (a collector had freed its name): claiming the epoch again"
    ).pipe(Effect.andThen(claimEpoch(store, field, { timeoutMs: this.#timeoutMs, epoch: this.epoch })))
  }

  /** Writes the compactions file (see the module comment). */
  get writeCompactions(): Effect.Effect<void, DbError> {
    return this.#within(
      "writing the compactions file",
      Effect.gen({ self: this }, function*() {
        this.records = retainActiveAndLastFinished(this.records)
        while (true) {
          const id = this.compactionsId + 1
          if ((yield* this.#compactions.write(id, toCompactions(this.epoch, this.records))) === "written") {
            this.compactionsId = id
            return
          }
          yield* this.loadCompactions
        }
      })
    )
  }

  /**
   * Records the compactor's view in the manifest: one version, the merged view with a 15-minute checkpoint
   * of the version it replaces (see the module comment).
   */
  get writeManifest(): Effect.Effect<void, DbError> {
    return this.#within(
      "writing the manifest",
      Effect.gen({ self: this }, function*() {
        while (true) {
          const latest = yield* this.#latestManifest
          const nowS = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const merged = mergeRemoteManifest(this.manifest, latest.value)
          const next = Manifest.withCheckpointAdded({
            ...merged,
            checkpoints: merged.checkpoints.filter((c) => c.expireTimeS === undefined || c.expireTimeS > nowS)
          }, {
            id: yield* makeUuid,
            // The version just read: it still lists the compaction's inputs (only a compactor removes them).
            manifestId: latest.id,
            createTimeS: nowS,
            expireTimeS: nowS + COMPACTION_CHECKPOINT_LIFETIME_S
          })
          // `current`: `#latestManifest` has just listed.
          if ((yield* this.#manifests.write(latest.id + 1, next, CURRENT)) === "exists") continue
          this.manifest = next
          this.manifestId = latest.id + 1
          return
        }
      })
    )
  }
}

/** Claims the compactor epoch in the manifest and the compactions file (see the module comment). */
export const openCompactorStore = (
  store: ObjectStore["Service"],
  root: string,
  options: { readonly timeoutMs: number }
): Effect.Effect<CompactorStore, DbError> =>
  Effect.gen(function*() {
    const manifests = makeManifestStore(store, root).versions
    const compactions = makeCompactionsStore(store, root)
    if ((yield* manifests.readLatest) === undefined) {
      return yield* new InvalidError({ message: `no database at "${root}": it has no manifest` })
    }
    const manifest = yield* claimEpoch(manifests, manifestField, { timeoutMs: options.timeoutMs })
    const epoch = manifest.value.compactorEpoch
    const file = yield* claimGivenEpoch(compactions, compactionsField, epoch, {
      timeoutMs: options.timeoutMs,
      initial: emptyCompactions
    })
    const state = new CompactorStore({ epoch, manifests, compactions, timeoutMs: options.timeoutMs, manifest, compactionsFile: file })
    const resubmitted = resubmitRunning(state.records)
    if (resubmitted.some((r, i) => r !== state.records[i])) {
      state.records = resubmitted
      yield* state.writeCompactions
    }
    return state
  })

/**
 * Submits a compaction from outside the compactor (SlateDB's `Compactor::submit`; `Admin` and the CLI):
 * appends a Submitted record to the latest compactions file, create-only, retrying on conflicts. The
 * running compactor validates and starts it on its next poll. Fails with `InvalidError` when there is no
 * compactions file (no compactor ever ran on this database).
 */
export const submitToCompactionsFile = (
  store: ObjectStore["Service"],
  root: string,
  record: CompactionRecord,
  options: { readonly timeoutMs: number }
): Effect.Effect<void, DbError> => {
  const compactions = makeCompactionsStore(store, root)
  return Effect.gen(function*() {
    while (true) {
      const latest = yield* compactions.readLatest
      if (latest === undefined) {
        return yield* new InvalidError({ message: `no compactor has run on "${root}" (it has no compactions file)` })
      }
      const records = [...latest.value.recentCompactions.map(fromStored), record]
      const next = toCompactions(latest.value.compactorEpoch, records)
      if ((yield* compactions.write(latest.id + 1, next, CURRENT)) === "written") return
    }
  }).pipe(Effect.timeoutOrElse({
    duration: Duration.millis(options.timeoutMs),
    orElse: () => Effect.fail(timedOut("submitting a compaction", options.timeoutMs))
  }))
}
