import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { Deferred, Effect, Fiber, FileSystem, Layer, Option, Stream } from "effect"
import { LocalObjectStore, makeLocal, ObjectStore, withRetries } from "../src/internal.ts"
import { objectStoreConformance } from "@shale/testing/conformance"

/** A local store in a fresh temp directory, removed when the layer is released. */
const tempStoreLayer = Layer.unwrap(Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "shale-local-conformance-" })
  return LocalObjectStore.layer({ root })
})).pipe(Layer.provide(NodeFileSystem.layer))

objectStoreConformance("local store", tempStoreLayer)

/** The pid of a process that has exited. */
const exitedPid = () =>
  new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", ""])
    child.on("error", reject)
    child.on("exit", () => resolve(child.pid!))
  })

/** Node's file system, except that new files are written to /dev/full: every write fails with ENOSPC. */
const fullDisk = Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
  ...fs,
  open: (path, options) => options?.flag === "wx" ? fs.open("/dev/full", { flag: "w" }) : fs.open(path, options)
}))

const tempRoot = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "shale-local-" }))

const bytesOf = (s: string) => new TextEncoder().encode(s)
const textOf = (b: Uint8Array) => new TextDecoder().decode(b)
const paths = (store: ObjectStore["Service"], prefix: string) =>
  Stream.runCollect(store.list(prefix)).pipe(Effect.map((xs) => xs.map((o) => o.path)))

describe("local store on disk", () => {
  it.effect("putChunks writes the chunks' concatenation (small ones gathered, large ones as they are), create-only too, also through the retrying wrapper", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const local = yield* makeLocal({ root })
      const sizes = [0, 7, 4096, 1024 * 1024 - 3, 5, 3 * 1024 * 1024, 1, 1024 * 1024, 4096]
      let seed = 1
      const chunks = sizes.map((n) => Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff))
      const whole = new Uint8Array(sizes.reduce((a, n) => a + n, 0))
      let at = 0
      for (const c of chunks) {
        whole.set(c, at)
        at += c.length
      }
      for (const store of [local, withRetries(local, { maxAttempts: 2 })]) {
        assert.isDefined(store.putChunks)
        const path = store === local ? "a/one" : "a/two"
        yield* store.putChunks!(path, chunks, { mode: "create" })
        assert.deepStrictEqual(yield* store.get(path), whole)
        const again = yield* Effect.flip(store.putChunks!(path, [bytesOf("x")], { mode: "create" }))
        assert.strictEqual(again._tag, "ObjectAlreadyExists")
      }
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))

  it.effect("putStream writes the batches' concatenation and syncs the file as it goes (every 2 MiB), not only at the end", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      // Counts the syncs of files opened for a new object (`wx`: temp files), and the bytes written by then.
      const syncedAt: Array<number> = []
      const counting = yield* Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
        ...fs,
        open: (path, options) =>
          options?.flag !== "wx" ? fs.open(path, options) : Effect.map(fs.open(path, options), (file) => {
            let written = 0
            const writeAll = (b: Uint8Array) => Effect.map(file.writeAll(b), () => void (written += b.length))
            const sync = Effect.map(file.sync, () => void syncedAt.push(written))
            // A proxy: the handle's members are not all own properties (a spread would lose some).
            return new Proxy(file, {
              get: (target, key) => key === "writeAll" ? writeAll : key === "sync" ? sync : Reflect.get(target, key, target)
            })
          })
      }))
      const store = yield* makeLocal({ root }).pipe(Effect.provideService(FileSystem.FileSystem, counting))
      const MiB = 1024 * 1024
      // 13 batches of 3 chunks (512 KiB + 1 + 0): 6.5 MiB and 13 bytes, in the shape OutputWriter hands over.
      const batches = Array.from({ length: 13 }, (_, i) => [new Uint8Array(MiB / 2).fill(i + 1), Uint8Array.of(i), new Uint8Array(0)])
      yield* store.putStream!("db/compacted/x.sst", Stream.fromIterable(batches), { mode: "create" })
      const back = yield* store.get("db/compacted/x.sst")
      assert.strictEqual(back.length, 13 * (MiB / 2 + 1))
      for (let i = 0; i < 13; i++) {
        const at = i * (MiB / 2 + 1)
        assert.isTrue(back[at] === i + 1 && back[at + MiB / 2 - 1] === i + 1 && back[at + MiB / 2] === i, `batch ${i}`)
      }
      // A sync once 2 MiB are unsynced (after batches 4, 8 and 12), then the last one at the end.
      const whole = 13 * (MiB / 2 + 1)
      assert.deepStrictEqual(syncedAt, [4 * (MiB / 2 + 1), 8 * (MiB / 2 + 1), 12 * (MiB / 2 + 1), whole])
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer)))

  it.effect("keeps objects as plain files, leaves no temp files and lists only objects", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* tempRoot
      const store = yield* makeLocal({ root })
      yield* store.put("db/wal/00000000000000000001.sst", bytesOf("one"), { mode: "create", metadata: { slatedbputid: "A" } })
      yield* store.put("db/manifest/00000000000000000001.manifest", bytesOf("m1"))
      for (let i = 0; i < 5; i++) yield* store.put("db/manifest/x", bytesOf(`v${i}`), { metadata: { n: `${i}` } })

      // Byte-identical to object_store's LocalFileSystem layout.
      assert.strictEqual(textOf(yield* fs.readFile(`${root}/db/wal/00000000000000000001.sst`)), "one")
      assert.strictEqual(textOf(yield* fs.readFile(`${root}/db/manifest/x`)), "v4")
      assert.deepStrictEqual((yield* store.head("db/manifest/x")).metadata, { n: "4" })

      // On disk: the objects, plus exactly one metadata sidecar per object that has metadata; no temp files.
      const wal = (yield* fs.readDirectory(`${root}/db/wal`)).sort()
      assert.strictEqual(wal.length, 2)
      assert.strictEqual(wal[1], "00000000000000000001.sst")
      assert.match(wal[0]!, /^#0[0-9]+$/)
      const manifest = yield* fs.readDirectory(`${root}/db/manifest`)
      assert.strictEqual(manifest.filter((n) => n.startsWith("#0")).length, 1, manifest.join(","))
      assert.strictEqual(manifest.filter((n) => n.startsWith("#1") || n.startsWith("#2")).length, 0, manifest.join(","))

      assert.deepStrictEqual(yield* paths(store, ""), [
        "db/manifest/00000000000000000001.manifest",
        "db/manifest/x",
        "db/wal/00000000000000000001.sst"
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("ignores a killed writer's leftover temp files in get and list", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* tempRoot
      const store = yield* makeLocal({ root })
      yield* store.put("d/kept", bytesOf("kept"))
      // Our own temp file name, and object_store's staged-upload name, both left by a killed writer.
      yield* fs.writeFile(`${root}/d/#1123456789012345678`, bytesOf("half-written"))
      yield* fs.writeFile(`${root}/d/x.sst#3`, bytesOf("staged"))
      yield* fs.makeDirectory(`${root}/e`)
      yield* fs.writeFile(`${root}/e/#1999`, bytesOf("orphan"))

      assert.deepStrictEqual(yield* paths(store, ""), ["d/kept"])
      assert.deepStrictEqual(yield* paths(store, "d"), ["d/kept"])
      assert.deepStrictEqual(yield* paths(store, "e"), [])
      const e = yield* Effect.flip(store.get("d/x.sst"))
      assert.strictEqual(e._tag, "ObjectNotFound")
      yield* store.put("d/x.sst", bytesOf("real"), { mode: "create" })
      assert.strictEqual(textOf(yield* store.get("d/x.sst")), "real")
      assert.deepStrictEqual(yield* paths(store, "d"), ["d/kept", "d/x.sst"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("opening a store removes the temp files of writers that were killed, and no one else's", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* tempRoot
      const store = yield* makeLocal({ root })
      yield* store.put("db/wal/00000000000000000001.sst", bytesOf("one"))
      // A process that ran and exited (its pid is free now), and one that still runs (our parent).
      const dead = yield* Effect.promise(() => exitedPid())
      const name = (pid: number, r: string) => `#2${String(pid).padStart(10, "0")}${r}`
      const deadTemp = `${root}/db/wal/${name(dead, "000000001")}`
      const liveTemp = `${root}/db/wal/${name(process.ppid, "000000002")}`
      const ownTemp = `${root}/db/${name(process.pid, "000000003")}`
      yield* fs.writeFile(deadTemp, bytesOf("half-written"))
      const deadIno = Option.getOrThrow((yield* fs.stat(deadTemp)).ino)
      yield* fs.writeFile(`${root}/db/wal/#0${deadIno}`, bytesOf("{\"slatedbputid\":\"x\"}")) // its sidecar
      yield* fs.writeFile(liveTemp, bytesOf("in flight"))
      yield* fs.writeFile(ownTemp, bytesOf("in flight here"))
      // The older, unnamed kind: only when it is an hour old.
      const oldTemp = `${root}/db/#1123456789012345678`
      const youngTemp = `${root}/db/#1876543210987654321`
      yield* fs.writeFile(oldTemp, bytesOf("old"))
      yield* fs.writeFile(youngTemp, bytesOf("young"))
      const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000)
      yield* fs.utimes(oldTemp, twoHoursAgo, twoHoursAgo)

      yield* makeLocal({ root }) // a writer opens the store again
      const exists = (f: string) => fs.exists(f)
      assert.isFalse(yield* exists(deadTemp))
      assert.isFalse(yield* exists(`${root}/db/wal/#0${deadIno}`))
      assert.isFalse(yield* exists(oldTemp))
      assert.isTrue(yield* exists(liveTemp))
      assert.isTrue(yield* exists(ownTemp))
      assert.isTrue(yield* exists(youngTemp))
      assert.strictEqual(textOf(yield* store.get("db/wal/00000000000000000001.sst")), "one")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a full disk fails a put with a StoreFailure that names ENOSPC", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const store = yield* makeLocal({ root }).pipe(Effect.provideServiceEffect(FileSystem.FileSystem, fullDisk))
      const error = yield* Effect.flip(store.put("db/wal/00000000000000000001.sst", bytesOf("x".repeat(100))))
      assert.strictEqual(error._tag, "StoreFailure")
      assert.include(error.message, "ENOSPC: no space left on device")
      assert.include(error.message, "db/wal/00000000000000000001.sst")
      assert.deepStrictEqual(yield* paths(store, ""), [])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a put interrupted while it creates its temp file leaves no file behind", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const fs = yield* FileSystem.FileSystem
      // The temp file is created, then `open` hangs before handing its handle back: the put is interrupted
      // there (a closing writer's background upload), where no handle exists yet to clean up after.
      const created = yield* Deferred.make<void>()
      const stalling: FileSystem.FileSystem = {
        ...fs,
        open: (path, options) =>
          options?.flag === "wx"
            ? fs.open(path, options).pipe(Effect.tap(() => Deferred.succeed(created, undefined)), Effect.andThen(Effect.never))
            : fs.open(path, options)
      }
      const store = yield* makeLocal({ root }).pipe(Effect.provideService(FileSystem.FileSystem, stalling))
      const put = yield* Effect.forkChild(store.put("db/wal/00000000000000000001.sst", bytesOf("x".repeat(100))))
      yield* Deferred.await(created)
      assert.strictEqual((yield* fs.readDirectory(`${root}/db/wal`)).length, 1)
      yield* Fiber.interrupt(put)
      assert.deepStrictEqual(yield* fs.readDirectory(`${root}/db/wal`).pipe(Effect.orElseSucceed(() => [])), [])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("rejects object paths with a segment ending in #<digits>", () =>
    Effect.gen(function*() {
      const store = yield* makeLocal({ root: yield* tempRoot })
      for (const path of ["a#1", "d/#0123", "x.sst#3/y"]) {
        const put = yield* Effect.flip(store.put(path, bytesOf("x")))
        assert.strictEqual(put._tag, "InvalidPath", path)
        assert.strictEqual((yield* Effect.flip(store.get(path)))._tag, "InvalidPath", path)
        assert.strictEqual((yield* Effect.flip(Stream.runCollect(store.list(path))))._tag, "InvalidPath", path)
      }
      // `#` elsewhere is an ordinary character.
      yield* store.put("a#b/c#1x", bytesOf("ok"))
      assert.deepStrictEqual(yield* paths(store, ""), ["a#b/c#1x"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("two store instances racing create-only puts: exactly one wins", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const a = yield* makeLocal({ root })
      const b = yield* makeLocal({ root })
      for (let round = 0; round < 10; round++) {
        const path = `wal/${round}.sst`
        const results = yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) => i),
          (i) => Effect.result((i % 2 === 0 ? a : b).put(path, bytesOf(`w${i}`), { mode: "create", metadata: { id: `${i}` } })),
          { concurrency: "unbounded" }
        )
        const winners = results.flatMap((r, i) => r._tag === "Success" ? [i] : [])
        assert.strictEqual(winners.length, 1, `round ${round}: ${JSON.stringify(winners)}`)
        for (const r of results) if (r._tag === "Failure") assert.strictEqual(r.failure._tag, "ObjectAlreadyExists")
        const w = winners[0]!
        assert.strictEqual(textOf(yield* a.get(path)), `w${w}`)
        assert.deepStrictEqual((yield* b.head(path)).metadata, { id: `${w}` })
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("objects and metadata survive reopening the store", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      yield* ObjectStore.use((s) => s.put("db/compacted/01ARZ3NDEKTSV4RRFFQ69G5FAV.sst", bytesOf("sst"), { metadata: { k: "v" } }))
        .pipe(Effect.provide(LocalObjectStore.layer({ root })))
      const reopened = yield* Effect.gen(function*() {
        const s = yield* ObjectStore
        return {
          bytes: textOf(yield* s.get("db/compacted/01ARZ3NDEKTSV4RRFFQ69G5FAV.sst")),
          meta: (yield* s.head("db/compacted/01ARZ3NDEKTSV4RRFFQ69G5FAV.sst")).metadata,
          listed: yield* paths(s, "db")
        }
      }).pipe(Effect.provide(LocalObjectStore.layer({ root })))
      assert.deepStrictEqual(reopened, {
        bytes: "sst",
        meta: { k: "v" },
        listed: ["db/compacted/01ARZ3NDEKTSV4RRFFQ69G5FAV.sst"]
      })
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("delete removes the sidecar and prunes empty directories", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* tempRoot
      const store = yield* makeLocal({ root })
      yield* store.put("a/b/c/obj", bytesOf("x"), { metadata: { k: "v" } })
      yield* store.put("a/other", bytesOf("y"))
      yield* store.delete("a/b/c/obj")
      assert.deepStrictEqual(yield* fs.readDirectory(`${root}/a`), ["other"])
      yield* store.delete("a/other")
      assert.deepStrictEqual(yield* fs.readDirectory(root), [])
      assert.isTrue(yield* fs.exists(root))
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a put where a directory stands is a StoreFailure, not ObjectAlreadyExists", () =>
    Effect.gen(function*() {
      const store = yield* makeLocal({ root: yield* tempRoot })
      yield* store.put("a/b", bytesOf("x"))
      assert.strictEqual((yield* Effect.flip(store.put("a", bytesOf("y"))))._tag, "StoreFailure")
      const create = yield* Effect.flip(store.put("a", bytesOf("y"), { mode: "create" }))
      assert.strictEqual(create._tag, "StoreFailure")
      assert.strictEqual(create.op, "put")
      assert.strictEqual(create.path, "a")
      // Nothing was left behind by the failed puts.
      assert.deepStrictEqual(yield* paths(store, ""), ["a/b"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("creates its root directory and fails cleanly when it cannot", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* tempRoot
      const store = yield* makeLocal({ root: `${root}/nested/deeper/` })
      yield* store.put("x", bytesOf("1"))
      assert.isTrue(yield* fs.exists(`${root}/nested/deeper/x`))
      yield* fs.writeFile(`${root}/file`, bytesOf(""))
      const e = yield* Effect.flip(makeLocal({ root: `${root}/file/sub` }))
      assert.strictEqual(e._tag, "StoreFailure")
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
