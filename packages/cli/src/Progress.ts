/**
 * Progress of long commands (scans of large ranges, export, import) on stderr: nothing for the first
 * second, then about once a second `<what>: 120,000 rows (45,000/s)`. On a terminal the line is redrawn in
 * place and erased at the end; elsewhere (with `--progress`) each report is its own line.
 *
 * Whether to report: `--progress` / `--no-progress`, else only when stderr is a terminal. The delay and
 * interval (1000 ms) can be shortened with `SHALE_PROGRESS_INTERVAL_MS` (the tests do).
 */
import { Clock, Config, Effect, Fiber, Option, type Scope } from "effect"
import { CliIO } from "./Io.ts"

export interface Progress {
  /** Counts `n` more items (a plain synchronous increment: cheap per row). */
  readonly add: (n: number) => void
  /** The items counted so far. */
  readonly count: () => number
  /** Stops reporting (erasing the redrawn line on a terminal). */
  readonly stop: Effect.Effect<void>
}

const intervalConfig = Config.Int("SHALE_PROGRESS_INTERVAL_MS").pipe(Config.withDefault(1000))

const formatCount = (n: number) => n.toLocaleString("en-US")

/**
 * Starts counting `unit`s of `what`; reports as the module comment says when `enabled` (undefined: when
 * stderr is a terminal). Reporting ends with `stop` or with the scope.
 */
export const startProgress = (
  what: string,
  unit: string,
  enabled: Option.Option<boolean>
): Effect.Effect<Progress, never, CliIO | Scope.Scope> =>
  Effect.gen(function*() {
    const io = yield* CliIO
    let n = 0
    const progress = { add: (k: number) => void (n += k), count: () => n }
    const on = Option.getOrElse(enabled, () => io.errIsTerminal)
    if (!on) return { ...progress, stop: Effect.void }
    const interval = yield* intervalConfig.pipe(Effect.orElseSucceed(() => 1000))
    const start = yield* Clock.currentTimeMillis
    const terminal = io.errIsTerminal
    let shown = false
    const report = Effect.gen(function*() {
      const elapsed = (yield* Clock.currentTimeMillis) - start
      const rate = elapsed > 0 ? Math.round((n * 1000) / elapsed) : 0
      const text = `${what}: ${formatCount(n)} ${unit} (${formatCount(rate)}/s)`
      shown = true
      yield* io.err(terminal ? `\r\x1b[K${text}` : `${text}\n`)
    })
    const fiber = yield* Effect.forkScoped(
      Effect.sleep(interval).pipe(Effect.andThen(Effect.forever(report.pipe(Effect.andThen(Effect.sleep(interval))))))
    )
    const stop = Effect.gen(function*() {
      yield* Fiber.interrupt(fiber)
      if (terminal && shown) yield* io.err("\r\x1b[K")
    })
    return { ...progress, stop }
  })
