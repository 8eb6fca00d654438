/**
 * Shared pieces of the Db tests: byte helpers, settings that keep tests deterministic (no interval flush,
 * eager durable writes so durable puts complete without advancing the TestClock), and a helper to open a
 * database on a given store in a scope of its own.
 */
import { Context, Effect, Exit, Layer, Scope, Stream } from "effect"
import { Db, type DbOptions } from "../../src/db/Db.ts"
import type { KeyValue } from "../../src/db/DbApi.ts"
import { ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import type { SettingsInput } from "../../src/Settings.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

export const b = (s: string): Uint8Array => enc.encode(s)
export const s = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : dec.decode(u))

/**
 * No timers: WALs are written by explicit flushes, size triggers, or eager durable waits. No embedded
 * compactor either, so tests of the writer see exactly the L0 SSTs they write (the compactor's tests,
 * test/compactor/, turn it on), and so no L0 limit: without a compactor, uploads would stall at
 * `l0MaxSsts` (test/compactor/L0Stall.test.ts tests that). No embedded garbage collector: the object lists
 * tests check stay as the writer left them (test/gc/ turns it on).
 */
export const testSettings: SettingsInput = {
  flushIntervalMs: null,
  durableFlush: "eager",
  manifestPollIntervalMs: 3_600_000,
  compactor: null,
  garbageCollector: null,
  l0MaxSsts: 1_000_000
}

export const ND = { awaitDurable: false } as const

/** Opens a database over `store` in a fresh scope; returns the service and the scope (close it to end). */
export const openOn = (store: ObjectStore["Service"], options: Partial<DbOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Db.layer({ path: options.path ?? "db", settings: { ...testSettings, ...options.settings }, ...(options.storeRetry === undefined ? {} : { storeRetry: options.storeRetry }), ...(options.mergeOperator === undefined ? {} : { mergeOperator: options.mergeOperator }) })
      .pipe(Layer.provide(Layer.succeed(ObjectStore, store)))
    const context = yield* Layer.buildWithScope(layer, scope)
    // Released with the test's scope at the latest (closing a scope twice is harmless).
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return { db: Context.get(context, Db), scope }
  })

/** Collects a scan as `[key, value]` strings. */
export const collect = (stream: Stream.Stream<KeyValue, unknown>) =>
  Stream.runCollect(stream).pipe(Effect.map((rows) => Array.from(rows, (kv) => [s(kv.key)!, s(kv.value)!] as const)))

/** Lists the object paths under `prefix`. */
export const listPaths = (store: ObjectStore["Service"], prefix: string) =>
  Stream.runCollect(store.list(prefix)).pipe(Effect.map((os) => Array.from(os, (o) => o.path)))
