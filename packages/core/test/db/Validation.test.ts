/**
 * Every public entry validates its arguments: a JavaScript caller can pass anything, and whatever the
 * engine would misread (null options, a string where a boolean belongs, an options object where none is
 * expected, a batch op of an unknown kind) is an `InvalidError` saying what was wrong, and nothing is
 * written.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { Shale, type ShaleOpenOptions } from "../../src/db/Shale.ts"
import { InvalidError } from "../../src/errors.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { b, openOn } from "./fixtures.ts"

/** Casts a deliberately wrong argument past the type checker, as JavaScript callers can. */
const bad = <T>(x: unknown): T => x as T

const expectInvalid = <A, E>(effect: Effect.Effect<A, E>, includes: string) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(effect)
    assert.instanceOf(error, InvalidError)
    assert.include((error as InvalidError).message, includes)
  })

describe("argument validation (Effect API)", () => {
  it.effect("writes: options, TTLs and batch ops are checked; nothing of an invalid write is written", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* expectInvalid(db.put(b("k"), b("v"), bad(5)), "put options must be an object, got 5")
      yield* expectInvalid(db.put(b("k"), b("v"), bad(null)), "put options must be an object, got null")
      yield* expectInvalid(db.put(b("k"), b("v"), bad({ awaitDurable: "yes" })), "awaitDurable must be a boolean")
      yield* expectInvalid(db.put(b("k"), b("v"), bad({ awaitDurabe: false })), 'no option "awaitDurabe"')
      yield* expectInvalid(db.put(b("k"), b("v"), bad({ ttl: { afterMs: -1 } })), "ttl.afterMs")
      yield* expectInvalid(db.put(b("k"), b("v"), bad({ ttl: "forever" })), "ttl must be")
      yield* expectInvalid(db.put(b("k"), bad("v")), "value must be a Uint8Array")
      yield* expectInvalid(db.put(bad("k"), b("v")), "key must be a Uint8Array")
      yield* expectInvalid(db.delete(b("k"), bad(null)), "write options must be an object")
      yield* expectInvalid(db.delete(b("k"), bad({ awaitDurable: 1 })), "awaitDurable must be a boolean")
      const unknownOp = new WriteBatch().put(b("a"), b("1"))
      ;(unknownOp.ops as Array<unknown>).push({ _tag: "merge!", key: b("b") })
      yield* expectInvalid(db.write(unknownOp), 'batch op 1 has an unknown kind "merge!"')
      yield* expectInvalid(db.write(new WriteBatch().put(b("a"), b("1")), bad(5)), "write options must be an object")
      yield* expectInvalid(db.write(bad(null)), "batch must be a WriteBatch")
      yield* expectInvalid(db.write(new WriteBatch()), "write batch is empty")
      assert.strictEqual((yield* db.status).lastCommittedSeq, 0)
      assert.strictEqual(yield* db.get(b("a")), undefined)
    }))

  it.effect("reads and scans: options and ranges are checked", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* expectInvalid(db.get(b("k"), bad(null)), "read options must be an object, got null")
      yield* expectInvalid(db.getKeyValue(b("k"), bad(null)), "read options must be an object")
      yield* expectInvalid(db.get(b("k"), bad({ durability: "disk" })), 'durability must be "memory" or "remote"')
      yield* expectInvalid(db.get(b("k"), bad({ dirty: "yes" })), "dirty must be a boolean")
      yield* expectInvalid(Stream.runCollect(db.scan({}, bad(null))), "scan options must be an object")
      yield* expectInvalid(Stream.runCollect(db.scan({}, bad({ order: "up" }))), 'order must be "asc" or "desc"')
      yield* expectInvalid(Stream.runCollect(db.scan({}, bad({ readAheadBytes: 0 }))), "readAheadBytes must be a positive integer")
      yield* expectInvalid(Stream.runCollect(db.scan({}, bad({ maxFetchTasks: 1.5 }))), "maxFetchTasks must be a positive integer")
      yield* expectInvalid(Stream.runCollect(db.scan({}, bad({ cacheBlocks: "yes" }))), "cacheBlocks must be a boolean")
      yield* expectInvalid(Stream.runCollect(db.scan(bad(null))), "range must be an object")
      yield* expectInvalid(Stream.runCollect(db.scan(bad({ startInclusive: "yes" }))), "range startInclusive must be a boolean")
      yield* expectInvalid(Stream.runCollect(db.scanPrefix(b("p"), bad(null))), "scan options must be an object")
      yield* expectInvalid(Stream.runCollect(db.scanPrefix(bad("p"))), "prefix must be a Uint8Array")
    }))
})

describe("argument validation (Promise API)", () => {
  it.live("open, and every call: invalid arguments reject with InvalidError", () =>
    Effect.promise(async () => {
      const invalid = async (p: Promise<unknown>, includes: string) => {
        const error = await p.then(() => undefined, (e: unknown) => e)
        assert.instanceOf(error, InvalidError)
        assert.include((error as InvalidError).message, includes)
      }
      await invalid(Shale.open(bad(null), { store: Shale.stores.memory() }), "path must be a string")
      await invalid(Shale.open("db", bad<ShaleOpenOptions>({})), "options.store must be a store layer")
      await invalid(Shale.open("db", bad<ShaleOpenOptions>(null)), "options must be an object")
      await invalid(Shale.open("db", bad<ShaleOpenOptions>({ store: Shale.stores.memory(), settings: 5 })), "options.settings must be an object")
      const db = await Shale.open("db", { store: Shale.stores.memory() })
      try {
        await invalid(db.get(b("k"), bad(null)), "read options must be an object")
        await invalid(db.getKeyValue(b("k"), bad(null)), "read options must be an object")
        await invalid(db.put(b("k"), b("v"), bad(5)), "put options must be an object")
        await invalid(db.put(b("k"), b("v"), bad({ awaitDurable: "yes" })), "awaitDurable must be a boolean")
        const drain = async (rows: AsyncIterable<unknown>) => {
          for await (const _ of rows) { /* nothing */ }
        }
        await invalid(drain(db.scan({}, bad(null))), "scan options must be an object")
        await invalid(drain(db.scanPrefix(b("p"), bad(null))), "scan options must be an object")
        assert.strictEqual((await db.status()).lastCommittedSeq, 0)
      } finally {
        await db.close()
      }
    }))
})
