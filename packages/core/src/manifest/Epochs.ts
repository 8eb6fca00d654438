/**
 * Epoch fencing on a sequenced object (SlateDB's `FenceableTransactionalObject`, docs/format.md §3.1 step 5
 * and §3.7.1). A role that must be alone (the writer, the compactor) claims an epoch in an object and
 * checks every version it reads later against it: a stored epoch above its own means a newer holder took
 * over (it is fenced); one below its own is impossible (an internal error).
 *
 * - `claimEpoch`: claim `stored + 1` by writing the next version create-only (creating version 1 from
 *   `initial` when the object does not exist yet), re-reading and retrying when another version gets
 *   there first; all within `timeoutMs` (else `UnavailableError`, SlateDB's `TransactionalObjectTimeout`).
 *   The claim is written with `writeLanded` (SequencedStore.ts): a claim created below the latest version
 *   (a name the collector freed) would not fence the older holder in this object (it writes on top of the
 *   latest and never reads the claim; a writer's WAL fence still stops its WAL writes), and every later
 *   read would find an epoch below the claimant's. A later version with an older epoch is that case
 *   (anything written on top of the claim carries its epoch or a newer one), and the epoch is claimed
 *   again on top of it.
 * - `claimGivenEpoch`: claim a given epoch (the compactor claims in its state file the epoch it claimed in
 *   the manifest): fenced if the stored epoch is already at or above it.
 * - `checkEpoch`: the check every later read makes.
 */
import { Duration, Effect } from "effect"
import { ClosedError, type DbError, InternalError, UnavailableError } from "../errors.ts"
import type { SequencedStore, Stored } from "./SequencedStore.ts"

export interface EpochField<A> {
  readonly epochOf: (value: A) => number
  readonly withEpoch: (value: A, epoch: number) => A
  /** The role, for messages ("writer", "compactor"). */
  readonly role: string
  /** The error a fenced holder fails with. */
  readonly fenced: () => ClosedError
}

export const timedOut = (what: string, timeoutMs: number) =>
  new UnavailableError({ message: `${what} did not complete within ${timeoutMs} ms (manifest update timeout)` })

/** Fails with `field.fenced()` when `stored` is a newer holder's epoch; an `InternalError` when older. */
export const checkEpoch = <A>(field: EpochField<A>, stored: A, local: number): Effect.Effect<void, DbError> => {
  const epoch = field.epochOf(stored)
  if (epoch > local) return Effect.fail(field.fenced())
  if (epoch < local) {
    return Effect.fail(new InternalError({ message: `stored ${field.role} epoch ${epoch} is below this ${field.role}'s epoch ${local}` }))
  }
  return Effect.void
}

const withTimeout = <A>(what: string, timeoutMs: number, effect: Effect.Effect<A, DbError>) =>
  effect.pipe(Effect.timeoutOrElse({
    duration: Duration.millis(timeoutMs),
    orElse: () => Effect.fail(timedOut(what, timeoutMs))
  }))

/**
 * Claims the stored epoch + 1, or `options.epoch` when given (fenced if the stored one is already at or
 * above it); see the module comment. The version written.
 */
export const claimEpoch = <A>(
  store: SequencedStore<A>,
  field: EpochField<A>,
  options: { readonly timeoutMs: number; readonly initial?: () => A; readonly epoch?: number }
): Effect.Effect<Stored<A>, DbError> =>
  withTimeout(
    `claiming the ${field.role} epoch`,
    options.timeoutMs,
    Effect.gen(function*() {
      while (true) {
        const latest = yield* store.readLatest
        if (latest === undefined) {
          if (options.initial === undefined) {
            return yield* new InternalError({ message: `no version to claim the ${field.role} epoch in` })
          }
          yield* store.write(1, options.initial())
          continue
        }
        const stored = field.epochOf(latest.value)
        if (options.epoch !== undefined && stored >= options.epoch) return yield* Effect.fail(field.fenced())
        const epoch = options.epoch ?? stored + 1
        const claimed = { id: latest.id + 1, value: field.withEpoch(latest.value, epoch) }
        const landing = yield* store.writeLanded(claimed.id, claimed.value, {
          shows: (later) => field.epochOf(later) >= epoch,
          change: `the ${field.role} epoch ${epoch}`
        })
        if (landing !== "exists" && landing.landed) return claimed
      }
    })
  )

/** Claims `epoch` (see the module comment); the version written. */
export const claimGivenEpoch = <A>(
  store: SequencedStore<A>,
  field: EpochField<A>,
  epoch: number,
  options: { readonly timeoutMs: number; readonly initial: () => A }
): Effect.Effect<Stored<A>, DbError> => claimEpoch(store, field, { ...options, epoch })
