/**
 * `shale get`, `scan` and `export` next to a running writer: the writer is open in this (the test's)
 * process, the commands run as child processes. They read every durable row and write nothing (the
 * directory holds the same files, byte for byte, before and after), so the writer is not fenced and goes on
 * writing; `--checkpoint <uuid>` reads the state a checkpoint pins, and names a missing or malformed one.
 */
import { describe, expect, it } from "@effect/vitest"
import { Shale } from "@shale/core"
import { decodeManifest, encodeManifest, Manifest, manifestPath, parseManifestId } from "@shale/core/internal"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { ExitCode } from "../src/index.ts"
import { lines, ok, shale, tempDir } from "./support.ts"

const CHECKPOINT = "0b6f3c5e-8d1e-4a53-9a5e-2a7f1c0e4d11"
const enc = new TextEncoder()
const b = (s: string) => enc.encode(s)

/** Every file under `dir` with its size and modification time, sorted. */
const snapshot = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else {
        const st = statSync(p)
        out.push(`${relative(dir, p)} ${st.size} ${st.mtimeMs}`)
      }
    }
  }
  walk(dir)
  return out.sort()
}

/** The latest manifest version in the database directory `db` (root ""). */
const latestManifest = (db: string) => {
  const ids = readdirSync(join(db, "manifest")).map((f) => parseManifestId(`manifest/${f}`)).filter((id) => id !== undefined)
  const id = Math.max(...ids)
  return { id, manifest: decodeManifest(readFileSync(join(db, manifestPath("", id)))) }
}

describe("shale get / scan / export next to a running writer", () => {
  it("read every durable row, write nothing, never fence the writer; --checkpoint reads a pinned state", async () => {
    const { dir, cleanup } = tempDir()
    const db = join(dir, "db")
    const writer = await Shale.open("", {
      store: Shale.stores.local(db),
      settings: { flushIntervalMs: null, durableFlush: "eager", manifestPollIntervalMs: 3_600_000, compactor: null }
    })
    try {
      await writer.put(b("a"), b("1"))
      await writer.flush({ type: "memtable" })
      const pinned = latestManifest(db).id
      await writer.put(b("b"), b("2"))
      await writer.put(b("c"), b("3"))
      await writer.delete(b("b"))
      const { writerEpoch } = await writer.status()
      const before = snapshot(db)

      expect(ok(await shale(["--db", db, "get", "a"])).stdout).toBe("1\n")
      expect(ok(await shale(["--db", db, "get", "c"])).stdout).toBe("3\n")
      expect((await shale(["--db", db, "get", "b"])).code).toBe(ExitCode.notFound)
      expect(lines(ok(await shale(["--db", db, "scan"])).stdout)).toEqual(["a\t1", "c\t3"])
      expect(lines(ok(await shale(["--db", db, "scan", "--desc"])).stdout)).toEqual(["c\t3", "a\t1"])
      expect(lines(ok(await shale(["--db", db, "export"])).stdout)).toEqual([
        JSON.stringify({ key: "a", value: "1" }),
        JSON.stringify({ key: "c", value: "3" })
      ])
      expect(snapshot(db)).toEqual(before)

      // The writer was not fenced: it writes durably, under the same epoch.
      await writer.put(b("d"), b("4"))
      expect(await writer.status()).toMatchObject({ writerEpoch, closeReason: undefined })
      expect(ok(await shale(["--db", db, "get", "d"])).stdout).toBe("4\n")

      // A missing or malformed checkpoint.
      const missing = await shale(["--db", db, "get", "a", "--checkpoint", CHECKPOINT])
      expect(missing.code).toBe(ExitCode.notFound)
      expect(missing.stderr).toContain(`no checkpoint ${CHECKPOINT}`)
      const bad = await shale(["--db", db, "scan", "--checkpoint", "nope"])
      expect(bad.code).toBe(ExitCode.usage)
      expect(bad.stderr).toContain("--checkpoint expects a checkpoint id")

      // A checkpoint pinning the version written when "a" reached L0 (as a checkpoint maker would add it).
      const latest = latestManifest(db)
      const next = Manifest.withCheckpointAdded(latest.manifest, { id: CHECKPOINT, manifestId: pinned, createTimeS: 1_700_000_000 })
      writeFileSync(join(db, manifestPath("", latest.id + 1)), encodeManifest(next), { flag: "wx" })
      const withCheckpoint = snapshot(db)
      expect(lines(ok(await shale(["--db", db, "scan", "--checkpoint", CHECKPOINT])).stdout)).toEqual(["a\t1"])
      expect(ok(await shale(["--db", db, "get", "a", "--checkpoint", CHECKPOINT.toUpperCase()])).stdout).toBe("1\n")
      expect((await shale(["--db", db, "get", "c", "--checkpoint", CHECKPOINT])).code).toBe(ExitCode.notFound)
      expect(lines(ok(await shale(["--db", db, "scan"])).stdout)).toEqual(["a\t1", "c\t3", "d\t4"])
      expect(snapshot(db)).toEqual(withCheckpoint)
      await writer.put(b("e"), b("5"))
      await writer.flush({ type: "memtable" })
      expect((await writer.status()).closeReason).toBeUndefined()
    } finally {
      await writer.close()
      cleanup()
    }
  }, 120_000)
})
