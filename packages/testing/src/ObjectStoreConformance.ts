/**
 * The object-store conformance suite: one set of tests that every `ObjectStore` backend must pass
 * (memory, local directory, S3, and wrappers such as the retrying store).
 *
 * `objectStoreConformance(name, layer)` registers a `describe(name)` block. The layer is built once for the
 * block, so every test shares one store (one bucket, one directory); each test works under its own prefix
 * `shale-conformance/<run id>/<test number>`, where the run id is drawn once when the suite is registered,
 * so suites from concurrent CI runs can share a bucket. Each test deletes what it wrote when it ends.
 *
 * Tests run with the live clock (not `TestClock`): real backends time out and retry on real time.
 *
 * The paths used here avoid names that one backend reserves (the local store reserves segments ending in
 * `#<digits>`), and never put an object at a path that is also a "directory" of another object (a file
 * system cannot hold both `a` and `a/b`).
 */
import { assert, layer, type Vitest } from "@effect/vitest"
import { Clock, Effect, Random, type Scope, Stream, type Layer } from "effect"
import { ObjectStore, type ByteRange, type ObjectStoreError } from "@shale/core/internal"

export interface ObjectStoreConformanceOptions {
  /** Objects written by the many-pages listing test (default 2500: more than two S3 pages of 1000). */
  readonly manyPagesCount?: number
  /** Per-test timeout in milliseconds (default 60 000). */
  readonly timeout?: number
  /** Concurrent requests when a test writes or deletes many objects (default 32). */
  readonly concurrency?: number
}

type Store = ObjectStore["Service"]

const makeRunId = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const salt = yield* Random.nextIntBetween(0, 2 ** 30, { halfOpen: true })
  return `${now.toString(36)}-${salt.toString(36)}`
})

/** Deterministic pseudo-random bytes (an LCG), so a failure shows the same data every run. */
export const patternBytes = (length: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(length)
  let x = seed >>> 0
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const assertBytes = (actual: Uint8Array, expected: Uint8Array, what: string) =>
  assert.isTrue(
    sameBytes(actual, expected),
    `${what}: expected ${expected.length} bytes, got ${actual.length} bytes with different content`
  )

const collect = (stream: Stream.Stream<{ readonly path: string }, ObjectStoreError>) =>
  Stream.runCollect(stream).pipe(Effect.map((items) => Array.from(items, (o) => o.path)))

const expectError = <A>(
  effect: Effect.Effect<A, ObjectStoreError>,
  tag: ObjectStoreError["_tag"],
  op: ObjectStoreError["op"],
  path: string
) =>
  Effect.gen(function*() {
    const e = yield* Effect.flip(effect)
    assert.strictEqual(e._tag, tag, `${op} ${JSON.stringify(path)}: ${e.message}`)
    assert.strictEqual(e.op, op)
    assert.strictEqual(e.path, path)
  })

/** What each group of tests gets: a fresh prefix per test (cleaned up after it), the limits. */
interface SuiteContext {
  readonly withPrefix: <A, E>(body: (store: Store, prefix: string) => Effect.Effect<A, E>) => Effect.Effect<A, E, ObjectStore | Scope.Scope>
  readonly timeout: number
  readonly manyPagesCount: number
  readonly concurrency: number
}

type It = Vitest.MethodsNonLive<ObjectStore>

/** Registers the conformance tests for the store built by `storeLayer`. */
export const objectStoreConformance = (
  name: string,
  storeLayer: Layer.Layer<ObjectStore, unknown, never>,
  options: ObjectStoreConformanceOptions = {}
): void => {
  const manyPagesCount = options.manyPagesCount ?? 2500
  const timeout = options.timeout ?? 60_000
  const concurrency = options.concurrency ?? 32
  const runId = Effect.runSync(makeRunId)
  let testCounter = 0

  const deleteAll = (store: Store, prefix: string) =>
    Stream.runForEach(store.list(prefix).pipe(Stream.mapEffect((o) => store.delete(o.path), { concurrency })), () =>
      Effect.void)

  /** Runs `body` with the store and a fresh prefix; everything under the prefix is deleted afterwards. */
  const withPrefix = <A, E>(body: (store: Store, prefix: string) => Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const prefix = `shale-conformance/${runId}/${++testCounter}`
      yield* Effect.addFinalizer(() => Effect.ignore(deleteAll(store, prefix)))
      return yield* body(store, prefix)
    })

  const ctx: SuiteContext = { withPrefix, timeout, manyPagesCount, concurrency }
  layer(storeLayer, { excludeTestServices: true, timeout: `${timeout} millis` })(name, (it) => {
    roundTrips(it, ctx)
    missingAndHead(it, ctx)
    rangesAndDeletes(it, ctx)
    listing(it, ctx)
    createsAndPaths(it, ctx)
  })
}

/** Objects come back as written: empty, every byte value, large, not aliased, overwritten. */
const roundTrips = (it: It, ctx: SuiteContext): void => {
  const { withPrefix, timeout } = ctx
  it.effect("round-trips an empty object", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        yield* store.put(`${p}/empty`, new Uint8Array(0))
        assert.strictEqual((yield* store.get(`${p}/empty`)).length, 0)
        assert.strictEqual((yield* store.head(`${p}/empty`)).size, 0)
        assert.strictEqual((yield* store.getRange(`${p}/empty`, { start: 0, end: 10 })).length, 0)
        assert.strictEqual((yield* store.getRange(`${p}/empty`, { suffix: 5 })).length, 0)
      })), timeout)

  it.effect("round-trips every byte value", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const bytes = new Uint8Array(512)
        for (let i = 0; i < bytes.length; i++) bytes[i] = (255 - i) & 0xff
        yield* store.put(`${p}/binary`, bytes)
        assertBytes(yield* store.get(`${p}/binary`), bytes, "get")
      })), timeout)

  it.effect("does not alias the caller's buffer", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const bytes = new Uint8Array([1, 2, 3])
        yield* store.put(`${p}/alias`, bytes)
        bytes[0] = 99
        assertBytes(yield* store.get(`${p}/alias`), new Uint8Array([1, 2, 3]), "get after caller mutation")
      })), timeout)

  it.effect("round-trips a ~5 MiB object and reads a range of it", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const bytes = patternBytes(5 * 1024 * 1024 + 3, 7)
        yield* store.put(`${p}/large`, bytes)
        assertBytes(yield* store.get(`${p}/large`), bytes, "get")
        assert.strictEqual((yield* store.head(`${p}/large`)).size, bytes.length)
        const start = 1024 * 1024 - 5
        const end = 4 * 1024 * 1024 + 11
        assertBytes(yield* store.getRange(`${p}/large`, { start, end }), bytes.subarray(start, end), "getRange")
      })), timeout)

  it.effect("overwrite replaces the bytes, the size, the etag and the metadata", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const path = `${p}/over`
        yield* store.put(path, patternBytes(100, 1), { metadata: { "shale-test": "first" } })
        const first = yield* store.head(path)
        yield* store.put(path, patternBytes(37, 2))
        assertBytes(yield* store.get(path), patternBytes(37, 2), "get after overwrite")
        const second = yield* store.head(path)
        assert.strictEqual(second.size, 37)
        assert.deepStrictEqual(second.metadata, {})
        assert.notStrictEqual(second.etag, first.etag)
      })), timeout)
}

/** Missing objects fail with `ObjectNotFound`; `head` describes an object. */
const missingAndHead = (it: It, ctx: SuiteContext): void => {
  const { withPrefix, timeout } = ctx
  it.effect("get, getRange and head of a missing object fail with ObjectNotFound", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const path = `${p}/missing`
        yield* expectError(store.get(path), "ObjectNotFound", "get", path)
        yield* expectError(store.getRange(path, { start: 0, end: 1 }), "ObjectNotFound", "getRange", path)
        yield* expectError(store.getRange(path, { suffix: 1 }), "ObjectNotFound", "getRange", path)
        yield* expectError(store.head(path), "ObjectNotFound", "head", path)
        // A "directory" (a prefix of other objects) is not an object.
        yield* store.put(`${p}/dir/child`, new Uint8Array([1]))
        yield* expectError(store.get(`${p}/dir`), "ObjectNotFound", "get", `${p}/dir`)
        yield* expectError(store.head(`${p}/dir`), "ObjectNotFound", "head", `${p}/dir`)
        for (const range of [{ start: 0, end: 1 }, { start: 0, end: 0 }, { start: 5, end: 4096 }, { suffix: 1 }]) {
          yield* expectError(store.getRange(`${p}/dir`, range), "ObjectNotFound", "getRange", `${p}/dir`)
        }
        // A path below an object is not an object either.
        yield* expectError(store.get(`${p}/dir/child/x`), "ObjectNotFound", "get", `${p}/dir/child/x`)
      })), timeout)

  it.effect("head reports size, etag, last-modified time and user metadata", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const metadata = { slatedbputid: "01ARZ3NDEKTSV4RRFFQ69G5FAV", "shale-test": "value with spaces" }
        yield* store.put(`${p}/meta`, patternBytes(42, 3), { metadata })
        const meta = yield* store.head(`${p}/meta`)
        assert.strictEqual(meta.path, `${p}/meta`)
        assert.strictEqual(meta.size, 42)
        assert.deepStrictEqual(meta.metadata, metadata)
        assert.isString(meta.etag)
        assert.isAbove(meta.etag?.length ?? 0, 0)
        assert.isTrue(Number.isFinite(meta.lastModified) && meta.lastModified > 0, `lastModified ${meta.lastModified}`)

        yield* store.put(`${p}/plain`, patternBytes(3, 4))
        assert.deepStrictEqual((yield* store.head(`${p}/plain`)).metadata, {})

        // A wrapper may add its own keys to create-only puts (the retrying store adds `slatedbputid`).
        yield* store.put(`${p}/created`, patternBytes(5, 5), { mode: "create", metadata: { "shale-test": "created" } })
        assert.strictEqual((yield* store.head(`${p}/created`)).metadata["shale-test"], "created")
      })), timeout)
}

/** Ranged reads clip to the object; deletes remove it and are idempotent. */
const rangesAndDeletes = (it: It, ctx: SuiteContext): void => {
  const { withPrefix, timeout } = ctx
  it.effect("getRange clips ranges to the object", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const path = `${p}/range`
        const bytes = patternBytes(100, 9)
        yield* store.put(path, bytes)
        const cases: ReadonlyArray<readonly [ByteRange, number, number]> = [
          [{ start: 10, end: 20 }, 10, 20],
          [{ start: 0, end: 100 }, 0, 100],
          [{ start: 0, end: 1 }, 0, 1],
          [{ start: 99, end: 100 }, 99, 100],
          [{ start: 90, end: 200 }, 90, 100],
          [{ start: 20, end: 20 }, 20, 20],
          [{ start: 100, end: 110 }, 100, 100],
          [{ start: 150, end: 160 }, 100, 100],
          [{ suffix: 1 }, 99, 100],
          [{ suffix: 10 }, 90, 100],
          [{ suffix: 100 }, 0, 100],
          [{ suffix: 1000 }, 0, 100]
        ]
        for (const [range, s, e] of cases) {
          assertBytes(yield* store.getRange(path, range), bytes.subarray(s, e), `getRange ${JSON.stringify(range)}`)
        }
      })), timeout)

  it.effect("delete removes the object; deleting a missing object succeeds", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const path = `${p}/gone`
        yield* store.put(path, patternBytes(10, 1))
        yield* store.put(`${p}/kept`, patternBytes(10, 2))
        yield* store.delete(path)
        yield* expectError(store.get(path), "ObjectNotFound", "get", path)
        yield* expectError(store.head(path), "ObjectNotFound", "head", path)
        assert.deepStrictEqual(yield* collect(store.list(p)), [`${p}/kept`])
        yield* store.delete(path)
        yield* store.delete(`${p}/never/existed`)
        assertBytes(yield* store.get(`${p}/kept`), patternBytes(10, 2), "unrelated object")
        // A deleted "directory" leaves no trace: its name can then hold an object.
        yield* store.put(`${p}/tree/leaf`, patternBytes(1, 3))
        yield* store.delete(`${p}/tree/leaf`)
        yield* store.put(`${p}/tree`, patternBytes(2, 4))
        assertBytes(yield* store.get(`${p}/tree`), patternBytes(2, 4), "object where a directory was")
      })), timeout)
}

/** Listing: path order, directory-like prefixes, many pages. */
const listing = (it: It, ctx: SuiteContext): void => {
  const { withPrefix, timeout, manyPagesCount, concurrency } = ctx
  it.effect("lists in ascending path order, isolating directory-like prefixes", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const under = [`${p}/d/z`, `${p}/d/a/b`, `${p}/d/B`, `${p}/d/a.c`, `${p}/d/a-b`, `${p}/d/a/c/d`]
        const beside = [`${p}/dx/1`, `${p}/dxy`, `${p}/c`]
        const all = [...under, ...beside]
        yield* Effect.forEach(all, (path, i) => store.put(path, patternBytes(i + 1, i)), { concurrency })
        const listed = yield* Stream.runCollect(store.list(`${p}/d`))
        assert.deepStrictEqual(listed.map((o) => o.path), [...under].sort())
        for (const o of listed) assert.strictEqual(o.size, all.indexOf(o.path) + 1, `size of ${o.path}`)
        assert.deepStrictEqual(yield* collect(store.list(p)), [...all].sort())
        assert.deepStrictEqual(yield* collect(store.list(`${p}/d/a`)), [`${p}/d/a/b`, `${p}/d/a/c/d`])
        assert.deepStrictEqual(yield* collect(store.list(`${p}/dx`)), [`${p}/dx/1`])
        assert.deepStrictEqual(yield* collect(store.list(`${p}/nothing`)), [])
        assert.deepStrictEqual(yield* collect(store.list(`${p}/c`)), [], "an object is not a directory")
        // startAfter: only what sorts after the path given, whether or not that path exists.
        const sorted = [...under].sort()
        assert.deepStrictEqual(yield* collect(store.list(`${p}/d`, { startAfter: sorted[2]! })), sorted.slice(3))
        assert.deepStrictEqual(yield* collect(store.list(`${p}/d`, { startAfter: `${p}/d/a/bb` })), sorted.filter((x) => x > `${p}/d/a/bb`))
        assert.deepStrictEqual(yield* collect(store.list(`${p}/d`, { startAfter: `${p}/d/zz` })), [])
        assert.deepStrictEqual(yield* collect(store.list(`${p}/d`, { startAfter: `${p}/a` })), sorted)
      })), timeout)

  it.effect(`lists ${manyPagesCount} objects across pages`, () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const paths = Array.from({ length: manyPagesCount }, (_, i) => `${p}/many/${i}`)
        yield* Effect.forEach(paths, (path) => store.put(path, new Uint8Array([1])), { concurrency, discard: true })
        yield* store.put(`${p}/many-not`, new Uint8Array([2]))
        const listed = yield* collect(store.list(`${p}/many`))
        assert.strictEqual(listed.length, manyPagesCount)
        assert.deepStrictEqual(listed, [...paths].sort())
        const middle = listed[Math.floor(manyPagesCount / 2)]!
        assert.deepStrictEqual(yield* collect(store.list(`${p}/many`, { startAfter: middle })), listed.filter((x) => x > middle))
      })), timeout)
}

/** Create-only puts and their races; invalid paths. */
const createsAndPaths = (it: It, ctx: SuiteContext): void => {
  const { withPrefix, timeout } = ctx
  it.effect("create-only put succeeds on a missing path and fails with ObjectAlreadyExists otherwise", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const path = `${p}/once`
        yield* store.put(path, patternBytes(8, 1), { mode: "create" })
        yield* expectError(store.put(path, patternBytes(9, 2), { mode: "create" }), "ObjectAlreadyExists", "put", path)
        assertBytes(yield* store.get(path), patternBytes(8, 1), "bytes after a failed create")
        assert.strictEqual((yield* store.head(path)).size, 8)
        yield* store.put(path, patternBytes(10, 3))
        assertBytes(yield* store.get(path), patternBytes(10, 3), "overwrite after create")
        yield* store.delete(path)
        yield* store.put(path, patternBytes(11, 4), { mode: "create" })
        assertBytes(yield* store.get(path), patternBytes(11, 4), "create after delete")
      })), timeout)

  it.effect("of 20 concurrent create-only puts exactly one wins", () =>
    withPrefix((store, p) =>
      Effect.gen(function*() {
        const path = `${p}/race`
        const payload = (i: number) => patternBytes(1000 + i, 100 + i)
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Effect.result(store.put(path, payload(i), { mode: "create", metadata: { writer: `${i}` } })),
          { concurrency: "unbounded" }
        )
        const winners = results.flatMap((r, i) => r._tag === "Success" ? [i] : [])
        assert.strictEqual(winners.length, 1, `winners: ${JSON.stringify(winners)}`)
        for (const r of results) {
          if (r._tag === "Failure") assert.strictEqual(r.failure._tag, "ObjectAlreadyExists", r.failure.message)
        }
        const winner = winners[0]!
        assertBytes(yield* store.get(path), payload(winner), "the winner's bytes")
        assert.strictEqual((yield* store.head(path)).metadata["writer"], `${winner}`)
      })), timeout)

  it.effect("rejects invalid paths with InvalidPath for every operation", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore
      const bad = ["", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", ".", "..", "a\u0000b"]
      for (const path of bad) {
        yield* expectError(store.put(path, new Uint8Array([1])), "InvalidPath", "put", path)
        yield* expectError(store.put(path, new Uint8Array([1]), { mode: "create" }), "InvalidPath", "put", path)
        yield* expectError(store.get(path), "InvalidPath", "get", path)
        yield* expectError(store.getRange(path, { start: 0, end: 1 }), "InvalidPath", "getRange", path)
        yield* expectError(store.head(path), "InvalidPath", "head", path)
        yield* expectError(store.delete(path), "InvalidPath", "delete", path)
        if (path !== "") yield* expectError(Stream.runCollect(store.list(path)), "InvalidPath", "list", path)
      }
    }), timeout)
}
