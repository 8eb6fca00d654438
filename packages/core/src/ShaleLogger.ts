/**
 * Where the engine's log lines go when it runs behind the Promise API (`Shale.open`, `Shale.loadSettings`).
 *
 * The engine logs through Effect's `Logger` (a background flush that failed, a database closed because a
 * newer writer fenced it, settings that have no effect in Shale). An Effect program decides where those
 * go with its own loggers. A Promise-API caller has no Effect runtime of its own, so these options choose:
 *
 * - `logger: "stderr"` (the default): one line per record on standard error, through Effect's console
 *   logger; never on standard output, which belongs to the application.
 * - `logger: "silent"`: nothing.
 * - `logger: (record) => ...`: every record as a plain object (`LogRecord`), for pino, winston, a test...
 * - `logger: <an Effect Logger>`: that logger, as is.
 * - `logLevel` (default `"warn"`): records below it are dropped before they reach the logger.
 *
 * The choice travels with every operation of the handle, including the background fibers the database
 * starts when it opens (they inherit the context of the fiber that opened it).
 */
import { Cause, Context, Formatter, Logger, type LogLevel as EffectLogLevel, References } from "effect"

export type LogLevel = "debug" | "info" | "warn" | "error"

/** One log record, as a function logger receives it. */
export interface LogRecord {
  readonly level: LogLevel
  /** The text parts of the record, joined with spaces (other parts rendered readably). */
  readonly message: string
  /** The parts that were not strings (errors, objects), as logged. */
  readonly details: ReadonlyArray<unknown>
  /** The failure the record carries, pretty-printed; undefined when there is none. */
  readonly cause: string | undefined
  readonly annotations: Readonly<Record<string, unknown>>
  readonly time: Date
}

export type LoggerOption = "stderr" | "silent" | ((record: LogRecord) => void) | Logger.Logger<unknown, unknown>

export interface LoggingOptions {
  /** Where log records go (default `"stderr"`). */
  readonly logger?: LoggerOption
  /** The lowest level passed on (default `"warn"`). */
  readonly logLevel?: LogLevel
}

const TO_EFFECT: Readonly<Record<LogLevel, EffectLogLevel.LogLevel>> = {
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error"
}

const fromEffect = (level: EffectLogLevel.LogLevel): LogLevel => {
  switch (level) {
    case "Fatal":
    case "Error":
      return "error"
    case "Warn":
      return "warn"
    case "Info":
      return "info"
    default:
      return "debug"
  }
}

const render = (part: unknown): string =>
  typeof part === "string" ? part : part instanceof Error ? `${part.name}: ${part.message}` : Formatter.format(part)

/** An Effect logger that hands each record to `f` as a `LogRecord`. */
const functionLogger = (f: (record: LogRecord) => void): Logger.Logger<unknown, void> =>
  Logger.make((options) => {
    const parts: ReadonlyArray<unknown> = Array.isArray(options.message) ? options.message : [options.message]
    const annotations = { ...Context.get(options.fiber.context, References.CurrentLogAnnotations) }
    f({
      level: fromEffect(options.logLevel),
      message: parts.map(render).join(" "),
      details: parts.filter((p) => typeof p !== "string"),
      cause: options.cause.reasons.length > 0 ? Cause.pretty(options.cause) : undefined,
      annotations,
      time: options.date
    })
  })

const stderrLogger: Logger.Logger<unknown, void> = Logger.withConsoleError(Logger.formatSimple)

const loggerOf = (option: LoggerOption): ReadonlySet<Logger.Logger<unknown, unknown>> => {
  if (option === "silent") return new Set()
  if (option === "stderr") return new Set([stderrLogger])
  if (Logger.isLogger(option)) return new Set([option])
  return new Set([functionLogger(option)])
}

/** The context the Promise API runs its effects with: the chosen loggers and minimum level. */
export const loggingContext = (options: LoggingOptions = {}): Context.Context<never> =>
  Context.make(Logger.CurrentLoggers, loggerOf(options.logger ?? "stderr")).pipe(
    Context.add(References.MinimumLogLevel, TO_EFFECT[options.logLevel ?? "warn"])
  )
