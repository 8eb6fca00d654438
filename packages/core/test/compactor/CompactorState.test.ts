/**
 * The compaction records' ids (compactor/CompactorState.ts `nextRecordId`): they sort in the order the
 * compactions were registered, also when several are made in one millisecond (a ULID's random bits are
 * not ordered), since the records are listed and the newest finished one kept by id.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import { TestClock } from "effect/testing"
import { type CompactionRecord, nextRecordId } from "../../src/compactor/CompactorState.ts"
import { CompactionStatus } from "../../src/manifest/CompactionsCodec.ts"
import { makeUlid, ulidAfter, ulidTimeMs } from "../../src/Ulid.ts"

const record = (id: string): CompactionRecord => ({
  id,
  spec: { sources: [{ kind: "sr", id: 0 }], destination: 0 },
  status: CompactionStatus.Completed,
  outputSsts: []
})

describe("nextRecordId", () => {
  it("keeps a fresh id that sorts after every record's, else takes the one right after the newest", () => {
    const a = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    const b = "01ARZ3NDEKTSV4RRFFQ69G5FB0"
    assert.strictEqual(nextRecordId(a, []), a)
    assert.strictEqual(nextRecordId(b, [record(a)]), b)
    assert.strictEqual(nextRecordId(a, [record(b), record(a)]), ulidAfter(b))
    assert.strictEqual(nextRecordId(b, [record(b)]), ulidAfter(b))
  })

  it.effect("ids made in one millisecond come out in the order they were registered", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const records: Array<CompactionRecord> = []
      let bumped = 0
      for (let i = 0; i < 200; i++) {
        const fresh = yield* makeUlid
        const id = nextRecordId(fresh, records)
        if (id !== fresh) bumped++
        records.push(record(id))
      }
      const ids = records.map((r) => r.id)
      assert.deepStrictEqual([...ids].sort(), ids)
      assert.strictEqual(new Set(ids).size, ids.length)
      assert.isTrue(ids.every((id) => ulidTimeMs(id) === 1_700_000_000_000))
      // Random bits alone would have put about half of them out of order.
      assert.isAbove(bumped, 50)
    }).pipe(Random.withSeed(7)))
})
