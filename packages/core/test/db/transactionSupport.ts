/** What the transaction tests share: a fresh database, a commit's outcome, the keys a transaction's scan returns. */
import { Effect, Stream } from "effect"
import type { Transaction } from "../../src/db/Transaction.ts"
import { TransactionError } from "../../src/errors.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { b, openOn, s } from "./fixtures.ts"

export const open = Effect.map(Effect.suspend(() => openOn(makeMemory())), ({ db }) => db)

/** The outcome of a commit: "ok", "conflict", or the failure's tag. */
export const outcome = (txn: Transaction) =>
  Effect.match(txn.commit(), {
    onSuccess: () => "ok",
    onFailure: (e) => (e instanceof TransactionError ? "conflict" : e._tag)
  })

export const keys = (txn: Transaction, start: string, end: string) =>
  Stream.runCollect(txn.scan({ start: b(start), end: b(end), endInclusive: true })).pipe(
    Effect.map((rows) => rows.map((kv) => s(kv.key)!))
  )
