/** The Promise forms: `ShaleDb.createCheckpoint` and `Shale.admin` (checkpoints, a GC pass, a clone). */
import { describe, expect, it } from "vitest"
import * as Shale from "../../src/api/Shale.ts"
import { defaultGcOptions, withMinAge } from "../../src/gc/GcRules.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

describe("Promise API: checkpoints and admin", () => {
  it("a checkpoint, a GC pass with no minimum age, a read at the checkpoint and a clone", async () => {
    const store = Shale.stores.memory()
    const settings = { garbageCollector: null, compactor: null } as const
    {
      await using db = await Shale.open("db", { store, settings })
      await db.put(enc.encode("a"), enc.encode("1"))
      const cp = await db.createCheckpoint({ name: "first" })
      await db.put(enc.encode("a"), enc.encode("2"))
      await db.flush({ type: "memtable" })
      await using admin = await Shale.admin("db", { store })
      expect((await admin.listCheckpoints("first")).map((c) => c.id)).toEqual([cp.id])
      const before = (await admin.listManifests()).length
      const pass = await admin.runGcOnce(withMinAge(defaultGcOptions, 0))
      expect(pass.errors).toEqual([])
      expect(pass.deleted.manifests).toBe(before - 2) // all but the latest and the pinned one
      expect((await admin.listManifests()).map((m) => m.id)).toContain(cp.manifestId)
      await using view = await Shale.openReadOnly("db", { store, checkpointId: cp.id })
      expect(dec.decode(await view.get(enc.encode("a")))).toBe("1")
      const clone = await admin.createClone("parent-not-there").catch((e: unknown) => e)
      expect((clone as { _tag: string })._tag).toBe("DataError")
      await admin.close()
      await admin.close()
    }
    await using cloneAdmin = await Shale.admin("copy", { store })
    await cloneAdmin.createClone("db")
    await using copy = await Shale.open("copy", { store, settings })
    expect(dec.decode(await copy.get(enc.encode("a")))).toBe("2")
  })
})
