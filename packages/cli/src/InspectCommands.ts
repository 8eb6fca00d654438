/**
 * The read-only commands: `manifest [--id N]` (the latest manifest or version N, pretty-printed; SlateDB
 * CLI's `read-manifest`, also accepted as its name) and `wal` (the WAL SSTs). They
 * read objects through `Admin` and never open the database, so they never write and never fence a running
 * writer. With `--json` each prints one JSON document (keys in the key encoding).
 */
import { Admin } from "@shale/core"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { showKey } from "./DataCommands.ts"
import { type Encoding, toJsonBytes } from "./Encoding.ts"
import { notFound } from "./Errors.ts"
import { formatBytes, formatTime, padEnd, padStart } from "./Display.ts"
import { line } from "./Io.ts"
import { type Context, run } from "./Root.ts"
import { inspect, requireDatabase } from "./Target.ts"

const clockTick = (tick: number): string =>
  tick === Admin.INITIAL_CLOCK_TICK ? "none (no L0 flush yet)" : `${tick} (${formatTime(tick)})`

const sstLine = (
  sst: Admin.CompactedSst,
  objects: ReadonlyMap<string, Admin.StoredObject>,
  indent: string,
  encoding: Encoding
): string => {
  const object = objects.get(sst.id)
  const size = object === undefined ? "(missing)" : formatBytes(object.size)
  const written = Admin.parseUlid(sst.id)
  const range = sst.visibleRange === undefined ? "" : " (partly visible)"
  return `${indent}${sst.id}  ${padStart(size, 10)}  keys ${showKey(sst.info.firstEntry, encoding)} .. ${
    showKey(sst.info.lastEntry, encoding)
  }${range}${written === undefined ? "" : `  written ${formatTime(written.timeMs)}`}`
}

/** The manifest as the `manifest` command prints it. */
export const formatManifest = (
  latest: Admin.LatestManifest,
  objects: ReadonlyMap<string, Admin.StoredObject>,
  encoding: Encoding = "utf8"
): ReadonlyArray<string> => {
  const m = latest.manifest
  const first = latest.versions[0]!
  const last = latest.versions[latest.versions.length - 1]!
  const lines: Array<string> = []
  const field = (label: string, value: string | number) => `  ${`${label}:`.padEnd(25)}${value}`
  lines.push(
    `manifest ${latest.id}  (${latest.object.path}, ${formatBytes(latest.object.size)}, written ${
      formatTime(latest.object.lastModified)
    })`,
    field(
      "versions stored",
      `${latest.versions.length} (ids ${first.id}..${last.id}${last.id === latest.id ? "" : `; this is not the latest, ${last.id} is`})`
    ),
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
  for (const sst of m.l0) lines.push(sstLine(sst, objects, "    ", encoding))
  lines.push(field("sorted runs", `${m.compacted.length}${m.compacted.length > 0 ? " (newest first)" : ""}`))
  for (const run of m.compacted) {
    const bytes = run.ssts.reduce((n, s) => n + (objects.get(s.id)?.size ?? 0), 0)
    lines.push(`    run ${run.id}: ${run.ssts.length} SST${run.ssts.length === 1 ? "" : "s"}, ${formatBytes(bytes)}`)
    for (const sst of run.ssts) lines.push(sstLine(sst, objects, "      ", encoding))
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

/** The manifest as JSON: its fields as decoded, keys in `encoding`, plus the object and SST sizes. */
export const manifestJson = (
  latest: Admin.LatestManifest,
  objects: ReadonlyMap<string, Admin.StoredObject>,
  encoding: Encoding
): string =>
  JSON.stringify(
    {
      id: latest.id,
      object: latest.object,
      versions: latest.versions.map((v) => v.id),
      manifest: latest.manifest,
      sstSizes: Object.fromEntries([...objects].map(([id, o]) => [id, o.size]))
    },
    (_key, value: unknown) =>
      value instanceof Uint8Array ? toJsonBytes(value, encoding) : typeof value === "bigint" ? value.toString() : value
  )

/** Manifest version `id` decoded, with the versions stored beside it (as `latestManifest` gives the latest). */
const manifestVersion = (t: Context["target"], id: number) =>
  Effect.gen(function*() {
    const versions = yield* Admin.listManifests(t.root)
    const object = versions.find((v) => v.id === id)
    if (object === undefined) {
      return yield* notFound(
        `no manifest ${id} at ${t.name} (${
          versions.length === 0 ? "none is stored" : `versions ${versions[0]!.id}..${versions[versions.length - 1]!.id} are stored`
        })`
      )
    }
    const admin = yield* Admin.Admin
    const read = yield* admin.readManifest(id)
    if (Option.isNone(read)) return yield* notFound(`no manifest ${id} at ${t.name}`)
    return { id, object, manifest: read.value.manifest, versions } satisfies Admin.LatestManifest
  }).pipe(Effect.provide(Admin.layer({ path: t.root })))

const makeManifestCommand = (name: string) =>
  Command.make(name, {
  id: Flag.Int("id").pipe(
    Flag.withAlias("i"),
    Flag.optional,
    Flag.withDescription("This manifest version (as `shale manifests` lists them) instead of the latest")
  )
}, (f) =>
  run((c: Context) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const text = yield* inspect(
        c.target,
        Effect.gen(function*() {
          const latest = Option.isSome(f.id)
            ? Option.some(yield* manifestVersion(c.target, f.id.value))
            : yield* Admin.latestManifest(c.target.root)
          if (Option.isNone(latest)) return yield* notFound(`no database at ${c.target.name}`)
          const objects = yield* Admin.listCompactedSsts(c.target.root)
          return c.json
            ? manifestJson(latest.value, objects, c.keyEncoding)
            : formatManifest(latest.value, objects, c.keyEncoding).join("\n")
        })
      )
      yield* line(text)
    })
  )).pipe(Command.withDescription("Pretty-prints the latest manifest, or --id's (read-only: never fences a writer)"))

const manifest = makeManifestCommand("manifest")

/** SlateDB CLI's name for `manifest` (not listed in `--help`). */
export const readManifestCommand = Command.unlisted(makeManifestCommand("read-manifest"))

const walNote = (s: Admin.WalSstSummary, replayAfter: number) =>
  s.rows === 0 ? "empty (fence)" : s.id <= replayAfter ? "in L0 (not replayed)" : "replayed on open"

const wal = Command.make("wal", {}, () =>
  run((c: Context) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const text = yield* inspect(
        c.target,
        Effect.gen(function*() {
          const latest = yield* Admin.latestManifest(c.target.root)
          const replayAfter = Option.match(latest, { onNone: () => 0, onSome: (l) => l.manifest.replayAfterWalId })
          const nextWalId = Option.match(latest, { onNone: () => undefined, onSome: (l) => l.manifest.nextWalSstId })
          const files = yield* Admin.listWalSsts(c.target.root)
          const summaries = yield* Effect.forEach(files, Admin.summarizeWalSst, { concurrency: 8 })
          if (c.json) {
            return JSON.stringify({
              replayAfterWalId: replayAfter,
              nextWalId: nextWalId ?? null,
              files: summaries.map((s) => ({ ...s, note: walNote(s, replayAfter) }))
            })
          }
          const total = files.reduce((n, f) => n + f.size, 0)
          const rows = summaries.reduce((n, s) => n + s.rows, 0)
          const out: Array<string> = [
            `${files.length} WAL SST${files.length === 1 ? "" : "s"}, ${formatBytes(total)}, ${rows} row${
              rows === 1 ? "" : "s"
            }; replay after WAL id ${replayAfter}${nextWalId === undefined ? "" : `, next WAL id ${nextWalId}`}`,
            `${padStart("id", 8)}  ${padStart("size", 10)}  ${padStart("rows", 6)}  ${padStart("puts", 6)}  ${
              padStart("dels", 6)
            }  ${padEnd("seqs", 17)}  note`
          ]
          for (const s of summaries) {
            const seqs = s.minSeq === undefined ? "-" : `${s.minSeq}..${s.maxSeq}`
            out.push(
              `${padStart(s.id, 8)}  ${padStart(formatBytes(s.size), 10)}  ${padStart(s.rows, 6)}  ${padStart(s.puts, 6)}  ${
                padStart(s.deletes, 6)
              }  ${padEnd(seqs, 17)}  ${walNote(s, replayAfter)}`
            )
          }
          return out.join("\n")
        })
      )
      yield* line(text)
    })
  )).pipe(Command.withDescription("Lists the WAL SSTs: ids, sizes, row counts (read-only: never fences a writer)"))

export { manifest, wal }
