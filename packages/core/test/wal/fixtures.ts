/**
 * Shared pieces for the WAL tests: a stand-in WAL SST codec (so the WAL buffer is tested without the SST
 * format), row builders, a probing object store (latency on the Effect clock, injected failures, put
 * counts and concurrency), and the layer stack the manager runs on.
 */
import { Clock, Effect, Layer, Metric, Stream } from "effect"
import {
  makeMemory,
  makeValue,
  type ObjectStoreError,
  ObjectStore,
  type RowEntry,
  RowKind,
  StoreUnavailable
} from "../../src/internal.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { MonotonicClock } from "../../src/MonotonicClock.ts"
import { makeOracle, Oracle } from "../../src/Oracle.ts"
import { WalBufferManager, type WalBufferOptions } from "../../src/wal/WalBufferManager.ts"
import { WalIdAllocator } from "../../src/wal/WalIdAllocator.ts"
import { WalMetrics } from "../../src/wal/WalMetrics.ts"
import { type WalSstEncoder, WalSstWriter } from "../../src/wal/WalSstWriter.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

export const bytes = (s: string): Uint8Array => enc.encode(s)
export const text = (b: Uint8Array): string => dec.decode(b)

/** SlateDB's test helper `make_entry(key, value, seq, create_ts)`. */
export const row = (key: string, value: string, seq: number, createTs?: number): RowEntry =>
  makeValue(bytes(key), bytes(value), seq, createTs)

// ------------------------------------------------------------------ stand-in codec

/** `u32 n`, then per row: u32 keyLen, key, u8 kind, u32 valueLen, value, f64 seq, f64 createTs, f64 expireTs. */
export const testEncode: WalSstEncoder = (rows) => {
  let size = 4
  for (const r of rows) size += 4 + r.key.length + 1 + 4 + r.value.length + 24
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let o = 0
  view.setUint32(o, rows.length)
  o += 4
  for (const r of rows) {
    view.setUint32(o, r.key.length)
    out.set(r.key, o + 4)
    o += 4 + r.key.length
    view.setUint8(o, r.kind)
    view.setUint32(o + 1, r.value.length)
    out.set(r.value, o + 5)
    o += 5 + r.value.length
    view.setFloat64(o, r.seq)
    view.setFloat64(o + 8, r.createTs ?? Number.NaN)
    view.setFloat64(o + 16, r.expireTs ?? Number.NaN)
    o += 24
  }
  return out
}

export const testDecode = (sst: Uint8Array): Array<RowEntry> => {
  const view = new DataView(sst.buffer, sst.byteOffset, sst.byteLength)
  const n = view.getUint32(0)
  let o = 4
  const rows: Array<RowEntry> = []
  const ts = (v: number) => (Number.isNaN(v) ? undefined : v)
  for (let i = 0; i < n; i++) {
    const keyLen = view.getUint32(o)
    const key = sst.slice(o + 4, o + 4 + keyLen)
    o += 4 + keyLen
    const kind = view.getUint8(o) as RowKind
    const valueLen = view.getUint32(o + 1)
    const value = sst.slice(o + 5, o + 5 + valueLen)
    o += 5 + valueLen
    rows.push({
      key,
      kind,
      value,
      seq: view.getFloat64(o),
      createTs: ts(view.getFloat64(o + 8)),
      expireTs: ts(view.getFloat64(o + 16))
    })
    o += 24
  }
  return rows
}

// ------------------------------------------------------------------ probing store

export interface PutRecord {
  readonly path: string
  /** Clock time (ms) when the put started and when it completed. */
  readonly startedAt: number
  readonly finishedAt: number
  readonly ok: boolean
}

/** Controls and observations of a probing store. Mutable on purpose: tests steer it between steps. */
export interface StoreProbe {
  readonly puts: Array<PutRecord>
  /** Sleep (on the Effect clock) before each put. */
  latencyMs: number
  /** Failures returned by the next puts, in order (before the put reaches the store). */
  readonly failures: Array<(path: string) => ObjectStoreError>
  /** Failures returned by the next puts after the put reached the store (a lost response). */
  readonly failuresAfterWrite: Array<(path: string) => ObjectStoreError>
  inFlight: number
  maxInFlight: number
}

export const makeProbe = (latencyMs = 0): StoreProbe => ({
  puts: [],
  latencyMs,
  failures: [],
  failuresAfterWrite: [],
  inFlight: 0,
  maxInFlight: 0
})

export const unavailable = (path: string): ObjectStoreError =>
  new StoreUnavailable({ op: "put", path, message: "503 slow down" })

/** The memory store with a probe on `put`. */
export const probingStore = (probe: StoreProbe): Layer.Layer<ObjectStore> =>
  Layer.sync(ObjectStore, () => {
    const inner = makeMemory()
    return ObjectStore.of({
      ...inner,
      put: (path, data, options) =>
        Effect.gen(function*() {
          const startedAt = yield* Clock.currentTimeMillis
          probe.inFlight++
          probe.maxInFlight = Math.max(probe.maxInFlight, probe.inFlight)
          const record = (ok: boolean) =>
            Effect.flatMap(Clock.currentTimeMillis, (finishedAt) =>
              Effect.sync(() => {
                probe.inFlight--
                probe.puts.push({ path, startedAt, finishedAt, ok })
              }))
          return yield* Effect.gen(function*() {
            if (probe.latencyMs > 0) yield* Effect.sleep(probe.latencyMs)
            const before = probe.failures.shift()
            if (before !== undefined) return yield* Effect.fail(before(path))
            const result = yield* inner.put(path, data, options)
            const after = probe.failuresAfterWrite.shift()
            if (after !== undefined) return yield* Effect.fail(after(path))
            return result
          }).pipe(Effect.onExit((exit) => record(exit._tag === "Success")))
        })
    })
  })

// ------------------------------------------------------------------ the manager's layer stack

export interface TestSetup extends WalBufferOptions {
  readonly store?: Layer.Layer<ObjectStore>
  readonly oracle?: Layer.Layer<Oracle>
  readonly firstWalId?: number
  readonly encode?: WalSstEncoder
}

export const ROOT = "root"

/**
 * SlateDB's test setup: WAL ids from 1, in-memory store under `root`, oracle at (0,0,0), max WAL size
 * 1000 bytes, flush interval 10 ms unless told otherwise. Exposes the store, oracle and clock too.
 */
export const managerLayer = (setup: TestSetup = {}) => {
  const { encode, firstWalId, oracle, store, ...options } = setup
  const deps = Layer.mergeAll(
    WalSstWriter.layerWith({ root: ROOT, encode: encode ?? testEncode }),
    WalIdAllocator.layerCounter(firstWalId ?? 1),
    oracle ?? Oracle.layer(),
    MonotonicClock.layer(0)
  ).pipe(Layer.provideMerge(store ?? ObjectStore.layerMemory))
  return WalBufferManager.layer({ maxWalBytes: 1000, maxFlushInterval: "10 millis", ...options }).pipe(
    Layer.provideMerge(deps)
  )
}

/** Runs `effect` on a fresh manager stack with a fresh metric registry. */
export const withManager = (setup: TestSetup = {}) =>
<A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provide(managerLayer(setup)),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

/** An oracle whose durable seq a test can force, like SlateDB's `set_durable_seq_unsafe`. */
export const forcibleOracle = () => {
  const real = makeOracle()
  let forced: number | undefined = undefined
  const layer = Layer.succeed(
    Oracle,
    Oracle.of({
      ...real,
      lastDurableSeq: Effect.suspend(() => (forced === undefined ? real.lastDurableSeq : Effect.succeed(forced)))
    })
  )
  return {
    layer,
    setDurableSeqUnsafe: (seq: number) => {
      forced = seq
    }
  }
}

/** The WAL objects written under ROOT. */
export const walFiles = Effect.gen(function*() {
  const store = yield* ObjectStore
  const listed = yield* Stream.runCollect(store.list(`${ROOT}/wal`))
  return listed.map((o) => o.path)
})

/** WAL `id`, decoded with the stand-in codec. */
export const readWal = (id: number) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    return testDecode(yield* store.get(walSstPath(ROOT, id)))
  })

/** A count of the manager's metrics. */
export const counter = (pick: "flushRequests" | "flushes") =>
  Effect.gen(function*() {
    const metrics = yield* WalMetrics
    return (yield* Metric.value(metrics[pick])).count
  })
