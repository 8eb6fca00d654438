/**
 * Entry point of the `shale` command (bin/shale.mjs imports this file): runs ./Cli.ts with the process's
 * arguments, stdio and file system, and exits with the command's exit code (1 on any failure).
 *
 * stdout carries only the command's output. Failures the command explains (`ShaleCliError`, parse errors)
 * are printed once by `effect/cli`; anything unexpected is logged, like `NodeRuntime.runMain` does, but to
 * stderr.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Logger, Runtime } from "effect"
import { main } from "./Cli.ts"

main.pipe(
  Effect.tapCause((cause) =>
    Cause.hasInterruptsOnly(cause) || !Runtime.getErrorReported(Cause.squash(cause)) ? Effect.void : Effect.logError(cause)
  ),
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
