/**
 * The compaction commands.
 *
 * - `shale compactor`: runs the database's compactor in this process until SIGINT / SIGTERM (then it stops
 *   cleanly: running compactions are interrupted and resume from their recorded output next time). It
 *   claims the compactor epoch, so it stops any other compactor of the database (a writer's embedded one
 *   included: run writers with the `compactor` setting null beside it). One line per finished compaction on
 *   stdout (JSON with `--json`); failures and, with `--progress` (default: on a terminal), a status line
 *   about once a second on stderr. Another compactor taking over ends it with exit code 5 (fenced).
 * - `shale compact`: asks the database's running compactor for a compaction — everything (every L0 SST and
 *   sorted run) into one run (default), or `--runs 5,3,2` — through the compactions file, and waits until it ends (its state on
 *   stderr; the result on stdout). It never fences anyone. With no compactor running anywhere, `--run`
 *   runs one in this process for the duration (claiming the compactor epoch, as `shale compactor` does).
 */
import { Admin, Compactor } from "@shale/core"
import { Clock, Context as Services, Effect, Fiber, Layer, Option, References, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { formatBytes } from "./Display.ts"
import { ExitCode, fail, notFound, usage } from "./Errors.ts"
import { CliIO, errLine, line } from "./Io.ts"
import { type Context, run } from "./Root.ts"
import { loadSettings, requireDatabase, storeLayer, type Target } from "./Target.ts"

const compactorLayer = (t: Target) =>
  Effect.map(loadSettings(t), (settings) =>
    Compactor.Compactor.layer({ path: t.root, settings, storeRetry: { maxAttempts: 8 } }).pipe(
      Layer.provide(storeLayer(t.location))
    ))

const fencedByAnother = (name: string) =>
  fail(`stopped: another compactor took over the database at ${name}`, ExitCode.fenced)

/** One finished (or failed) compaction as the commands print it. */
const eventLine = (c: Context, e: Compactor.CompactorEvent): string | undefined => {
  if (e._tag === "Started") return undefined
  if (c.json) return JSON.stringify(e)
  if (e._tag === "Failed") return `compaction ${e.id} failed (${e.description}): ${e.message.split("\n")[0]}`
  return `compaction ${e.id} finished in ${e.seconds.toFixed(1)} s: ${e.description}, ${e.rowsRead.toLocaleString("en-US")} rows read, ` +
    `${e.outputSsts} SST${e.outputSsts === 1 ? "" : "s"} (${formatBytes(e.bytesWritten)}) written; now ${e.l0Ssts} L0 SSTs, ` +
    `${e.sortedRuns} sorted run${e.sortedRuns === 1 ? "" : "s"}`
}

const statusLine = (s: Compactor.CompactorStatus): string => {
  const running = s.running.map((r) => `${r.description} (${r.outputSsts} SSTs, ${formatBytes(r.bytesWritten)})`)
  return `compactor (epoch ${s.epoch}): ${s.running.length} running${running.length > 0 ? `: ${running.join("; ")}` : ""}; ` +
    `${s.completed} completed, ${s.failed} failed, ${formatBytes(s.bytesWritten)} written; ${s.l0Ssts} L0 SSTs, ${s.sortedRuns} sorted run${s.sortedRuns === 1 ? "" : "s"}`
}

/** Prints compactor events as they come (stdout lines flushed at once: this command runs for long). */
const printEvents = (c: Context, compactor: Compactor.CompactorHandle) =>
  Stream.runForEach(compactor.events, (e) =>
    Effect.gen(function*() {
      const text = eventLine(c, e)
      if (text === undefined) return
      if (e._tag === "Failed" && !c.json) return yield* errLine(text)
      yield* line(text)
      yield* CliIO.use((io) => io.flush)
    }))

/** A status line on stderr about once a second, with --progress (default: when stderr is a terminal). */
const reportStatus = (c: Context, compactor: Compactor.CompactorHandle) =>
  Effect.gen(function*() {
    const io = yield* CliIO
    if (!Option.getOrElse(c.progress, () => io.errIsTerminal)) return
    while (true) {
      yield* Effect.sleep("1 second")
      const text = statusLine(yield* compactor.status)
      yield* io.err(io.errIsTerminal ? `\r\x1b[K${text}` : `${text}\n`)
    }
  })

const makeCompactorCommand = (name: string) =>
  Command.make(name, {}, () =>
  run((c) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const layer = yield* compactorLayer(c.target)
      yield* Effect.scoped(Effect.gen(function*() {
        const compactor = Services.get(yield* Layer.build(layer), Compactor.Compactor)
        yield* errLine(`compactor running on ${c.target.name} (compactor epoch ${(yield* compactor.status).epoch}); Ctrl-C stops it`)
        const printer = yield* Effect.forkScoped(printEvents(c, compactor))
        yield* Effect.forkScoped(reportStatus(c, compactor))
        // Runs until interrupted (SIGINT / SIGTERM) or fenced by a newer compactor. Its own lines say what
        // the engine's informational logs would say twice; warnings and errors still show.
        yield* compactor.done.pipe(
          Effect.mapError((e) => (e.reason === "fenced" ? fencedByAnother(c.target.name) : e)),
          Effect.onInterrupt(() =>
            Effect.gen(function*() {
              const s = yield* compactor.status
              yield* compactor.stop
              yield* Fiber.interrupt(printer)
              yield* errLine(`compactor stopped: ${s.completed} compaction${s.completed === 1 ? "" : "s"} finished, ${formatBytes(s.bytesWritten)} written`)
            }))
        )
      }))
    })
  ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).pipe(
  Command.withDescription("Runs the database's compactor until Ctrl-C (stops any other compactor of the database)")
)

export const compactorCommand = makeCompactorCommand("compactor")

/** SlateDB CLI's name for `compactor` (not listed in `--help`). */
export const runCompactorCommand = Command.unlisted(makeCompactorCommand("run-compactor"))

/** `--runs 5,3,2` → a spec merging those runs into the lowest; a usage error when malformed. */
const runsSpec = (text: string) =>
  Effect.suspend(() => {
    const ids = text.split(",").map((s) => s.trim())
    if (ids.some((s) => !/^[0-9]+$/.test(s))) return Effect.fail(usage(`--runs expects sorted run ids like 5,3,2, got ${JSON.stringify(text)}`))
    const runs = [...new Set(ids.map(Number))].sort((a, b) => b - a)
    return Effect.succeed<Compactor.CompactionSpec>({
      sources: runs.map((id) => ({ kind: "sr" as const, id })),
      destination: runs[runs.length - 1]!
    })
  })

const describeState = (s: Admin.CompactionState): string => {
  switch (s._tag) {
    case "Submitted":
      return "submitted; waiting for the compactor to start it"
    case "Running":
      return `running (${s.outputSsts} SSTs written so far)`
    case "Completed":
      return `completed (${s.outputSsts} SSTs)`
    case "Failed":
      return "failed"
    case "Ended":
      return "ended"
  }
}

export const compactCommand = Command.make("compact", {
  runs: Flag.String("runs").pipe(
    Flag.optional,
    Flag.withDescription("Sorted run ids to merge into the lowest of them (default: every L0 SST and sorted run)")
  ),
  runHere: Flag.Boolean("run").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Run a compactor in this process for the duration (stops any other compactor of the database)")
  )
}, (flags) =>
  run((c) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const request: Compactor.CompactionRequest = Option.isSome(flags.runs) ? yield* runsSpec(flags.runs.value) : "full"
      const store = storeLayer(c.target.location)
      const start = yield* Clock.currentTimeMillis
      const report = (state: Admin.CompactionState) =>
        Effect.gen(function*() {
          const seconds = (((yield* Clock.currentTimeMillis) - start) / 1000).toFixed(1)
          if (c.json) return yield* line(JSON.stringify({ ...state, seconds: Number(seconds) }))
          if (state._tag === "Completed" || state._tag === "Ended") return yield* line(`compaction ${describeState(state)} after ${seconds} s`)
          yield* errLine(`compaction ${describeState(state)} (${seconds} s)`)
        })
      if (flags.runHere) {
        const layer = yield* compactorLayer(c.target)
        return yield* Effect.scoped(Effect.gen(function*() {
          const compactor = Services.get(yield* Layer.build(layer), Compactor.Compactor)
          const id = yield* compactor.submit(request)
          yield* errLine(`compaction ${id} submitted: ${describeRequest(request)}`)
          yield* compactor.awaitIdle
          const end = yield* Admin.awaitCompaction(c.target.root, id).pipe(Effect.provide(store))
          if (end._tag === "Failed") return yield* fail(`compaction ${id} failed (see the log above)`, ExitCode.store)
          yield* report(end)
        }))
      }
      const file = yield* Admin.readCompactions(c.target.root).pipe(Effect.provide(store))
      if (Option.isNone(file)) {
        return yield* notFound(
          `no compactor has run on the database at ${c.target.name} (it has no compactions file): start one ` +
            `(\`shale compactor\`, or a writer with the default settings), or pass --run to compact in this process`
        )
      }
      const { id } = yield* Admin.submitCompaction(c.target.root, request).pipe(Effect.provide(store))
      yield* errLine(`compaction ${id} submitted: ${describeRequest(request)}; waiting for the compactor`)
      const end = yield* Admin.awaitCompaction(c.target.root, id, { onState: (s) => (s._tag === "Submitted" ? Effect.void : report(s)) }).pipe(
        Effect.provide(store)
      )
      if (end._tag === "Failed") return yield* fail(`compaction ${id} failed (see the compactor's log)`, ExitCode.store)
    })
  ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).pipe(Command.withDescription("Compacts everything into one sorted run (or --runs), through the database's compactor"))

const describeRequest = (r: Compactor.CompactionRequest): string =>
  r === "full" ? "every L0 SST and sorted run into one run" : Compactor.describeSpec(r)
