/**
 * Snapshots and transactions through the Promise API (db/ShaleTransaction.ts): the official binding's
 * snapshot and transaction tests as a Node caller writes them, plus the handles' lifecycle.
 */
import { describe, expect, it } from "vitest"
import { InvalidError, TransactionError } from "../../src/errors.ts"
import { Shale } from "../../src/db/Shale.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const b = (s: string) => enc.encode(s)
const s = (u: Uint8Array | undefined) => (u === undefined ? undefined : dec.decode(u))
const settings = { flushIntervalMs: null, durableFlush: "eager", compactor: null, garbageCollector: null } as const

describe("Promise API: snapshots and transactions", () => {
  it("db snapshot isolation (the binding's test)", async () => {
    await using db = await Shale.open("db", { store: Shale.stores.memory(), settings })
    await db.put(b("snapshot"), b("old"), { awaitDurable: false })
    await using snapshot = await db.snapshot()
    await db.put(b("snapshot"), b("new"), { awaitDurable: false })
    expect(s(await snapshot.get(b("snapshot")))).toBe("old")
    expect(s(await db.get(b("snapshot")))).toBe("new")
    const rows = []
    for await (const kv of snapshot.scan()) rows.push([s(kv.key), s(kv.value)])
    expect(rows).toEqual([["snapshot", "old"]])
    await snapshot.release()
    await snapshot.release()
    await expect(snapshot.get(b("snapshot"))).rejects.toBeInstanceOf(InvalidError)
  })

  it("db transactions (the binding's test)", async () => {
    await using db = await Shale.open("db", { store: Shale.stores.memory(), settings })
    const transaction = await db.begin({ isolation: "snapshot" })
    expect(transaction.id).not.toBe("")
    await transaction.put(b("txn-key"), b("pending"))
    expect(s(await transaction.get(b("txn-key")))).toBe("pending")
    expect(await db.get(b("txn-key"))).toBeUndefined()
    const handle = await transaction.commit()
    expect(handle?.seq).toBeGreaterThan(0)
    expect(s(await db.get(b("txn-key")))).toBe("pending")
    const rollbackTx = await db.begin({ isolation: "snapshot" })
    await rollbackTx.put(b("rolled-back"), b("value"))
    await rollbackTx.rollback()
    expect(await db.get(b("rolled-back"))).toBeUndefined()
    // Completed: every later call is an InvalidError, never a silent no-op.
    await expect(transaction.commit()).rejects.toThrow("transaction has already been completed")
    await expect(rollbackTx.rollback()).rejects.toBeInstanceOf(InvalidError)
  })

  it("a conflict rejects with TransactionError; await using rolls back an open transaction", async () => {
    await using db = await Shale.open("db", { store: Shale.stores.memory(), settings })
    const t1 = await db.begin({ isolation: "serializable" })
    const t2 = await db.begin({ isolation: "serializable" })
    expect(await t1.get(b("x"))).toBeUndefined()
    await t1.put(b("y"), b("1"))
    await t2.put(b("x"), b("1"))
    await t2.commit()
    await expect(t1.commit()).rejects.toBeInstanceOf(TransactionError)
    {
      await using open = await db.begin()
      await open.put(b("z"), b("never"))
      expect(open.isActive).toBe(true)
    }
    expect(await db.get(b("z"))).toBeUndefined()
    const rows = []
    const t3 = await db.begin()
    await t3.put(b("w"), b("own"))
    for await (const kv of t3.scan()) rows.push(s(kv.key))
    expect(rows).toEqual(["w", "x"])
    await t3.rollback()
  })
})
