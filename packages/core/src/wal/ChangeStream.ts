/**
 * Beyond SlateDB: the change stream of a database. `changesFrom(walReader, options)` is a `Stream` of the
 * committed rows (puts, tombstones, merge operands, with seq and timestamps) in seq order, read from the
 * WAL SSTs, following the WAL as it grows. `changesOver(store, root, ...)` adds the latest manifest (to
 * judge gaps) and `stream({ root, ... })` runs it over the `ObjectStore` in context; `Db.changes` is the
 * same over the writer's store. docs/design/changes.md gives the reasoning; the guarantees:
 *
 * - Order and content: every row of every WAL SST, in id order; within a file sorted by seq (stable, so a
 *   batch keeps its key order). A batch shares one seq and never spans two WALs, so the whole stream is in
 *   seq order. Rows with seq < the start are passed over, not emitted. Nothing is merged, filtered by TTL
 *   or deduplicated: a key written twice appears twice.
 * - Committed = durable: only rows in WAL SSTs on the store are seen (a write not yet flushed appears once
 *   its WAL is written). Empty WAL SSTs (a writer's fence) yield nothing.
 * - Start (`fromSeq`): a number (rows with seq ≥ it), `"earliest"` (every row still in the WAL) or
 *   `"latest"` (default: only rows in WAL SSTs written after the stream starts).
 * - Following (`follow`, default true): when no newer WAL is listed it sleeps `pollIntervalMs` (default
 *   100 ms, on the Effect `Clock`) and lists again; it never ends by itself. With `follow: false` it ends
 *   after the newest WAL listed. Files already read are never read again.
 * - No silent holes: before emitting a row after WAL ids it did not read (collected by GC, deleted, or a
 *   start above the oldest WAL), the stream decides from seqs (and the latest manifest's
 *   `replay_after_wal_id` / `last_l0_seq`) whether rows it owes may have been in them. If so it fails with
 *   `ChangesGapError { fromSeq, resumeFrom, missingWalIds }`, having emitted nothing past the gap; a
 *   stream from `resumeFrom` finds every later change. Ids that were never written (no row is missing:
 *   seqs continue across them) are skipped. A missing id is confirmed by a second listing first; the
 *   stream never waits for an id once a later one exists.
 * - Reads only (lists and GETs): it never writes, so it never fences a writer.
 *
 * Store failures are `DbError`s (a WAL that vanishes between listing and reading is a gap, not an error);
 * bad options fail the stream with `InvalidError`.
 */
import { Duration, Effect, Option, Stream } from "effect"
import { ChangesGapError, ClosedError, DataError, type DbError, InvalidError } from "../errors.ts"
import { normalizeRoot } from "../format/Paths.ts"
import { makeManifestStore } from "../manifest/ManifestStore.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { type RetryOptions, withRetries } from "../objectstore/RetryingObjectStore.ts"
import { type WalReader, walReaderOver, type WalRow } from "./WalReader.ts"

/** One committed row (a WAL row: kind, key, value, seq, createTs, expireTs). */
export type Change = WalRow

/** Where a stream starts: a seq, the oldest row still in the WAL, or the next row made durable. */
export type ChangesStart = number | "earliest" | "latest"

export interface ChangesOptions {
  /** Default `"latest"`: rows in WAL SSTs written after the stream starts. */
  readonly fromSeq?: ChangesStart
  /** Keep polling for new WAL SSTs (default true); false ends after the newest one listed. */
  readonly follow?: boolean
  /** How long to wait between listings when there is nothing new (default 100 ms). */
  readonly pollIntervalMs?: number
}

/** What the latest manifest says of the WAL: ids ≤ `replayAfterWalId` hold only rows with seq ≤ `lastL0Seq`. */
export interface ReplayPoint {
  readonly replayAfterWalId: number
  readonly lastL0Seq: number
}

/** A database's lifecycle as a stream of it sees it: open, closed cleanly with every write durable, or failed. */
export type SourceState = "open" | "closed" | ClosedError

export interface ChangeHooks {
  /** The latest manifest's replay point (undefined: no manifest); bounds what a gap can have held. */
  readonly replayPoint?: Effect.Effect<ReplayPoint | undefined, DbError>
  /** For `Db.changes`: "closed" ends the stream after one more listing; a `ClosedError` fails it. */
  readonly state?: () => SourceState
}

export const DEFAULT_POLL_INTERVAL_MS = 100

/** WAL ids that were not read: `lo` is the lowest seq they may hold, `bound` one past the highest (∞: unknown). */
interface Hole {
  readonly first: number
  readonly last: number
  readonly lo: number
  readonly bound: number
}

const isNotFound = (e: DbError): boolean =>
  e instanceof DataError && typeof e.cause === "object" && e.cause !== null && (e.cause as { _tag?: unknown })._tag === "ObjectNotFound"

const bySeq = (rows: Array<Change>): Array<Change> => {
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.seq < rows[i - 1]!.seq) return rows.sort((a, b) => a.seq - b.seq)
  }
  return rows
}

const checkOptions = (o: ChangesOptions): InvalidError | undefined => {
  const from = o.fromSeq
  if (from !== undefined && from !== "earliest" && from !== "latest" && !(Number.isSafeInteger(from) && from >= 0)) {
    return new InvalidError({ message: `fromSeq must be a non-negative safe integer, "earliest" or "latest", got ${String(from)}` })
  }
  const poll = o.pollIntervalMs
  if (poll !== undefined && !(typeof poll === "number" && Number.isFinite(poll) && poll > 0)) {
    return new InvalidError({ message: `pollIntervalMs must be a positive number, got ${String(poll)}` })
  }
  return undefined
}

/** The follower's state and steps; one instance per run of the stream. */
const makeFollower = (reader: WalReader, options: ChangesOptions, hooks: ChangeHooks) => {
  const follow = options.follow ?? true
  const pollMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS
  let start: ChangesStart = options.fromSeq ?? "latest"
  let started = false
  /** The next WAL id to read, and the ids ≥ it from the last listing. */
  let nextId = 0
  let known: Array<number> = []
  /** The highest seq of the rows passed (emitted or below the start); undefined before the first. */
  let lastSeq: number | undefined
  /** Rows with seq below this are passed over. */
  let from = 0
  let hole: Hole | undefined
  let closing = false

  const listFrom = (id: number) => Effect.map(reader.list({ start: id }), (files) => files.map((f) => f.id))

  /** The rows of WAL `id` in seq order; undefined if it no longer exists. */
  const readRows = (id: number) =>
    Stream.runCollect(reader.get(id).rows).pipe(
      Effect.map((rows): Array<Change> | undefined => bySeq(Array.from(rows))),
      Effect.catchIf(isNotFound, () => Effect.succeed(undefined))
    )

  /** One past the highest seq WAL ids ≤ `last` can hold, if the latest manifest says (else ∞). */
  const boundFor = (last: number) =>
    hooks.replayPoint === undefined
      ? Effect.succeed(Infinity)
      : Effect.map(hooks.replayPoint, (p) => (p !== undefined && last <= p.replayAfterWalId ? p.lastL0Seq + 1 : Infinity))

  /** Fails if rows the stream owes may have been in the hole; `f` is the first seq after it, if known. */
  const judge = (h: Hole, f: number | undefined) =>
    Effect.suspend((): Effect.Effect<"ok" | "pending", ChangesGapError> => {
      const upper = Math.min(f ?? Infinity, h.bound)
      if (upper === Infinity) return Effect.succeed("pending")
      const owed = Math.max(h.lo, from)
      if (owed >= upper) {
        return Effect.as(Effect.logDebug(`change stream: WAL ${h.first}..${h.last} absent, no change missed`), "ok" as const)
      }
      return Effect.fail(
        new ChangesGapError({
          message: `changes from seq ${owed} are no longer in the WAL (WAL SST${h.first === h.last ? ` ${h.first} is` : `s ${h.first}..${h.last} are`} gone); ` +
            `the oldest change still there is seq ${upper} (older ones are only in SSTs)`,
          fromSeq: owed,
          resumeFrom: upper,
          missingWalIds: [h.first, h.last]
        })
      )
    })

  /** The highest seq in the WAL SSTs `ids`, reading from the newest back to the first that holds rows. */
  const newestSeq = (ids: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      for (let i = ids.length - 1; i >= 0; i--) {
        const rows = yield* readRows(ids[i]!)
        if (rows !== undefined && rows.length > 0) return rows[rows.length - 1]!.seq
      }
      return undefined
    })

  /** Positions the stream at the first listing that shows a WAL; false while there is none. */
  const begin = Effect.gen(function*() {
    const ids = yield* listFrom(0)
    if (ids.length === 0) {
      // Every WAL that appears from now on is new: "latest" becomes "earliest".
      if (start === "latest") start = "earliest"
      return false
    }
    started = true
    if (start === "latest") {
      lastSeq = yield* newestSeq(ids)
      from = lastSeq === undefined ? 0 : lastSeq + 1
      nextId = ids[ids.length - 1]! + 1
      return true
    }
    nextId = ids[0]!
    known = ids
    if (start === "earliest") return true
    from = start
    // WAL 1 is every database's first: without it, older WALs were collected (or this is a clone).
    if (nextId > 1) hole = { first: 1, last: nextId - 1, lo: 0, bound: yield* boundFor(nextId - 1) }
    else lastSeq = 0
    return true
  })

  /** Reads WAL `nextId` (listed), judging a pending hole by its first row; the rows to emit. */
  const readNext = Effect.gen(function*() {
    const id = nextId
    known.shift()
    const rows = yield* readRows(id)
    if (rows === undefined) {
      // Deleted since it was listed: the next listing shows the hole.
      known = []
      return []
    }
    nextId = id + 1
    if (rows.length === 0) return []
    if (hole !== undefined) {
      yield* judge(hole, rows[0]!.seq)
      hole = undefined
    }
    const floor = Math.max(from, lastSeq === undefined ? 0 : lastSeq + 1)
    lastSeq = Math.max(lastSeq ?? 0, rows[rows.length - 1]!.seq)
    return rows[0]!.seq >= floor ? rows : rows.filter((r) => r.seq >= floor)
  })

  /** WAL `nextId` is absent but `next` exists (seen by two listings): the ids between are a hole. */
  const passHole = (next: number) =>
    Effect.gen(function*() {
      const first = hole?.first ?? nextId
      const lo = hole?.lo ?? (lastSeq === undefined ? 0 : lastSeq + 1)
      hole = { first, last: next - 1, lo, bound: yield* boundFor(next - 1) }
      nextId = next
    })

  const END = undefined
  /** Nothing newer is listed: judge a bounded hole, then end or wait. */
  const idle = Effect.gen(function*() {
    if (hole !== undefined && (yield* judge(hole, undefined)) === "ok") hole = undefined
    // An unbounded hole with no row after it is judged when a row follows (a later stream reports it).
    if (!follow || closing) return END
    const state = hooks.state?.()
    if (state instanceof ClosedError) return yield* state
    if (state === "closed") {
      closing = true
      return []
    }
    yield* Effect.sleep(Duration.millis(pollMs))
    return []
  })

  /** One step: read one WAL, or list (and maybe wait) once. Undefined ends the stream. */
  const step: Effect.Effect<ReadonlyArray<Change> | undefined, DbError | ChangesGapError> = Effect.gen(function*() {
    if (!started && !(yield* begin)) return yield* idle
    if (known.length > 0 && known[0] === nextId) return yield* readNext
    let ids = yield* listFrom(nextId)
    if (ids.length > 0 && ids[0] !== nextId) ids = yield* listFrom(nextId)
    if (ids.length > 0 && ids[0] !== nextId) yield* passHole(ids[0]!)
    known = ids
    return known.length > 0 ? [] : yield* idle
  })
  return step
}

/**
 * The changes of the database whose WAL `reader` reads (see the module comment). `hooks.replayPoint`
 * lets gaps below the manifest's replay point be judged at once; without it a gap is judged by the seqs
 * around it only.
 */
export const changesFrom = (
  reader: WalReader,
  options: ChangesOptions = {},
  hooks: ChangeHooks = {}
): Stream.Stream<Change, DbError | ChangesGapError> =>
  Stream.suspend(() => {
    const invalid = checkOptions(options)
    if (invalid !== undefined) return Stream.fail(invalid)
    const step = makeFollower(reader, options, hooks)
    return Stream.paginate(undefined, () =>
      Effect.map(step, (rows) => rows === undefined ? [[], Option.none()] as const : [rows, Option.some(undefined)] as const))
  })

/** The replay point of the latest manifest at `root`. */
export const replayPointOf = (store: ObjectStore["Service"], root: string): Effect.Effect<ReplayPoint | undefined, DbError> =>
  Effect.map(makeManifestStore(store, root).readLatest, (latest) =>
    latest === undefined
      ? undefined
      : { replayAfterWalId: latest.manifest.replayAfterWalId, lastL0Seq: latest.manifest.lastL0Seq })

/** The changes of the database at `root` in `store`, gaps judged with its latest manifest. */
export const changesOver = (
  store: ObjectStore["Service"],
  root: string,
  options: ChangesOptions = {},
  state?: () => SourceState
): Stream.Stream<Change, DbError | ChangesGapError> => {
  const r = normalizeRoot(root)
  return changesFrom(walReaderOver(store, r), options, {
    replayPoint: replayPointOf(store, r),
    ...(state === undefined ? {} : { state })
  })
}

export interface ChangesStreamOptions extends ChangesOptions {
  /** The database root inside the object store (`""` for the store's root). */
  readonly root: string
  /** Retry policy of the store wrapper (default: the engine's, 100 ms → 1 s, forever). */
  readonly storeRetry?: RetryOptions
}

/**
 * The changes of the database at `options.root` in the `ObjectStore` in context, read through the engine's
 * retrying store wrapper. Needs nothing but the store: no writer, no read-only view.
 */
export const stream = (
  options: ChangesStreamOptions
): Stream.Stream<Change, DbError | ChangesGapError, ObjectStore> =>
  Stream.unwrap(Effect.gen(function*() {
    return changesOver(withRetries(yield* ObjectStore, options.storeRetry), options.root, options)
  }))
