/**
 * Transactions (db/Transaction.ts, db/TransactionManager.ts): SlateDB 0.12.1's named transaction tests
 * (`db_transaction.rs`; its table-driven cases are in TransactionCases.test.ts) rewritten against Shale,
 * the official binding's transaction test, and the classic anomalies: lost update (prevented at both
 * levels), write skew (prevented only under `serializable`), scanned-range conflicts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref, Schedule, Stream } from "effect"
import { OWN_WRITE_SEQ, type Transaction } from "../../src/db/Transaction.ts"
import type { IsolationLevel } from "../../src/db/TransactionManager.ts"
import { InvalidError, TransactionError } from "../../src/errors.ts"
import { makeMemory } from "../../src/objectstore/ObjectStore.ts"
import { b, collect, ND, openOn, s } from "./fixtures.ts"
import { concatOperator } from "../support/merge.ts"
import { keys, open, outcome } from "./transactionSupport.ts"

// ------------------------------------------------------------------------------------------ named tests

describe("transactions: SlateDB's named tests and the binding's", () => {
  it.effect("the binding's test: own writes visible inside only, commit returns a handle, rollback writes nothing", () =>
    Effect.gen(function*() {
      const db = yield* open
      const txn = yield* db.begin({ isolation: "snapshot" })
      assert.notStrictEqual(txn.id, "")
      yield* txn.put(b("txn-key"), b("pending"))
      assert.strictEqual(s(yield* txn.get(b("txn-key"))), "pending")
      assert.strictEqual(yield* db.get(b("txn-key")), undefined)
      const handle = yield* txn.commit()
      assert.isDefined(handle)
      assert.isAbove(handle!.seq, 0)
      assert.strictEqual(s(yield* db.get(b("txn-key"))), "pending")

      const rollback = yield* db.begin({ isolation: "snapshot" })
      yield* rollback.put(b("rolled-back"), b("value"))
      yield* rollback.rollback
      assert.strictEqual(yield* db.get(b("rolled-back")), undefined)
    }))

  it.effect("test_txn_si_commit_conflict: two transactions write one key, the second to commit fails", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("k1"), b("v1"))
      const t1 = yield* db.begin({ isolation: "snapshot" })
      yield* t1.put(b("k1"), b("v2"))
      const t2 = yield* db.begin({ isolation: "snapshot" })
      yield* t2.put(b("k1"), b("v3"))
      assert.strictEqual(yield* outcome(t1), "ok")
      assert.strictEqual(yield* outcome(t2), "conflict")
      assert.strictEqual(s(yield* db.get(b("k1"))), "v2")
    }))

  it.effect("test_txn_ssi_commit_conflict: a read key written by a transaction that committed first", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("k1"), b("v1"))
      yield* db.put(b("k2"), b("v2.1"))
      const t1 = yield* db.begin({ isolation: "serializable" })
      yield* t1.put(b("k1"), b("v2"))
      yield* t1.put(b("k2"), b("v2.2"))
      const t2 = yield* db.begin({ isolation: "serializable" })
      assert.strictEqual(s(yield* t2.get(b("k2"))), "v2.1")
      yield* t2.put(b("k3"), b("v3"))
      assert.strictEqual(yield* outcome(t1), "ok")
      assert.strictEqual(yield* outcome(t2), "conflict")
      assert.strictEqual(yield* db.get(b("k3")), undefined)
    }))

  it.effect("test_txn_ssi_commit_conflit_with_ranges: a write inside another transaction's scanned range", () =>
    Effect.gen(function*() {
      const db = yield* open
      for (const [k, v] of [["k1", "v1"], ["k2", "v2.1"], ["k3", "v3"]]) yield* db.put(b(k!), b(v!))
      const t1 = yield* db.begin({ isolation: "serializable" })
      const t2 = yield* db.begin({ isolation: "serializable" })
      assert.deepStrictEqual(yield* keys(t2, "k2", "k3"), ["k2", "k3"])
      yield* t1.put(b("k2"), b("v2.2"))
      assert.strictEqual(yield* outcome(t1), "ok")
      yield* t2.put(b("k4"), b("v4"))
      assert.strictEqual(yield* outcome(t2), "conflict")
    }))

  it.effect("test_txn_commit_await_durable_false: memory reads see it, remote reads do not yet", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory(), { settings: { durableFlush: "interval", flushIntervalMs: null } })
      const txn = yield* db.begin({ isolation: "snapshot" })
      yield* txn.put(b("k"), b("v"))
      yield* txn.commit(ND)
      assert.strictEqual(s(yield* db.get(b("k"), { durability: "memory" })), "v")
      assert.strictEqual(yield* db.get(b("k"), { durability: "remote" }), undefined)
    }))

  it.effect("test_txn_scan_sees_concurrent_put_in_same_txn: a scan sees the write set as of its call", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("k1"), b("v1"))
      yield* db.put(b("k3"), b("v3"))
      const txn = yield* db.begin({ isolation: "snapshot" })
      const early = txn.scan({ start: b("k1"), end: b("k3"), endInclusive: true })
      yield* txn.put(b("k2"), b("v2"))
      yield* txn.put(b("k3"), b("v3_updated"))
      assert.deepStrictEqual(yield* collect(early), [["k1", "v1"], ["k3", "v3"]])
      const later = txn.scan({ start: b("k1"), end: b("k3"), endInclusive: true })
      assert.deepStrictEqual(yield* collect(later), [["k1", "v1"], ["k2", "v2"], ["k3", "v3_updated"]])
      yield* txn.commit()
      assert.strictEqual(s(yield* db.get(b("k2"))), "v2")
    }))

  it.effect("test_mark_read_equivalent_to_get_in_ssi and test_mark_read_multiple_keys_at_once", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("k1"), b("v1"))
      const t1 = yield* db.begin({ isolation: "serializable" })
      yield* t1.markRead([b("k1")])
      yield* db.put(b("k1"), b("v2"))
      yield* t1.put(b("k2"), b("v2"))
      assert.strictEqual(yield* outcome(t1), "conflict")
      yield* db.put(b("k1"), b("v1"))
      const t2 = yield* db.begin({ isolation: "serializable" })
      yield* t2.get(b("k1"))
      yield* db.put(b("k1"), b("v2_again"))
      yield* t2.put(b("k3"), b("v3"))
      assert.strictEqual(yield* outcome(t2), "conflict")
      const t3 = yield* db.begin({ isolation: "serializable" })
      yield* t3.markRead([b("k1"), b("k2"), b("k3")])
      yield* db.put(b("k2"), b("v2_modified"))
      yield* t3.put(b("k4"), b("v4"))
      assert.strictEqual(yield* outcome(t3), "conflict")
    }))

  it.effect("test_unmark_write_*: an unmarked key conflicts with nothing, the others still do", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("k1"), b("v1"))
      yield* db.put(b("k2"), b("v2"))
      // ignores write-write conflicts
      const t1 = yield* db.begin({ isolation: "snapshot" })
      yield* t1.put(b("k1"), b("v2"))
      yield* t1.unmarkWrite([b("k1")])
      yield* db.put(b("k1"), b("v3"))
      assert.strictEqual(yield* outcome(t1), "ok")
      assert.strictEqual(s(yield* db.get(b("k1"))), "v2")
      // only excludes the selected keys
      const t2 = yield* db.begin({ isolation: "snapshot" })
      yield* t2.put(b("k1"), b("v1_txn"))
      yield* t2.put(b("k2"), b("v2_txn"))
      yield* t2.unmarkWrite([b("k1")])
      yield* db.put(b("k2"), b("v2_db"))
      assert.strictEqual(yield* outcome(t2), "conflict")
      // avoids read-write conflicts for others
      const reader = yield* db.begin({ isolation: "serializable" })
      yield* reader.get(b("k1"))
      const writer = yield* db.begin({ isolation: "snapshot" })
      yield* writer.put(b("k1"), b("v2"))
      yield* writer.unmarkWrite([b("k1")])
      assert.strictEqual(yield* outcome(writer), "ok")
      yield* reader.put(b("k2"), b("v2"))
      assert.strictEqual(yield* outcome(reader), "ok")
    }))

  it.effect("test_txn_commit_returns_write_handle and ..._empty_batch_returns_none", () =>
    Effect.gen(function*() {
      const db = yield* open
      const t1 = yield* db.begin()
      yield* t1.put(b("key1"), b("value1"))
      const h1 = yield* t1.commit(ND)
      const t2 = yield* db.begin()
      yield* t2.put(b("key2"), b("value2"), { ttl: { afterMs: 1000 } })
      const h2 = yield* t2.commit(ND)
      const t3 = yield* db.begin()
      yield* t3.delete(b("key1"))
      const h3 = yield* t3.commit(ND)
      assert.deepStrictEqual([h1?.seq, h2?.seq, h3?.seq], [1, 2, 3])
      const kv = yield* db.getKeyValue(b("key2"))
      assert.strictEqual(kv?.expireTs, h2!.createTs + 1000)
      const empty = yield* db.begin()
      assert.strictEqual(yield* empty.commit(ND), undefined)
    }))
})

// ------------------------------------------------------------------------------------------ Shale's own

describe("transactions: anomalies", () => {
  /** Reads `counter`, writes it plus one. */
  const increment = (txn: Transaction) =>
    Effect.gen(function*() {
      const n = Number(s(yield* txn.get(b("counter"))) ?? "0")
      yield* txn.put(b("counter"), b(String(n + 1)))
    })

  for (const isolation of ["snapshot", "serializable"] as const) {
    it.effect(`lost update is prevented (${isolation})`, () =>
      Effect.gen(function*() {
        const db = yield* open
        yield* db.put(b("counter"), b("0"))
        const t1 = yield* db.begin({ isolation })
        const t2 = yield* db.begin({ isolation })
        yield* increment(t1)
        yield* increment(t2)
        assert.strictEqual(yield* outcome(t1), "ok")
        assert.strictEqual(yield* outcome(t2), "conflict")
        assert.strictEqual(s(yield* db.get(b("counter"))), "1")
      }))
  }

  /** Two doctors on call; each goes off call if the other is still on: at least one must stay. */
  const offCall = (txn: Transaction, me: string, other: string) =>
    Effect.gen(function*() {
      if (s(yield* txn.get(b(other))) === "on") yield* txn.put(b(me), b("off"))
    })

  it.effect("write skew happens under snapshot isolation", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("alice"), b("on"))
      yield* db.put(b("bob"), b("on"))
      const t1 = yield* db.begin({ isolation: "snapshot" })
      const t2 = yield* db.begin({ isolation: "snapshot" })
      yield* offCall(t1, "alice", "bob")
      yield* offCall(t2, "bob", "alice")
      assert.deepStrictEqual([yield* outcome(t1), yield* outcome(t2)], ["ok", "ok"])
      assert.deepStrictEqual([s(yield* db.get(b("alice"))), s(yield* db.get(b("bob")))], ["off", "off"])
    }))

  it.effect("write skew is prevented under serializable", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("alice"), b("on"))
      yield* db.put(b("bob"), b("on"))
      const t1 = yield* db.begin({ isolation: "serializable" })
      const t2 = yield* db.begin({ isolation: "serializable" })
      yield* offCall(t1, "alice", "bob")
      yield* offCall(t2, "bob", "alice")
      assert.deepStrictEqual([yield* outcome(t1), yield* outcome(t2)], ["ok", "conflict"])
      assert.deepStrictEqual([s(yield* db.get(b("alice"))), s(yield* db.get(b("bob")))], ["off", "on"])
    }))

  it.effect("a scanned range conflicts from its first to its last returned key, not beyond", () =>
    Effect.gen(function*() {
      const db = yield* open
      for (const k of ["b", "c", "d"]) yield* db.put(b(k), b("1"))
      const inside = yield* db.begin({ isolation: "serializable" })
      const empty = yield* db.begin({ isolation: "serializable" })
      // Asked for [a, z): returned b..d, so the tracked range is [b, d].
      assert.strictEqual((yield* collect(inside.scan({ start: b("a"), end: b("z") }))).length, 3)
      assert.strictEqual((yield* collect(empty.scan({ start: b("x"), end: b("z") }))).length, 0)
      yield* db.put(b("c2"), b("new"))   // inside [b, d]
      yield* db.put(b("y"), b("new"))    // in what `empty` asked for, but it returned nothing
      for (const t of [inside, empty]) yield* t.put(b(`w-${t.id}`), b("1"))
      assert.strictEqual(yield* outcome(inside), "conflict")
      assert.strictEqual(yield* outcome(empty), "ok")
      const late = yield* db.begin({ isolation: "serializable" })
      // b, c, c2, d, w-<empty's id>, y: the tracked range is [b, y].
      assert.strictEqual((yield* collect(late.scan({ start: b("a"), end: b("z") }))).length, 6)
      yield* db.put(b("a"), b("before the first"))
      yield* db.put(b("zz"), b("after the last"))
      yield* late.put(b("w"), b("1"))
      assert.strictEqual(yield* outcome(late), "ok")
    }))

  it.effect("a scan lays the write set over the snapshot in both orders; own rows carry seq MAX_SAFE_INTEGER", () =>
    Effect.gen(function*() {
      const db = yield* open
      for (const k of ["a", "c", "e"]) yield* db.put(b(k), b(`db-${k}`))
      const txn = yield* db.begin()
      yield* db.put(b("b"), b("after begin"))
      yield* txn.put(b("d"), b("txn-d"))
      yield* txn.put(b("a"), b("txn-a"))
      yield* txn.delete(b("c"))
      yield* txn.put(b("f"), b("txn-f"))
      yield* txn.put(b("zz"), b("out of range"))
      const range = { start: b("a"), end: b("g") }
      const asc: Array<readonly [string, string]> = [["a", "txn-a"], ["d", "txn-d"], ["e", "db-e"], ["f", "txn-f"]]
      assert.deepStrictEqual(yield* collect(txn.scan(range)), asc)
      assert.deepStrictEqual(yield* collect(txn.scan(range, { order: "desc" })), [...asc].reverse())
      const own = yield* txn.getKeyValue(b("d"))
      assert.strictEqual(own?.seq, OWN_WRITE_SEQ)
      assert.strictEqual(yield* txn.get(b("c")), undefined)
      assert.strictEqual(yield* txn.get(b("b")), undefined)
    }))

  it.effect("a completed transaction refuses every call with InvalidError; begin rejects a bad isolation", () =>
    Effect.gen(function*() {
      const db = yield* open
      const t = yield* db.begin()
      yield* t.put(b("k"), b("v"))
      yield* t.commit()
      assert.isFalse(t.isActive)
      for (const e of [Effect.asVoid(t.commit()), t.rollback, t.put(b("k"), b("v")), Effect.asVoid(t.get(b("k"))), t.markRead([b("k")])]) {
        const error = yield* Effect.flip(e)
        assert.instanceOf(error, InvalidError)
        assert.strictEqual(error.message, "transaction has already been completed")
      }
      const r = yield* db.begin()
      yield* r.rollback
      assert.instanceOf(yield* Effect.flip(r.rollback), InvalidError)
      // A failed (conflicting) commit completes the transaction too.
      const c1 = yield* db.begin()
      yield* c1.put(b("x"), b("1"))
      yield* db.put(b("x"), b("2"))
      assert.strictEqual(yield* outcome(c1), "conflict")
      assert.instanceOf(yield* Effect.flip(c1.commit()), InvalidError)
      const bad = yield* Effect.flip(db.begin({ isolation: "repeatable" as IsolationLevel }))
      assert.instanceOf(bad, InvalidError)
      assert.instanceOf(yield* Effect.flip(t.put(b(""), b("v"))), InvalidError)
    }))
})

describe("Db.transaction", () => {
  it.effect("commits the body's writes and returns its value; a body failure rolls back, not retried", () =>
    Effect.gen(function*() {
      const db = yield* open
      const v = yield* db.transaction((txn) => Effect.as(txn.put(b("k"), b("v")), 42))
      assert.strictEqual(v, 42)
      assert.strictEqual(s(yield* db.get(b("k"))), "v")
      const runs = yield* Ref.make(0)
      const failed = yield* Effect.flip(db.transaction((txn) =>
        Effect.andThen(Ref.update(runs, (n) => n + 1), Effect.andThen(txn.put(b("k"), b("no")), Effect.fail("boom" as const)))
      ))
      assert.strictEqual(failed, "boom")
      assert.strictEqual(yield* Ref.get(runs), 1)
      assert.strictEqual(s(yield* db.get(b("k"))), "v")
    }))

  it.effect("a conflict runs the body again under the schedule; concurrent increments all land", () =>
    Effect.gen(function*() {
      const db = yield* open
      yield* db.put(b("counter"), b("0"))
      const runs = yield* Ref.make(0)
      const inc = db.transaction((txn) =>
        Effect.gen(function*() {
          yield* Ref.update(runs, (n) => n + 1)
          const n = Number(s(yield* txn.get(b("counter"))))
          yield* Effect.yieldNow
          yield* txn.put(b("counter"), b(String(n + 1)))
        }), { isolation: "snapshot", retry: Schedule.forever })
      yield* Effect.all(Array.from({ length: 16 }, () => inc), { concurrency: "unbounded" })
      assert.strictEqual(s(yield* db.get(b("counter"))), "16")
      assert.isAbove(yield* Ref.get(runs), 16)
    }))

  it.effect("without retries left, the conflict is the failure", () =>
    Effect.gen(function*() {
      const db = yield* open
      const runs = yield* Ref.make(0)
      const error = yield* Effect.flip(db.transaction((txn) =>
        Effect.gen(function*() {
          yield* Ref.update(runs, (n) => n + 1)
          yield* txn.put(b("k"), b("txn"))
          yield* db.put(b("k"), b("plain"))   // a commit after this transaction began: always a conflict
        }), { retry: Schedule.recurs(2) }))
      assert.instanceOf(error, TransactionError)
      assert.strictEqual(yield* Ref.get(runs), 3)
    }))
})

// ------------------------------------------------------------------------------------------ merge

describe("transaction merge", () => {
  const openWith = (withOperator: boolean) =>
    Effect.map(
      Effect.suspend(() => openOn(makeMemory(), withOperator ? { mergeOperator: concatOperator } : {})),
      ({ db }) => db
    )
  const rows = (txn: Transaction) =>
    Stream.runCollect(txn.scan({})).pipe(Effect.map((c) => c.map((kv) => `${s(kv.key)}=${s(kv.value)}`)))

  it.effect("own operands fold over the snapshot's value, over an own put or delete, and in scans; the commit writes them", () =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* openWith(true)
      yield* db.put(b("a"), b("A"), ND)
      yield* db.put(b("c"), b("C"), ND)
      const txn = yield* db.begin()
      yield* txn.merge(b("a"), b("1"))
      yield* txn.merge(b("a"), b("2"))
      assert.strictEqual(s(yield* txn.get(b("a"))), "A12")
      yield* txn.put(b("b"), b("B"))
      yield* txn.merge(b("b"), b("3"))
      assert.strictEqual(s(yield* txn.get(b("b"))), "B3")
      yield* txn.delete(b("c"))
      yield* txn.merge(b("c"), b("4"))
      yield* txn.merge(b("d"), b("5"))
      assert.deepStrictEqual(yield* rows(txn), ["a=A12", "b=B3", "c=4", "d=5"])
      const desc = yield* Stream.runCollect(txn.scan({}, { order: "desc" }))
      assert.deepStrictEqual(desc.map((kv) => s(kv.key)), ["d", "c", "b", "a"])
      // Outside the transaction nothing changed yet.
      assert.strictEqual(s(yield* db.get(b("a"))), "A")
      assert.isDefined(yield* txn.commit())
      assert.strictEqual(s(yield* db.get(b("a"))), "A12")
      assert.strictEqual(s(yield* db.get(b("b"))), "B3")
      assert.strictEqual(s(yield* db.get(b("c"))), "4")
      assert.strictEqual(s(yield* db.get(b("d"))), "5")
    })))

  it.effect("merges are writes for conflicts: two transactions merging one key, the second to commit fails", () =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* openWith(true)
      const t1 = yield* db.begin()
      const t2 = yield* db.begin()
      yield* t1.merge(b("k"), b("1"))
      yield* t2.merge(b("k"), b("2"))
      assert.strictEqual(yield* outcome(t1), "ok")
      assert.strictEqual(yield* outcome(t2), "conflict")
      assert.strictEqual(s(yield* db.get(b("k"))), "1")
    })))

  it.effect("without a merge operator, a read of an own operand fails (the database's reads would too)", () =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* openWith(false)
      const txn = yield* db.begin()
      yield* txn.merge(b("k"), b("1"))
      const error = yield* Effect.flip(txn.get(b("k")))
      assert.include(error.message, "merge operator missing")
      const scanError = yield* Effect.flip(rows(txn))
      assert.include(scanError.message, "merge operator missing")
      yield* txn.rollback
    })))
})
