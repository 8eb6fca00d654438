/**
 * Spans and metrics of a small workload reach a real OTLP/HTTP receiver: a node:http server on loopback
 * that decodes the JSON bodies effect's exporter (`Otlp.layerJson` from `effect/observability`) posts to
 * `/v1/traces` and `/v1/metrics`. The layer is the README's ("Metrics and tracing").
 */
import { assert, describe, it } from "@effect/vitest"
import { Compactor, Db, GarbageCollector, ObjectStore, Shale } from "@shale/core"
import { Effect, Layer, Metric, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpExporter } from "effect/observability"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

const enc = new TextEncoder()

interface Received {
  readonly traces: Array<any>
  readonly metrics: Array<any>
}

/** An OTLP/HTTP receiver on loopback keeping every JSON body it is sent, by signal. */
const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly server: Server; readonly url: string; readonly received: Received }>((resume) => {
    const received: Received = { traces: [], metrics: [] }
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        if (req.url === "/v1/traces") received.traces.push(body)
        else if (req.url === "/v1/metrics") received.metrics.push(body)
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, received }))
    })
  }),
  ({ server }) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
)

type Attr = { readonly key: string; readonly value: Record<string, unknown> }

const attrsOf = (attributes: ReadonlyArray<Attr> | undefined): Record<string, unknown> =>
  Object.fromEntries((attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]))

const spansOf = (r: Received): Array<{ name: string; attributes: Record<string, unknown> }> =>
  r.traces.flatMap((b) =>
    b.resourceSpans.flatMap((rs: any) =>
      rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => ({ name: s.name, attributes: attrsOf(s.attributes) })))
    )
  )

/** The last exported value of each metric data point: `name{labels}` → value. */
const metricsOf = (r: Received): Map<string, unknown> => {
  const out = new Map<string, unknown>()
  for (const b of r.metrics) {
    for (const rm of b.resourceMetrics) {
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const points = m.sum?.dataPoints ?? m.gauge?.dataPoints ?? m.histogram?.dataPoints ?? []
          for (const p of points) {
            const labels = attrsOf(p.attributes)
            const key = `${m.name}${JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))}`
            out.set(key, p.asDouble ?? p.asInt ?? p.count)
          }
        }
      }
    }
  }
  return out
}

describe("OTLP export", () => {
  it.live("spans and metrics of open, put, get, scan and flush arrive at an OTLP/HTTP receiver", () =>
    Effect.gen(function*() {
      const { url, received } = yield* receiver
      const observability = Otlp.layerJson({
        baseUrl: url,
        resource: { serviceName: "shale-test" },
        tracerExportInterval: "100 millis",
        metricsExportInterval: "100 millis"
      }).pipe(Layer.provide(FetchHttpClient.layer))

      const workload = Effect.gen(function*() {
        const db = yield* Db.Db
        yield* db.put(enc.encode("user:1"), enc.encode("ada"))
        yield* db.write(new Db.WriteBatch().put(enc.encode("user:2"), enc.encode("bob")).delete(enc.encode("user:3")))
        const v = yield* db.get(enc.encode("user:1"))
        assert.strictEqual(v?.length, 3)
        const rows = yield* Stream.runCollect(db.scanPrefix(enc.encode("user:")))
        assert.strictEqual(rows.length, 2)
        yield* db.flush({ type: "memtable" })
        // Export now, while the database (and the series read from its counts) is open.
        yield* (yield* OtlpExporter.Flusher).flush
      })
      // The exporters flush what they hold when their scope closes (after the database closed).
      yield* workload.pipe(
        Effect.provide(Db.layer({ path: "db", settings: { compactor: null } })),
        Effect.provide(ObjectStore.layerMemory),
        Effect.provide(observability),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )

      const spans = spansOf(received)
      const named = (name: string) => spans.filter((s) => s.name === name)
      for (const name of ["Db.open", "Db.recover", "Db.put", "Db.write", "Db.get", "Db.scan", "Db.flush", "Db.memtableFlush", "Db.close"]) {
        assert.isAbove(named(name).length, 0, `span ${name} exported (got ${[...new Set(spans.map((s) => s.name))].join(", ")})`)
      }
      assert.deepInclude(named("Db.open")[0]!.attributes, { "db.path": "db" })
      assert.deepInclude(named("Db.put")[0]!.attributes, { "db.key_size": 6, "db.value_size": 3 })
      assert.deepInclude(named("Db.write")[0]!.attributes, { "db.ops": 2, "db.rows": 2 })
      assert.deepInclude(named("Db.get")[0]!.attributes, { "db.key_size": 6, "db.found": true, "db.value_size": 3 })
      assert.deepInclude(named("Db.scan")[0]!.attributes, { "db.rows": 2, "db.prefix_size": 5 })
      assert.deepInclude(named("Db.flush")[0]!.attributes, { "db.flush_type": "memtable" })
      assert.deepInclude(named("Db.memtableFlush")[0]!.attributes, { "memtable.rows": 3 })

      const metrics = metricsOf(received)
      const value = (name: string, labels: Record<string, string> = {}) =>
        metrics.get(`${name}${JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))}`)
      assert.strictEqual(value("slatedb.db.write_batch_count"), 2)
      assert.strictEqual(value("slatedb.db.write_ops"), 3)
      assert.strictEqual(value("slatedb.db.request_count", { op: "get" }), 1)
      assert.strictEqual(value("slatedb.db.request_count", { op: "scan" }), 1)
      assert.isAbove(Number(value("slatedb.db.wal_buffer_flushes")), 0)
      const put = { component: "db", store_type: "main", op: "put", api: "put" }
      assert.isAbove(Number(value("slatedb.object_store.request_count", put)), 0)
      assert.isAbove(Number(value("slatedb.object_store.request_duration_seconds", put)), 0)
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("a compaction and a GC pass export their spans and metrics", () =>
    Effect.gen(function*() {
      const { url, received } = yield* receiver
      const observability = Otlp.layerJson({ baseUrl: url, resource: { serviceName: "shale-test" } }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      const writes = Effect.gen(function*() {
        const db = yield* Db.Db
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 10; j++) yield* db.put(enc.encode(`k${j}`), enc.encode(`v${i}`), { awaitDurable: false })
          yield* db.flush({ type: "memtable" })
        }
      }).pipe(Effect.provide(Db.layer({ path: "db", settings: { compactor: null, garbageCollector: null } })))
      const compact = Effect.gen(function*() {
        const c = yield* Compactor.Compactor
        yield* c.submit("full")
        yield* c.awaitIdle
        yield* (yield* OtlpExporter.Flusher).flush
      }).pipe(Effect.provide(Compactor.layer({ path: "db" })))
      const collect = Effect.gen(function*() {
        yield* Effect.sleep("5 millis") // older than the minimum age (0 ms)
        const gc = yield* GarbageCollector.GarbageCollector
        yield* gc.runOnce
        yield* (yield* OtlpExporter.Flusher).flush
      }).pipe(Effect.provide(GarbageCollector.layer({ path: "db", options: GarbageCollector.withMinAge(GarbageCollector.defaultGcOptions, 0) })))
      yield* Effect.all([writes, compact, collect], { discard: true }).pipe(
        Effect.provide(ObjectStore.layerMemory),
        Effect.provide(observability),
        Effect.provideService(Metric.MetricRegistry, new Map())
      )

      const spans = spansOf(received)
      const compaction = spans.find((s) => s.name === "Compactor.compaction")
      assert.isDefined(compaction, `a compaction span (got ${[...new Set(spans.map((s) => s.name))].join(", ")})`)
      assert.deepInclude(compaction!.attributes, { "compaction.sources": 3, "compaction.rows_read": 30, "compaction.rows_written": 10 })
      assert.isString(compaction!.attributes["compaction.id"])
      const pass = spans.find((s) => s.name === "GarbageCollector.pass")
      assert.isDefined(pass)
      assert.deepInclude(pass!.attributes, { "gc.resources": "manifests,wal,compacted,compactions" })
      assert.isAbove(Number(pass!.attributes["gc.deleted.wal"]), 0)

      const metrics = metricsOf(received)
      const value = (name: string, labels: Record<string, string> = {}) =>
        metrics.get(`${name}${JSON.stringify(Object.fromEntries(Object.entries(labels).sort()))}`)
      assert.isAbove(Number(value("slatedb.compactor.bytes_compacted")), 0)
      assert.isAbove(Number(value("slatedb.compactor.last_compaction_timestamp_sec")), 1_700_000_000)
      assert.strictEqual(value("slatedb.compactor.running_compactions"), 0)
      assert.strictEqual(value("slatedb.gc.count"), 1)
      assert.strictEqual(value("slatedb.gc.deleted_count", { resource: "wal" }), pass!.attributes["gc.deleted.wal"])
      assert.isAbove(Number(value("slatedb.object_store.request_count", { component: "compactor", store_type: "main", op: "get", api: "get_range" })), 0)
      assert.isAbove(Number(value("slatedb.object_store.request_count", { component: "gc", store_type: "main", op: "delete", api: "delete" })), 0)
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("a Promise database exports its own spans and metrics through its telemetry layer", () =>
    Effect.gen(function*() {
      const { url, received } = yield* receiver
      const telemetry = Otlp.layerJson({ baseUrl: url, resource: { serviceName: "shale-promise" } }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      yield* Effect.promise(async () => {
        const store = Shale.stores.memory()
        await using other = await Shale.open("other", { store })
        await other.put(enc.encode("x"), enc.encode("y"))
        await using db = await Shale.open("db", { store, settings: { compactor: null }, telemetry })
        await db.put(enc.encode("k1"), enc.encode("v1"))
        assert.strictEqual((await db.get(enc.encode("k1")))?.length, 2)
        for await (const _ of db.scanPrefix(enc.encode("k"))) void _
        await db.flush()
        // Closing releases the telemetry layer after the database: its last export has the final counts.
        await db.close()
      })
      const spans = spansOf(received)
      for (const name of ["Db.open", "Db.put", "Db.get", "Db.scan", "Db.flush", "Db.close"]) {
        assert.isTrue(spans.some((s) => s.name === name), `span ${name} (got ${[...new Set(spans.map((s) => s.name))].join(", ")})`)
      }
      assert.deepInclude(spans.find((s) => s.name === "Db.get")!.attributes, { "db.key_size": 2, "db.found": true })
      const metrics = metricsOf(received)
      // The other database (no telemetry) is not in this database's registry: one put.
      assert.strictEqual(metrics.get(`slatedb.db.write_ops{}`), 1)
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
