/**
 * The `DbReader` actor: readers that follow the writer (`DbReader.open`, SlateDB's `DbReader`), each a
 * process of its own (its view of the bucket with its own store faults, behind the engine's retrying
 * wrapper, and its view of the clock), with a short poll interval under the `TestClock`. They open, read
 * at random times, close and reopen, across the writer's crashes, reopens and fencings, compactions,
 * collections and pauses that the other actors run. One at a time (each costs its polls).
 *
 * What a reader must show (the model's history, `Model.history`, frozen per read with
 * `Model.freeze("history")`):
 * - every read equals the state at some committed seq S — base plus the committed writes up to S of the
 *   incarnation S falls in (Frozen.ts) — where S lies between the seq the reader reported before the read
 *   and the one after it (a poll may replay more while a read runs; a scan reads one snapshot);
 * - S, and the reader's `seq`, never go down for one reader;
 * - the reader's `seq` is never beyond what was made durable: the highest seq on the store (the newest WAL
 *   SST that holds rows, the latest manifest's `last_l0_seq`);
 * - at the end, once the writer closed cleanly, every reader catches up (its `seq` reaches the highest
 *   seq on the store within the liveness budget) and a whole scan shows exactly that state.
 *
 * Failures: a read that fails with a missing object (`DataError`) is legal only when the reader replaced
 * its checkpoint while the read ran (the read used the previous version, no longer pinned: the collector's
 * minimum age covers that in production, and the simulation draws minimum ages down to 0) or its
 * checkpoint had expired when the read started (the whole world slept through its lifetime). Any other
 * failure, of an open, a read or a close, is a divergence.
 *
 * Events draw from a stream of their own (`<seed>/readers`), so the other streams of a seed stay put.
 */
import { Cause, type Clock, Effect, Exit, Scope, Stream } from "effect"
import { DbReader, WalReader } from "@shale/core"
import { decodeManifest, manifestDir, manifestPath, ObjectStore, parseManifestId } from "@shale/core/internal"
import type { Diverged } from "./Diverged.ts"
import { describeError, toRows } from "./Operations.ts"
import { makeProcessFaults, SharedFaults } from "./ProcessFaults.ts"
import { checkViewRead, describeViewRead, drawViewReads, isMissingObject, runViewRead, type ViewRead, wholeScan } from "./Readers.ts"
import type { SimRandom } from "./SimRandom.ts"
import { makeProcessStore, type ProcessStore } from "./SimStore.ts"
import { rowsDigest } from "./TraceHash.ts"
import { DB_PATH, onProc, type SimWorld } from "./World.ts"

/** An open `DbReader` of the simulation. */
export interface SimReader {
  readonly id: number
  readonly handle: DbReader.DbReaderHandle
  readonly scope: Scope.Closeable
  readonly clock: Clock.Clock
  readonly view: ProcessStore
  /** The highest `seq` it reported, and the highest state S a read matched. */
  lastSeq: number
  lastState: number
  /** Closed by the simulation (a change stream on it then ends). */
  closed: boolean
}

/** What the readers did (`SimResult.readers`). */
export interface ReaderCounts {
  opened: number
  reads: number
  /** Reads that failed legitimately (a missing object after a checkpoint replacement or expiry). */
  readsMissed: number
  closed: number
  /** Polls the readers ran, failed polls, checkpoints they replaced (summed when they close). */
  polls: number
  pollErrors: number
  checkpointsReplaced: number
}

const MAX_READERS = 1

const readerName = (r: { readonly id: number }): string => `r${r.id}`

/** The highest seq on the store: the newest WAL SST that holds rows, and the latest manifest's `last_l0_seq`. */
export const storeHighSeq = (store: ObjectStore["Service"]): Effect.Effect<number, unknown> =>
  Effect.gen(function*() {
    let high = 0
    const manifests = yield* Stream.runCollect(store.list(manifestDir(DB_PATH)))
    const latest = Math.max(0, ...Array.from(manifests, (o) => parseManifestId(o.path) ?? 0))
    if (latest > 0) high = decodeManifest(yield* store.get(manifestPath(DB_PATH, latest))).lastL0Seq
    const wals = yield* WalReader.walReaderOver(store, DB_PATH).list()
    for (let i = wals.length - 1; i >= 0; i--) {
      const rows = yield* Stream.runCollect(wals[i]!.rows)
      if (rows.length > 0) return Math.max(high, ...Array.from(rows, (r) => r.seq))
    }
    return high
  })

export class ReaderActor {
  readonly w: SimWorld
  readonly rng: SimRandom
  readonly readers: Array<SimReader> = []
  readonly counts: ReaderCounts = { opened: 0, reads: 0, readsMissed: 0, closed: 0, polls: 0, pollErrors: 0, checkpointsReplaced: 0 }
  readonly #shared: SharedFaults
  readonly #enabled: boolean
  #counter = 0

  constructor(fields: { w: SimWorld; rng: SimRandom; enabled: boolean }) {
    this.w = fields.w
    this.rng = fields.rng
    this.#enabled = fields.enabled
    this.#shared = new SharedFaults(`${fields.w.seed}/dbreader-store`, fields.w.profile.store)
  }

  /** Every object the readers' puts landed (manifest versions with their checkpoints). */
  get landed(): ReadonlySet<string> {
    return this.#shared.landed
  }

  /** The permanent store failure applies to reader processes too (undefined: it ends). */
  storeFailure(failAfter: number | undefined): Effect.Effect<void> {
    return Effect.sync(() => this.#shared.failAfter(failAfter))
  }

  /** Before a round: maybe one event. True when one ran (it took an operation index). */
  get beforeRound(): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const rates = this.w.profile.readers
      if (!this.#enabled || rates === undefined || this.w.phase !== "normal") return false
      const roll = this.rng.next()
      let edge = rates.open
      if (roll < edge) {
        if (this.readers.length >= MAX_READERS) return false
        yield* this.#open
      } else if (roll < (edge += rates.read) && this.readers.length > 0) {
        const r = this.rng.pick(this.readers)
        for (const read of drawViewReads(this.rng, this.w.workload.config.keys)) yield* this.#read(r, read)
      } else if (roll < (edge += rates.close) && this.readers.length > 0) {
        yield* this.#close(this.rng.pick(this.readers))
      } else return false
      this.w.opIndex++
      return true
    })
  }

  /** Opens a reader, checks its seq and reads it whole. */
  get #open(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const id = ++this.#counter
      const view = makeProcessStore(makeProcessFaults(w.injector.inner, this.#shared).store)
      const clock = view.clock(w.clock.clock)
      const scope = yield* Scope.make()
      const pollMs = rng.pick([100, 500, 2000])
      const open = DbReader.open({
        root: DB_PATH,
        mergeOperator: w.mergeOperator,
        // Longer than any pause of the world (10 minutes), so that a reader's refresh keeps it alive.
        options: { manifestPollIntervalMs: pollMs, checkpointLifetimeMs: rng.pick([30, 60]) * 60_000 },
        settings: { blockCacheBytes: rng.pick([0, 64 * 1024]) }
      }).pipe(Effect.provideService(ObjectStore, view.store), Effect.provideService(Scope.Scope, scope))
      const opened = yield* w.settle(onProc({ clock }, open), `opening reader r${id}`)
      if (Exit.isFailure(opened)) {
        return yield* w.diverge(`opening reader r${id} failed: ${describeError(opened.cause)}\n${Cause.pretty(opened.cause)}`)
      }
      const r: SimReader = { id, handle: opened.value, scope, clock, view, lastSeq: 0, lastState: 0, closed: false }
      this.readers.push(r)
      this.counts.opened++
      w.event("readerOpen")
      w.trace.line(`#${w.opIndex} ${readerName(r)} opens (poll ${pollMs} ms): manifest ${r.handle.manifestId}, seq ${r.handle.seq} @${yield* w.now}`)
      yield* this.#read(r, wholeScan("asc"))
    })
  }

  /** Closes `r` (its checkpoint is removed); it leaves the actor. */
  #close(r: SimReader): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const st = yield* r.handle.status
      const exit = yield* w.settle(onProc(r, Scope.close(r.scope, Exit.void)), `closing reader ${readerName(r)}`)
      if (Exit.isFailure(exit)) return yield* w.diverge(`closing reader ${readerName(r)} failed: ${describeError(exit.cause)}`)
      // Its process lives on (a change stream on it still runs to its end), with nothing else to do.
      r.closed = true
      this.readers.splice(this.readers.indexOf(r), 1)
      this.counts.closed++
      this.counts.polls += st.polls
      this.counts.pollErrors += st.pollErrors
      this.counts.checkpointsReplaced += st.checkpointsReplaced
      w.trace.line(`#${w.opIndex} ${readerName(r)} closes at seq ${r.handle.seq} (${st.polls} polls, ${st.pollErrors} failed) @${yield* w.now}`)
    })
  }

  /** The reader's seq now: never down, never beyond the store's highest. */
  #checkSeq(r: SimReader, what: string): Effect.Effect<number, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const p = r.handle.seq
      if (p < r.lastSeq) return yield* w.diverge(`${what}: reader ${readerName(r)}'s seq went down from ${r.lastSeq} to ${p}`)
      r.lastSeq = p
      const high = yield* Effect.orDie(storeHighSeq(w.injector.inner))
      if (p > high) return yield* w.diverge(`${what}: reader ${readerName(r)} holds seqs up to ${p}; the store holds none above ${high}`)
      return p
    })
  }

  /** One read through `r`, checked (see the module comment). */
  #read(r: SimReader, read: ViewRead): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const what = `${readerName(r)}: ${describeViewRead(read)}`
      const p0 = yield* this.#checkSeq(r, what)
      const before = yield* r.handle.status
      const expired = before.checkpointExpireTimeS !== undefined && before.checkpointExpireTimeS * 1000 <= (yield* onProc(r, w.now))
      const invokedAt = w.model.tick()
      const exit = yield* w.settle(onProc(r, runViewRead(r.handle, read)), what)
      const respondedAt = w.model.tick()
      this.counts.reads++
      if (Exit.isFailure(exit)) {
        const replaced = (yield* r.handle.status).checkpointsReplaced !== before.checkpointsReplaced
        if (!isMissingObject(exit) || !(replaced || expired)) {
          return yield* w.diverge(`${what} failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`)
        }
        this.counts.readsMissed++
        w.trace.line(`#${w.opIndex} ${what} failed (legal: its checkpoint was ${replaced ? "replaced" : "expired"}): ${describeError(exit.cause)}`)
        return
      }
      const p1 = yield* this.#checkSeq(r, what)
      const rows = toRows(exit.value)
      const frozen = w.model.freeze("history", invokedAt, respondedAt)
      let first: string | undefined
      for (const p of frozen.statesIn(p0, p1)) {
        const problem = frozen.windowProblem(p)
        const verdict = problem === undefined ? checkViewRead(frozen, read, rows, p, what) : { ok: false as const, message: problem }
        if (verdict.ok) {
          if (p < r.lastState) return yield* w.diverge(`${what} showed the state at seq ${p}, older than an earlier read's (${r.lastState})`)
          r.lastState = p
          w.trace.line(`#${w.opIndex} ${what} -> ${rows.length} rows #${rowsDigest(rows)} at seq ${p} @${yield* w.now}`)
          return
        }
        first ??= verdict.message
      }
      return yield* w.diverge(`${what} (seq ${p0}..${p1}) matches no committed state in that range: ${first}`)
    })
  }

  /**
   * At the end, after the writer's final clean close: every reader catches up with the store's highest seq
   * and shows exactly that state; then it closes. Before the final garbage collection (readers write
   * manifest versions).
   */
  get finish(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      if (this.readers.length === 0) return
      const high = yield* Effect.orDie(storeHighSeq(w.injector.inner))
      for (const r of [...this.readers]) {
        const outcome = yield* w.drive(() => r.handle.seq >= high, 10)
        if (outcome === "stuck") {
          return yield* w.diverge(`reader ${readerName(r)} did not catch up with seq ${high} within ${w.budgetMs} ms (it holds ${r.handle.seq})`)
        }
        yield* this.#read(r, wholeScan("desc"))
        yield* this.#close(r)
      }
    })
  }
}
