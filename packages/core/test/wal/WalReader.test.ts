/**
 * The WAL reader (SlateDB's `WalReader`): Shale writes puts, deletes, TTL puts and batches across several
 * WAL files, a merge operand is added as a WAL SST of its own (Shale's write path has no merge), and the
 * reader lists them (ranges: start inclusive, end exclusive), hands out files by id without I/O, reports
 * their metadata and reads exactly the rows written; missing files fail with `DataError`.
 */
import { Cause, Effect, Exit, Layer, Stream } from "effect"
import { assert, describe, it } from "vitest"
import { Shale } from "../../src/db/Shale.ts"
import { openWalReader, ShaleWalFile } from "../../src/db/ShaleWalReader.ts"
import { DataError, InvalidError } from "../../src/errors.ts"
import { walSstPath } from "../../src/format/Paths.ts"
import { makeMerge, makeTombstone, makeValue } from "../../src/format/RowEntry.ts"
import { buildWalSsTable } from "../../src/format/SsTableBuilder.ts"
import { makeMemory, ObjectStore } from "../../src/objectstore/ObjectStore.ts"
import { makeWalReader, type WalFile, type WalReader, walReaderOver, type WalRow } from "../../src/wal/WalReader.ts"
import { b, ND, s, testSettings } from "../db/fixtures.ts"

const ROOT = "db"
const TTL_MS = 60_000

interface Expected {
  readonly kind: WalRow["kind"]
  readonly key: string
  readonly value: string | undefined
  readonly seq: number
  readonly createTs: number | undefined
  readonly expireTs: number | undefined
}

const plain = (r: WalRow): Expected => ({
  kind: r.kind,
  key: s(r.key)!,
  value: s(r.value),
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)
const rowsOf = (file: WalFile) => run(Stream.runCollect(file.rows)).then((rows) => Array.from(rows, plain))
const failureOf = <A, E>(effect: Effect.Effect<A, E>): Promise<E> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a failure")
    return Cause.squash(exit.cause) as E
  })

/**
 * Writes three WAL files with Shale (a put and a TTL put; a delete and a batch; a put), then a fourth WAL
 * SST holding a merge operand and a value, as SlateDB's writer would store them. Returns the store, the
 * rows expected per written file (by id), and the ids of WAL files holding no rows.
 */
const writeWals = async () => {
  const store = makeMemory()
  const db = await Shale.open(ROOT, { store: Layer.succeed(ObjectStore, store), settings: testSettings })
  const byFile: Array<Array<Expected>> = []
  let current: Array<Expected> = []
  const value = (key: string, v: string, h: { seq: number; createTs: number }, expireTs?: number): Expected =>
    ({ kind: "value", key, value: v, seq: h.seq, createTs: h.createTs, expireTs })
  const flush = async () => {
    await db.flush({ type: "wal" })
    byFile.push(current)
    current = []
  }
  current.push(value("a", "1", await db.put(b("a"), b("1"), ND)))
  const ttl = await db.put(b("b"), b("2"), { ...ND, ttl: { afterMs: TTL_MS } })
  current.push(value("b", "2", ttl, ttl.createTs + TTL_MS))
  await flush()
  const del = await db.delete(b("a"), ND)
  current.push({ kind: "tombstone", key: "a", value: undefined, seq: del.seq, createTs: del.createTs, expireTs: undefined })
  const batch = await db.write(new Shale.WriteBatch().put(b("d"), b("4")).delete(b("b")).put(b("c"), b("3")), ND)
  // A batch's rows share its seq and are stored in key order.
  current.push({ kind: "tombstone", key: "b", value: undefined, seq: batch.seq, createTs: batch.createTs, expireTs: undefined })
  current.push(value("c", "3", batch), value("d", "4", batch))
  await flush()
  current.push(value("e", "5", await db.put(b("e"), b("5"), ND)))
  await flush()
  await db.close()

  const ids = await run(Effect.map(walReaderOver(store, ROOT).list(), (fs) => fs.map((f) => f.id)))
  const mergeId = ids[ids.length - 1]! + 1
  const last = byFile[2]![0]!.seq
  const merge = [makeMerge(b("m"), b("x"), last + 1, 1000, 9000), makeValue(b("n"), b("y"), last + 2, 1001)]
  await run(store.put(walSstPath(ROOT, mergeId), buildWalSsTable(merge).bytes))
  byFile.push([
    { kind: "merge", key: "m", value: "x", seq: last + 1, createTs: 1000, expireTs: 9000 },
    { kind: "value", key: "n", value: "y", seq: last + 2, createTs: 1001, expireTs: undefined }
  ])
  return { store, byFile, mergeId }
}

/** The reader's files with their rows; the ids of the files that hold rows, and those that hold none. */
const readAll = async (reader: WalReader) => {
  const files = await run(reader.list())
  const withRows: Array<{ id: number; rows: Array<Expected> }> = []
  const empty: Array<number> = []
  for (const f of files) {
    const rows = await rowsOf(f)
    if (rows.length === 0) empty.push(f.id)
    else withRows.push({ id: f.id, rows })
  }
  return { ids: files.map((f) => f.id), withRows, empty }
}

describe("WalReader", () => {
  it("lists the WAL files ascending and reads exactly the rows written: kinds, keys, values, seqs, timestamps", async () => {
    const { store, byFile, mergeId } = await writeWals()
    const reader = await run(makeWalReader(ROOT).pipe(Effect.provideService(ObjectStore, store)))
    assert.strictEqual(reader.root, ROOT)
    const { ids, withRows, empty } = await readAll(reader)
    assert.deepStrictEqual(ids, [...ids].sort((x, y) => x - y))
    assert.strictEqual(new Set(ids).size, ids.length)
    assert.deepStrictEqual(withRows.map((f) => f.rows), byFile)
    assert.strictEqual(withRows[withRows.length - 1]!.id, mergeId)
    // Files are written in seq order, so ids and seqs ascend together.
    const seqs = withRows.flatMap((f) => f.rows.map((r) => r.seq))
    assert.deepStrictEqual(seqs, [...seqs].sort((x, y) => x - y))
    // The writer's first WAL (written when it opened, to fence older writers) holds no rows; it is listed.
    assert.deepStrictEqual(empty, [ids[0]])
  })

  it("list ranges: start inclusive, end exclusive, either bound optional, empty when nothing is in range", async () => {
    const { store } = await writeWals()
    const reader = walReaderOver(store, ROOT)
    const all = (await run(reader.list())).map((f) => f.id)
    assert.isAtLeast(all.length, 4)
    const idsOf = (range: { start?: number; end?: number }) => run(reader.list(range)).then((fs) => fs.map((f) => f.id))
    const [first, second, third] = [all[0]!, all[1]!, all[2]!]
    const lastId = all[all.length - 1]!
    assert.deepStrictEqual(await idsOf({}), all)
    assert.deepStrictEqual(await idsOf({ start: second }), all.slice(1))
    assert.deepStrictEqual(await idsOf({ end: third }), all.filter((id) => id < third))
    assert.deepStrictEqual(await idsOf({ start: second, end: third }), [second])
    assert.deepStrictEqual(await idsOf({ start: first, end: lastId + 1 }), all)
    assert.deepStrictEqual(await idsOf({ start: second, end: second }), [])
    assert.deepStrictEqual(await idsOf({ start: third, end: second }), [])
    assert.deepStrictEqual(await idsOf({ start: lastId + 1000 }), [])
    assert.deepStrictEqual(await idsOf({ end: 0 }), [])
    const bad = await failureOf(reader.list({ start: -1 }))
    assert.instanceOf(bad, InvalidError)
    assert.instanceOf(await failureOf(reader.list({ end: 1.5 })), InvalidError)
  })

  it("get(id), nextId and nextFile do no I/O and check nothing; the file reads the same as the listed one", async () => {
    const { store, byFile, mergeId } = await writeWals()
    let calls = 0
    const counting = ObjectStore.of({
      get: (p) => Effect.suspend(() => (calls++, store.get(p))),
      getRange: (p, r) => Effect.suspend(() => (calls++, store.getRange(p, r))),
      head: (p) => Effect.suspend(() => (calls++, store.head(p))),
      put: (p, bytes, o) => Effect.suspend(() => (calls++, store.put(p, bytes, o))),
      delete: (p) => Effect.suspend(() => (calls++, store.delete(p))),
      list: (p, o) => Stream.suspend(() => (calls++, store.list(p, o)))
    })
    const reader = walReaderOver(counting, ROOT)
    const file = reader.get(mergeId - 1)
    const next = file.nextFile()
    const beyond = reader.get(mergeId + 41)
    assert.strictEqual(file.id, mergeId - 1)
    assert.strictEqual(file.nextId, mergeId)
    assert.strictEqual(next.id, mergeId)
    assert.strictEqual(next.nextId, mergeId + 1)
    assert.strictEqual(beyond.id, mergeId + 41)
    assert.strictEqual(calls, 0)
    assert.deepStrictEqual(await rowsOf(file), byFile[2])
    assert.deepStrictEqual(await rowsOf(next), byFile[3])
    // The file after the last one is a handle like any other: reading it fails (SlateDB does not check).
    const afterLast = next.nextFile()
    assert.strictEqual(afterLast.id, mergeId + 1)
    assert.instanceOf(await failureOf(afterLast.metadata), DataError)
  })

  it("metadata: size, last-modified time and location, as the store reports them", async () => {
    const { store, mergeId } = await writeWals()
    const reader = walReaderOver(store, ROOT)
    for (const f of await run(reader.list())) {
      const meta = await run(f.metadata)
      const head = await run(store.head(walSstPath(ROOT, f.id)))
      const bytes = await run(store.get(walSstPath(ROOT, f.id)))
      assert.deepStrictEqual(meta, { sizeBytes: bytes.length, lastModified: head.lastModified, location: head.path })
    }
    const meta = await run(reader.get(mergeId).metadata)
    assert.strictEqual(meta.location, `db/wal/${String(mergeId).padStart(20, "0")}.sst`)
    assert.isAbove(meta.sizeBytes, 0)
  })

  it("a missing file (deleted after list, or never written) is a DataError naming the object", async () => {
    const { store } = await writeWals()
    const reader = walReaderOver(store, ROOT)
    const [first] = await run(reader.list())
    const path = walSstPath(ROOT, first!.id)
    await run(store.delete(path))
    for (const failure of [await failureOf(first!.metadata), await failureOf(Stream.runCollect(first!.rows))]) {
      assert.instanceOf(failure, DataError)
      assert.strictEqual((failure as DataError).object, path)
      assert.strictEqual(((failure as DataError).cause as { _tag: string })._tag, "ObjectNotFound")
    }
    assert.instanceOf(await failureOf(Stream.runCollect(reader.get(123456).rows)), DataError)
    // Ids Shale cannot represent are refused before any I/O.
    assert.instanceOf(await failureOf(reader.get(-1).metadata), InvalidError)
    assert.instanceOf(await failureOf(Stream.runCollect(reader.get(0.5).rows)), InvalidError)
  })

  it("no database: an empty list; foreign objects under wal/ and elsewhere are ignored", async () => {
    const store = makeMemory()
    const reader = walReaderOver(store, ROOT)
    assert.deepStrictEqual(await run(reader.list()), [])
    const empty = buildWalSsTable([]).bytes
    for (const p of ["db/wal/README", "db/wal/abc.sst", "db/wal/sub/00000000000000000005.sst", "db/walrus/7.sst", "other/wal/8.sst"]) {
      await run(store.put(p, empty))
    }
    assert.deepStrictEqual(await run(reader.list()), [])
    // `<u64>.<anything>` directly under wal/ is a WAL file; an empty WAL SST has no rows.
    await run(store.put("db/wal/00000000000000000003.sst", empty))
    await run(store.put("db/wal/00000000000000000002.sst", buildWalSsTable([makeTombstone(b("k"), 9, 5)]).bytes))
    const files = await run(reader.list())
    assert.deepStrictEqual(files.map((f) => f.id), [2, 3])
    assert.deepStrictEqual(await rowsOf(files[0]!), [
      { kind: "tombstone", key: "k", value: undefined, seq: 9, createTs: 5, expireTs: undefined }
    ])
    assert.deepStrictEqual(await rowsOf(files[1]!), [])
    // A database at the top of the store (root "").
    await run(store.put("wal/00000000000000000004.sst", empty))
    assert.deepStrictEqual((await run(walReaderOver(store, "").list())).map((f) => f.id), [4])
  })
})

describe("Shale.walReader (Promise API)", () => {
  it("lists, gets, reports metadata and iterates rows; errors reject with the engine's error instances", async () => {
    const { store, byFile, mergeId } = await writeWals()
    await using wal = await openWalReader(ROOT, { store: Layer.succeed(ObjectStore, store) })
    const files = await wal.list()
    assert.instanceOf(files[0], ShaleWalFile)
    const read = async (f: ShaleWalFile) => {
      const out: Array<Expected> = []
      for await (const r of f.rows()) out.push(plain(r))
      return out
    }
    const nonEmpty: Array<Array<Expected>> = []
    for (const f of files) {
      const rows = await read(f)
      if (rows.length > 0) nonEmpty.push(rows)
    }
    assert.deepStrictEqual(nonEmpty, byFile)
    assert.deepStrictEqual((await wal.list({ start: mergeId - 1, end: mergeId })).map((f) => f.id), [mergeId - 1])
    const file = wal.get(mergeId - 1)
    assert.strictEqual(file.nextId, mergeId)
    assert.strictEqual(file.nextFile().id, mergeId)
    assert.deepStrictEqual(await read(file.nextFile()), byFile[3])
    assert.strictEqual((await file.metadata()).location, walSstPath(ROOT, mergeId - 1))
    // Leaving the loop early is fine.
    let seen = 0
    for await (const _ of wal.get(mergeId - 2).rows()) if (++seen === 1) break
    assert.strictEqual(seen, 1)
    const missing = wal.get(mergeId + 1)
    assert.instanceOf(await missing.metadata().catch((e: unknown) => e), DataError)
    assert.instanceOf(await read(missing).catch((e: unknown) => e), DataError)
    assert.instanceOf(await wal.list({ start: -3 }).catch((e: unknown) => e), InvalidError)
    await wal.close()
    await wal.close()
  })

  it("is Shale.walReader in the public API; no database gives an empty list", async () => {
    const api = await import("../../src/index.ts")
    assert.strictEqual(api.Shale.walReader, openWalReader)
    assert.strictEqual(api.WalReader.make, makeWalReader)
    await using wal = await api.Shale.walReader("nothing", { store: api.Shale.stores.memory() })
    assert.deepStrictEqual(await wal.list(), [])
    assert.instanceOf(await openWalReader(ROOT, {} as never).catch((e: unknown) => e), InvalidError)
  })
})
