/**
 * Transactions: SlateDB 0.12.1's table-driven transaction cases (`db_transaction.rs`,
 * `test_txn_table_driven`) rewritten against Shale, one for one. The named tests, the binding's and the
 * anomalies are in Transaction.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { DbService } from "../../src/db/DbService.ts"
import type { Transaction } from "../../src/db/Transaction.ts"
import type { IsolationLevel } from "../../src/db/TransactionManager.ts"
import { b, s } from "./fixtures.ts"
import { keys, open, outcome } from "./transactionSupport.ts"

type Op =
  | readonly ["get", string]
  | readonly ["scan", string, string]
  | readonly ["put", string, string]
  | readonly ["delete", string]
  | readonly ["markRead", string]
  | readonly ["commit"]
  | readonly ["rollback"]
  | readonly ["dbPut", string, string]
  | readonly ["dbGet", string]

interface Case {
  readonly name: string
  readonly isolation: IsolationLevel
  readonly initial: ReadonlyArray<readonly [string, string]>
  readonly ops: ReadonlyArray<Op>
  /** Per op: a value (get), keys (scan), "" (done), "conflict". */
  readonly expected: ReadonlyArray<string | undefined | ReadonlyArray<string>>
}

const kv5 = [["k1", "v1"], ["k2", "v2"], ["k3", "v3"], ["k4", "v4"], ["k5", "v5"]] as const

/** SlateDB's `test_txn_table_driven` cases (db_transaction.rs), one for one. */
const cases: ReadonlyArray<Case> = [
  { name: "ssi_basic_visibility", isolation: "serializable", initial: [["k1", "v1"]], ops: [["get", "k1"], ["commit"]], expected: ["v1", ""] },
  {
    name: "ssi_write_visibility_in_txn",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["put", "k1", "v2"], ["get", "k1"], ["commit"]],
    expected: ["", "v2", ""]
  },
  {
    name: "ssi_delete_visibility_in_txn",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["delete", "k1"], ["get", "k1"], ["commit"]],
    expected: ["", undefined, ""]
  },
  {
    name: "ssi_rollback_visibility",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["put", "k1", "v2"], ["rollback"], ["dbGet", "k1"]],
    expected: ["", "", "v1"]
  },
  {
    name: "si_concurrent_read_snapshot",
    isolation: "snapshot",
    initial: [["k1", "v1"]],
    ops: [["dbPut", "k1", "v2"], ["get", "k1"], ["commit"]],
    expected: ["", "v1", ""]
  },
  {
    name: "ssi_write_write_conflict",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["put", "k1", "v2"], ["dbPut", "k1", "v3"], ["commit"]],
    expected: ["", "", "conflict"]
  },
  {
    name: "ssi_read_write_conflict",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["get", "k1"], ["dbPut", "k1", "v1"], ["put", "k2", "v2.1"], ["commit"]],
    expected: ["v1", "", "", "conflict"]
  },
  {
    name: "si_read_write_no_conflict",
    isolation: "snapshot",
    initial: [["k1", "v1"]],
    ops: [["get", "k1"], ["dbPut", "k1", "v2"], ["commit"]],
    expected: ["v1", "", ""]
  },
  {
    name: "ssi_write_read_conflict",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["dbPut", "k1", "v2"], ["get", "k1"], ["put", "k3", "v3"], ["commit"]],
    expected: ["", "v1", "", "conflict"]
  },
  {
    name: "si_write_read_no_conflict",
    isolation: "snapshot",
    initial: [["k1", "v1"]],
    ops: [["dbPut", "k1", "v2"], ["get", "k1"], ["commit"]],
    expected: ["", "v1", ""]
  },
  {
    name: "ssi_range_write_conflict",
    isolation: "serializable",
    initial: kv5,
    ops: [["scan", "k1", "k5"], ["dbPut", "k3", "v3_new"], ["put", "k100", "v100"], ["commit"]],
    expected: [["k1", "k2", "k3", "k4", "k5"], "", "", "conflict"]
  },
  {
    name: "si_range_write_no_conflict",
    isolation: "snapshot",
    initial: kv5,
    ops: [["scan", "k1", "k5"], ["dbPut", "k3", "v3_new"], ["put", "k100", "v100"], ["commit"]],
    expected: [["k1", "k2", "k3", "k4", "k5"], "", "", ""]
  },
  {
    name: "ssi_mark_read_conflict",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["markRead", "k1"], ["dbPut", "k1", "v2"], ["put", "k2", "v2"], ["commit"]],
    expected: ["", "", "", "conflict"]
  },
  {
    name: "ssi_mark_read_multiple_keys_conflict",
    isolation: "serializable",
    initial: [["k1", "v1"], ["k2", "v2"], ["k3", "v3"]],
    ops: [["markRead", "k1"], ["markRead", "k2"], ["dbPut", "k2", "v2_new"], ["put", "k4", "v4"], ["commit"]],
    expected: ["", "", "", "", "conflict"]
  },
  {
    name: "ssi_mark_read_no_conflict_on_different_key",
    isolation: "serializable",
    initial: [["k1", "v1"], ["k2", "v2"]],
    ops: [["markRead", "k1"], ["dbPut", "k2", "v2_new"], ["put", "k3", "v3"], ["commit"]],
    expected: ["", "", "", ""]
  },
  {
    name: "ssi_mark_read_conflict_without_write",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["markRead", "k1"], ["dbPut", "k1", "v2"], ["commit"]],
    expected: ["", "", "conflict"]
  },
  {
    name: "ssi_get_conflict_without_write",
    isolation: "serializable",
    initial: [["k1", "v1"]],
    ops: [["get", "k1"], ["dbPut", "k1", "v2"], ["commit"]],
    expected: ["v1", "", "conflict"]
  },
  {
    name: "ssi_scan_conflict_without_write",
    isolation: "serializable",
    initial: [["k1", "v1"], ["k2", "v2"], ["k3", "v3"]],
    ops: [["scan", "k1", "k3"], ["dbPut", "k2", "v2_new"], ["commit"]],
    expected: [["k1", "k2", "k3"], "", "conflict"]
  },
  {
    name: "si_mark_read_conflict",
    isolation: "snapshot",
    initial: [["k1", "v1"]],
    ops: [["markRead", "k1"], ["dbPut", "k1", "v2"], ["put", "k2", "v2"], ["commit"]],
    expected: ["", "", "", "conflict"]
  },
  {
    name: "si_mark_read_write_write_conflict",
    isolation: "snapshot",
    initial: [["k1", "v1"]],
    ops: [["markRead", "k1"], ["put", "k2", "v2"], ["dbPut", "k2", "v2_db"], ["commit"]],
    expected: ["", "", "", "conflict"]
  }
]

const step = (db: DbService, txn: Transaction, op: Op) =>
  Effect.gen(function*() {
    switch (op[0]) {
      case "get":
        return s(yield* txn.get(b(op[1])))
      case "scan":
        return yield* keys(txn, op[1], op[2])
      case "put":
        yield* txn.put(b(op[1]), b(op[2]))
        return ""
      case "delete":
        yield* txn.delete(b(op[1]))
        return ""
      case "markRead":
        yield* txn.markRead([b(op[1])])
        return ""
      case "commit": {
        const o = yield* outcome(txn)
        return o === "ok" ? "" : o
      }
      case "rollback":
        yield* txn.rollback
        return ""
      case "dbPut":
        yield* db.put(b(op[1]), b(op[2]))
        return ""
      case "dbGet":
        return s(yield* db.get(b(op[1])))
    }
  })

describe("transactions: SlateDB's table-driven cases", () => {
  for (const c of cases) {
    it.effect(c.name, () =>
      Effect.gen(function*() {
        const db = yield* open
        for (const [k, v] of c.initial) yield* db.put(b(k), b(v))
        const txn = yield* db.begin({ isolation: c.isolation })
        const results: Array<unknown> = []
        for (const op of c.ops) results.push(yield* step(db, txn, op))
        assert.deepStrictEqual(results, [...c.expected])
      }))
  }
})

