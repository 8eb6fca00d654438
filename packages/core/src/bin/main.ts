/**
 * `npm start [dir]`: a smoke check of the local object store (default directory `./shale-data`).
 *
 * Writes a fresh object create-only under `smoke/`, reads it back and compares the bytes, checks its
 * `slatedbputid` metadata, lists `smoke/`, and prints what it did. Exits 0 on success, 1 on any failure.
 * Each run adds one object, so running it repeatedly also checks that earlier runs' objects are readable.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Effect, Layer, Stream } from "effect"
import { makeUlid } from "../format/Ulid.ts"
import { LocalObjectStore } from "../objectstore/LocalObjectStore.ts"
import { ObjectStore } from "../objectstore/ObjectStore.ts"
import { PUT_ID_METADATA_KEY, RetryingObjectStore } from "../objectstore/RetryingObjectStore.ts"

class SmokeCheckFailed extends Data.TaggedError("SmokeCheckFailed")<{ readonly message: string }> {}

const root = process.argv[2] ?? "./shale-data"

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

const smoke = Effect.gen(function*() {
  const store = yield* ObjectStore
  const id = yield* makeUlid
  const path = `smoke/${id}.bin`
  const payload = new TextEncoder().encode(`hello from shale, object ${id}\n`)

  yield* store.put(path, payload, { mode: "create" })
  yield* Console.log(`wrote   ${root}/${path} (${payload.length} bytes, create-only)`)

  const back = yield* store.get(path)
  if (!sameBytes(back, payload)) {
    return yield* new SmokeCheckFailed({ message: `read back ${back.length} bytes that differ from what was written` })
  }
  yield* Console.log(`read    ${path}: ${back.length} bytes, identical`)

  const meta = yield* store.head(path)
  if (meta.size !== payload.length || meta.metadata[PUT_ID_METADATA_KEY] === undefined) {
    return yield* new SmokeCheckFailed({ message: `head ${path}: ${JSON.stringify(meta)}` })
  }
  yield* Console.log(`head    ${path}: size ${meta.size}, etag ${meta.etag}, ${PUT_ID_METADATA_KEY} ${meta.metadata[PUT_ID_METADATA_KEY]}`)

  const listed = yield* Stream.runCollect(store.list("smoke"))
  if (!listed.some((o) => o.path === path)) {
    return yield* new SmokeCheckFailed({ message: `${path} is missing from the listing of smoke/` })
  }
  for (const o of listed) {
    const bytes = yield* store.get(o.path)
    if (bytes.length !== o.size) {
      return yield* new SmokeCheckFailed({ message: `${o.path}: listed ${o.size} bytes, read ${bytes.length}` })
    }
  }
  yield* Console.log(`listed  smoke/: ${listed.length} object(s), all readable`)
  yield* Console.log("ok")
})

const StoreLive = RetryingObjectStore.layer({ maxAttempts: 5 }).pipe(Layer.provide(LocalObjectStore.layer({ root })))

smoke.pipe(Effect.provide(StoreLive), NodeRuntime.runMain)
