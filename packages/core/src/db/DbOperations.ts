/**
 * Two of the open database's operations that belong to no path of their own (DbEngine.ts assembles the
 * rest from the writer, the reader, the checkpoints and transactions):
 * - `Db.flush`: `"wal"` (the default) writes the WAL buffer now and waits for it to be durable;
 *   `"memtable"` flushes the WAL, freezes the memtable and waits until every memtable frozen so far is
 *   an L0 SST in the manifest (MemtableFlusher.ts).
 * - `Db.changes`: the change stream over the database's WAL (wal/ChangeStream.ts), which ends once a clean
 *   close has made every commit durable (its last WAL is then listed).
 */
import { Effect, Stream } from "effect"
import { type ClosedError, type DbError, InvalidError } from "../errors.ts"
import type { DbStats } from "../Metrics.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import { changesOver, type ChangesOptions, type SourceState } from "../wal/ChangeStream.ts"
import type { WalBufferManager } from "../wal/WalBufferManager.ts"
import type { FlushType } from "./DbApi.ts"
import type { DbService } from "./DbService.ts"
import type { DbState } from "./DbState.ts"
import type { MemtableFlusher } from "./MemtableFlusher.ts"

export interface FlushDeps {
  readonly checkOpen: Effect.Effect<void, DbError>
  readonly stats: DbStats
  readonly wal: WalBufferManager["Service"]
  readonly flusher: MemtableFlusher
  readonly onWalClosed: (error: ClosedError) => Effect.Effect<never, DbError>
}

/** `Db.flush` (see the module comment). */
export const makeFlush = (deps: FlushDeps) =>
  Effect.fn("Db.flush")(function*(options?: { readonly type?: FlushType }) {
    yield* deps.checkOpen
    deps.stats.flushRequests++
    const type = options?.type ?? "wal"
    yield* Effect.annotateCurrentSpan("db.flush_type", type)
    if (type === "wal") return yield* deps.wal.flush().pipe(Effect.catch(deps.onWalClosed))
    if (type === "memtable") return yield* deps.flusher.flushMemtables
    return yield* new InvalidError({ message: `invalid flush type ${JSON.stringify(type)}` })
  })

/** `Db.changes` over the WAL under `root` (see the module comment). */
export const makeChanges = (
  store: ObjectStore["Service"],
  root: string,
  state: DbState,
  checkOpen: Effect.Effect<void, DbError>
): DbService["changes"] => {
  const sourceState = (): SourceState => {
    const e = state.closeError
    if (e === undefined) return "open"
    if (e.reason !== "clean") return e
    return state.seqs.durable >= state.seqs.committed ? "closed" : "open"
  }
  return (options?: ChangesOptions) => Stream.unwrap(Effect.as(checkOpen, changesOver(store, root, options, { state: sourceState })))
}
