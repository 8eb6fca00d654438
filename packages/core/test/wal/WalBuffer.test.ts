/**
 * SlateDB's `WalBuffer` unit tests (wal_buffer.rs tests 1-9), plus snapshot and outcome details.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { ClosedError, estimatedSize, makeValue } from "../../src/internal.ts"
import { MIN_TICK } from "../../src/MonotonicClock.ts"
import { WalBuffer } from "../../src/wal/WalBuffer.ts"
import { row, text } from "./fixtures.ts"

const closed = () => new ClosedError({ reason: "clean", message: "db is closed" })

describe("WalBuffer", () => {
  it("a new buffer is empty", () => {
    const buffer = new WalBuffer()
    assert.isTrue(buffer.isEmpty)
    assert.strictEqual(buffer.length, 0)
    assert.strictEqual(buffer.entriesSize, 0)
    assert.strictEqual(buffer.lastSeq, 0) // SlateDB's `last_seq() == None`
    assert.strictEqual(buffer.lastTick, MIN_TICK)
    assert.isFalse(buffer.watcher.isDone)
  })

  it("appending one row records its size, seq and tick", () => {
    const buffer = new WalBuffer()
    const entry = row("key1", "value1", 42, 1000)
    buffer.append(entry)
    assert.isFalse(buffer.isEmpty)
    assert.strictEqual(buffer.length, 1)
    assert.strictEqual(buffer.entriesSize, estimatedSize(entry))
    assert.strictEqual(buffer.lastSeq, 42)
    assert.strictEqual(buffer.lastTick, 1000)
  })

  it("appending several rows sums sizes; a row without createTs keeps the last tick", () => {
    const buffer = new WalBuffer()
    const entries = [row("key1", "value1", 10, 100), row("key2", "value2", 20, 200), row("key3", "value3", 30, 300), row("key4", "value4", 40)]
    buffer.appendAll(entries)
    assert.strictEqual(buffer.length, 4)
    assert.strictEqual(buffer.entriesSize, entries.reduce((n, e) => n + estimatedSize(e), 0))
    assert.strictEqual(buffer.lastSeq, 40)
    assert.strictEqual(buffer.lastTick, 300)
  })

  it.effect("notifying success completes the watcher with success", () =>
    Effect.gen(function*() {
      const buffer = new WalBuffer()
      buffer.append(row("key", "value", 1))
      assert.isTrue(buffer.notifyDurableSuccess())
      yield* buffer.awaitDurable
      assert.isTrue(buffer.watcher.isDone)
    }))

  it.effect("notifying an error fails the watcher with that error", () =>
    Effect.gen(function*() {
      const buffer = new WalBuffer()
      buffer.append(row("key", "value", 1))
      const error = closed()
      buffer.notifyDurableFailure(error)
      const exit = yield* Effect.exit(buffer.awaitDurable)
      assert.deepStrictEqual(exit, Exit.fail(error))
    }))

  it.effect("a watcher taken before the outcome observes it", () =>
    Effect.gen(function*() {
      const buffer = new WalBuffer()
      buffer.append(row("key", "value", 1))
      const watcher = buffer.watcher
      const waiting = yield* Effect.forkChild(watcher.await)
      yield* Effect.yieldNow
      buffer.notifyDurableSuccess()
      const exit = yield* Fiber.await(waiting)
      assert.isTrue(Exit.isSuccess(exit))
    }))

  it.effect("the outcome is set only once: the first one wins", () =>
    Effect.gen(function*() {
      const buffer = new WalBuffer()
      buffer.append(row("key", "value", 1))
      assert.isTrue(buffer.notifyDurableSuccess())
      assert.isFalse(buffer.notifyDurableFailure(closed()))
      yield* buffer.awaitDurable
      // and the other way round
      const other = new WalBuffer()
      const error = closed()
      assert.isTrue(other.notifyDurableFailure(error))
      assert.isFalse(other.notifyDurableSuccess())
      assert.deepStrictEqual(yield* Effect.exit(other.awaitDurable), Exit.fail(error))
    }))

  it("iterates in arrival order, with snapshot semantics", () => {
    const buffer = new WalBuffer()
    assert.isTrue(buffer.iterator().next().done)

    const entries = [row("key1", "value1", 1, 100), row("key2", "value2", 2, 200), row("key3", "value3", 3, 300)]
    buffer.appendAll(entries)
    const read = [...buffer.iterator()]
    assert.deepStrictEqual(read.map((r) => [text(r.key), r.seq]), [["key1", 1], ["key2", 2], ["key3", 3]])

    const early = buffer.iterator() // taken before the 4th append, not yet started
    const copy = buffer.snapshot()
    buffer.append(row("key4", "value4", 4))
    assert.strictEqual([...early].length, 3)
    assert.strictEqual(copy.length, 3)
    assert.strictEqual([...buffer.iterator()].length, 4)
    assert.strictEqual(buffer.rows.length, 4)
  })

  it("the size of a large row is its estimated size", () => {
    const buffer = new WalBuffer()
    const big = makeValue(new Uint8Array(10_000).fill(107), new Uint8Array(100_000).fill(118), 1)
    buffer.append(big)
    assert.strictEqual(buffer.entriesSize, estimatedSize(big))
    assert.isAbove(buffer.entriesSize, 100_000)
  })

  it("keeps rows exactly (same objects, same order, duplicates included)", () => {
    const buffer = new WalBuffer()
    const a = row("k", "v1", 5, 1)
    const b = row("k", "v2", 5, 1)
    buffer.appendAll([a, b, a])
    assert.strictEqual(buffer.rows[0], a)
    assert.strictEqual(buffer.rows[1], b)
    assert.strictEqual(buffer.rows[2], a)
  })
})
