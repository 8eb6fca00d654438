/**
 * The database a command works on: `--db` parsed into a store location (`@shale/core`'s store URLs:
 * a directory, `file:///abs/dir`, `memory:`, `s3://bucket/prefix`), `--path` (the root inside the store),
 * `--settings`; and the three ways a command reaches it: inspecting its objects (`requireDatabase`,
 * `inspect`), reading its rows through a read-only view (`withReadOnly`: `Db.openReadOnly`, which writes
 * nothing and so never fences a running writer), or opening it as its writer (`withDb`).
 *
 * `memory:` is one in-memory store per process, shared by every command run in it (so an in-process
 * caller can put and then get; a new process starts empty).
 */
import { Admin, Db, ObjectStore, Settings } from "@shale/core"
import { Effect, FileSystem, Layer, Option } from "effect"
import { resolve } from "node:path"
import { notFound, usage } from "./Errors.ts"

export interface Target {
  readonly location: ObjectStore.StoreLocation
  /** The database root inside the store. */
  readonly root: string
  /** How the database is named in messages. */
  readonly name: string
  readonly settingsFile: Option.Option<string>
}

/** Parses `--db` (relative directories against the current one); a bad URL is a usage error. */
export const parseTarget = (db: string, root: string, settingsFile: Option.Option<string>) =>
  Effect.suspend(() => {
    const parsed = ObjectStore.parseStoreUrl(db)
    if (parsed._tag === "InvalidError") {
      return Effect.fail(usage(parsed.message.replace(/^bad store URL/, "bad database URL")))
    }
    const location: ObjectStore.StoreLocation = parsed._tag === "Local" ? { _tag: "Local", dir: resolve(parsed.dir) } : parsed
    const where = ObjectStore.describeLocation(location)
    return Effect.succeed<Target>({
      location,
      root,
      name: root.length > 0 ? `${where} (path "${root}")` : where,
      settingsFile
    })
  })

let processMemoryStore: Layer.Layer<ObjectStore.ObjectStore> | undefined

/** The `ObjectStore` of a location (local directories are created if missing: callers check first). */
export const storeLayer = (location: ObjectStore.StoreLocation): Layer.Layer<ObjectStore.ObjectStore, ObjectStore.StoreUrlError> =>
  location._tag === "Memory"
    ? (processMemoryStore ??= ObjectStore.memory())
    : ObjectStore.layerForLocation(location)

const noDatabase = (t: Target, hint = "") =>
  notFound(
    `no database at ${t.name}: no manifest under ${t.root.length > 0 ? `${t.root}/` : ""}manifest/` +
      ` (nothing was created; \`put\` or \`import\` creates a database)${hint}`
  )

/** For a local directory without a database at its top: names subdirectories that hold one (`--path`). */
const localHint = (t: Target) =>
  Effect.gen(function*() {
    if (t.location._tag !== "Local") return ""
    const fs = yield* FileSystem.FileSystem
    const base = t.root.length > 0 ? `${t.location.dir}/${t.root}` : t.location.dir
    const entries = yield* fs.readDirectory(base).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    const found: Array<string> = []
    for (const e of entries.sort()) {
      if (yield* fs.exists(`${base}/${e}/manifest`).pipe(Effect.orElseSucceed(() => false))) found.push(e)
    }
    if (found.length === 0) return ""
    const prefix = t.root.length > 0 ? `${t.root}/` : ""
    return `; a database exists at ${found.map((e) => `--path ${JSON.stringify(prefix + e)}`).join(", ")}`
  })

/** Fails with "no database at ..." (exit code 1) unless the target holds a manifest. Never creates anything. */
export const requireDatabase = (t: Target) =>
  Effect.gen(function*() {
    if (t.location._tag === "Local") {
      // The local store creates its root directory when opened: look before opening it.
      const fs = yield* FileSystem.FileSystem
      if (!(yield* fs.exists(t.location.dir))) return yield* noDatabase(t)
    }
    const versions = yield* Admin.listManifests(t.root).pipe(Effect.provide(storeLayer(t.location)))
    if (versions.length === 0) return yield* noDatabase(t, yield* localHint(t))
  })

/**
 * The settings: `--settings` (JSON, TOML or YAML, Shale's or SlateDB's names), or else SlateDB's
 * `SlateDb.{json,toml,yaml,yml}` in the current directory; `SLATEDB_*` and `SHALE_*` variables over them.
 */
export const loadSettings = (t: Target) =>
  Settings.load(Option.isSome(t.settingsFile) ? { file: t.settingsFile.value } : {})

/**
 * Opens the database as its writer for `body`, and closes it cleanly afterwards (also when `body` fails).
 * Only commands that write many rows (`import`: `compactor: true`) run the embedded compactor the settings
 * ask for; the others add no L0 SST worth compacting, and claiming the compactor epoch would stop a
 * compactor running elsewhere (`shale compactor`, a writer's embedded one) for nothing. Likewise only they
 * run the embedded garbage collector (a short command ends before its first pass; `shale gc` runs one).
 */
export const withDb = <A, E, R>(t: Target, body: Effect.Effect<A, E, R>, options?: { readonly compactor?: boolean }) =>
  Effect.gen(function*() {
    const loaded = yield* loadSettings(t)
    const settings = options?.compactor === true ? loaded : { ...loaded, compactor: null, garbageCollector: null }
    return yield* body.pipe(
      Effect.provide(
        // Bounded retries: a command should report an unreachable store, not wait for it forever.
        Db.layer({ path: t.root, settings, storeRetry: { maxAttempts: 8 } }).pipe(Layer.provide(storeLayer(t.location)))
      )
    )
  })

/** `--checkpoint`'s value: a checkpoint id (a UUID), lower-cased; a usage error if it is not one. */
export const parseCheckpointId = (text: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)
    ? Effect.succeed(text.toLowerCase())
    : Effect.fail(usage(`--checkpoint expects a checkpoint id (a UUID such as 0b6f3c5e-8d1e-4a53-9a5e-2a7f1c0e4d11), got ${JSON.stringify(text)}`))

/** Fails with "no checkpoint ..." (exit code 1) unless the latest manifest lists checkpoint `id` (`requireDatabase` first). */
export const requireCheckpoint = (t: Target, id: string) =>
  Effect.gen(function*() {
    const latest = yield* Admin.latestManifest(t.root).pipe(Effect.provide(storeLayer(t.location)))
    const checkpoints = Option.isSome(latest) ? latest.value.manifest.checkpoints : []
    if (!checkpoints.some((c) => c.id === id)) {
      return yield* notFound(
        `no checkpoint ${id} in the latest manifest of ${t.name}` +
          (checkpoints.length === 0 ? " (it has none)" : ` (it has ${checkpoints.map((c) => c.id).join(", ")})`)
      )
    }
  })

/**
 * Reads the rows of the database for `body` through a read-only view (`Db.openReadOnly`): the latest state,
 * or the state of checkpoint `checkpointId`. Nothing is written (no epoch, manifest, WAL or fence), so a
 * writer running elsewhere goes on undisturbed. The view is dropped when `body` ends.
 */
export const withReadOnly = <A, E, R>(
  t: Target,
  checkpointId: string | undefined,
  body: (view: Db.ReadOnlyDb) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const settings = yield* loadSettings(t)
    const view = yield* Db.openReadOnly({
      root: t.root,
      settings,
      // Bounded retries, as `withDb`.
      storeRetry: { maxAttempts: 8 },
      ...(checkpointId === undefined ? {} : { checkpointId })
    })
    return yield* body(view)
  }).pipe(Effect.scoped, Effect.provide(storeLayer(t.location)))

/** Reads the database's objects without opening it (`requireDatabase` first). */
export const inspect = <A, E, R>(t: Target, body: Effect.Effect<A, E, R>) =>
  body.pipe(Effect.provide(storeLayer(t.location)))
