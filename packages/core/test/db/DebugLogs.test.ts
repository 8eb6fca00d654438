/**
 * Debug-level detail of recovery, WAL writes, memtable flushes and GC passes, as structured log records
 * (message plus annotations) through the Promise API's function logger; none below the level asked for.
 */
import { assert, describe, it } from "@effect/vitest"
import { Shale } from "@shale/core"

const enc = new TextEncoder()

describe("debug logs", () => {
  it("recovery, a WAL write, a memtable flush and a GC pass log their figures at debug", async () => {
    const store = Shale.stores.memory()
    const records: Array<{ level: string; message: string; annotations: Readonly<Record<string, unknown>> }> = []
    const logger = (r: (typeof records)[number]) => void records.push(r)
    {
      await using db = await Shale.open("db", { store, settings: { compactor: null }, logger, logLevel: "debug" })
      await db.put(enc.encode("a"), enc.encode("1"))
      await db.flush({ type: "memtable" })
    }
    {
      await using admin = await Shale.admin("db", { store, logger, logLevel: "debug" })
      await admin.runGcOnce()
    }
    const find = (prefix: string) => records.find((r) => r.level === "debug" && r.message.startsWith(prefix))
    assert.deepInclude(find("recovered")?.annotations, { manifest: 2, writerEpoch: 1, replayedWals: 1, replayedRows: 0 }) // the fence is a WAL
    const wal = find("WAL ")
    assert.deepInclude(wal?.annotations, { rows: 1, lastSeq: 1 })
    assert.isAbove(Number(wal?.annotations.bytes), 0)
    const flushed = find("memtable flushed to L0 SST")
    assert.deepInclude(flushed?.annotations, { rows: 1, lastSeq: 1, l0Ssts: 1 })
    assert.isString(flushed?.annotations.sst)
    assert.isDefined(find("garbage collector: pass done")?.annotations.requests)

    // At the default level (warn), none of it.
    const quiet: typeof records = []
    await using db = await Shale.open("db", { store, settings: { compactor: null }, logger: (r) => void quiet.push(r) })
    await db.put(enc.encode("b"), enc.encode("2"))
    await db.flush({ type: "memtable" })
    assert.deepStrictEqual(quiet.filter((r) => r.level === "debug"), [])
  })
})
