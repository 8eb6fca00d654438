import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { ObjectStore } from "../src/index.ts"

describe("memory store", () => {
  it.effect("lists across pages in path order", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      for (const n of [3, 1, 2]) yield* store.put(`d/${n}`, new Uint8Array([n]))
      yield* store.put(`dx`, new Uint8Array([9]))
      const listed = yield* Stream.runCollect(store.list("d"))
      assert.deepStrictEqual(listed.map((o) => o.path), ["d/1", "d/2", "d/3"])
    }).pipe(Effect.provide(ObjectStore.layerMemoryWith({ pageSize: 2 }))))
})
