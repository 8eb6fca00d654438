/**
 * Garbage collection from the command line (SlateDB CLI's `run-garbage-collection` and
 * `schedule-garbage-collection`).
 *
 * - `shale gc [--resource manifest|wal|compacted|compactions] [--min-age 0s]`: one pass now
 *   (`Admin.runGcOnce`): what it deleted per kind, expired checkpoints removed, store requests and time.
 *   A pass that reported errors (a delete that failed, a kind it could not collect) prints them on stderr
 *   and exits with the store failure code (3); what it did delete stays deleted.
 * - `shale gc --schedule [--manifest min_age=5m,period=1m] [--wal ...] [--compacted ...] [--compactions ...]`:
 *   a garbage collector of its own (`GarbageCollector.layer`), each kind on its period, until SIGINT or
 *   SIGTERM (exit code 130 after a clean stop, as `shale compactor`). A line on stdout whenever passes
 *   deleted something.
 *
 * Which kinds and how old: the `garbageCollector` settings (`SHALE_GARBAGE_COLLECTOR_WAL=false`, ...;
 * SlateDB's defaults, every kind older than 5 minutes each minute, when the setting is null), narrowed by
 * `--resource` or by the kinds given as `--manifest`/`--wal`/... (only those then run), and `--min-age`
 * over every kind. Neither form opens the database or claims an epoch: a running writer, compactor or
 * other collector goes on undisturbed (every rule is safe against the others, SlateDB's included).
 */
import { Admin, GarbageCollector } from "@shale/core"
import { Context as Services, Effect, Layer, Option, References } from "effect"
import { Command, Flag } from "effect/cli"
import { formatDuration, parseCliDuration } from "./Durations.ts"
import { ExitCode, fail, usage } from "./Errors.ts"
import { CliIO, errLine, line } from "./Io.ts"
import { type Context, run } from "./Root.ts"
import { inspect, loadSettings, requireDatabase, storeLayer } from "./Target.ts"

type Kind = GarbageCollector.GcResource

/** How a kind is named in `--resource` (SlateDB's names, plus the plural Shale uses). */
const RESOURCE_NAMES = ["manifest", "manifests", "wal", "compacted", "compactions"] as const
const kindOf = (name: (typeof RESOURCE_NAMES)[number]): Kind => (name === "manifest" ? "manifests" : name)

const KIND_LABEL: Readonly<Record<Kind, string>> = {
  manifests: "manifests",
  wal: "WAL SSTs",
  compacted: "compacted SSTs",
  compactions: "compactions files"
}

const scheduleFlag = (name: string, what: string) =>
  Flag.String(name).pipe(
    Flag.optional,
    Flag.withDescription(`With --schedule: collect ${what} as min_age=<duration>,period=<duration> (e.g. min_age=5m,period=1m)`)
  )

const flags = {
  resource: Flag.Literals("resource", RESOURCE_NAMES).pipe(
    Flag.withAlias("r"),
    Flag.optional,
    Flag.withDescription("Only this kind of object (default: every kind the garbageCollector settings enable)")
  ),
  minAge: Flag.String("min-age").pipe(
    Flag.withAlias("m"),
    Flag.optional,
    Flag.withDescription(`The minimum age of every kind collected, e.g. "0s", "1h", "7days 30min" (default: the settings', 5m)`)
  ),
  schedule: Flag.Boolean("schedule").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Run a garbage collector until Ctrl-C, each kind on its period, instead of one pass")
  ),
  manifest: scheduleFlag("manifest", "manifests"),
  wal: scheduleFlag("wal", "WAL SSTs"),
  compacted: scheduleFlag("compacted", "compacted SSTs"),
  compactions: scheduleFlag("compactions", "compactions files")
}

type GcFlags = {
  readonly resource: Option.Option<(typeof RESOURCE_NAMES)[number]>
  readonly minAge: Option.Option<string>
  readonly schedule: boolean
  readonly manifest: Option.Option<string>
  readonly wal: Option.Option<string>
  readonly compacted: Option.Option<string>
  readonly compactions: Option.Option<string>
}

/** `min_age=10m,period=1m` (SlateDB's `parse_gc_schedule`; either may be left out: the kind's setting). */
const parseSchedule = (flag: string, text: string, base: GarbageCollector.GcResourceOptions) =>
  Effect.gen(function*() {
    let { intervalMs, minAgeMs } = base
    for (const part of text.split(",")) {
      const eq = part.indexOf("=")
      if (eq < 0) return yield* usage(`${flag} expects min_age=<duration>,period=<duration>, got ${JSON.stringify(text)}`)
      const key = part.slice(0, eq).trim()
      const value = part.slice(eq + 1)
      if (key === "min_age") minAgeMs = yield* parseCliDuration(`${flag} min_age`, value)
      else if (key === "period" || key === "interval") intervalMs = yield* parseCliDuration(`${flag} period`, value)
      else yield* errLine(`${flag}: ignoring ${JSON.stringify(key)} (only min_age and period are read)`)
    }
    if (intervalMs <= 0) return yield* usage(`${flag} period must be more than 0s`)
    return { intervalMs, minAgeMs }
  })

/** What the flags and the settings ask to collect. */
const gcOptions = (c: Context, f: GcFlags) =>
  Effect.gen(function*() {
    const scheduled: ReadonlyArray<readonly [Kind, Option.Option<string>]> = [
      ["manifests", f.manifest],
      ["wal", f.wal],
      ["compacted", f.compacted],
      ["compactions", f.compactions]
    ]
    const given = scheduled.filter(([, v]) => Option.isSome(v))
    if (given.length > 0 && !f.schedule) {
      return yield* usage(`--${given[0]![0] === "manifests" ? "manifest" : given[0]![0]} is a schedule: it goes with --schedule`)
    }
    const settings = (yield* loadSettings(c.target)).garbageCollector
    const base: GarbageCollector.GcOptions = settings ?? GarbageCollector.defaultGcOptions
    const setting = (k: Kind) => base[k] ?? GarbageCollector.DEFAULT_GC_RESOURCE
    let options: GarbageCollector.GcOptions = base
    if (given.length > 0) {
      const picked: Record<Kind, GarbageCollector.GcResourceOptions | null> = { manifests: null, wal: null, compacted: null, compactions: null }
      for (const [k, v] of given) picked[k] = yield* parseSchedule(`--${k === "manifests" ? "manifest" : k}`, Option.getOrThrow(v), setting(k))
      options = picked
    }
    if (Option.isSome(f.resource)) {
      const only = kindOf(f.resource.value)
      if (given.length > 0 && options[only] === null) {
        return yield* usage(`--resource ${f.resource.value} is not among the kinds scheduled (${given.map(([k]) => k).join(", ")})`)
      }
      options = { manifests: null, wal: null, compacted: null, compactions: null, [only]: options[only] ?? setting(only) }
    }
    if (Option.isSome(f.minAge)) options = GarbageCollector.withMinAge(options, yield* parseCliDuration("--min-age", f.minAge.value))
    if (GarbageCollector.GC_RESOURCES.every((k) => options[k] === null)) {
      return yield* usage("nothing to collect: the garbageCollector settings turn every kind off (name one with --resource)")
    }
    return options
  })

const deletedText = (deleted: Readonly<Record<Kind, number>>): string =>
  GarbageCollector.GC_RESOURCES.filter((k) => deleted[k] > 0).map((k) => `${deleted[k]} ${KIND_LABEL[k]}`).join(", ")

/** One pass, as a table. */
const formatPass = (name: string, options: GarbageCollector.GcOptions, stats: GarbageCollector.GcRunStats): Array<string> => {
  const out = [
    `garbage collection of ${name}: one pass in ${formatDuration(stats.durationMs)}, ${stats.requests} store request${
      stats.requests === 1 ? "" : "s"
    }`,
    `  ${"kind".padEnd(20)}${"min age".padEnd(17)}deleted`
  ]
  for (const k of GarbageCollector.GC_RESOURCES) {
    const o = options[k]
    out.push(`  ${KIND_LABEL[k].padEnd(20)}${(o === null ? "(not collected)" : formatDuration(o.minAgeMs)).padEnd(17)}${o === null ? "-" : stats.deleted[k]}`)
  }
  out.push(`  expired checkpoints removed: ${stats.expiredCheckpoints}`)
  if (stats.errors.length > 0) out.push(`  errors: ${stats.errors.length} (on stderr)`)
  return out
}

const gcOnce = (c: Context, options: GarbageCollector.GcOptions) =>
  Effect.gen(function*() {
    const stats = yield* inspect(c.target, Admin.runGcOnce(c.target.root, { options }))
    yield* line(c.json ? JSON.stringify({ options, ...stats }) : formatPass(c.target.name, options, stats).join("\n"))
    if (stats.errors.length > 0) {
      for (const e of stats.errors) yield* errLine(`gc: ${e}`)
      return yield* fail(
        `the garbage-collection pass on ${c.target.name} reported ${stats.errors.length} error${stats.errors.length === 1 ? "" : "s"}`,
        ExitCode.store
      )
    }
  })

const describeOptions = (options: GarbageCollector.GcOptions): string =>
  GarbageCollector.GC_RESOURCES.flatMap((k) => {
    const o = options[k]
    return o === null ? [] : [`${KIND_LABEL[k]} every ${formatDuration(o.intervalMs)} (min age ${formatDuration(o.minAgeMs)})`]
  }).join(", ")

const STATUS_POLL_MS = 200

/** Runs a collector until interrupted; a line per poll in which passes deleted something. */
const gcScheduled = (c: Context, options: GarbageCollector.GcOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const layer = GarbageCollector.layer({ path: c.target.root, options, storeRetry: { maxAttempts: 8 } }).pipe(
      Layer.provide(storeLayer(c.target.location))
    )
    const gc = Services.get(yield* Layer.build(layer), GarbageCollector.GarbageCollector)
    yield* errLine(`garbage collector running on ${c.target.name}: ${describeOptions(options)}; Ctrl-C stops it`)
    let seen = yield* gc.status
    const report = Effect.gen(function*() {
      const now = yield* gc.status
      if (now.passes === seen.passes) return
      const deleted = { manifests: 0, wal: 0, compacted: 0, compactions: 0 } as Record<Kind, number>
      for (const k of GarbageCollector.GC_RESOURCES) deleted[k] = now.deleted[k] - seen.deleted[k]
      const expired = now.expiredCheckpoints - seen.expiredCheckpoints
      const errors = now.errors - seen.errors
      const passes = now.passes - seen.passes
      seen = now
      if (errors > 0) {
        for (const e of now.lastPass?.errors ?? []) yield* errLine(`gc: ${e}`)
      }
      if (GarbageCollector.GC_RESOURCES.every((k) => deleted[k] === 0) && expired === 0) return
      if (c.json) {
        yield* line(JSON.stringify({ passes, totalPasses: now.passes, deleted, expiredCheckpoints: expired, errors }))
      } else {
        const parts = [deletedText(deleted), expired > 0 ? `${expired} expired checkpoint${expired === 1 ? "" : "s"} removed` : ""]
        yield* line(`gc: ${parts.filter((p) => p.length > 0).join("; ")}${deletedText(deleted).length > 0 ? " deleted" : ""} (${passes} pass${passes === 1 ? "" : "es"}, ${now.passes} in all)`)
      }
      yield* CliIO.use((io) => io.flush)
    })
    yield* Effect.forever(Effect.andThen(Effect.sleep(STATUS_POLL_MS), report)).pipe(
      Effect.onInterrupt(() =>
        Effect.gen(function*() {
          const s = yield* gc.status
          const total = deletedText(s.deleted)
          yield* errLine(
            `garbage collector stopped: ${s.passes} pass${s.passes === 1 ? "" : "es"}, ${total.length > 0 ? `${total} deleted` : "nothing deleted"}, ` +
              `${s.expiredCheckpoints} expired checkpoint${s.expiredCheckpoints === 1 ? "" : "s"} removed`
          )
        })
      )
    )
  }))

const gcHandler = (forceSchedule: boolean) => (f: GcFlags) =>
  run((c) =>
    Effect.gen(function*() {
      const schedule = forceSchedule || f.schedule
      const options = yield* gcOptions(c, { ...f, schedule })
      yield* requireDatabase(c.target)
      if (schedule) return yield* gcScheduled(c, options)
      yield* gcOnce(c, options)
    })
  ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))

const description = "Deletes objects the database no longer needs: one pass, or --schedule until Ctrl-C (never fences a writer)"

export const gcCommand = Command.make("gc", flags, gcHandler(false)).pipe(Command.withDescription(description))

/** SlateDB CLI's name for `gc` (one pass). */
export const runGcCommand = Command.make("run-garbage-collection", flags, gcHandler(false)).pipe(
  Command.withDescription(description),
  Command.unlisted
)

/** SlateDB CLI's name for `gc --schedule`. */
export const scheduleGcCommand = Command.make("schedule-garbage-collection", flags, gcHandler(true)).pipe(
  Command.withDescription("`gc --schedule` (SlateDB CLI's name)"),
  Command.unlisted
)
