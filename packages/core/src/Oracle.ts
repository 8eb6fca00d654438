/**
 * The sequence oracle: the three sequence-number watermarks of a writer (SlateDB's `DbOracle`,
 * docs/format.md §3.3).
 *
 * - `lastSeq`: the last sequence number handed out. `nextSeq` assigns `lastSeq + 1` (one per write batch).
 * - `lastCommittedSeq`: the last write that is visible to reads (applied to the memtable).
 * - `lastDurableSeq`: the last write that is in the object store (its WAL SST is written, or it reached L0
 *   through the manifest, or it was restored by replay). SlateDB calls it `last_remote_persisted_seq`.
 *
 * Guarantees:
 * - Every watermark only moves forward: `advance*` keeps the maximum of the old and the given value, so a
 *   late or out-of-order advance never moves a watermark back.
 * - Reads and advances are atomic with respect to each other (JavaScript runs one fiber step at a time and
 *   each operation is a single `Ref` step).
 *
 * The oracle does not check the order between the watermarks (a durable seq above the committed seq is
 * possible during replay); callers own that relation, as in SlateDB.
 */
import { Context, Effect, Layer, Ref } from "effect"

export interface OracleState {
  readonly lastSeq: number
  readonly lastCommittedSeq: number
  readonly lastDurableSeq: number
}

export class Oracle extends Context.Service<Oracle, {
  readonly lastSeq: Effect.Effect<number>
  readonly lastCommittedSeq: Effect.Effect<number>
  readonly lastDurableSeq: Effect.Effect<number>
  /** Assigns the next sequence number: `lastSeq + 1`, which becomes the new `lastSeq`. */
  readonly nextSeq: Effect.Effect<number>
  /** Raises `lastSeq` to `seq` (replay); never lowers it. */
  readonly advanceLastSeq: (seq: number) => Effect.Effect<void>
  /** Raises `lastCommittedSeq` to `seq`; never lowers it. */
  readonly advanceCommittedSeq: (seq: number) => Effect.Effect<void>
  /** Raises `lastDurableSeq` to `seq`; never lowers it. */
  readonly advanceDurableSeq: (seq: number) => Effect.Effect<void>
}>()("shale/Oracle") {
  /** An oracle starting at the given watermarks (all three default to `lastSeq`, as after opening a DB). */
  static readonly layer = (initial: Partial<OracleState> = {}): Layer.Layer<Oracle> =>
    Layer.sync(Oracle, () => makeOracle(initial))
}

/** Builds an oracle directly (for wrappers and tests that need the value, not the layer). */
export const makeOracle = (initial: Partial<OracleState> = {}): Oracle["Service"] => {
  const start = initial.lastSeq ?? 0
  const lastSeq = Ref.makeUnsafe(start)
  const lastCommittedSeq = Ref.makeUnsafe(initial.lastCommittedSeq ?? start)
  const lastDurableSeq = Ref.makeUnsafe(initial.lastDurableSeq ?? start)
  const advance = (ref: Ref.Ref<number>) => (seq: number) => Ref.update(ref, (old) => (seq > old ? seq : old))
  return Oracle.of({
    lastSeq: Ref.get(lastSeq),
    lastCommittedSeq: Ref.get(lastCommittedSeq),
    lastDurableSeq: Ref.get(lastDurableSeq),
    nextSeq: Ref.updateAndGet(lastSeq, (n) => n + 1),
    advanceLastSeq: advance(lastSeq),
    advanceCommittedSeq: advance(lastCommittedSeq),
    advanceDurableSeq: advance(lastDurableSeq)
  })
}
