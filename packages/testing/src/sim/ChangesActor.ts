/**
 * The change-stream actor: consumers of the committed rows (`Db.changes` on the writer, `changes` on a
 * `DbReader`) that follow the database in the background across rounds, writer crashes and restarts,
 * compactions, collections and pauses. Two at most. A consumer reads the durable history from a seq on
 * (half of them from seq 1, so that a collected WAL stops them) through *runs*: a run is one stream on one
 * source, forked on the source's process and clock; when it ends, fails or its source goes away, the next
 * run starts on the writer or an open reader from the seq after the last one handled, as a real consumer
 * would resume.
 *
 * What it asserts (ChangeLog.ts, after every round and at every run's end): each row once, in seq order,
 * each seq's rows exactly one write's (key, value, kind), no durable write skipped; on a reader, no row
 * above the reader's seq (its stream follows the WAL as the reader sees it). How a run may end:
 * - with `ChangesGapError`: the error owes seqs from after the last one yielded (`fromSeq` above it and at
 *   or above the floor), names a seq to resume from above that, and the gap is real: a WAL SST it names
 *   was deleted (by a collector, or the *lost WAL* event). The next run starts at `resumeFrom`;
 * - at its end: only once its source closed (the writer closed cleanly, the reader closed); and a stream
 *   whose source closed must end within the liveness budget;
 * - with any other failure: only after a permanent store failure began, or on a writer that was fenced
 *   (a newer process runs).
 * A run whose writer crashed is abandoned (its process is dead; its stream can see nothing more).
 *
 * At the end, after the writer's final clean close and the readers' last reads: every run ends; then runs
 * over the bucket itself (`Changes.stream`, `follow: false`) from where each consumer is, until one ends
 * without a gap, after which it must have yielded everything up to the highest seq on the store.
 *
 * Events draw from a stream of their own (`<seed>/changes`).
 */
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { Changes } from "@shale/core"
import { ObjectStore } from "@shale/core/internal"
import { type ChangeRow, ChangeLog, HistoryIndex } from "./ChangeLog.ts"
import type { Diverged } from "./Diverged.ts"
import { describeError, errorOf } from "./Operations.ts"
import { type ReaderActor, type SimReader, storeHighSeq } from "./ReaderActor.ts"
import { toHex } from "./SimBytes.ts"
import type { SimRandom } from "./SimRandom.ts"
import { DB_PATH, onProc, type Proc, type SimWorld } from "./World.ts"
import type { WriterActor } from "./WriterActor.ts"

type Source =
  | { readonly _tag: "writer"; readonly proc: Proc }
  | { readonly _tag: "reader"; readonly reader: SimReader }
  | { readonly _tag: "bucket" }

interface Run {
  readonly source: Source
  readonly from: number
  /** Permanent store failures begun before the run started. */
  readonly fatalAtStart: number
  /** Arrays of rows yielded and not checked yet. */
  readonly pending: Array<ReadonlyArray<ChangeRow>>
  fiber: Fiber.Fiber<void> | undefined
  exit: Exit.Exit<void, unknown> | undefined
  abandoned: boolean
}

interface Consumer {
  readonly id: number
  readonly log: ChangeLog
  run: Run | undefined
}

/** What the consumers did (`SimResult.readers`). */
export interface ChangesCounts {
  consumers: number
  runs: number
  rowsYielded: number
  gapErrors: number
  /** Runs on a `DbReader`. */
  readerRuns: number
}

const MAX_CONSUMERS = 2

const sourceName = (s: Source): string => (s._tag === "writer" ? `writer p${s.proc.id}` : s._tag === "reader" ? `reader r${s.reader.id}` : "the bucket")

const toChangeRow = (c: Changes.Change): ChangeRow => ({ kind: c.kind, key: toHex(c.key), value: c.value, seq: c.seq })

export class ChangesActor {
  readonly w: SimWorld
  readonly rng: SimRandom
  readonly counts: ChangesCounts = { consumers: 0, runs: 0, rowsYielded: 0, gapErrors: 0, readerRuns: 0 }
  readonly #writer: WriterActor
  readonly #readers: ReaderActor
  readonly #enabled: boolean
  readonly #consumers: Array<Consumer> = []
  /** The writer's final close happened (`finish`). */
  #writerClosed = false

  constructor(fields: { w: SimWorld; writer: WriterActor; readers: ReaderActor; rng: SimRandom; enabled: boolean }) {
    this.w = fields.w
    this.rng = fields.rng
    this.#writer = fields.writer
    this.#readers = fields.readers
    this.#enabled = fields.enabled
  }

  /** Before a round: runs that ended are judged, consumers without one get one; then maybe an event. */
  get beforeRound(): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const rates = this.w.profile.readers
      if (!this.#enabled || rates === undefined || this.w.phase !== "normal") return false
      for (const c of this.#consumers) yield* this.#housekeep(c)
      const roll = this.rng.next()
      if (roll < rates.consumer) {
        if (this.#consumers.length >= MAX_CONSUMERS) return false
        yield* this.#newConsumer
      } else if (roll < rates.consumer + rates.consumerSwitch && this.#consumers.length > 0) {
        const c = this.rng.pick(this.#consumers)
        if (c.run !== undefined) yield* this.#abandon(c, "moves to another source")
        yield* this.#start(c)
      } else return false
      this.w.opIndex++
      return true
    })
  }

  /** After a round: every row yielded meanwhile is checked. */
  get afterRound(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      for (const c of this.#consumers) yield* this.#check(c)
    })
  }

  get #newConsumer(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const fromOld = this.rng.chance(0.5)
      const from = fromOld ? 1 : (yield* onProc(this.#writer.proc, this.#writer.proc.db.status)).durableSeq + 1
      const c: Consumer = { id: this.counts.consumers + 1, log: new ChangeLog(from), run: undefined }
      this.#consumers.push(c)
      this.counts.consumers++
      w.event("changesConsumer")
      w.trace.line(`#${w.opIndex} consumer c${c.id} starts from seq ${from} @${yield* w.now}`)
      yield* this.#start(c)
    })
  }

  /** Starts a run of `c` on the writer or an open reader (`source`: forced). */
  #start(c: Consumer, forced?: Source): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const readers = this.#readers.readers
      const source: Source = forced ??
        (readers.length > 0 && this.rng.chance(0.5)
          ? { _tag: "reader", reader: this.rng.pick(readers) }
          : { _tag: "writer", proc: this.#writer.proc })
      const from = c.log.next
      const pollIntervalMs = this.rng.pick([200, 1000])
      const run: Run = { source, from, fatalAtStart: w.events["fatal"] ?? 0, pending: [], fiber: undefined, exit: undefined, abandoned: false }
      const stream = source._tag === "writer"
        ? source.proc.db.changes({ fromSeq: from, pollIntervalMs })
        : source._tag === "reader"
        ? source.reader.handle.changes({ fromSeq: from, ...(this.rng.chance(0.5) ? { pollIntervalMs } : {}) })
        : Stream.provideService(Changes.stream({ root: DB_PATH, fromSeq: from, follow: false }), ObjectStore, w.injector.inner)
      const consume = Stream.runForEachArray(stream, (rows) =>
        Effect.sync(() => {
          if (!run.abandoned) run.pending.push(rows.map(toChangeRow))
        }))
      const proc = source._tag === "writer" ? source.proc : source._tag === "reader" ? source.reader : { clock: w.clock.clock }
      run.fiber = yield* Effect.forkDetach(Effect.flatMap(Effect.exit(onProc(proc, consume)), (exit) => Effect.sync(() => void (run.exit = exit))))
      c.run = run
      this.counts.runs++
      if (source._tag === "reader") this.counts.readerRuns++
      w.trace.line(`#${w.opIndex} consumer c${c.id} runs on ${sourceName(source)} from seq ${from} @${yield* w.now}`)
    })
  }

  /** Checks the rows `c`'s run yielded since the last check. */
  #check(c: Consumer): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const run = c.run
      if (run === undefined || run.pending.length === 0) return
      const index = new HistoryIndex(this.w.model.history)
      // A reader's stream never runs ahead of the reader (its seq only grows: checked now, it bounds them all).
      const bound = run.source._tag === "reader" ? run.source.reader.handle.seq : Infinity
      for (const rows of run.pending.splice(0)) {
        const ahead = rows.find((r) => r.seq > bound)
        if (ahead !== undefined) {
          return yield* this.w.diverge(`consumer c${c.id} on ${sourceName(run.source)} yielded seq ${ahead.seq}; the reader holds seqs up to ${bound}`)
        }
        const problem = c.log.add(rows, index)
        this.counts.rowsYielded += rows.length
        if (problem !== undefined) return yield* this.w.diverge(`consumer c${c.id} on ${sourceName(run.source)}: ${problem}`)
      }
    })
  }

  /** Stops `c`'s run (its rows so far checked first). */
  #abandon(c: Consumer, why: string): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const run = c.run!
      yield* this.#check(c)
      run.abandoned = true
      if (run.exit === undefined) yield* this.w.settle(Fiber.interrupt(run.fiber!), `interrupting consumer c${c.id}`)
      c.run = undefined
      this.w.trace.line(`#${this.w.opIndex} consumer c${c.id} leaves ${sourceName(run.source)} (${why}) after seq ${c.log.lastSeq ?? "-"}`)
    })
  }

  /** Whether `run`'s source has gone away: the writer replaced (closed, crashed or fenced), the reader closed. */
  #sourceGone(run: Run): boolean {
    const s = run.source
    return s._tag === "writer" ? s.proc !== this.#writer.proc || this.#writerClosed : s._tag === "reader" ? s.reader.closed : false
  }

  /** A run that ended is judged; one whose source went away must end (or, on a dead process, is abandoned). */
  #housekeep(c: Consumer): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const run = c.run
      if (run === undefined) return yield* this.#start(c)
      if (run.exit === undefined && this.#sourceGone(run)) {
        const s = run.source
        if (s._tag === "writer" && !s.proc.view.isAlive()) return yield* this.#abandon(c, `p${s.proc.id} died`)
        // A closed source: its stream ends at its next listing (once it has read what it listed).
        if ((yield* this.w.drive(() => run.exit !== undefined, 10)) === "stuck") {
          return yield* this.w.diverge(`consumer c${c.id}: its stream on ${sourceName(s)} did not end after the source closed`)
        }
      }
      if (run.exit === undefined) return
      yield* this.#ended(c, run, run.exit)
      c.run = undefined
      if (this.w.phase === "normal") yield* this.#start(c)
    })
  }

  /** How a run ended (see the module comment). */
  #ended(c: Consumer, run: Run, exit: Exit.Exit<void, unknown>): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      yield* this.#check(c)
      const what = `consumer c${c.id} on ${sourceName(run.source)} (from seq ${run.from}, last ${c.log.lastSeq ?? "-"})`
      if (Exit.isSuccess(exit)) {
        if (run.source._tag !== "bucket" && !this.#sourceGone(run)) return yield* w.diverge(`${what}: the stream ended while its source is open`)
        w.trace.line(`#${w.opIndex} ${what} ended @${yield* w.now}`)
        return
      }
      const e = errorOf(exit) as { _tag?: string; fromSeq?: number; resumeFrom?: number; missingWalIds?: [number, number] } | undefined
      if (e?._tag === "ChangesGapError") return yield* this.#gap(c, what, e as Required<typeof e>)
      const fatal = (w.events["fatal"] ?? 0) > run.fatalAtStart
      const fenced = run.source._tag === "writer" && run.source.proc !== this.#writer.proc
      if (!fatal && !fenced) return yield* w.diverge(`${what} failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`)
      w.trace.line(`#${w.opIndex} ${what} failed (legal: ${fatal ? "the store failed for good" : "a newer writer runs"}): ${describeError(exit.cause)}`)
    })
  }

  /** A `ChangesGapError`: it must be about seqs not yielded, and real; the consumer resumes where it says. */
  #gap(c: Consumer, what: string, e: { fromSeq: number; resumeFrom: number; missingWalIds: [number, number] }): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      const [first, last] = e.missingWalIds
      const gone = Array.from({ length: last - first + 1 }, (_, i) => first + i).filter((id) => w.ledger.walsDeleted.has(id))
      const problems: Array<string> = []
      if (e.fromSeq < c.log.next) problems.push(`it owes seqs from ${e.fromSeq}, below the next one it had to yield (${c.log.next})`)
      if (!(e.resumeFrom > e.fromSeq)) problems.push(`it resumes from seq ${e.resumeFrom}, not above ${e.fromSeq}`)
      if (gone.length === 0) problems.push(`none of WAL SSTs ${first}..${last} was ever deleted`)
      if (problems.length > 0) return yield* w.diverge(`${what}: a ChangesGapError ${JSON.stringify(e)}, but ${problems.join("; ")}`)
      c.log.floor = e.resumeFrom
      this.counts.gapErrors++
      w.event("changesGap")
      w.trace.line(`#${w.opIndex} ${what}: gap (WAL ${first}..${last}, ${gone.length} deleted), seqs ${e.fromSeq}..${e.resumeFrom - 1} lost; resumes @${yield* w.now}`)
    })
  }

  /** At the end (see the module comment): the writer closed, the readers closed. */
  get finish(): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const w = this.w
      if (!this.#enabled || this.#consumers.length === 0) return
      this.#writerClosed = true
      const high = yield* Effect.orDie(storeHighSeq(w.injector.inner))
      for (const c of this.#consumers) {
        if (c.run !== undefined) yield* this.#endRun(c, c.run)
        // Runs over the bucket until one ends without a gap (each gap moves the consumer forward).
        for (let gaps = -1; c.log.next <= high && gaps !== this.counts.gapErrors;) {
          gaps = this.counts.gapErrors
          yield* this.#start(c, { _tag: "bucket" })
          yield* this.#endRun(c, c.run!)
        }
        if (c.log.next <= high) {
          return yield* w.diverge(`consumer c${c.id} yielded up to seq ${c.log.lastSeq ?? "-"}; the store holds seqs up to ${high}`)
        }
      }
    })
  }

  /** Waits for `run` to end (abandoning it on a dead writer) and judges it. */
  #endRun(c: Consumer, run: Run): Effect.Effect<void, Diverged> {
    return Effect.gen({ self: this }, function*() {
      const s = run.source
      if (s._tag === "writer" && !s.proc.view.isAlive()) return yield* this.#abandon(c, `p${s.proc.id} died`)
      if ((yield* this.w.drive(() => run.exit !== undefined, 10)) === "stuck") {
        return yield* this.w.diverge(`consumer c${c.id}: its stream on ${sourceName(s)} did not end at the end of the run`)
      }
      yield* this.#ended(c, run, run.exit!)
      c.run = undefined
    })
  }
}
