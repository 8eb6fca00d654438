/**
 * FakeDb.ts's state and durability: every version of every key in memory, and the WAL objects
 * (`<path>/wal/<id>`, JSON lines, create-only) that make writes durable. Opening replays them and fences
 * older writers; a flush writes everything pending as the next WAL object; closing fails every waiter.
 */
import { Deferred, Effect, type Semaphore, Stream } from "effect"
import { ClosedError, type ObjectStore, type ObjectStoreError, type TestSwitchesShape } from "@shale/core/internal"
import { fromHex } from "./SimBytes.ts"

/** Bugs of the fake, for proving the model catches them. */
export interface FakeDbBugs {
  /** Replay skips the row with this seq (an acknowledged durable write vanishes after a reopen). */
  readonly forgetSeqOnReplay?: number
  /** Replay applies only the first entry of each batch (a partial batch after a reopen). */
  readonly partialBatchReplay?: boolean
  /** Memory-level reads miss the newest version of a key whose write is not durable yet. */
  readonly hideUndurable?: boolean
}

export interface Version {
  readonly seq: number
  readonly value: Uint8Array | undefined
  readonly createTs: number
}

export interface WalRecord {
  readonly seq: number
  readonly ts: number
  /** [hex key, hex value | null] */
  readonly ops: ReadonlyArray<readonly [string, string | null]>
}

/** The fake's mutable state (one object, shared by its writes, reads and WAL). */
export class FakeState {
  /** Every version of every key (hex), oldest first. */
  readonly versions = new Map<string, Array<Version>>()
  lastSeq = 0
  durable = 0
  closed: ClosedError | undefined = undefined
  /** Writes not yet in a WAL object. */
  pending: Array<WalRecord> = []
  readonly waiters: Array<{ readonly seq: number; readonly done: Deferred.Deferred<void, ClosedError> }> = []
  nextWalId = 1

  apply(seq: number, ts: number, key: string, value: Uint8Array | undefined): void {
    let vs = this.versions.get(key)
    if (vs === undefined) this.versions.set(key, (vs = []))
    vs.push({ seq, value, createTs: ts })
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const walPath = (root: string, id: number) => `${root}/wal/${String(id).padStart(20, "0")}`

type Store = ObjectStore["Service"]

/**
 * Opening: replay, then fence. If the fence id is taken (an older writer's WAL landed meanwhile), list
 * again, replay what appeared, and fence after it: every WAL below the fence is replayed.
 */
export const replayAndFence = (
  store: Store,
  path: string,
  state: FakeState,
  switches: TestSwitchesShape,
  bugs: FakeDbBugs
): Effect.Effect<void, ObjectStoreError> =>
  Effect.gen(function*() {
    const readWal = (id: number) =>
      Effect.map(store.get(walPath(path, id)), (bytes) => {
        const text = decoder.decode(bytes)
        return text.length === 0 ? [] : text.split("\n").map((l) => JSON.parse(l) as WalRecord)
      })
    const replay = (records: ReadonlyArray<WalRecord>) => {
      for (const r of records) {
        if (r.seq === bugs.forgetSeqOnReplay) continue
        const ops = bugs.partialBatchReplay ? r.ops.slice(0, 1) : r.ops
        for (const [k, v] of ops) state.apply(r.seq, r.ts, k, v === null ? undefined : fromHex(v))
        if (r.seq > state.lastSeq) state.lastSeq = r.seq
      }
    }
    let replayedUpTo = 0
    let first = true
    for (;;) {
      const listed = yield* store.list(`${path}/wal`).pipe(Stream.runCollect)
      const ids = listed
        .map((o) => Number(o.path.slice(o.path.lastIndexOf("/") + 1)))
        .filter((id) => id > replayedUpTo)
        .sort((a, b) => a - b)
      const records: Array<ReadonlyArray<WalRecord>> = []
      for (const id of ids) records.push(yield* readWal(id))
      // Test switch: the last non-empty WAL is not replayed (the first time round only).
      let skip = -1
      if (first && switches.skipLastWalReplay) {
        for (let i = records.length - 1; i >= 0 && skip < 0; i--) if (records[i]!.length > 0) skip = i
      }
      first = false
      records.forEach((recs, i) => i === skip || replay(recs))
      replayedUpTo = ids.at(-1) ?? replayedUpTo
      const fenceId = replayedUpTo + 1
      const taken = yield* store.put(walPath(path, fenceId), new Uint8Array(0), { mode: "create" }).pipe(
        Effect.as(false),
        Effect.catchTag("ObjectAlreadyExists", () => Effect.succeed(true))
      )
      if (!taken) {
        state.nextWalId = fenceId + 1
        break
      }
    }
    state.durable = state.lastSeq
  })

/** Closes the fake with `error` (once): every waiter fails with it. */
export const closeWith = (state: FakeState, error: ClosedError): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (state.closed !== undefined) return Effect.void
    state.closed = error
    const all = state.waiters.splice(0)
    return Effect.forEach(all, (w) => Deferred.fail(w.done, error), { discard: true })
  })

const markDurable = (state: FakeState, seq: number) =>
  Effect.suspend(() => {
    if (seq > state.durable) state.durable = seq
    const ready = state.waiters.filter((w) => w.seq <= state.durable)
    for (const w of ready) state.waiters.splice(state.waiters.indexOf(w), 1)
    return Effect.forEach(ready, (w) => Deferred.succeed(w.done, undefined), { discard: true })
  })

/**
 * One flush: everything pending as the next WAL object, one flush at a time (`flushLock`); a failed put
 * closes the fake (fenced by a newer writer's WAL at that id, or fatal).
 */
export const makeFlush = (
  store: Store,
  path: string,
  state: FakeState,
  switches: TestSwitchesShape,
  flushLock: Semaphore.Semaphore
): Effect.Effect<void, ClosedError> =>
  flushLock.withPermits(1)(Effect.gen(function*() {
    if (state.closed !== undefined) return yield* state.closed
    if (state.pending.length === 0) return
    const batch = state.pending
    state.pending = []
    const last = batch.at(-1)!.seq
    const id = state.nextWalId++
    const body = encoder.encode(batch.map((r) => JSON.stringify(r)).join("\n"))
    if (switches.ackBeforePut) yield* markDurable(state, last)
    const result = yield* Effect.result(store.put(walPath(path, id), body, { mode: "create" }))
    if (result._tag === "Failure") {
      const e = result.failure
      const error = e._tag === "ObjectAlreadyExists"
        ? new ClosedError({ reason: "fenced", message: "detected newer DB client", cause: e })
        : new ClosedError({ reason: "fatal", message: `WAL write failed: ${e.message}`, cause: e })
      yield* closeWith(state, error)
      return yield* error
    }
    yield* markDurable(state, last)
  }))
