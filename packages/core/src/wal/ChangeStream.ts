/**
 * Beyond SlateDB: the change stream of a database. `changesFrom(walReader, options)` is a `Stream` of the
 * committed rows (puts, tombstones, merge operands, with seq and timestamps) in seq order, read from the
 * WAL SSTs, following the WAL as it grows. `changesOver(store, root, ...)` adds the latest manifest (to
 * judge gaps) and `stream({ root, ... })` runs it over the `ObjectStore` in context; `Db.changes` is the
 * same over the writer's store, and a `DbReader`'s `changes` the same bounded by the WAL it replayed
 * (`ChangeSource.lastWalId`). docs/design/changes.md gives the reasoning; the guarantees:
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

/** The state of one run of a stream. */
interface Follower {
  readonly reader: WalReader
  readonly hooks: ChangeHooks
  readonly follow: boolean
  readonly pollMs: number
  start: ChangesStart
  started: boolean
  /** The next WAL id to read, and the ids ≥ it from the last listing. */
  nextId: number
  known: Array<number>
  /** The highest seq of the rows passed (emitted or below the start); undefined before the first. */
  lastSeq: number | undefined
  /** Rows with seq below this are passed over. */
  from: number
  hole: Hole | undefined
  /** The source closed cleanly: one more listing, then the end. */
  closing: boolean
}

const newFollower = (reader: WalReader, options: ChangesOptions, hooks: ChangeHooks): Follower => ({
  reader,
  hooks,
  follow: options.follow ?? true,
  pollMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
  start: options.fromSeq ?? "latest",
  started: false,
  nextId: 0,
  known: [],
  lastSeq: undefined,
  from: 0,
  hole: undefined,
  closing: false
})

const listFrom = (f: Follower, id: number) => Effect.map(f.reader.list({ start: id }), (files) => files.map((w) => w.id))

/** The rows of WAL `id` in seq order; undefined if it no longer exists. */
const readRows = (f: Follower, id: number) =>
  Stream.runCollect(f.reader.get(id).rows).pipe(
    Effect.map((rows): Array<Change> | undefined => bySeq(Array.from(rows))),
    Effect.catchIf(isNotFound, () => Effect.succeed(undefined))
  )

/** One past the highest seq WAL ids ≤ `last` can hold, if the latest manifest says (else ∞). */
const boundFor = (f: Follower, last: number) =>
  f.hooks.replayPoint === undefined
    ? Effect.succeed(Infinity)
    : Effect.map(f.hooks.replayPoint, (p) => (p !== undefined && last <= p.replayAfterWalId ? p.lastL0Seq + 1 : Infinity))

const gapError = (h: Hole, owed: number, upper: number) =>
  new ChangesGapError({
    message: `changes from seq ${owed} are no longer in the WAL (WAL SST${h.first === h.last ? ` ${h.first} is` : `s ${h.first}..${h.last} are`} gone); ` +
      `the oldest change still there is seq ${upper} (older ones are only in SSTs)`,
    fromSeq: owed,
    resumeFrom: upper,
    missingWalIds: [h.first, h.last]
  })

/** Fails if rows the stream owes may have been in the hole; `first` is the first seq after it, if known. */
const judge = (f: Follower, h: Hole, first: number | undefined): Effect.Effect<"ok" | "pending", ChangesGapError> => {
  const upper = Math.min(first ?? Infinity, h.bound)
  if (upper === Infinity) return Effect.succeed("pending")
  const owed = Math.max(h.lo, f.from)
  if (owed < upper) return Effect.fail(gapError(h, owed, upper))
  return Effect.as(Effect.logDebug(`change stream: WAL ${h.first}..${h.last} absent, no change missed`), "ok" as const)
}

/** The highest seq in the WAL SSTs `ids`, reading from the newest back to the first that holds rows. */
const newestSeq = (f: Follower, ids: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    for (let i = ids.length - 1; i >= 0; i--) {
      const rows = yield* readRows(f, ids[i]!)
      if (rows !== undefined && rows.length > 0) return rows[rows.length - 1]!.seq
    }
    return undefined
  })

/** Positions the stream at the first listing that shows a WAL; false while there is none. */
const begin = (f: Follower) =>
  Effect.gen(function*() {
    const ids = yield* listFrom(f, 0)
    if (ids.length === 0) {
      // Every WAL that appears from now on is new: "latest" becomes "earliest".
      if (f.start === "latest") f.start = "earliest"
      return false
    }
    f.started = true
    if (f.start === "latest") {
      f.lastSeq = yield* newestSeq(f, ids)
      f.from = f.lastSeq === undefined ? 0 : f.lastSeq + 1
      f.nextId = ids[ids.length - 1]! + 1
      return true
    }
    f.nextId = ids[0]!
    f.known = ids
    if (f.start === "earliest") return true
    f.from = f.start
    // WAL 1 is every database's first: without it, older WALs were collected (or this is a clone).
    if (f.nextId > 1) f.hole = { first: 1, last: f.nextId - 1, lo: 0, bound: yield* boundFor(f, f.nextId - 1) }
    else f.lastSeq = 0
    return true
  })

/** Reads WAL `nextId` (listed), judging a pending hole by its first row; the rows to emit. */
const readNext = (f: Follower) =>
  Effect.gen(function*() {
    const id = f.nextId
    f.known.shift()
    const rows = yield* readRows(f, id)
    if (rows === undefined) {
      // Deleted since it was listed: the next listing shows the hole.
      f.known = []
      return []
    }
    f.nextId = id + 1
    if (rows.length === 0) return []
    if (f.hole !== undefined) {
      yield* judge(f, f.hole, rows[0]!.seq)
      f.hole = undefined
    }
    const floor = Math.max(f.from, f.lastSeq === undefined ? 0 : f.lastSeq + 1)
    f.lastSeq = Math.max(f.lastSeq ?? 0, rows[rows.length - 1]!.seq)
    return rows[0]!.seq >= floor ? rows : rows.filter((r) => r.seq >= floor)
  })

/** WAL `nextId` is absent but `next` exists (seen by two listings): the ids between are a hole. */
const passHole = (f: Follower, next: number) =>
  Effect.gen(function*() {
    const first = f.hole?.first ?? f.nextId
    const lo = f.hole?.lo ?? (f.lastSeq === undefined ? 0 : f.lastSeq + 1)
    f.hole = { first, last: next - 1, lo, bound: yield* boundFor(f, next - 1) }
    f.nextId = next
  })

/** Nothing newer is listed: judge a bounded hole, then end (undefined) or wait. */
const idle = (f: Follower) =>
  Effect.gen(function*() {
    if (f.hole !== undefined && (yield* judge(f, f.hole, undefined)) === "ok") f.hole = undefined
    // An unbounded hole with no row after it is judged when a row follows (a later stream reports it).
    if (!f.follow || f.closing) return undefined
    const state = f.hooks.state?.()
    if (state instanceof ClosedError) return yield* state
    if (state === "closed") {
      f.closing = true
      return []
    }
    yield* Effect.sleep(Duration.millis(f.pollMs))
    return []
  })

/** One step: read one WAL, or list (and maybe wait) once. Undefined ends the stream. */
const step = (f: Follower): Effect.Effect<ReadonlyArray<Change> | undefined, DbError | ChangesGapError> =>
  Effect.gen(function*() {
    if (!f.started && !(yield* begin(f))) return yield* idle(f)
    if (f.known.length > 0 && f.known[0] === f.nextId) return yield* readNext(f)
    let ids = yield* listFrom(f, f.nextId)
    // A missing id is believed only when a second listing agrees.
    if (ids.length > 0 && ids[0] !== f.nextId) ids = yield* listFrom(f, f.nextId)
    if (ids.length > 0 && ids[0] !== f.nextId) yield* passHole(f, ids[0]!)
    f.known = ids
    return f.known.length > 0 ? [] : yield* idle(f)
  })

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
    const f = newFollower(reader, options, hooks)
    return Stream.paginate(undefined, () =>
      Effect.map(step(f), (rows) => rows === undefined ? [[], Option.none()] as const : [rows, Option.some(undefined)] as const))
  })

/** The replay point of the latest manifest at `root`. */
export const replayPointOf = (store: ObjectStore["Service"], root: string): Effect.Effect<ReplayPoint | undefined, DbError> =>
  Effect.map(makeManifestStore(store, root).readLatest, (latest) =>
    latest === undefined
      ? undefined
      : { replayAfterWalId: latest.manifest.replayAfterWalId, lastL0Seq: latest.manifest.lastL0Seq })

/** Who a stream of `changesOver` follows: its lifecycle, and how far into the WAL it may read. */
export interface ChangeSource {
  /** The source's lifecycle (`ChangeHooks.state`). */
  readonly state?: () => SourceState
  /**
   * The newest WAL id the source has seen (a `DbReader`'s last replayed WAL): WAL SSTs above it are not
   * listed until it grows, so the stream never runs ahead of what the source's reads show.
   */
  readonly lastWalId?: () => number
}

/** `reader`, listing no WAL id above `lastWalId()` (read at every listing). */
export const walReaderUpTo = (reader: WalReader, lastWalId: () => number): WalReader => ({
  ...reader,
  list: (range = {}) => {
    const end = lastWalId() + 1
    return reader.list({ start: range.start, end: range.end === undefined ? end : Math.min(range.end, end) })
  }
})

/** The changes of the database at `root` in `store`, gaps judged with its latest manifest. */
export const changesOver = (
  store: ObjectStore["Service"],
  root: string,
  options: ChangesOptions = {},
  source: ChangeSource = {}
): Stream.Stream<Change, DbError | ChangesGapError> => {
  const r = normalizeRoot(root)
  const wal = walReaderOver(store, r)
  return changesFrom(source.lastWalId === undefined ? wal : walReaderUpTo(wal, source.lastWalId), options, {
    replayPoint: replayPointOf(store, r),
    ...(source.state === undefined ? {} : { state: source.state })
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
