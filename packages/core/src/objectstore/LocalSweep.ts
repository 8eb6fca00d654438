/**
 * Removing what killed writers left in a local-directory store (LocalObjectStore.ts, "Leftovers of killed
 * writers"): temp files named after a process no longer running on this machine, with their metadata
 * sidecars, and unnamed temp files once they are an hour old. Run when a store is opened.
 */
import { Clock, Effect, type FileSystem, Option } from "effect"
import {
  lastModifiedOf,
  NAMED_TEMP,
  processRuns,
  removeFileIfExists,
  sidecarOf,
  UNNAMED_TEMP,
  UNNAMED_TEMP_MAX_AGE_MS
} from "./LocalFiles.ts"

/**
 * Removes the temp files of writers that were killed in the whole tree under `root` (normalised, see
 * `rootDirOf`); returns how many files it removed. Best effort: what cannot be read or removed is left.
 */
export const sweepTempFiles = (fs: FileSystem.FileSystem, root: string): Effect.Effect<number> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    let removed = 0
    const remove = (file: string) =>
      Effect.ignore(Effect.tap(removeFileIfExists(fs, file), (gone) => Effect.sync(() => void (gone && removed++))))
    const visit = (dir: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        const entries = yield* fs.readDirectoryEntries(dir).pipe(Effect.orElseSucceed(() => []))
        for (const entry of entries) {
          const file = `${dir === "/" ? "" : dir}/${entry.name}`
          if (entry.type === "Directory") {
            yield* visit(file)
            continue
          }
          const named = NAMED_TEMP.exec(entry.name)
          const stale = named !== null
            ? Number(named[1]) !== process.pid && !processRuns(Number(named[1]))
            : UNNAMED_TEMP.test(entry.name) &&
              Option.match(yield* Effect.option(fs.stat(file)), {
                onNone: () => false,
                onSome: (info) => now - lastModifiedOf(info) > UNNAMED_TEMP_MAX_AGE_MS
              })
          if (!stale) continue
          // Its metadata sidecar first, named by the temp file's inode (which cannot be reused meanwhile).
          const info = yield* Effect.option(fs.stat(file))
          if (Option.isSome(info) && Option.isSome(info.value.ino)) yield* remove(sidecarOf(dir, info.value.ino.value))
          yield* remove(file)
        }
      })
    yield* visit(root === "" ? "/" : root)
    return removed
  })
