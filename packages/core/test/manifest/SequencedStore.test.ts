/**
 * `SequencedStore.writeLanded`: a create, then one listing. Its own version latest, or a later version that
 * shows the change, is "landed"; a later version that does not (the create took a name a collector freed
 * below the latest) is not, with a warning, and the answer carries that latest version.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeMemory, type ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { makeSequencedStore, type SequencedStore } from "../../src/manifest/SequencedStore.ts"
import { withLogs } from "../support/logs.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const pathOf = (id: number) => `seq/${String(id).padStart(20, "0")}.v`

const sequenced = (store: ObjectStore["Service"]): SequencedStore<string> =>
  makeSequencedStore<string>(store, {
    dir: "seq",
    pathOf,
    parseId: (path) => {
      const m = /\/(\d{20})\.v$/.exec(path)
      return m === null ? undefined : Number(m[1])
    },
    encode: (value) => encoder.encode(value),
    decode: (bytes) => decoder.decode(bytes),
    what: "test object"
  })

/** Versions 2 and 3 written by another party (both "b"), then version 2 collected: its name is free again. */
const freedBelowLatest = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const other = sequenced(store)
    for (const id of [2, 3]) assert.strictEqual(yield* other.write(id, "b"), "written")
    yield* store.delete(pathOf(2))
  })

describe("SequencedStore.writeLanded", () => {
  it.effect("a version that is the latest after its create has landed", () =>
    Effect.gen(function*() {
      const seq = sequenced(makeMemory())
      assert.strictEqual(yield* seq.write(1, "a"), "written")
      const { value, logs } = yield* withLogs(seq.writeLanded(2, "b", { shows: () => false, change: "b" }))
      assert.deepStrictEqual(value, { latest: { id: 2, value: "b" }, landed: true })
      assert.deepStrictEqual(logs, [])
    }))

  it.effect("a taken version is \"exists\"", () =>
    Effect.gen(function*() {
      const seq = sequenced(makeMemory())
      assert.strictEqual(yield* seq.write(1, "a"), "written")
      assert.strictEqual(yield* seq.writeLanded(1, "b", { shows: () => true, change: "b" }), "exists")
    }))

  it.effect("created below a later version that shows the change: landed, with that version as the latest", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const seq = sequenced(store)
      assert.strictEqual(yield* seq.write(1, "a"), "written")
      yield* freedBelowLatest(store)
      // `current`: the listing before the create is skipped, as when it ran before the others wrote.
      const { value, logs } = yield* withLogs(seq.writeLanded(2, "b", { shows: (later) => later === "b", change: "b" }, { current: true }))
      assert.deepStrictEqual(value, { latest: { id: 3, value: "b" }, landed: true })
      assert.deepStrictEqual(logs, [])
    }))

  it.effect("created below a later version that does not show the change: not landed, with a warning", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const seq = sequenced(store)
      assert.strictEqual(yield* seq.write(1, "a"), "written")
      yield* freedBelowLatest(store)
      const { value, logs } = yield* withLogs(
        seq.writeLanded(2, "c", { shows: (later) => later === "c", change: "the change c" }, { current: true })
      )
      assert.deepStrictEqual(value, { latest: { id: 3, value: "b" }, landed: false })
      assert.strictEqual(logs.length, 1)
      assert.include(logs[0]!, "the change c written in test object version 2 is below version 3")
      // Without `current`, the listing before the create sees version 3: a conflict, nothing created.
      yield* store.delete(pathOf(2))
      assert.strictEqual(yield* seq.writeLanded(2, "c", { shows: () => true, change: "c" }), "exists")
      assert.deepStrictEqual(yield* seq.listIds, [1, 3])
    }))
})
