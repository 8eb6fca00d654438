/**
 * Entry point of the `shale` command (bin/shale.mjs imports this file, or its build): runs ./Cli.ts with
 * the process's arguments, stdio and file system, and exits with the command's exit code (./Errors.ts).
 *
 * stdout carries only the command's output. Failures the command explains (`ShaleCliError`) and usage
 * errors are printed once by `effect/cli`, on stderr; anything unexpected is logged with its cause on
 * stderr and exits with code 6. A reader closing stdout (`shale scan | head`) ends the command quietly
 * with code 0.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Layer, Logger } from "effect"
import { CliError } from "effect/cli"
import { main, presenter } from "./Cli.ts"
import { ExitCode, PipeClosed, ShaleCliError } from "./Errors.ts"
import { nodeIO } from "./Io.ts"

const isUsageError = (e: unknown): e is CliError.ShowHelp =>
  CliError.isCliError(e) && e._tag === "ShowHelp" && e.errors.length > 0

main.pipe(
  Effect.catchCause((cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
    const e = Cause.squash(cause)
    if (e instanceof PipeClosed) return Effect.void
    if (e instanceof ShaleCliError) return Effect.fail(e)
    // Already printed (errors and a pointer to --help); only the exit code is left to set.
    if (isUsageError(e)) return Effect.fail(new ShaleCliError({ message: "usage", exitCode: ExitCode.usage }))
    if (CliError.isCliError(e)) return Effect.failCause(cause)
    return Effect.logError("unexpected failure", cause).pipe(
      Effect.andThen(Effect.fail(new ShaleCliError({ message: "internal error", exitCode: ExitCode.internal })))
    )
  }),
  Effect.provide(Layer.mergeAll(nodeIO, presenter)),
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
