/**
 * The `shale` command: reads and writes a Shale / SlateDB 0.12.1 database from the shell.
 *
 * ```
 * shale --db <url> put <key> <value>      durable put (creates the database if there is none)
 * shale --db <url> get <key>              prints the value; exit code 1 if the key is absent
 * shale --db <url> delete <key>           durable delete
 * shale --db <url> scan [--prefix p] [--start a] [--end b] [--limit n] [--desc]
 * shale --db <url> manifest               the latest manifest, pretty-printed
 * shale --db <url> wal                    the WAL SSTs with ids, sizes and row counts
 * ```
 *
 * `--db` takes a directory, `file:///abs/dir`, `memory:` or `s3://bucket/prefix` (./DbUrl.ts); `SHALE_DB` is
 * its fallback. `--path` is the database root inside that store (default: the store's top level, where
 * `npm start` writes). `--settings` names a JSON settings file; `SHALE_*` variables override settings, as
 * everywhere in Shale.
 *
 * `put`, `get`, `delete` and `scan` open the database as its writer (Shale has no read-only reader yet),
 * so they fence any other writer of that database. `manifest` and `wal` only read objects: they never
 * write and never fence. Every command but `put` refuses to run where there is no database ("no database
 * at ...") rather than creating one.
 *
 * Output: values and rows on stdout (one row per line, `key<TAB>value`, bytes escaped as ./Display.ts
 * says); the row count of a scan on stderr. Failures are one message on stderr (rendered by `effect/cli`)
 * and exit code 1.
 */
import { Config, Console, Data, Effect, FileSystem, Layer, Option, Runtime, Stream } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import {
  ClosedError,
  type CompactedSst,
  compareKeys,
  Db,
  INITIAL_CLOCK_TICK,
  type KeyRange,
  type Manifest,
  parseUlid,
  Settings
} from "./Core.ts"
import { BadDbUrl, type DbLocation, describeLocation, parseDbUrl, storeLayer } from "./DbUrl.ts"
import { formatBytes, formatTime, padEnd, padStart, showBytes, showKey, utf8 } from "./Display.ts"
import {
  latestManifest,
  type LatestManifest,
  listCompactedSsts,
  listManifests,
  listWalSsts,
  type StoredObject,
  summarizeWalSst
} from "./Inspect.ts"

export const VERSION = "0.0.1"

/** A failure the command reports to the user: one message and an exit code. */
export class ShaleCliError extends Data.TaggedError("ShaleCliError")<{
  readonly message: string
  readonly exitCode: number
}> {
  override get [CliError.userMessage](): string {
    return this.message
  }
  override get [Runtime.errorExitCode](): number {
    return this.exitCode
  }
}

const fail = (message: string, exitCode = 1) => new ShaleCliError({ message, exitCode })

// ---- the root command and its shared flags ------------------------------------------------------------------

const root = Command.make("shale").pipe(
  Command.withSharedFlags({
    db: Flag.String("db").pipe(
      Flag.withFallbackConfig(Config.String("SHALE_DB")),
      Flag.withDescription("The database: a directory, file:///abs/dir, memory: or s3://bucket/prefix (env SHALE_DB)")
    ),
    path: Flag.String("path").pipe(
      Flag.withDefault(""),
      Flag.withDescription("The database root inside the store (default: the top level)")
    ),
    settings: Flag.String("settings").pipe(
      Flag.optional,
      Flag.withDescription("A JSON file of Shale settings (SHALE_* variables override it)")
    )
  }),
  Command.withDescription("Reads and writes a Shale (SlateDB 0.12.1 format) database")
)

interface Target {
  readonly location: DbLocation
  /** The database root inside the store. */
  readonly root: string
  /** How the database is named in messages. */
  readonly name: string
  readonly settingsFile: Option.Option<string>
}

// ---- error reporting ----------------------------------------------------------------------------------------

interface Tagged {
  readonly _tag: string
  readonly message?: string
  readonly object?: string
  readonly section?: string
}

const isTagged = (e: unknown): e is Tagged => typeof e === "object" && e !== null && "_tag" in e

/** Turns any failure into the one-line message the user sees; `name` names the database. */
export const explain = (name: string) => (e: unknown): ShaleCliError => {
  if (e instanceof ShaleCliError) return e
  if (e instanceof BadDbUrl) return fail(e.message)
  if (e instanceof ClosedError) {
    return e.reason === "fenced"
      ? fail(`fenced: another writer opened the database at ${name}; this command's write was not acknowledged`)
      : fail(`the database at ${name} is closed (${e.reason}): ${e.message}`)
  }
  if (!isTagged(e)) return fail(`unexpected failure: ${e instanceof Error ? e.message : String(e)}`)
  const message = e.message ?? ""
  switch (e._tag) {
    case "UnavailableError":
      return fail(`the object store of ${name} is unavailable: ${message}`)
    case "InvalidError":
      return fail(`invalid: ${message}`)
    case "DataError": {
      const where = e.object === undefined ? "" : ` in ${e.object}${e.section === undefined ? "" : ` (${e.section})`}`
      return fail(`unreadable data${where}: ${message}`)
    }
    case "InternalError":
      return fail(`internal error: ${message}`)
    case "ObjectNotFound":
    case "ObjectAlreadyExists":
    case "StoreUnavailable":
    case "StoreFailure":
    case "InvalidPath":
      return fail(`object store error at ${name}: ${message}`)
    case "ConfigError":
      return fail(`bad configuration: ${message}`)
    case "PlatformError":
      return fail(`file system error: ${message}`)
    default:
      return fail(`${e._tag}: ${message}`)
  }
}

/** Runs a command body against the `--db` target, mapping every failure to a `ShaleCliError`. */
const run = <A, E, R>(body: (t: Target) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const flags = yield* root
    const location = yield* Effect.mapError(parseDbUrl(flags.db), explain(flags.db))
    const where = describeLocation(location)
    const t: Target = {
      location,
      root: flags.path,
      name: flags.path.length > 0 ? `${where} (path "${flags.path}")` : where,
      settingsFile: flags.settings
    }
    return yield* body(t).pipe(Effect.mapError(explain(t.name)))
  })

const noDatabase = (t: Target, hint = "") =>
  fail(
    `no database at ${t.name}: no manifest under ${t.root.length > 0 ? `${t.root}/` : ""}manifest/` +
      ` (nothing was created; \`put\` creates a database)${hint}`
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

/** Fails with "no database at ..." unless the target holds a manifest. Never creates anything. */
const requireDatabase = (t: Target) =>
  Effect.gen(function*() {
    if (t.location._tag === "Local") {
      // The local store creates its root directory when opened: look before opening it.
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(t.location.dir)
      if (!exists) return yield* noDatabase(t)
    }
    const versions = yield* listManifests(t.root).pipe(Effect.provide(storeLayer(t.location)))
    if (versions.length === 0) return yield* noDatabase(t, yield* localHint(t))
  })

/** Opens the database as its writer for `body`, and closes it cleanly afterwards. */
const withDb = <A, E, R>(t: Target, body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const settings = yield* Settings.load(Option.isSome(t.settingsFile) ? { file: t.settingsFile.value } : {})
    return yield* body.pipe(
      Effect.provide(
        // Bounded retries: a command should report an unreachable store, not wait for it forever.
        Db.layer({ path: t.root, settings, storeRetry: { maxAttempts: 8 } }).pipe(Layer.provide(storeLayer(t.location)))
      )
    )
  })

// ---- put / get / delete -------------------------------------------------------------------------------------

const keyArgument = Argument.String("key").pipe(Argument.withDescription("The key (UTF-8 text)"))

const put = Command.make("put", {
  key: keyArgument,
  value: Argument.String("value").pipe(Argument.withDescription("The value (UTF-8 text)"))
}, ({ key, value }) =>
  run((t) =>
    Effect.gen(function*() {
      const h = yield* withDb(t, Db.use((db) => db.put(utf8(key), utf8(value))))
      yield* Console.log(`put ${showKey(utf8(key))} (seq ${h.seq}, durable)`)
    })
  )).pipe(Command.withDescription("Writes a key durably; creates the database if there is none"))

const get = Command.make("get", { key: keyArgument }, ({ key }) =>
  run((t) =>
    Effect.gen(function*() {
      yield* requireDatabase(t)
      const value = yield* withDb(t, Db.use((db) => db.get(utf8(key))))
      if (value === undefined) return yield* fail(`not found: ${showKey(utf8(key), 200)}`)
      yield* Console.log(showBytes(value))
    })
  )).pipe(Command.withDescription("Prints the value of a key (exit code 1 if it is absent)"))

const del = Command.make("delete", { key: keyArgument }, ({ key }) =>
  run((t) =>
    Effect.gen(function*() {
      yield* requireDatabase(t)
      const h = yield* withDb(t, Db.use((db) => db.delete(utf8(key))))
      yield* Console.log(`deleted ${showKey(utf8(key))} (seq ${h.seq}, durable)`)
    })
  )).pipe(Command.withDescription("Deletes a key durably (writes a tombstone)"))

// ---- scan ---------------------------------------------------------------------------------------------------

/** The smallest key greater than every key starting with `prefix`; undefined if there is none. */
export const prefixEnd = (prefix: Uint8Array): Uint8Array | undefined => {
  let i = prefix.length - 1
  while (i >= 0 && prefix[i] === 0xff) i--
  if (i < 0) return undefined
  const end = prefix.slice(0, i + 1)
  end[i] = end[i]! + 1
  return end
}

/**
 * The key range of a scan: `[start, end)` intersected with the keys starting with `prefix`. Undefined when
 * the intersection is empty.
 */
export const scanRange = (options: {
  readonly prefix?: Uint8Array
  readonly start?: Uint8Array
  readonly end?: Uint8Array
}): KeyRange | undefined => {
  let start = options.start
  let end = options.end
  if (options.prefix !== undefined && options.prefix.length > 0) {
    const p = options.prefix
    if (start === undefined || compareKeys(start, p) < 0) start = p
    const pEnd = prefixEnd(p)
    if (pEnd !== undefined && (end === undefined || compareKeys(pEnd, end) < 0)) end = pEnd
  }
  if (start !== undefined && end !== undefined && compareKeys(start, end) >= 0) return undefined
  return {
    ...(start === undefined ? {} : { start, startInclusive: true }),
    ...(end === undefined ? {} : { end, endInclusive: false })
  }
}

const optionalText = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.optional, Flag.withDescription(description))

const bytesOf = (o: Option.Option<string>): { readonly value?: Uint8Array } =>
  Option.isSome(o) ? { value: utf8(o.value) } : {}

const scan = Command.make("scan", {
  prefix: optionalText("prefix", "Only keys starting with this"),
  start: optionalText("start", "First key (inclusive)"),
  end: optionalText("end", "Last key (exclusive)"),
  limit: Flag.Int("limit").pipe(Flag.optional, Flag.withDescription("At most this many rows")),
  desc: Flag.Boolean("desc").pipe(Flag.withDefault(false), Flag.withDescription("Descending key order"))
}, (flags) =>
  run((t) =>
    Effect.gen(function*() {
      if (Option.isSome(flags.limit) && flags.limit.value < 0) return yield* fail("--limit must be ≥ 0")
      yield* requireDatabase(t)
      const prefix = bytesOf(flags.prefix).value
      const start = bytesOf(flags.start).value
      const end = bytesOf(flags.end).value
      const range = scanRange({
        ...(prefix === undefined ? {} : { prefix }),
        ...(start === undefined ? {} : { start }),
        ...(end === undefined ? {} : { end })
      })
      const count = yield* withDb(
        t,
        Effect.gen(function*() {
          if (range === undefined) return 0
          const db = yield* Db
          let rows = db.scan(range, { order: flags.desc ? "desc" : "asc" })
          if (Option.isSome(flags.limit)) rows = Stream.take(rows, flags.limit.value)
          let n = 0
          yield* Stream.runForEach(rows, (kv) => {
            n++
            return Console.log(`${showBytes(kv.key)}\t${showBytes(kv.value)}`)
          })
          return n
        })
      )
      yield* Console.error(`(${count} row${count === 1 ? "" : "s"})`)
    })
  )).pipe(Command.withDescription("Prints key<TAB>value rows of a key range, in key order"))

// ---- manifest -----------------------------------------------------------------------------------------------

const clockTick = (tick: number): string =>
  tick === INITIAL_CLOCK_TICK ? "none (no L0 flush yet)" : `${tick} (${formatTime(tick)})`

const sstLine = (sst: CompactedSst, objects: ReadonlyMap<string, StoredObject>, indent: string): string => {
  const object = objects.get(sst.id)
  const size = object === undefined ? "(missing)" : formatBytes(object.size)
  const written = parseUlid(sst.id)
  const range = sst.visibleRange === undefined ? "" : " (partly visible)"
  return `${indent}${sst.id}  ${padStart(size, 10)}  keys ${showKey(sst.info.firstEntry)} .. ${showKey(sst.info.lastEntry)}` +
    `${range}${written === undefined ? "" : `  written ${formatTime(written.timeMs)}`}`
}

/** The manifest as the `manifest` command prints it. */
export const formatManifest = (
  latest: LatestManifest,
  objects: ReadonlyMap<string, StoredObject>
): ReadonlyArray<string> => {
  const m: Manifest = latest.manifest
  const first = latest.versions[0]!
  const lines: Array<string> = []
  const field = (label: string, value: string | number) => `  ${`${label}:`.padEnd(25)}${value}`
  lines.push(
    `manifest ${latest.id}  (${latest.object.path}, ${formatBytes(latest.object.size)}, written ${
      formatTime(latest.object.lastModified)
    })`,
    field("versions stored", `${latest.versions.length} (ids ${first.id}..${latest.id})`),
    field("writer epoch", m.writerEpoch),
    field("compactor epoch", m.compactorEpoch),
    field("replay after WAL id", m.replayAfterWalId),
    field("next WAL id", m.nextWalSstId),
    field("last L0 seq", m.lastL0Seq),
    field("last L0 clock tick", clockTick(m.lastL0ClockTick)),
    field("recent snapshot min seq", m.recentSnapshotMinSeq),
    field("WAL object store", m.walObjectStoreUri === undefined ? "the main store" : "a separate store")
  )
  const l0Bytes = m.l0.reduce((n, s) => n + (objects.get(s.id)?.size ?? 0), 0)
  lines.push(
    field("L0 SSTs", `${m.l0.length}${m.l0.length > 0 ? ` (${formatBytes(l0Bytes)}, newest first)` : ""}`) +
      (m.l0LastCompacted === undefined ? "" : `; last compacted L0: ${m.l0LastCompacted}`)
  )
  for (const sst of m.l0) lines.push(sstLine(sst, objects, "    "))
  lines.push(field("sorted runs", `${m.compacted.length}${m.compacted.length > 0 ? " (newest first)" : ""}`))
  for (const run of m.compacted) {
    const bytes = run.ssts.reduce((n, s) => n + (objects.get(s.id)?.size ?? 0), 0)
    lines.push(`    run ${run.id}: ${run.ssts.length} SST${run.ssts.length === 1 ? "" : "s"}, ${formatBytes(bytes)}`)
    for (const sst of run.ssts) lines.push(sstLine(sst, objects, "      "))
  }
  lines.push(field("checkpoints", m.checkpoints.length))
  for (const c of m.checkpoints) {
    lines.push(
      `    ${c.id}  manifest ${c.manifestId}  created ${formatTime(c.createTimeS * 1000)}  expires ${
        c.expireTimeS === undefined ? "never" : formatTime(c.expireTimeS * 1000)
      }${c.name === undefined ? "" : `  name ${JSON.stringify(c.name)}`}`
    )
  }
  if (m.externalDbs.length > 0) {
    lines.push(field("external DBs", m.externalDbs.length))
    for (const x of m.externalDbs) lines.push(`    ${x.path}  (${x.sstIds.length} SSTs, checkpoint ${x.sourceCheckpointId})`)
  }
  return lines
}

const manifest = Command.make("manifest", {}, () =>
  run((t) =>
    Effect.gen(function*() {
      yield* requireDatabase(t)
      const lines = yield* Effect.gen(function*() {
        const latest = yield* latestManifest(t.root)
        if (Option.isNone(latest)) return yield* noDatabase(t)
        const objects = yield* listCompactedSsts(t.root)
        return formatManifest(latest.value, objects)
      }).pipe(Effect.provide(storeLayer(t.location)))
      yield* Console.log(lines.join("\n"))
    })
  )).pipe(Command.withDescription("Pretty-prints the latest manifest (read-only: never fences a writer)"))

// ---- wal ----------------------------------------------------------------------------------------------------

const wal = Command.make("wal", {}, () =>
  run((t) =>
    Effect.gen(function*() {
      yield* requireDatabase(t)
      const lines = yield* Effect.gen(function*() {
        const latest = yield* latestManifest(t.root)
        const replayAfter = Option.match(latest, { onNone: () => 0, onSome: (l) => l.manifest.replayAfterWalId })
        const files = yield* listWalSsts(t.root)
        const summaries = yield* Effect.forEach(files, summarizeWalSst, { concurrency: 8 })
        const total = files.reduce((n, f) => n + f.size, 0)
        const rows = summaries.reduce((n, s) => n + s.rows, 0)
        const out: Array<string> = [
          `${files.length} WAL SST${files.length === 1 ? "" : "s"}, ${formatBytes(total)}, ${rows} row${
            rows === 1 ? "" : "s"
          }; replay after WAL id ${replayAfter}` +
            Option.match(latest, { onNone: () => "", onSome: (l) => `, next WAL id ${l.manifest.nextWalSstId}` }),
          `${padStart("id", 8)}  ${padStart("size", 10)}  ${padStart("rows", 6)}  ${padStart("puts", 6)}  ${
            padStart("dels", 6)
          }  ${padEnd("seqs", 17)}  note`
        ]
        for (const s of summaries) {
          const seqs = s.minSeq === undefined ? "-" : `${s.minSeq}..${s.maxSeq}`
          const note = s.rows === 0 ? "empty (fence)" : s.id <= replayAfter ? "in L0 (not replayed)" : "replayed on open"
          out.push(
            `${padStart(s.id, 8)}  ${padStart(formatBytes(s.size), 10)}  ${padStart(s.rows, 6)}  ${padStart(s.puts, 6)}  ${
              padStart(s.deletes, 6)
            }  ${padEnd(seqs, 17)}  ${note}`
          )
        }
        return out
      }).pipe(Effect.provide(storeLayer(t.location)))
      yield* Console.log(lines.join("\n"))
    })
  )).pipe(Command.withDescription("Lists the WAL SSTs: ids, sizes, row counts (read-only: never fences a writer)"))

// ---- the command --------------------------------------------------------------------------------------------

export const shale = root.pipe(Command.withSubcommands([put, get, del, scan, manifest, wal]))

/** Runs `shale` with the arguments of the `Stdio` service (the process's, under `NodeServices`). */
export const main = Command.run(shale, { version: VERSION })

/** Runs `shale` with explicit arguments (without the program name), e.g. in tests. */
export const runWith = Command.runWith(shale, { version: VERSION })
