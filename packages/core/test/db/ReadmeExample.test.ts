/**
 * The README's usage examples, run as written through the package's public entries (`@shale/core`,
 * `@shale/core/node`), with a temp directory instead of `./data`, so the docs stay true.
 */
import { assert, describe, it } from "@effect/vitest"
import { Admin, Compactor, Db, GarbageCollector, ObjectStore, Shale } from "@shale/core"
import { LocalObjectStore } from "@shale/core/node"
import { Effect, Layer, Schedule, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const enc = new TextEncoder()
const dec = new TextDecoder()

describe("README examples", () => {
  it.live("Effect API", () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-readme-"))
    return Effect.gen(function*() {
      const db = yield* Db.Db
      yield* db.put(enc.encode("user:1"), enc.encode("ada"))
      yield* db.put(enc.encode("user:2"), enc.encode("bob"), { awaitDurable: false })
      yield* db.write(new Db.WriteBatch().put(enc.encode("a"), enc.encode("1")).delete(enc.encode("user:2")))
      const v = yield* db.get(enc.encode("user:1"), { durability: "remote" })
      const rows = yield* Stream.runCollect(db.scanPrefix(enc.encode("user:"), { order: "desc" }))
      assert.strictEqual(dec.decode(v), "ada")
      assert.deepStrictEqual(rows.map((r) => dec.decode(r.key)), ["user:1"])
    }).pipe(
      Effect.provide(Db.layer({ path: "db", settings: { durableFlush: "eager" } })),
      Effect.provide(LocalObjectStore.layer({ root: dir })),
      Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    )
  })

  it.live("snapshots and transactions (Effect, then Promise)", () => {
    const transfer = Effect.gen(function*() {
      const db = yield* Db.Db
      const snap = yield* db.snapshot()
      const before = yield* snap.get(enc.encode("acct:a"))
      yield* db.transaction((txn) => Effect.gen(function*() {
        const a = Number(dec.decode((yield* txn.get(enc.encode("acct:a")))!))
        const b = Number(dec.decode((yield* txn.get(enc.encode("acct:b")))!))
        yield* txn.put(enc.encode("acct:a"), enc.encode(String(a - 10)))
        yield* txn.put(enc.encode("acct:b"), enc.encode(String(b + 10)))
      }), { isolation: "serializable", retry: Schedule.recurs(5) })
      assert.strictEqual(dec.decode(before), "100")
      assert.strictEqual(dec.decode((yield* snap.get(enc.encode("acct:a")))!), "100")
      assert.strictEqual(dec.decode((yield* db.get(enc.encode("acct:a")))!), "90")
      assert.strictEqual(dec.decode((yield* db.get(enc.encode("acct:b")))!), "10")
    }).pipe(Effect.scoped)
    return Effect.gen(function*() {
      const db = yield* Db.Db
      yield* db.put(enc.encode("acct:a"), enc.encode("100"))
      yield* db.put(enc.encode("acct:b"), enc.encode("0"))
      yield* transfer
    }).pipe(Effect.provide(Db.layer({ path: "db", settings: { durableFlush: "eager" } })), Effect.provide(ObjectStore.layerMemory))
  })

  it("snapshots and transactions without Effect", async () => {
    await using db = await Shale.open("db", { store: Shale.stores.memory(), settings: { durableFlush: "eager" } })
    await db.put(enc.encode("k"), enc.encode("old"))
    await using snap = await db.snapshot()
    const txn = await db.begin({ isolation: "serializable" })
    await txn.put(enc.encode("k"), enc.encode("new"))
    assert.strictEqual(dec.decode((await txn.get(enc.encode("k")))!), "new")
    const handle = await txn.commit()
    assert.isAbove(handle!.seq, snap.seq)
    assert.strictEqual(dec.decode((await snap.get(enc.encode("k")))!), "old")
    const other = await db.begin()
    await other.rollback()
    let error: unknown
    try {
      await other.commit()
    } catch (e) {
      error = e
    }
    assert.instanceOf(error, Db.InvalidError)
  })

  it.live("a compactor of its own beside a writer without one", () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-readme-"))
    const store = LocalObjectStore.layer({ root: dir })
    const writer = Db.layer({ path: "db", settings: { compactor: null, l0SstSizeBytes: 1024 } })
    const compactor = Compactor.layer({ path: "db", settings: { compactor: { pollIntervalMs: 1000 } } })
    const compactAll = Effect.gen(function*() {
      const c = yield* Compactor.Compactor
      yield* c.submit("full")
      yield* c.awaitIdle
      return yield* c.status
    })
    return Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const db = yield* Db.Db
        for (let i = 0; i < 6; i++) {
          for (let j = 0; j < 20; j++) yield* db.put(enc.encode(`k${j}`), enc.encode(`v${i}`), { awaitDurable: false })
          yield* db.flush({ type: "memtable" })
        }
        assert.isAtLeast((yield* db.status).l0Ssts, 6)
      }).pipe(Effect.provide(writer))
      const { l0Ssts, sortedRuns, completed, bytesWritten } = yield* compactAll.pipe(Effect.provide(compactor))
      assert.deepStrictEqual({ l0Ssts, sortedRuns }, { l0Ssts: 0, sortedRuns: 1 })
      assert.isAtLeast(completed, 1)
      assert.isAbove(bytesWritten, 0)
      const file = yield* Admin.readCompactions("db")
      assert.isTrue(file._tag === "Some")
      yield* Effect.gen(function*() {
        const db = yield* Db.Db
        const rows = yield* Stream.runCollect(db.scan({}))
        assert.deepStrictEqual([...new Set(rows.map((r) => dec.decode(r.value)))], ["v5"])
        assert.strictEqual(rows.length, 20)
        assert.deepStrictEqual((yield* db.status).sortedRuns, 1)
      }).pipe(Effect.provide(writer))
    }).pipe(
      Effect.provide(store),
      Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    )
  })

  it.live("checkpoint, read-only view at it, clone, one GC pass, a collector of its own", () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-readme-"))
    const backup = Effect.gen(function*() {
      const db = yield* Db.Db
      yield* db.put(enc.encode("user:1"), enc.encode("ada"))
      const { id } = yield* db.createCheckpoint({ lifetimeMs: 3_600_000, name: "backup" })
      yield* db.put(enc.encode("user:1"), enc.encode("later"))
      const rows = yield* Effect.scoped(Effect.flatMap(Db.openReadOnly({ root: "db", checkpointId: id }), (view) =>
        Stream.runCollect(view.scan({}))))
      yield* Admin.createClone("db-copy", "db", id)
      const pass = yield* Admin.runGcOnce("db")
      return { rows, pass, id }
    })
    return Effect.gen(function*() {
      const { rows, pass, id } = yield* backup.pipe(Effect.provide(Db.layer({ path: "db" })))
      assert.deepStrictEqual(rows.map((r) => dec.decode(r.value)), ["ada"])
      assert.deepStrictEqual(pass.errors, [])
      const listed = yield* Effect.gen(function*() {
        const admin = yield* Admin.Admin
        return yield* admin.listCheckpoints("backup")
      }).pipe(Effect.provide(Admin.layer({ path: "db" })))
      assert.deepStrictEqual(listed.map((c) => c.id), [id])
      const copied = yield* Effect.gen(function*() {
        const db = yield* Db.Db
        return yield* db.get(enc.encode("user:1"))
      }).pipe(Effect.provide(Db.layer({ path: "db-copy", settings: { garbageCollector: null } })))
      assert.strictEqual(dec.decode(copied), "ada")
      const status = yield* Effect.scoped(Effect.gen(function*() {
        const collector = yield* GarbageCollector.GarbageCollector
        yield* collector.runOnce
        return yield* collector.status
      }).pipe(Effect.provide(GarbageCollector.layer({ path: "db" }))))
      assert.strictEqual(status.passes, 1)
    }).pipe(
      Effect.provide(LocalObjectStore.layer({ root: dir })),
      Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    )
  })

  it.live("Metrics and tracing: the OTLP layer, Db.metrics, db.metrics()", () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-readme-"))
    // A stand-in for the collector: accepts every OTLP/HTTP post and counts them by path.
    const posts = new Map<string, number>()
    const collector = Effect.acquireRelease(
      Effect.callback<Server>((resume) => {
        const server = createServer((req, res) => {
          req.resume()
          req.on("end", () => {
            posts.set(req.url ?? "", (posts.get(req.url ?? "") ?? 0) + 1)
            res.writeHead(200, { "content-type": "application/json" }).end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
    )
    return Effect.gen(function*() {
      const server = yield* collector
      const Observability = Otlp.layerJson({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        resource: { serviceName: "my-service" }
      }).pipe(Layer.provide(FetchHttpClient.layer))
      const program = Effect.gen(function*() {
        const db = yield* Db.Db
        yield* db.put(enc.encode("user:1"), enc.encode("ada"))
        const metrics = yield* Db.metrics
        assert.strictEqual(metrics.find((m) => m.name === "slatedb.db.write_batch_count")?.value, 1)
      })
      yield* program.pipe(
        Effect.provide(Db.layer({ path: "db" })),
        Effect.provide(LocalObjectStore.layer({ root: dir })),
        Effect.provide(Observability)
      )
      assert.isAbove(posts.get("/v1/traces") ?? 0, 0)
      assert.isAbove(posts.get("/v1/metrics") ?? 0, 0)

      const db = yield* Effect.promise(() => Shale.open("db", { store: Shale.stores.resolve(dir) }))
      yield* Effect.promise(() => db.put(enc.encode("k"), enc.encode("v")))
      const gets = db.metrics().find((m) => m.name === "slatedb.db.write_ops")
      assert.deepStrictEqual(gets, { name: "slatedb.db.write_ops", labels: {}, value: 1 })
      yield* Effect.promise(() => db.close())
    }).pipe(
      Effect.scoped,
      Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    )
  })

  it("Promise API", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-readme-"))
    try {
      const [key, value, start, end] = [enc.encode("k"), enc.encode("v"), enc.encode("a"), enc.encode("z")]
      const [a, b, c] = [enc.encode("b1"), enc.encode("2"), enc.encode("k")]
      const seen: Array<string> = []
      let handle: Shale.ShaleDb | undefined
      {
        await using db = await Shale.open("db", { store: Shale.stores.resolve(dir) })
        handle = db
        await db.put(key, value)
        assert.strictEqual(dec.decode(await db.get(key)), "v")
        for await (const kv of db.scan({ start, end })) seen.push(dec.decode(kv.value))
        await db.write(new Shale.WriteBatch().put(a, b).delete(c))
      }
      assert.deepStrictEqual(seen, ["v"])
      assert.strictEqual((await handle.status()).closeReason, "clean")
      await using again = await Shale.open("db", { store: Shale.stores.resolve(`file://${dir}`) })
      assert.strictEqual(dec.decode(await again.get(a)), "2")
      assert.isUndefined(await again.get(c))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("merge operators", async () => {
    const key = enc.encode("k")
    const append: Shale.MergeOperator = {
      merge: (key, existing, operand) => Buffer.concat([existing ?? new Uint8Array(0), operand]),
      mergeBatch: (key, existing, operands) => Buffer.concat([existing ?? new Uint8Array(0), ...operands]) // optional
    }
    await using db = await Shale.open("db", { store: Shale.stores.memory(), mergeOperator: append })
    await db.put(key, enc.encode("a"))
    await db.merge(key, enc.encode("b"), { ttl: { afterMs: 60_000 } })
    await db.write(new Shale.WriteBatch().merge(key, enc.encode("c")))
    const merged = await db.get(key) // "abc"
    assert.strictEqual(dec.decode(merged), "abc")
  })
})
