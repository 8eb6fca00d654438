/**
 * SlateDB CLI's admin commands that read (and, for `clone`, make) a database without opening it as its
 * writer. Each goes through `Admin` in `@shale/core` over the store of `--db`: no writer epoch is claimed,
 * no fence SST is written, a running writer or compactor goes on undisturbed.
 *
 * | command | SlateDB CLI |
 * |---|---|
 * | `manifests [--start N] [--end N]` (./InspectCommands.ts has `manifest [--id N]`) | `list-manifests` |
 * | `compactions [--id N]` | `read-compactions` |
 * | `seq-to-ts --seq N [--round up\|down]` | `seq-to-ts` |
 * | `ts-to-seq --ts SECONDS [--round up\|down]` | `ts-to-seq` |
 * | `clone --parent-path ROOT [--checkpoint UUID]` | (`Admin::create_clone`; no CLI command) |
 *
 * SlateDB's names run the same commands (registered unlisted, so `--help` shows each command once);
 * `seq-to-ts` and `ts-to-seq` also take SlateDB's positional forms (`seq-to-ts 42`). Tables for people by default, one JSON document with `--json`.
 */
import { Admin, ObjectStore } from "@shale/core"
import { fromStored, makeCompactionsStore } from "@shale/core/internal"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { checkpointCommand, checkpointsCommand, slateDbCheckpointCommands } from "./CheckpointCommands.ts"
import { formatBytes, formatTime, padEnd, padStart } from "./Display.ts"
import { formatSeconds, parseUuid } from "./Durations.ts"
import { notFound, usage } from "./Errors.ts"
import { runCompactorCommand } from "./CompactCommands.ts"
import { gcCommand, runGcCommand, scheduleGcCommand } from "./GcCommands.ts"
import { readManifestCommand } from "./InspectCommands.ts"
import { line } from "./Io.ts"
import { type Context, run } from "./Root.ts"
import { inspect, requireDatabase, storeLayer, type Target } from "./Target.ts"

// ---------------------------------------------------------------------------------------------- manifests

const makeManifestsCommand = (name: string) =>
  Command.make(name, {
  start: Flag.Int("start").pipe(Flag.withAlias("s"), Flag.optional, Flag.withDescription("First manifest id (inclusive)")),
  end: Flag.Int("end").pipe(Flag.withAlias("e"), Flag.optional, Flag.withDescription("Last manifest id (exclusive)"))
}, (f) =>
  run((c) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const { all, latest } = yield* inspect(
        c.target,
        Effect.all({ all: Admin.listManifests(c.target.root), latest: Admin.latestManifest(c.target.root) })
      )
      const start = Option.getOrElse(f.start, () => 0)
      const end = Option.getOrElse(f.end, () => Number.MAX_SAFE_INTEGER)
      const shown = all.filter((m) => m.id >= start && m.id < end)
      const checkpoints = Option.isSome(latest) ? latest.value.manifest.checkpoints : []
      const latestId = all[all.length - 1]?.id
      const pins = (id: number) => checkpoints.filter((cp) => cp.manifestId === id)
      if (c.json) {
        return yield* line(JSON.stringify({
          latestId: latestId ?? null,
          manifests: shown.map((m) => ({ ...m, latest: m.id === latestId, checkpoints: pins(m.id).map((cp) => cp.id) }))
        }))
      }
      const out = [
        `${all.length} manifest version${all.length === 1 ? "" : "s"} stored (ids ${all[0]?.id}..${latestId})` +
          (shown.length === all.length ? "" : `; ${shown.length} in [${start}, ${Option.isSome(f.end) ? end : "∞"})`),
        `${padStart("id", 8)}  ${padStart("size", 10)}  ${padEnd("written", 24)}  note`
      ]
      for (const m of shown) {
        const notes = [
          ...(m.id === latestId ? ["latest"] : []),
          ...pins(m.id).map((cp) => `pinned by checkpoint ${cp.id}${cp.name === undefined ? "" : ` (${cp.name})`}`)
        ]
        out.push(`${padStart(m.id, 8)}  ${padStart(formatBytes(m.size), 10)}  ${padEnd(formatTime(m.lastModified), 24)}  ${notes.join("; ")}`.trimEnd())
      }
      yield* line(out.join("\n"))
    })
  )).pipe(Command.withDescription("Lists the manifest versions stored: ids, sizes, which are pinned (read-only)"))

// -------------------------------------------------------------------------------------------- compactions

const STATUS_NAMES = ["submitted", "running", "completed", "failed"] as const

/** Compactions file version `id` (the latest when undefined), decoded; none when there is no such file. */
const readCompactionsFile = (root: string, id: number | undefined) =>
  Effect.gen(function*() {
    const store = makeCompactionsStore(yield* ObjectStore.ObjectStore, root)
    const versions = yield* store.listIds
    const wanted = id ?? versions[versions.length - 1]
    if (wanted === undefined || !versions.includes(wanted)) return { versions, file: Option.none() }
    const value = yield* store.read(wanted)
    return {
      versions,
      file: Option.some({ id: wanted, compactorEpoch: value.compactorEpoch, compactions: value.recentCompactions.map(fromStored) })
    }
  })

const makeCompactionsCommand = (name: string) =>
  Command.make(name, {
  id: Flag.Int("id").pipe(Flag.withAlias("i"), Flag.optional, Flag.withDescription("This version of the compactions file (default: the latest)"))
}, (f) =>
  run((c) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const id = Option.getOrUndefined(f.id)
      const { file, versions } = yield* inspect(c.target, readCompactionsFile(c.target.root, id))
      if (Option.isNone(file)) {
        return yield* notFound(
          versions.length === 0
            ? `no compactor has run on the database at ${c.target.name} (it has no compactions file)`
            : `no compactions file ${id} at ${c.target.name} (versions ${versions[0]}..${versions[versions.length - 1]} are stored)`
        )
      }
      const { compactions, compactorEpoch } = file.value
      const records = compactions.map((r) => ({
        id: r.id,
        createdMs: Admin.parseUlid(r.id)?.timeMs ?? null,
        status: STATUS_NAMES[r.status] ?? `status ${r.status}`,
        sources: r.spec.sources,
        destination: r.spec.destination,
        outputSsts: r.outputSsts.map((s) => s.id)
      }))
      if (c.json) return yield* line(JSON.stringify({ id: file.value.id, compactorEpoch, versions, compactions: records }))
      const out = [
        `compactions file ${file.value.id} (compactor epoch ${compactorEpoch}; ${versions.length} version${
          versions.length === 1 ? "" : "s"
        } stored, ids ${versions[0]}..${versions[versions.length - 1]})`
      ]
      if (records.length === 0) out.push("  no compactions recorded")
      for (const [i, r] of records.entries()) {
        const spec = compactions[i]!.spec
        const l0 = spec.sources.filter((s) => s.kind === "l0").length
        const runs = spec.sources.flatMap((s) => (s.kind === "sr" ? [s.id] : []))
        const from = [l0 > 0 ? `${l0} L0 SST${l0 === 1 ? "" : "s"}` : "", runs.length > 0 ? `runs ${runs.join(",")}` : ""]
          .filter((s) => s.length > 0)
          .join(" + ")
        out.push(
          `  ${r.id}  ${padEnd(r.status, 9)}  ${r.createdMs === null ? "" : `created ${formatTime(r.createdMs)}  `}${from} -> run ${r.destination}` +
            `, ${r.outputSsts.length} output SST${r.outputSsts.length === 1 ? "" : "s"}`
        )
      }
      yield* line(out.join("\n"))
    })
  )).pipe(Command.withDescription("Shows the compactions file: the compactions active and the last finished (read-only)"))

// -------------------------------------------------------------------------------- sequence numbers and time

const ROUNDS = ["up", "down", "roundup", "rounddown"] as const
const roundFlag = Flag.Literals("round", ROUNDS).pipe(
  Flag.withDefault("down" as const),
  Flag.withDescription("Without an exact entry: the nearest recorded point below (down, the default) or above (up)")
)
const roundsUp = (r: (typeof ROUNDS)[number]) => r === "up" || r === "roundup"

/** The value of `--flag` or of the positional argument (SlateDB's form); a usage error with neither or both. */
const oneOf = (flag: string, named: Option.Option<string>, positional: Option.Option<string>) =>
  Option.isSome(named) && Option.isSome(positional)
    ? Effect.fail(usage(`give ${flag} or the positional value, not both`))
    : Option.isSome(named)
    ? Effect.succeed(named.value)
    : Option.isSome(positional)
    ? Effect.succeed(positional.value)
    : Effect.fail(usage(`${flag} is required`))

const integer = (flag: string, text: string, signed: boolean) =>
  (signed ? /^-?\d+$/ : /^\d+$/).test(text.trim()) && Number.isSafeInteger(Number(text))
    ? Effect.succeed(Number(text))
    : Effect.fail(usage(`${flag} expects ${signed ? "an integer" : "a non-negative integer"}, got ${JSON.stringify(text)}`))

/** What the latest manifest's sequence tracker holds, for "no entry" messages. */
const trackerExtent = (t: Target) =>
  Effect.map(inspect(t, Admin.latestManifest(t.root)), (latest) => {
    const tracker = Option.isSome(latest) ? latest.value.manifest.sequenceTracker : { seqs: [], timestamps: [] }
    const n = tracker.seqs.length
    return n === 0
      ? "its sequence tracker has no points yet (a writer records one, at most a minute, as its memtables reach L0)"
      : `its sequence tracker has ${n} point${n === 1 ? "" : "s"}: seqs ${tracker.seqs[0]}..${tracker.seqs[n - 1]}, ` +
        `times ${formatSeconds(tracker.timestamps[0]!)}..${formatSeconds(tracker.timestamps[n - 1]!)}`
  })

export const seqToTsCommand = Command.make("seq-to-ts", {
  seq: Flag.String("seq").pipe(Flag.optional, Flag.withDescription("The sequence number")),
  seqArg: Argument.String("seq").pipe(Argument.optional, Argument.withDescription("The sequence number (SlateDB's form)")),
  round: roundFlag
}, (f) =>
  run((c) =>
    Effect.gen(function*() {
      const seq = yield* integer("--seq", yield* oneOf("--seq", f.seq, f.seqArg), false)
      yield* requireDatabase(c.target)
      const up = roundsUp(f.round)
      const ms = yield* inspect(c.target, Admin.timestampForSequence(c.target.root, seq, up))
      const round = up ? "up" : "down"
      if (c.json) {
        yield* line(JSON.stringify({ seq, round, timestampMs: ms ?? null, timestamp: ms === undefined ? null : formatTime(ms) }))
      } else if (ms !== undefined) {
        yield* line(formatTime(ms))
      }
      if (ms === undefined) {
        return yield* notFound(
          `no time for seq ${seq} (rounding ${round}) in the latest manifest of ${c.target.name}: ${yield* trackerExtent(c.target)}`
        )
      }
    })
  )).pipe(Command.withDescription("The time of a sequence number, from the latest manifest's sequence tracker"))

export const tsToSeqCommand = Command.make("ts-to-seq", {
  ts: Flag.String("ts").pipe(Flag.optional, Flag.withDescription("The time, in seconds since the Unix epoch")),
  tsArg: Argument.String("ts-secs").pipe(Argument.optional, Argument.withDescription("The time in Unix seconds (SlateDB's form)")),
  round: roundFlag
}, (f) =>
  run((c) =>
    Effect.gen(function*() {
      const ts = yield* integer("--ts", yield* oneOf("--ts", f.ts, f.tsArg), true)
      yield* requireDatabase(c.target)
      const up = roundsUp(f.round)
      const seq = yield* inspect(c.target, Admin.sequenceForTimestamp(c.target.root, ts * 1000, up))
      const round = up ? "up" : "down"
      if (c.json) yield* line(JSON.stringify({ ts, round, seq: seq ?? null }))
      else if (seq !== undefined) yield* line(String(seq))
      if (seq === undefined) {
        return yield* notFound(
          `no sequence number for ${formatSeconds(ts)} (rounding ${round}) in the latest manifest of ${c.target.name}: ${yield* trackerExtent(c.target)}`
        )
      }
    })
  )).pipe(Command.withDescription("The sequence number at a time (Unix seconds), from the latest manifest's sequence tracker"))

// ---------------------------------------------------------------------------------------------------- clone

/**
 * `--parent-path` as a root in the target's store: a root as `--path` takes it, or a directory or URL
 * inside the same store (made relative to it).
 */
const parentRoot = (t: Target, text: string) =>
  Effect.suspend(() => {
    const trimmed = text.trim()
    const looksLikeLocation = /^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(trimmed) || (t.location._tag === "Local" && trimmed.startsWith("/"))
    if (!looksLikeLocation) return Effect.succeed(trimmed.replace(/^\/+|\/+$/g, ""))
    const parsed = ObjectStore.parseStoreUrl(trimmed)
    const other = () =>
      Effect.fail(usage(`the parent ${JSON.stringify(text)} is not in the store of ${ObjectStore.describeLocation(t.location)}: a clone lives in its parent's store`))
    if (parsed._tag === "InvalidError") return Effect.fail(usage(parsed.message))
    if (parsed._tag === "Local" && t.location._tag === "Local") {
      const base = t.location.dir.replace(/\/+$/, "")
      const dir = parsed.dir.replace(/\/+$/, "")
      return dir.startsWith(`${base}/`) ? Effect.succeed(dir.slice(base.length + 1)) : other()
    }
    if (parsed._tag === "S3" && t.location._tag === "S3" && parsed.bucket === t.location.bucket) {
      const base = t.location.prefix.replace(/\/+$/, "")
      const prefix = parsed.prefix.replace(/\/+$/, "")
      if (base.length === 0) return Effect.succeed(prefix)
      return prefix.startsWith(`${base}/`) ? Effect.succeed(prefix.slice(base.length + 1)) : other()
    }
    return other()
  })

export const cloneCommand = Command.make("clone", {
  parent: Flag.String("parent-path").pipe(
    Flag.withAlias("parent"),
    Flag.withDescription("The parent database: its root in the same store (as --path), or its directory / URL inside the store")
  ),
  checkpoint: Flag.String("checkpoint").pipe(
    Flag.optional,
    Flag.withDescription("Start from this checkpoint of the parent (default: its latest state, through a 5-minute checkpoint)")
  )
}, (f) =>
  run((c: Context) =>
    Effect.gen(function*() {
      const t = c.target
      const parent = yield* parentRoot(t, f.parent)
      const checkpoint = Option.isSome(f.checkpoint) ? yield* parseUuid("--checkpoint", f.checkpoint.value) : undefined
      const root = t.root.replace(/^\/+|\/+$/g, "")
      if (parent === root) return yield* usage(`the clone (--path ${JSON.stringify(t.root)}) cannot be at its parent's path`)
      const parentTarget: Target = { ...t, root: parent, name: `${ObjectStore.describeLocation(t.location)} (path "${parent}")` }
      yield* requireDatabase(parentTarget)
      const store = storeLayer(t.location)
      if (checkpoint !== undefined) {
        const pcs = yield* Admin.listCheckpoints(parent).pipe(Effect.provide(store))
        if (!pcs.some((cp) => cp.id === checkpoint)) {
          return yield* notFound(`no checkpoint ${checkpoint} in the latest manifest of the parent ${parentTarget.name}`)
        }
      }
      const existing = yield* Admin.latestManifest(root).pipe(Effect.provide(store))
      if (Option.isSome(existing) && !existing.value.manifest.externalDbs.some((x) => x.path === parent)) {
        return yield* usage(`there is already a database at ${t.name}, and it is not a clone of "${parent}": a clone needs a new --path`)
      }
      const made = yield* Admin.createClone(root, parent, checkpoint).pipe(Effect.provide(store))
      if (c.json) {
        return yield* line(JSON.stringify({ path: root, parentPath: parent, ...made }))
      }
      yield* line(
        `${Option.isSome(existing) ? "clone already made" : "clone made"} at ${t.name}: parent "${parent}" at checkpoint ${made.sourceCheckpointId}, ` +
          `manifest ${made.manifestId}`
      )
    })
  )).pipe(Command.withDescription("Makes --path a clone of --parent-path in the same store (shares its SSTs; writes apart)"))

// ------------------------------------------------------------------------------------------ registration

/** Every admin command, in the order `shale --help` lists them (SlateDB CLI's names are their aliases). */
export const adminCommands = [
  makeManifestsCommand("manifests"),
  makeCompactionsCommand("compactions"),
  checkpointsCommand,
  checkpointCommand,
  gcCommand,
  cloneCommand,
  seqToTsCommand,
  tsToSeqCommand,
  // SlateDB CLI's names, not listed in `--help`.
  readManifestCommand,
  Command.unlisted(makeManifestsCommand("list-manifests")),
  Command.unlisted(makeCompactionsCommand("read-compactions")),
  ...slateDbCheckpointCommands,
  scheduleGcCommand,
  runGcCommand,
  runCompactorCommand
] as const
