/**
 * Helpers for tests of the SST reader over the in-memory object store: a store that counts requests,
 * writing and opening an SST, scanning it whole, the model's point read, and the failure of an exit.
 */
import { assert } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Stream } from "effect"
import { compareKeys } from "../../src/format/KeyComparator.ts"
import type { RowEntry } from "../../src/format/RowEntry.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { type ScanOptions, SsTableReader } from "../../src/sst/SsTableReader.ts"

/** A memory store that counts requests. */
export const countingStore = () => {
  const inner = makeMemory()
  const counts = { head: 0, get: 0, getRange: 0 }
  const store = ObjectStore.of({
    ...inner,
    head: (p) => {
      counts.head++
      return inner.head(p)
    },
    get: (p) => {
      counts.get++
      return inner.get(p)
    },
    getRange: (p, r) => {
      counts.getRange++
      return inner.getRange(p, r)
    }
  })
  return { store, counts, layer: Layer.succeed(ObjectStore, store) }
}

export const putAndOpen = (path: string, bytes: Uint8Array, options?: Parameters<typeof SsTableReader.open>[1]) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    yield* store.put(path, bytes)
    return yield* SsTableReader.open(path, options)
  })

export const scanAll = (r: SsTableReader, options?: ScanOptions) => Stream.runCollect(r.scan(options))

/** The newest version of `key` with seq ≤ maxSeq, per the model. */
export const modelGet = (rows: ReadonlyArray<RowEntry>, key: Uint8Array, maxSeq: number) =>
  rows.filter((r) => compareKeys(r.key, key) === 0 && r.seq <= maxSeq).sort((a, b) => b.seq - a.seq)[0]

export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) assert.fail("expected a failure")
  const err = Cause.squash(exit.cause)
  return err as E
}
