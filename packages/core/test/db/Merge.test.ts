/**
 * Merge operators through the database (docs/design/merge.md): what a write batch folds, what an L0 flush
 * writes, what the embedded and a standalone compactor write, and every read path (get, getKeyValue,
 * scans both ways, prefix scans, read-only views) over operands spread across the memtable, L0 SSTs and
 * sorted runs; reads without an operator, and an operator that fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Compactor } from "../../src/compactor/Compactor.ts"
import type { DbService } from "../../src/db/DbService.ts"
import { WriteBatch } from "../../src/db/DbApi.ts"
import { openReadOnly } from "../../src/db/ReadOnlyDb.ts"
import { ClosedError, InvalidError } from "../../src/errors.ts"
import { compactedDir, manifestDir } from "../../src/format/Paths.ts"
import { type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import type { MergeOperator } from "../../src/iter/MergeOperator.ts"
import { decodeManifest } from "../../src/manifest/ManifestCodec.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { SsTableReader } from "../../src/sst/SsTableReader.ts"
import { eventually } from "../compactor/support.ts"
import { concatOperator } from "../support/merge.ts"
import { b, collect, listPaths, ND, openOn, s } from "./fixtures.ts"

const WITH = { mergeOperator: concatOperator } as const

/** Concatenation that throws "refused" while `refuse` is set. */
const refusing = () => {
  const state = {
    refuse: false,
    operator: {
      merge: (k, e, o) => {
        if (state.refuse) throw new Error("refused")
        return concatOperator.merge(k, e, o)
      }
    } satisfies MergeOperator
  }
  return state
}

/** Every row of the newest L0 SST. */
const newestL0 = (store: ObjectStore["Service"]) =>
  Effect.gen(function*() {
    const paths = yield* listPaths(store, manifestDir("db"))
    const manifest = decodeManifest(yield* store.get(paths.at(-1)!))
    const reader = yield* SsTableReader.open(`${compactedDir("db")}/${manifest.l0[0]!.id}.sst`)
    return Array.from(yield* Stream.runCollect(reader.scan()))
  }).pipe(Effect.provideService(ObjectStore, store))

const show = (rows: ReadonlyArray<RowEntry>) =>
  rows.map((r) => `${s(r.key)}@${r.seq}:${["V", "T", "M"][r.kind]}:${s(r.value)}`)

/** `base`, then operands +1, +2 in separate writes, the first two flushed to L0 each. */
const spread = (db: DbService, key: string) =>
  Effect.gen(function*() {
    yield* db.put(b(key), b("base"))
    yield* db.flush({ type: "memtable" })
    yield* db.merge(b(key), b("+1"))
    yield* db.flush({ type: "memtable" })
    yield* db.merge(b(key), b("+2"))
  })

describe("merge: the write path", () => {
  it.effect("a batch folds a key's operands onto the put or delete before them, as SlateDB's WriteBatch", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, WITH)
      const h = yield* db.write(
        new WriteBatch()
          .put(b("a"), b("A")).merge(b("a"), b("+x"))          // put then merge: one value
          .merge(b("m"), b("1")).merge(b("m"), b("2"))          // merge after merge: one operand
          .delete(b("d")).merge(b("d"), b("only"))              // a delete is the base: a value
          .merge(b("p"), b("lost")).put(b("p"), b("P"))         // a put replaces the earlier merge
          .merge(b("t"), b("ttl"), { ttl: { afterMs: 60_000 } }).merge(b("t"), b("none"), { ttl: "none" })
      )
      yield* db.flush({ type: "memtable" })
      const rows = yield* newestL0(store)
      assert.deepStrictEqual(show(rows), [
        `a@${h.seq}:V:A+x`,
        `d@${h.seq}:V:only`,
        `m@${h.seq}:M:12`,
        `p@${h.seq}:V:P`,
        // Different expire_ts: not folded in the batch (two rows with one seq; the later one replaces the
        // earlier in the memtable, as in SlateDB's), and the flush keeps what the memtable kept.
        `t@${h.seq}:M:ttl`
      ])
      assert.strictEqual(s(yield* db.get(b("m"))), "12")
    }))

  it.effect("without an operator, operands are written as they are; a put and a merge of one key in a batch keep the put", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory())
      yield* db.write(new WriteBatch().put(b("k"), b("v")).merge(b("k"), b("+m")))
      assert.strictEqual(s(yield* db.get(b("k"))), "v")
      yield* db.merge(b("j"), b("+m"))
      const error = yield* Effect.flip(db.get(b("j")))
      assert.instanceOf(error, InvalidError)
      assert.include(error.message, "merge operator missing")
      assert.instanceOf(yield* Effect.flip(collect(db.scan({}))), InvalidError)
    }))

  it.effect("a failing operator fails the write and takes no seq", () =>
    Effect.gen(function*() {
      const switchable = refusing()
      const { db } = yield* openOn(makeMemory(), { mergeOperator: switchable.operator })
      const first = yield* db.merge(b("k"), b("a"))
      switchable.refuse = true
      const error = yield* Effect.flip(db.merge(b("k"), b("b")))
      assert.instanceOf(error, InvalidError)
      assert.include(error.message, "refused")
      switchable.refuse = false
      assert.strictEqual((yield* db.put(b("x"), b("y"))).seq, first.seq + 1)
      assert.strictEqual(s(yield* db.get(b("k"))), "a")
    }))

  it.effect("merge validates like put", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory(), WITH)
      assert.instanceOf(yield* Effect.flip(db.merge(new Uint8Array(0), b("x"))), InvalidError)
      assert.instanceOf(yield* Effect.flip(db.merge(b("k"), b("x"), { ttl: { afterMs: -1 } } as never)), InvalidError)
      const batch = new WriteBatch().merge(b("k"), b("x"))
      yield* db.write(batch)
      assert.throws(() => batch.merge(b("k"), b("y")), InvalidError)
      assert.instanceOf(yield* Effect.flip(db.write({ ops: [{ _tag: "merge", key: b("k") }] } as never)), InvalidError)
    }))
})

describe("merge: flush and reads", () => {
  it.effect("operands in the memtable fold on reads; the L0 flush folds them (everything is durable by then)", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, WITH)
      yield* db.put(b("k"), b("base"))
      yield* db.merge(b("k"), b("+1"), ND)
      const last = yield* db.merge(b("k"), b("+2"), ND)
      yield* db.merge(b("n"), b("+n"), ND)
      assert.strictEqual(s(yield* db.get(b("k"))), "base+1+2")
      const kv = yield* db.getKeyValue(b("k"))
      assert.strictEqual(kv?.seq, last.seq)
      assert.deepStrictEqual(yield* collect(db.scan({})), [["k", "base+1+2"], ["n", "+n"]])
      yield* db.flush({ type: "memtable" })
      assert.deepStrictEqual(show(yield* newestL0(store)), [`k@${last.seq}:V:base+1+2`, `n@${last.seq + 1}:M:+n`])
      assert.strictEqual(s(yield* db.get(b("k"))), "base+1+2")
    }))

  it.effect("every read folds operands across the memtable and L0 SSTs; TTLs give the result the smallest expiry", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, WITH)
      yield* spread(db, "k2")
      yield* db.put(b("k1"), b("one"))
      yield* db.merge(b("k3"), b("x"), { ttl: { atMs: 9_000_000_000_000 } })
      yield* db.delete(b("k4"))
      yield* db.merge(b("k4"), b("after-delete"))
      yield* db.put(b("other"), b("o"))
      const expected: Array<readonly [string, string]> = [["k1", "one"], ["k2", "base+1+2"], ["k3", "x"], ["k4", "after-delete"]]
      assert.strictEqual(s(yield* db.get(b("k2"))), "base+1+2")
      assert.deepStrictEqual(yield* collect(db.scan({})), [...expected, ["other", "o"]])
      assert.deepStrictEqual(yield* collect(db.scan({}, { order: "desc" })), [["other", "o"], ...[...expected].reverse()])
      assert.deepStrictEqual(yield* collect(db.scanPrefix(b("k"))), expected)
      assert.deepStrictEqual(yield* collect(db.scan({ start: b("k2"), end: b("k3"), endInclusive: true }, { order: "desc" })), [["k3", "x"], ["k2", "base+1+2"]])
      const k3 = yield* db.getKeyValue(b("k3"))
      assert.strictEqual(k3?.expireTs, 9_000_000_000_000)
      // The read-only view reads the same (replaying the WAL into its memtable).
      const view = yield* openReadOnly({ root: "db", mergeOperator: concatOperator }).pipe(Effect.provideService(ObjectStore, store))
      assert.strictEqual(s(yield* view.get(b("k2"))), "base+1+2")
      assert.deepStrictEqual(yield* collect(view.scan({})), [...expected, ["other", "o"]])
      const bare = yield* openReadOnly({ root: "db" }).pipe(Effect.provideService(ObjectStore, store))
      assert.instanceOf(yield* Effect.flip(bare.get(b("k2"))), InvalidError)
      assert.strictEqual(s(yield* bare.get(b("k1"))), "one")
    }))

  it.effect("TTL at flush: operands fold only with equal expire_ts; an expired operand is dropped", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, WITH)
      const later = { ttl: { atMs: 5_000_000 }, awaitDurable: false } as const
      const base = yield* db.put(b("k"), b("base"), ND)
      yield* db.merge(b("k"), b("+a"), later)
      const a2 = yield* db.merge(b("k"), b("+a2"), later)
      yield* db.merge(b("k"), b("+gone"), { ttl: { atMs: 1 }, awaitDurable: false })
      yield* TestClock.adjust("10 millis") // the memtable's last tick passes the expiry of "+gone"
      const c = yield* db.merge(b("k"), b("+c"), later)
      const d = yield* db.merge(b("k"), b("+d"), ND)
      // Reads fold whatever the expiry (SlateDB does not filter expired rows on reads); the smallest wins.
      assert.strictEqual(s(yield* db.get(b("k"))), "base+a+a2+gone+c+d")
      assert.strictEqual((yield* db.getKeyValue(b("k")))?.expireTs, 1)
      yield* db.flush({ type: "memtable" })
      const rows = yield* newestL0(store)
      assert.deepStrictEqual(show(rows), [`k@${d.seq}:M:+d`, `k@${c.seq}:M:+c`, `k@${a2.seq}:M:+a+a2`, `k@${base.seq}:V:base`])
      assert.deepStrictEqual(rows.map((r) => r.expireTs), [undefined, 5_000_000, 5_000_000, undefined])
      assert.strictEqual(s(yield* db.get(b("k"))), "base+a+a2+c+d")
    }))

  it.effect("durability remote folds only durable operands", () =>
    Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory(), { ...WITH, settings: { durableFlush: "interval" } })
      yield* db.merge(b("k"), b("a"), ND)
      yield* db.flush({ type: "wal" })
      yield* db.merge(b("k"), b("b"), ND)
      assert.strictEqual(s(yield* db.get(b("k"))), "ab")
      assert.strictEqual(s(yield* db.get(b("k"), { durability: "remote" })), "a")
    }))

  it.effect("an operator failing in a flush closes the database (fatal), as SlateDB's flush error", () =>
    Effect.gen(function*() {
      const switchable = refusing()
      const { db } = yield* openOn(makeMemory(), { mergeOperator: switchable.operator })
      yield* db.merge(b("k"), b("a"))
      yield* db.merge(b("k"), b("b"))
      switchable.refuse = true
      const error = yield* Effect.flip(db.flush({ type: "memtable" }))
      assert.instanceOf(error, ClosedError)
      assert.strictEqual((yield* db.status).closeReason, "fatal")
    }))
})

describe("merge: snapshot reads", () => {
  // Found by the simulation (seeds 219 and 1006): a snapshot's point read whose version at the snapshot is
  // an operand folded the key's latest versions instead of the snapshot's.
  it.effect("a snapshot's get of an operand folds the versions at or below its seq only (memtable, L0)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { db } = yield* openOn(makeMemory(), WITH)
      yield* db.put(b("b"), b("base"))
      const one = yield* db.merge(b("k"), b("+1"))
      const two = yield* db.merge(b("b"), b("+1"))
      const snap = yield* db.snapshot()
      yield* db.put(b("k"), b("new"))
      yield* db.merge(b("k"), b("+2"))
      yield* db.merge(b("b"), b("+2"))
      const check = Effect.gen(function*() {
        const k = yield* snap.getKeyValue(b("k"))
        assert.strictEqual(s(k!.value), "+1")
        assert.strictEqual(k!.seq, one.seq)
        const base = yield* snap.getKeyValue(b("b"))
        assert.strictEqual(s(base!.value), "base+1")
        assert.strictEqual(base!.seq, two.seq)
        assert.strictEqual(s((yield* snap.get(b("k")))!), "+1")
        assert.strictEqual(s((yield* db.get(b("k")))!), "new+2")
      })
      yield* check // from the memtable
      yield* db.flush({ type: "memtable" })
      yield* check // from an L0 SST
    })))
})

describe("merge: compaction", () => {
  it.effect("the embedded compactor folds operands into the sorted run; reads are unchanged", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db } = yield* openOn(store, { ...WITH, settings: { compactor: true } })
      yield* db.put(b("k"), b("base"))
      for (let i = 1; i <= 4; i++) {
        yield* db.merge(b("k"), b(`+${i}`))
        yield* db.put(b(`f${i}`), b("x"))
        yield* db.flush({ type: "memtable" })
      }
      yield* eventually("L0 compaction", () => Effect.map(db.status, (st) => st.l0Ssts === 0 && st.sortedRuns === 1))
      assert.strictEqual(s(yield* db.get(b("k"))), "base+1+2+3+4")
      const paths = yield* listPaths(store, manifestDir("db"))
      const manifest = decodeManifest(yield* store.get(paths.at(-1)!))
      const sst = manifest.compacted[0]!.ssts[0]!
      const rows = yield* Effect.gen(function*() {
        const reader = yield* SsTableReader.open(`${compactedDir("db")}/${sst.id}.sst`)
        return Array.from(yield* Stream.runCollect(reader.scan()))
      }).pipe(Effect.provideService(ObjectStore, store))
      const k = rows.filter((r) => s(r.key) === "k")
      assert.deepStrictEqual(k.map((r) => [r.kind, s(r.value)]), [[RowKind.Value, "base+1+2+3+4"]])
    }))

  it.effect("a compactor of its own takes the operator too; without one its compactions fail", () =>
    Effect.gen(function*() {
      const store = makeMemory()
      const { db, scope } = yield* openOn(store, WITH)
      for (let i = 1; i <= 3; i++) {
        yield* db.merge(b("k"), b(`+${i}`))
        yield* db.flush({ type: "memtable" })
      }
      yield* Scope.close(scope, Exit.void)
      const compactAll = (mergeOperator?: MergeOperator) =>
        Effect.gen(function*() {
          const c = yield* Compactor
          yield* c.submit("full")
          yield* c.awaitIdle
          return yield* c.status
        }).pipe(
          Effect.provide(Compactor.layer({ path: "db", settings: { compactor: { pollIntervalMs: 3_600_000 } }, ...(mergeOperator === undefined ? {} : { mergeOperator }) })),
          Effect.provide(Layer.succeed(ObjectStore, store))
        )
      const without = yield* compactAll()
      assert.strictEqual(without.failed, 1)
      const withOperator = yield* compactAll(concatOperator)
      assert.deepStrictEqual({ l0: withOperator.l0Ssts, runs: withOperator.sortedRuns, failed: withOperator.failed }, { l0: 0, runs: 1, failed: 0 })
      const paths = yield* listPaths(store, manifestDir("db"))
      const manifest = decodeManifest(yield* store.get(paths.at(-1)!))
      const rows = yield* Effect.gen(function*() {
        const reader = yield* SsTableReader.open(`${compactedDir("db")}/${manifest.compacted[0]!.ssts[0]!.id}.sst`)
        return Array.from(yield* Stream.runCollect(reader.scan()))
      }).pipe(Effect.provideService(ObjectStore, store))
      // No base anywhere: the three operands fold into one operand.
      assert.deepStrictEqual(rows.map((r) => [r.kind, s(r.value)]), [[RowKind.Merge, "+1+2+3"]])
    }))
})

