/**
 * Operations in flight: each operation of a round is forked into a `Slot`, which fills in when the
 * operation answers (unless its process died first). Once a round is over, `settleRound` feeds the answers
 * to the model — writes first, in answer order, so that every read is checked against every seq of its
 * round — and writes one trace line per operation.
 */
import { Cause, Effect, Exit } from "effect"
import type { KeyValue, WriteHandle } from "@shale/core/internal"
import { prefixRange } from "./FakeDb.ts"
import type { WriteRecord } from "./Model.ts"
import { callOp, describeError, describeOp, entriesOf, errorOf, rangeShape, toRows } from "./Operations.ts"
import { showBytes, showHexKey, toHex } from "./SimBytes.ts"
import { rowsDigest } from "./TraceHash.ts"
import { isWriteOp, type SimOp } from "./Workload.ts"
import { onProc, type Proc, type SimWorld } from "./World.ts"

export interface Slot {
  readonly index: number
  readonly op: SimOp
  readonly proc: Proc
  write: WriteRecord | undefined
  invokedAt: number
  respondedAt: number | undefined
  respondedMs: number
  exit: Exit.Exit<unknown, unknown> | undefined
}

/** Forks one operation; its slot fills in when it answers (unless its process died first). */
export const startOp = (w: SimWorld, p: Proc, index: number, op: SimOp) =>
  Effect.gen(function*() {
    const { model } = w
    const slot: Slot = {
      index,
      op,
      proc: p,
      write: undefined,
      invokedAt: 0,
      respondedAt: undefined,
      respondedMs: 0,
      exit: undefined
    }
    yield* Effect.forkDetach(Effect.gen(function*() {
      if (isWriteOp(op)) {
        const { entries, ...extras } = entriesOf(op)
        slot.write = model.beginWrite(index, entries, op.awaitDurable, extras)
        slot.invokedAt = slot.write.invokedAt
      } else {
        slot.invokedAt = model.tick()
      }
      const exit = yield* Effect.exit(onProc(p, callOp(p.db, op)))
      if (!p.view.isAlive()) return
      slot.respondedAt = model.tick()
      slot.respondedMs = yield* w.now
      slot.exit = exit
    }))
    return slot
  })

/** Starts `ops` on `p`, one operation index each. */
export const startOps = (w: SimWorld, p: Proc, ops: ReadonlyArray<SimOp>) =>
  Effect.gen(function*() {
    const slots: Array<Slot> = []
    for (const op of ops) slots.push(yield* startOp(w, p, w.opIndex++, op))
    return slots
  })

export const allAnswered = (slots: ReadonlyArray<Slot>) => () => slots.every((s) => s.exit !== undefined)

/** The model learns how each write of the round ended (answer order); a bad seq is a divergence. */
const settleWrites = (w: SimWorld, slots: ReadonlyArray<Slot>, answered: ReadonlyArray<Slot>) =>
  Effect.gen(function*() {
    for (const s of answered) {
      if (s.write === undefined) continue
      const exit = s.exit!
      if (Exit.isSuccess(exit)) {
        const handle = exit.value as WriteHandle
        yield* w.check(w.model.completeWrite(s.write, handle.seq, s.respondedAt!, handle.createTs), s.index)
      } else {
        w.model.failWrite(s.write, s.respondedAt)
      }
    }
    for (const s of slots) if (s.write !== undefined && s.exit === undefined) w.model.failWrite(s.write, undefined)
  })

/** Checks one answered operation: errors (unless expected), reads against the model. */
const checkAnswer = (w: SimWorld, s: Slot, errorsExpected: (slot: Slot) => boolean) =>
  Effect.gen(function*() {
    const exit = s.exit!
    const op = s.op
    if (Exit.isFailure(exit)) {
      const error = errorOf(exit)
      if (op._tag === "invalid") {
        if (error?._tag !== "InvalidError" && !errorsExpected(s)) {
          return yield* w.diverge(`${describeOp(op)} must fail with InvalidError, failed with ${describeError(exit.cause)}`, s.index)
        }
        return
      }
      if (!errorsExpected(s)) {
        return yield* w.diverge(`${describeOp(op)} failed: ${describeError(exit.cause)}\n${Cause.pretty(exit.cause)}`, s.index)
      }
      return
    }
    switch (op._tag) {
      case "invalid":
        return yield* w.diverge(`${describeOp(op)} succeeded; it must fail with InvalidError`, s.index)
      case "flush":
        w.model.flushed(s.invokedAt, s.respondedAt!)
        return
      case "get": {
        const kv = exit.value as KeyValue | undefined
        const seen = kv === undefined ? undefined : { value: kv.value, seq: kv.seq, createTs: kv.createTs }
        return yield* w.check(w.model.checkGet(toHex(op.key), seen, op.durability, s.invokedAt, s.respondedAt!), s.index)
      }
      case "scan":
      case "scanPrefix": {
        const rows = toRows(exit.value as ReadonlyArray<KeyValue>)
        const shape = op._tag === "scan"
          ? rangeShape(op.range, op.order, op.limit)
          : rangeShape(prefixRange(op.prefix), op.order, op.limit)
        return yield* w.check(w.model.checkScan(shape, rows, op.durability, s.invokedAt, s.respondedAt!, describeOp(op)), s.index)
      }
      default:
        return
    }
  })

/** Feeds a finished round to the model and the trace. `errorsExpected`: errors are not divergences. */
export const settleRound = (w: SimWorld, slots: ReadonlyArray<Slot>, errorsExpected: (slot: Slot) => boolean) =>
  Effect.gen(function*() {
    const answered = slots.filter((s) => s.exit !== undefined).sort((a, b) => a.respondedAt! - b.respondedAt!)
    // writes first (in answer order), so that every read is checked against every seq of its round
    yield* settleWrites(w, slots, answered)
    for (const s of answered) yield* checkAnswer(w, s, errorsExpected)
    for (const s of slots) {
      const outcome = s.exit === undefined
        ? "lost"
        : Exit.isFailure(s.exit)
        ? `error ${describeError(s.exit.cause)}`
        : describeSuccess(s.op, s.exit.value)
      w.trace.count(`${s.op._tag}:${s.exit === undefined ? "lost" : Exit.isFailure(s.exit) ? "error" : "ok"}`)
      w.trace.line(`#${s.index} p${s.proc.id} ${describeOp(s.op)} -> ${outcome}${s.exit === undefined ? "" : ` @${s.respondedMs}`}`)
    }
  })

const describeSuccess = (op: SimOp, value: unknown): string => {
  switch (op._tag) {
    case "put":
    case "delete":
    case "merge":
    case "batch":
      return `ok seq=${(value as WriteHandle).seq}`
    case "get": {
      const kv = value as KeyValue | undefined
      return kv === undefined ? "none" : `${showBytes(kv.value)}@${kv.seq}`
    }
    case "scan":
    case "scanPrefix": {
      const rows = toRows(value as ReadonlyArray<KeyValue>)
      return `${rows.length} rows #${rowsDigest(rows)}${rows.length > 0 ? ` first ${showHexKey(rows[0]!.key)}` : ""}`
    }
    default:
      return "ok"
  }
}
