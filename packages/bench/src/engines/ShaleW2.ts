/**
 * Shale on W2 (W2Engine.ts), on `LocalObjectStore` in the run's directory, through its Effect API
 * (`Db.layer` held by a `ManagedRuntime`, each loop one Effect program with a `yield*` per call) or its
 * Promise API (`Shale.open`, an `await` per call). The embedded compactor runs with W2's settings while
 * loading; the reads reopen without one. The embedded garbage collector (`garbageCollector`) runs in every
 * opening on W2's schedule for every kind of object (`--gc on`), or not at all (`--gc off`); its counters
 * are `status().garbageCollector`.
 *
 * The full compaction is the standalone compactor (`Compactor.layer`, the database closed) asked for
 * `submit("full")`: every L0 SST and sorted run into one run, in one compaction.
 */
import { Effect, Layer, ManagedRuntime, Stream } from "effect"
import { Compactor, Db, type Settings, Shale } from "@shale/core"
import { LocalObjectStore } from "@shale/core/node"
import type { FullCompaction, W2Db, W2Engine } from "../W2Engine.ts"
import type { EngineGcStatus } from "../W2Protocol.ts"
import { OP_PUT, type PassPlan, W2_SETTINGS, type W2GcSchedule, w2Value } from "../W2Workload.ts"

const PATH = "bench"
const NO_DURABLE = { awaitDurable: false } as const

/**
 * Where Shale's compaction jobs run (`compactor.executor`): a worker thread (the default) or the compactor's
 * own thread with `SHALE_W2_EXECUTOR=inline`, to compare the two.
 */
const EXECUTOR = process.env.SHALE_W2_EXECUTOR === "inline" ? "inline" : "worker"
const SHALE_W2_SETTINGS = { ...W2_SETTINGS, compactor: { ...W2_SETTINGS.compactor, executor: EXECUTOR } } as const

const settingsFor = (mode: "load" | "read", gc: W2GcSchedule | null): Settings.SettingsInput => ({
  ...SHALE_W2_SETTINGS,
  ...(mode === "load" ? {} : { compactor: null }),
  garbageCollector: gc === null ? null : { manifests: gc, wal: gc, compacted: gc, compactions: gc }
})

const gcStatusOf = (status: Db.Status): EngineGcStatus | undefined => {
  const g = status.garbageCollector
  return g === undefined ? undefined : {
    passes: g.passes,
    deleted: g.deleted,
    errors: g.errors,
    requests: g.requests,
    durationMs: g.durationMs,
    maxRequests: g.maxRequests,
    maxDurationMs: g.maxDurationMs
  }
}

/** A write batch of the plan's operations [from, to). */
const batchOf = (plan: PassPlan, from: number, to: number, keyOf: (i: number) => Uint8Array): Db.WriteBatch => {
  const batch = new Db.WriteBatch()
  for (let j = from; j < to; j++) {
    const i = plan.keys[j]!
    if (plan.kinds[j] === OP_PUT) batch.put(keyOf(i), w2Value(i, plan.pass))
    else batch.delete(keyOf(i))
  }
  return batch
}

const startFullCompaction = (dir: string) => async (): Promise<FullCompaction> => {
  const layer = Compactor.Compactor.layer({ path: PATH, settings: SHALE_W2_SETTINGS }).pipe(
    Layer.provide(LocalObjectStore.layer({ root: dir }))
  )
  const runtime = ManagedRuntime.make(layer)
  await runtime.runPromise(Compactor.Compactor.use((c) => c.submit("full")))
  return {
    method: `standalone compactor (Compactor.layer, executor ${EXECUTOR}), submit("full")`,
    finish: async () => {
      try {
        await runtime.runPromise(Compactor.Compactor.use((c) => c.awaitIdle))
      } finally {
        await runtime.dispose()
      }
    }
  }
}

const openEffect = async (dir: string, mode: "load" | "read", gc: W2GcSchedule | null): Promise<W2Db> => {
  const layer = Db.layer({ path: PATH, settings: settingsFor(mode, gc) }).pipe(
    Layer.provide(LocalObjectStore.layer({ root: dir }))
  )
  const runtime = ManagedRuntime.make(layer)
  await runtime.runPromise(Db.Db.useSync(() => undefined))
  const run = <A>(effect: Effect.Effect<A, unknown, Db.Db>): Promise<A> => runtime.runPromise(effect)
  return {
    load: (plan, batch, keyOf) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        for (let from = 0; from < plan.keys.length; from += batch) {
          yield* db.write(batchOf(plan, from, Math.min(from + batch, plan.keys.length), keyOf), NO_DURABLE)
        }
      })),
    flushMemtable: () => run(Db.Db.use((db) => db.flush({ type: "memtable" }))),
    gets: (keys, keyOf, check) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        for (let j = 0; j < keys.length; j++) check(j, yield* db.get(keyOf(keys[j]!)))
      })),
    scans: (starts, rows, keyOf, check) =>
      run(Effect.gen(function*() {
        const db = yield* Db.Db
        for (let s = 0; s < starts.length; s++) {
          // Each chunk checked as it streams: the rows are not collected first (docs/design/benchmark.md §5.2,
          // "A collected scan's rows in the old generation").
          yield* Stream.runForEachArray(Stream.take(db.scan({ start: keyOf(starts[s]!) }), rows), (chunk) =>
            Effect.sync(() => {
              for (const kv of chunk) check(s, kv.key, kv.value)
            }))
        }
      })),
    gcStatus: () => run(Db.Db.use((db) => db.status)).then(gcStatusOf),
    close: () => runtime.dispose()
  }
}

const openPromise = async (dir: string, mode: "load" | "read", gc: W2GcSchedule | null): Promise<W2Db> => {
  const db = await Shale.open(PATH, { store: Shale.stores.local(dir), settings: settingsFor(mode, gc) })
  return {
    load: async (plan, batch, keyOf) => {
      for (let from = 0; from < plan.keys.length; from += batch) {
        await db.write(batchOf(plan, from, Math.min(from + batch, plan.keys.length), keyOf), NO_DURABLE)
      }
    },
    flushMemtable: () => db.flush({ type: "memtable" }),
    gets: async (keys, keyOf, check) => {
      for (let j = 0; j < keys.length; j++) check(j, await db.get(keyOf(keys[j]!)))
    },
    scans: async (starts, rows, keyOf, check) => {
      for (let s = 0; s < starts.length; s++) {
        let n = 0
        for await (const kv of db.scan({ start: keyOf(starts[s]!) })) {
          check(s, kv.key, kv.value)
          if (++n === rows) break
        }
      }
    },
    gcStatus: () => db.status().then(gcStatusOf),
    close: () => db.close()
  }
}

export const makeShaleEffectW2 = async (dir: string, gc: W2GcSchedule | null): Promise<W2Engine> => ({
  open: (mode) => openEffect(dir, mode, gc),
  startFullCompaction: startFullCompaction(dir)
})

export const makeShalePromiseW2 = async (dir: string, gc: W2GcSchedule | null): Promise<W2Engine> => ({
  open: (mode) => openPromise(dir, mode, gc),
  startFullCompaction: startFullCompaction(dir)
})
