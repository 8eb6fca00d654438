/**
 * The command's standard streams, as a service (`CliIO`), so that the commands say what to print and
 * main.ts (or a test) says where it goes.
 *
 * The Node implementation (`nodeIO`):
 * - stdout carries only the command's output. When it is not a terminal, lines are buffered (64 KiB) and
 *   written in large chunks, so a scan of a million rows is not a million system calls; everything is
 *   flushed when the command ends.
 * - A closed stdout (`shale scan | head`: the reader exited) is noticed from the stream's `EPIPE` error;
 *   the next write fails with `PipeClosed`, which stops the command (the database is closed cleanly by
 *   its scope) and main.ts exits with code 0 and no message.
 * - stderr gets messages and progress lines; `errIsTerminal` tells whether progress may redraw one line.
 */
import { Context, Effect, Layer } from "effect"
import { PipeClosed } from "./Errors.ts"

export class CliIO extends Context.Service<CliIO, {
  /** Writes to stdout (buffered when it is not a terminal). */
  readonly out: (text: string) => Effect.Effect<void, PipeClosed>
  /** Writes whatever stdout has buffered. */
  readonly flush: Effect.Effect<void, PipeClosed>
  /** Writes to stderr at once. */
  readonly err: (text: string) => Effect.Effect<void>
  /** Whether stderr is a terminal (progress redraws one line there). */
  readonly errIsTerminal: boolean
}>()("shale/cli/CliIO") {}

/** Writes `text` and a newline to stdout. */
export const line = (text: string): Effect.Effect<void, PipeClosed, CliIO> => CliIO.use((io) => io.out(`${text}\n`))

/** Writes `text` and a newline to stderr. */
export const errLine = (text: string): Effect.Effect<void, never, CliIO> => CliIO.use((io) => io.err(`${text}\n`))

const BUFFER_LIMIT = 64 * 1024

/** The process's streams. Registers the EPIPE listener on stdout; flushes stdout when the layer ends. */
export const nodeIO: Layer.Layer<CliIO> = Layer.effect(
  CliIO,
  Effect.gen(function*() {
    const stdout = process.stdout
    let closed = false
    stdout.on("error", (e: NodeJS.ErrnoException) => {
      // EPIPE: the reader is gone. Other errors are just as final for our output.
      closed = true
      if (e.code !== "EPIPE") process.stderr.write(`shale: cannot write to stdout: ${e.message}\n`)
    })
    const buffered = stdout.isTTY !== true
    let chunks: Array<string> = []
    let size = 0
    const writeNow = (text: string): Effect.Effect<void, PipeClosed> =>
      Effect.suspend(() => {
        if (closed || stdout.destroyed) {
          closed = true
          return Effect.fail(new PipeClosed())
        }
        if (text.length > 0) stdout.write(text)
        return Effect.void
      })
    const flush = Effect.suspend(() => {
      const text = chunks.join("")
      chunks = []
      size = 0
      return writeNow(text)
    })
    yield* Effect.addFinalizer(() => Effect.ignore(flush))
    return CliIO.of({
      out: (text) =>
        Effect.suspend(() => {
          if (closed) return Effect.fail(new PipeClosed())
          if (!buffered) return writeNow(text)
          chunks.push(text)
          size += text.length
          return size >= BUFFER_LIMIT ? flush : Effect.void
        }),
      flush,
      err: (text) => Effect.sync(() => void process.stderr.write(text)),
      errIsTerminal: process.stderr.isTTY === true
    })
  })
)
