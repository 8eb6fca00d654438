/**
 * Fencing across implementations (docs/format.md §3.1): a writer that opens a database claims a
 * newer writer epoch and writes the fence WAL SST; the older writer's next WAL write hits that file and
 * the older writer closes as fenced. Shale and the official SlateDB 0.12.1 must fence each other.
 */
import { describe, expect, it } from "@effect/vitest"
import { ErrorClosed } from "@slatedb/uniffi"
import { Effect } from "effect"
import { Db } from "../../src/db/Db.ts"
import { ClosedError } from "../../src/errors.ts"
import { dec, enc, openSlateDb, shaleDb, tempDir } from "./support.ts"

describe("fencing between Shale and SlateDB 0.12.1", () => {
  it("SlateDB opening the database fences Shale's writer: its next durable write fails with ClosedError(fenced)", async () => {
    const { dir, cleanup } = tempDir("shale-interop-fence1-")
    try {
      const outcome = await Effect.runPromise(
        Effect.gen(function*() {
          const db = yield* Db
          yield* db.put(enc("shale-before"), enc("1"))
          const slate = yield* Effect.promise(() => openSlateDb(dir))
          const error = yield* Effect.flip(db.put(enc("shale-after"), enc("2")))
          const status = yield* db.status
          // SlateDB sees Shale's durable write, not the fenced one, and keeps working.
          const seen = yield* Effect.promise(async () => {
            const before = dec(await slate.db.get(enc("shale-before")))
            const after = dec(await slate.db.get(enc("shale-after")))
            await slate.db.put(enc("slate"), enc("3"))
            await slate.close()
            return { before, after }
          })
          return { error, status, seen }
        }).pipe(Effect.provide(shaleDb(dir)))
      )
      expect(outcome.error).toBeInstanceOf(ClosedError)
      expect((outcome.error as ClosedError).reason).toBe("fenced")
      expect(outcome.status.closeReason).toBe("fenced")
      expect(outcome.seen).toEqual({ before: "1", after: undefined })

      // The database is SlateDB's now, and Shale can take it back.
      const reread = await Effect.runPromise(
        Effect.gen(function*() {
          const db = yield* Db
          return [dec(yield* db.get(enc("shale-before"))), dec(yield* db.get(enc("shale-after"))), dec(yield* db.get(enc("slate")))]
        }).pipe(Effect.provide(shaleDb(dir)))
      )
      expect(reread).toEqual(["1", undefined, "3"])
    } finally {
      cleanup()
    }
  }, 60_000)

  it("Shale opening the database fences SlateDB's writer: its next write fails with ErrorClosed(Fenced)", async () => {
    const { dir, cleanup } = tempDir("shale-interop-fence2-")
    try {
      const slate = await openSlateDb(dir)
      await slate.db.put(enc("slate-before"), enc("1"))
      const outcome = await Effect.runPromise(
        Effect.gen(function*() {
          const db = yield* Db
          const before = dec(yield* db.get(enc("slate-before")))
          const error = yield* Effect.promise(() =>
            slate.db.put(enc("slate-after"), enc("2")).then(() => undefined, (e: unknown) => e)
          )
          const slateStatus = slate.db.status()
          yield* Effect.promise(() => slate.close({ lenient: true }))
          // Shale keeps working as the writer.
          yield* db.put(enc("shale"), enc("3"))
          return { before, error, slateCloseReason: slateStatus.close_reason, after: dec(yield* db.get(enc("slate-after"))) }
        }).pipe(Effect.provide(shaleDb(dir)))
      )
      expect(outcome.before).toBe("1")
      expect(outcome.error).toBeInstanceOf(ErrorClosed)
      expect((outcome.error as ErrorClosed).reason).toBe("Fenced")
      expect(outcome.slateCloseReason).toBe("Fenced")
      expect(outcome.after).toBeUndefined()

      // SlateDB, opening again, sees Shale's write and not its own fenced one.
      const again = await openSlateDb(dir)
      const seen = [
        dec(await again.db.get(enc("slate-before"))),
        dec(await again.db.get(enc("slate-after"))),
        dec(await again.db.get(enc("shale")))
      ]
      await again.close()
      expect(seen).toEqual(["1", undefined, "3"])
    } finally {
      cleanup()
    }
  }, 60_000)
})
