/**
 * The snapshots-and-transactions actor: between rounds, on the writer's current process,
 *
 * - a *transaction event*: 1–3 transactions (each `snapshot` or `serializable`) begin together, scan a
 *   small range, read keys, sometimes mark a key read, while plain puts interleave with them; then each
 *   writes up to three keys (puts with values unique to the event, deletes, merges `|txn#…`), sometimes
 *   unmarks one (`unmarkWrite`) and reads one back (its own version), and they commit in a random order
 *   (awaiting durability or not), some rolled back instead; those that wrote nothing commit read-only;
 * - a *snapshot* opened and held across rounds (at most two; writes, flushes, compactions and garbage
 *   collection run meanwhile), read later (a key or the whole key space), released later;
 *
 * and TxnChecks.ts checks every answer against the model: reads at the snapshot's seq, and for each
 * committed transaction the write-write and (serializable) read-write rules over the writes the model
 * saw commit meanwhile. A commit that fails with `TransactionError` wrote nothing (the model forgets it);
 * any other failure (store faults close the database) leaves its write uncertain, as any write's. A
 * snapshot of an earlier process (crashed, reopened) is dropped.
 *
 * Events draw from a stream of their own (`<seed>/txns`).
 */
import { Effect, Exit, Scope, Stream } from "effect"
import { type KeyValue, type Snapshot, type Transaction, TransactionError } from "@shale/core/internal"
import type { Diverged } from "./Diverged.ts"
import { describeError, foldEntries, rangeShape, toRows } from "./Operations.ts"
import { fromHex, showBytes, toHex, utf8 } from "./SimBytes.ts"
import type { SimRandom } from "./SimRandom.ts"
import { rowsDigest } from "./TraceHash.ts"
import { checkCommitted, checkOwnRead, checkReadAt, checkReadOnlyCommit, checkScanAt, type TxnRecord } from "./TxnChecks.ts"
import { onProc, type Proc, type SimWorld } from "./World.ts"
import type { WriterActor } from "./WriterActor.ts"

/** Per round: the chance of each event. */
const RATES = { txn: 0.05, snapshotOpen: 0.03, snapshotRead: 0.06, snapshotRelease: 0.01 }
const MAX_SNAPSHOTS = 2

export interface TxnCounts {
  txnEvents: number
  committed: number
  conflicts: number
  rolledBack: number
  failed: number
  commitChecks: number
  commitChecksSkipped: number
  snapshots: number
  snapshotReads: number
  /** Reads of a key the transaction wrote itself. */
  ownReads: number
  /** Read-only commits checked (TxnChecks.ts `checkReadOnlyCommit`). */
  readOnlyChecks: number
}

interface Held {
  readonly name: string
  readonly proc: Proc
  readonly scope: Scope.Closeable
  readonly snapshot: Snapshot
}

interface Live {
  readonly t: TxnRecord
  readonly txn: Transaction
  readonly scope: Scope.Closeable
}

/** The event stops (quietly) at the first failure that is not a wrong answer: a fault closed the database. */
class Stop {
  readonly why: string
  constructor(why: string) {
    this.why = why
  }
}

export class TxnActor {
  readonly w: SimWorld
  readonly writer: WriterActor
  readonly rng: SimRandom
  readonly held: Array<Held> = []
  readonly counts: TxnCounts = {
    txnEvents: 0,
    committed: 0,
    conflicts: 0,
    rolledBack: 0,
    failed: 0,
    commitChecks: 0,
    commitChecksSkipped: 0,
    snapshots: 0,
    snapshotReads: 0,
    ownReads: 0,
    readOnlyChecks: 0
  }

  constructor(fields: { w: SimWorld; writer: WriterActor; rng: SimRandom }) {
    this.w = fields.w
    this.writer = fields.writer
    this.rng = fields.rng
  }

  /** Before a round: maybe one event. True when one ran (it took an operation index). */
  get beforeRound(): Effect.Effect<boolean, Diverged> {
    return Effect.gen({ self: this }, function*() {
      if (this.w.phase !== "normal") return false
      yield* this.#dropStale
      const roll = this.rng.next()
      let edge = RATES.txn
      let ran: Effect.Effect<void, Diverged | Stop>
      if (roll < edge) ran = this.#txnEvent
      else if (roll < (edge += RATES.snapshotOpen) && this.held.length < MAX_SNAPSHOTS) ran = this.#openSnapshot
      else if (roll < (edge += RATES.snapshotRead) && this.held.length > 0) ran = this.#readSnapshot(this.rng.pick(this.held))
      else if (roll < (edge += RATES.snapshotRelease) && this.held.length > 0) ran = this.#release(this.held[0]!)
      else return false
      const op = this.w.opIndex
      yield* Effect.catch(ran, (e) =>
        e instanceof Stop
          ? Effect.map(this.w.now, (now) => this.w.trace.line(`#${op} txn event stopped: ${e.why} @${now}`))
          : Effect.fail(e))
      this.w.opIndex++
      return true
    })
  }

  /** At the end: held snapshots are released. */
  get finish(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      for (const h of this.held.splice(0)) yield* Effect.exit(onProc(h.proc, Scope.close(h.scope, Exit.void)))
    })
  }

  /** Snapshots of a process that is gone cannot be read (nor released: it was abandoned). */
  get #dropStale(): Effect.Effect<void> {
    return Effect.sync(() => {
      for (let i = this.held.length - 1; i >= 0; i--) if (this.held[i]!.proc !== this.writer.proc) this.held.splice(i, 1)
    })
  }

  /** Runs `effect` on `p`, settled; a failure that is no wrong answer stops the event. */
  #run<A, E>(p: Proc, effect: Effect.Effect<A, E>, what: string): Effect.Effect<Exit.Exit<A, E>, Diverged> {
    return this.w.settle(onProc(p, effect), what)
  }

  #ok<A, E>(exit: Exit.Exit<A, E>, what: string): Effect.Effect<A, Stop> {
    return Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.fail(new Stop(`${what} failed: ${describeError(exit.cause)}`))
  }

  #check(verdict: { readonly ok: true } | { readonly ok: false; readonly message: string }): Effect.Effect<void, Diverged> {
    return this.w.check(verdict, this.w.opIndex)
  }

  get #openSnapshot(): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w } = this
      const p = this.writer.proc
      const scope = yield* Scope.make()
      const floor = w.model.lastAnsweredSeq
      const snapshot = yield* this.#ok(yield* this.#run(p, Scope.provide(p.db.snapshot(), scope), "snapshot"), "snapshot")
      if (snapshot.seq < floor) return yield* w.diverge(`a snapshot opened at seq ${snapshot.seq}, below seq ${floor} already answered`)
      const h: Held = { name: `snap#${w.opIndex}`, proc: p, scope, snapshot }
      this.held.push(h)
      this.counts.snapshots++
      w.event("snapshot")
      w.trace.line(`#${w.opIndex} ${h.name} opens at seq ${snapshot.seq} @${yield* w.now}`)
    })
  }

  #readSnapshot(h: Held): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const whole = rng.chance(0.6)
      const key = rng.pick(w.workload.config.keys)
      const what = `${h.name} (seq ${h.snapshot.seq}) ${whole ? "scan" : `get ${toHex(key)}`}`
      const read = whole
        ? Stream.runCollect(h.snapshot.scan({}))
        : Effect.map(h.snapshot.getKeyValue(key), (kv): Array<KeyValue> => (kv === undefined ? [] : [kv]))
      const rows = toRows(yield* this.#ok(yield* this.#run(h.proc, read, what), what))
      const at = w.model.tick()
      yield* this.#check(whole
        ? checkScanAt(w.model, { contains: () => true, rows }, "asc", h.snapshot.seq, at, what)
        : checkReadAt(w.model, toHex(key), rows[0], h.snapshot.seq, at, what))
      this.counts.snapshotReads++
      w.trace.line(`#${w.opIndex} ${what} -> ${rows.length} rows #${rowsDigest(rows)} @${yield* w.now}`)
    })
  }

  #release(h: Held): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      this.held.splice(this.held.indexOf(h), 1)
      yield* this.#run(h.proc, Scope.close(h.scope, Exit.void), `releasing ${h.name}`)
      this.w.trace.line(`#${this.w.opIndex} ${h.name} released @${yield* this.w.now}`)
    })
  }

  /** A transaction event (see the module comment). */
  get #txnEvent(): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const p = this.writer.proc
      const op = w.opIndex
      this.counts.txnEvents++
      w.event("txn")
      const live: Array<Live> = []
      const scopes: Array<Scope.Closeable> = []
      const body = Effect.gen({ self: this }, function*() {
        const n = rng.int(1, 3)
        for (let i = 0; i < n; i++) live.push(yield* this.#begin(p, `txn#${op}.${i}`, scopes))
        for (const l of live) yield* this.#reads(p, l)
        if (rng.chance(0.5)) yield* this.#plainPut(p, op)
        for (const l of live) yield* this.#writes(p, l, op)
        if (rng.chance(0.5)) yield* this.#plainPut(p, op)
        const order = [...live]
        for (let i = order.length - 1; i > 0; i--) {
          const j = rng.int(0, i)
          ;[order[i], order[j]] = [order[j]!, order[i]!]
        }
        for (const l of order) yield* this.#finishTxn(p, l)
      })
      const exit = yield* Effect.exit(body)
      for (const s of scopes) yield* Effect.exit(onProc(p, Scope.close(s, Exit.void)))
      if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
    })
  }

  #begin(p: Proc, name: string, scopes: Array<Scope.Closeable>): Effect.Effect<Live, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const isolation = rng.chance(0.5) ? "serializable" as const : "snapshot" as const
      const scope = yield* Scope.make()
      scopes.push(scope)
      const floor = w.model.lastAnsweredSeq
      const beganAt = w.model.tick()
      const txn = yield* this.#ok(yield* this.#run(p, Scope.provide(p.db.begin({ isolation }), scope), `begin ${name}`), `begin ${name}`)
      if (txn.seq < floor) return yield* w.diverge(`${name} began at seq ${txn.seq}, below seq ${floor} already answered`)
      const t: TxnRecord = {
        name,
        isolation,
        startSeq: txn.seq,
        beganAt,
        readKeys: new Set(),
        ranges: [],
        writes: new Map(),
        ops: [],
        untracked: new Set()
      }
      w.trace.line(`#${w.opIndex} ${name} begins (${isolation}) at seq ${txn.seq} @${yield* w.now}`)
      return { t, txn, scope }
    })
  }

  /** A scan of a small range, then one or two gets (and sometimes a key marked read); all checked at the start seq. */
  #reads(p: Proc, { t, txn }: Live): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const keys = w.workload.config.keys
      if (rng.chance(0.6)) {
        const [a, b] = [rng.pick(keys), rng.pick(keys)].sort((x, y) => (toHex(x) < toHex(y) ? -1 : 1))
        const range = { start: a!, end: b!, endInclusive: true }
        const what = `${t.name} scan ${toHex(a!)}..${toHex(b!)}`
        const rows = toRows(yield* this.#ok(yield* this.#run(p, Stream.runCollect(txn.scan(range)), what), what))
        yield* this.#check(checkScanAt(w.model, { contains: rangeShape(range, "asc", undefined).contains, rows }, "asc", t.startSeq, w.model.tick(), what))
        if (t.isolation === "serializable" && rows.length > 0) t.ranges.push([rows[0]!.key, rows.at(-1)!.key])
        w.trace.line(`#${w.opIndex} ${what} -> ${rows.length} rows #${rowsDigest(rows)}`)
      }
      for (let i = rng.int(1, 2); i > 0; i--) {
        const key = rng.pick(keys)
        const what = `${t.name} get ${toHex(key)}`
        const kv = yield* this.#ok(yield* this.#run(p, txn.getKeyValue(key), what), what)
        const row = kv === undefined ? undefined : toRows([kv])[0]
        yield* this.#check(checkReadAt(w.model, toHex(key), row, t.startSeq, w.model.tick(), what))
        if (t.isolation === "serializable") t.readKeys.add(toHex(key))
        w.trace.line(`#${w.opIndex} ${what} -> ${row === undefined ? "absent" : `seq ${row.seq}`}`)
      }
      if (rng.chance(0.2)) {
        const key = rng.pick(keys)
        yield* this.#ok(yield* this.#run(p, txn.markRead([key]), `${t.name} markRead`), `${t.name} markRead`)
        t.readKeys.add(toHex(key))
      }
    })
  }

  /** Puts, deletes and merges (0–3), sometimes a key unmarked (`unmarkWrite`), sometimes a key it wrote read back. */
  #writes(p: Proc, { t, txn }: Live, op: number): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { rng } = this
      const keys = this.w.workload.config.keys
      for (let i = rng.int(0, 3); i > 0; i--) {
        const key = rng.pick(keys)
        const hk = toHex(key)
        const roll = rng.next()
        const kind = roll < 0.2 ? "delete" as const : roll < 0.5 ? "merge" as const : "put" as const
        const value = kind === "delete" ? undefined : utf8(kind === "merge" ? `|${t.name}-${i}` : `${t.name}-${i}@${op}`)
        const write = kind === "delete" ? txn.delete(key) : kind === "merge" ? txn.merge(key, value!) : txn.put(key, value!)
        yield* this.#ok(yield* this.#run(p, write, `${t.name} ${kind}`), `${t.name} ${kind}`)
        t.ops.push({ key, kind, value })
        const own = t.writes.get(hk)
        if (kind !== "merge") t.writes.set(hk, { base: { value }, operands: [] })
        else if (own === undefined) t.writes.set(hk, { base: "snapshot", operands: [value!] })
        else own.operands.push(value!)
      }
      if (t.writes.size > 0 && rng.chance(0.15)) {
        const key = rng.pick([...t.writes.keys()])
        yield* this.#ok(yield* this.#run(p, txn.unmarkWrite([fromHex(key)]), `${t.name} unmarkWrite`), `${t.name} unmarkWrite`)
        t.untracked.add(key)
      }
      if (t.writes.size > 0 && rng.chance(0.5)) yield* this.#ownRead(p, t, txn)
    })
  }

  /** Reads back a key the transaction wrote: its own version (TxnChecks.ts `checkOwnRead`). */
  #ownRead(p: Proc, t: TxnRecord, txn: Transaction): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w } = this
      const key = this.rng.pick([...t.writes.keys()])
      const what = `${t.name} get ${key} (own write)`
      const kv = yield* this.#ok(yield* this.#run(p, txn.getKeyValue(fromHex(key)), what), what)
      const row = kv === undefined ? undefined : toRows([kv])[0]
      yield* this.#check(checkOwnRead(w.model, key, t.writes.get(key)!, row, t.startSeq, w.model.tick(), what))
      this.counts.ownReads++
      if (t.isolation === "serializable") t.readKeys.add(key) // every get of a serializable transaction is tracked
      w.trace.line(`#${w.opIndex} ${what} -> ${row === undefined ? "absent" : showBytes(row.value)}`)
    })
  }

  /** A plain put between the transactions' steps, through the model like the workload's. */
  #plainPut(p: Proc, op: number): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      const key = rng.pick(w.workload.config.keys)
      const value = new TextEncoder().encode(`plain@${op}-${w.model.tick()}`)
      const record = w.model.beginWrite(op, new Map([[toHex(key), value]]), false)
      const exit = yield* this.#run(p, p.db.put(key, value, { awaitDurable: false }), `plain put ${toHex(key)}`)
      const at = w.model.tick()
      if (Exit.isFailure(exit)) {
        w.model.failWrite(record, at)
        return yield* this.#ok(exit, "plain put")
      }
      yield* this.#check(w.model.completeWrite(record, exit.value.seq, at, exit.value.createTs))
      w.trace.line(`#${w.opIndex} plain put ${toHex(key)} -> seq ${exit.value.seq}`)
    })
  }

  /** Commit (or, one time in five, roll back) and check. */
  #finishTxn(p: Proc, { t, txn }: Live): Effect.Effect<void, Diverged | Stop> {
    return Effect.gen({ self: this }, function*() {
      const { w, rng } = this
      if (rng.chance(0.2)) {
        yield* this.#ok(yield* this.#run(p, txn.rollback, `${t.name} rollback`), `${t.name} rollback`)
        this.counts.rolledBack++
        w.trace.line(`#${w.opIndex} ${t.name} rolled back`)
        return
      }
      const awaitDurable = rng.chance(0.5)
      const answered = w.model.lastAnsweredSeq
      const folded = foldEntries(t.ops)
      const record = t.ops.length === 0
        ? undefined
        : w.model.beginWrite(w.opIndex, folded.entries, awaitDurable, { merges: folded.merges, untracked: t.untracked })
      const exit = yield* this.#run(p, txn.commit({ awaitDurable }), `${t.name} commit`)
      const at = w.model.tick()
      if (Exit.isFailure(exit)) {
        const e = exit.cause.reasons.find((r) => r._tag === "Fail")?.error
        if (e instanceof TransactionError) {
          if (record !== undefined) w.model.discardWrite(record)
          this.counts.conflicts++
          w.trace.line(`#${w.opIndex} ${t.name} conflicts`)
          return
        }
        if (record !== undefined) w.model.failWrite(record, at)
        this.counts.failed++
        return yield* this.#ok(exit, `${t.name} commit`)
      }
      const handle = exit.value
      this.counts.committed++
      if (record === undefined || handle === undefined) {
        if ((record === undefined) !== (handle === undefined)) {
          return yield* w.diverge(`${t.name} wrote ${t.writes.size} keys and its commit returned ${handle === undefined ? "no handle" : "a handle"}`)
        }
        const verdict = checkReadOnlyCommit(w.model, t, answered, at)
        if (verdict === "skipped") this.counts.commitChecksSkipped++
        else {
          this.counts.readOnlyChecks++
          yield* this.#check(verdict)
        }
        w.trace.line(`#${w.opIndex} ${t.name} commits read-only`)
        return
      }
      yield* this.#check(w.model.completeWrite(record, handle.seq, at, handle.createTs))
      const verdict = checkCommitted(w.model, t, handle.seq, at)
      if (verdict === "skipped") this.counts.commitChecksSkipped++
      else {
        this.counts.commitChecks++
        yield* this.#check(verdict)
      }
      w.trace.line(`#${w.opIndex} ${t.name} commits at seq ${handle.seq}`)
    })
  }
}
