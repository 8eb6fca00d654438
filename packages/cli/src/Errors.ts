/**
 * How the `shale` command fails: one message on stderr and an exit code that says what kind of failure it
 * was, so scripts can tell "the key is not there" from "the command was wrong" from "the store is down".
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success (also: stdout was closed by the reader, as in `shale scan \| head`) |
 * | 1 | not found: the key is absent, or there is no database at the location |
 * | 2 | usage error: bad flags or arguments, a bad `--db` URL, bad encoding, bad settings, bad import input |
 * | 3 | store failure: the object store is unreachable or refused the request |
 * | 4 | data error: stored bytes are corrupt or in a format Shale does not read |
 * | 5 | fenced: another writer (or, for `shale compactor`, another compactor) took over the database |
 * | 6 | internal error: a bug in Shale (please report it) |
 * | 130 | stopped by SIGINT / SIGTERM (after a clean stop: `shale compactor`) |
 */
import { Data, Runtime } from "effect"
import { CliError } from "effect/cli"

export const ExitCode = {
  ok: 0,
  notFound: 1,
  usage: 2,
  store: 3,
  data: 4,
  fenced: 5,
  internal: 6
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** A failure the command reports to the user: one message and an exit code. */
export class ShaleCliError extends Data.TaggedError("ShaleCliError")<{
  readonly message: string
  readonly exitCode: ExitCode
}> {
  override get [CliError.userMessage](): string {
    return this.message
  }
  override get [Runtime.errorExitCode](): number {
    return this.exitCode
  }
}

/** Standard output was closed by its reader (`shale scan | head`): stop quietly, exit 0. */
export class PipeClosed extends Data.TaggedError("PipeClosed")<{}> {}

export const fail = (message: string, exitCode: ExitCode) => new ShaleCliError({ message, exitCode })
export const usage = (message: string) => fail(message, ExitCode.usage)
export const notFound = (message: string) => fail(message, ExitCode.notFound)

interface Tagged {
  readonly _tag: string
  readonly message?: string
  readonly object?: string
  readonly section?: string
  readonly reason?: string
}

const isTagged = (e: unknown): e is Tagged => typeof e === "object" && e !== null && "_tag" in e

/** Turns any failure into the message and exit code the user sees; `name` names the database. */
export const explain = (name: string) => (e: unknown): ShaleCliError | PipeClosed => {
  if (e instanceof ShaleCliError || e instanceof PipeClosed) return e
  if (!isTagged(e)) return fail(`unexpected failure: ${e instanceof Error ? e.message : String(e)}`, ExitCode.internal)
  const message = e.message ?? ""
  switch (e._tag) {
    case "ClosedError":
      return e.reason === "fenced"
        ? fail(
          `fenced: another writer opened the database at ${name}; this command's write was not acknowledged`,
          ExitCode.fenced
        )
        : fail(`the database at ${name} is closed (${e.reason}): ${message}`, ExitCode.store)
    case "UnavailableError":
      return fail(`the object store of ${name} is unavailable: ${message}`, ExitCode.store)
    case "InvalidError":
      return fail(`invalid: ${message}`, ExitCode.usage)
    case "DataError": {
      const where = e.object === undefined ? "" : ` in ${e.object}${e.section === undefined ? "" : ` (${e.section})`}`
      return fail(`unreadable data${where}: ${message}`, ExitCode.data)
    }
    case "InternalError":
      return fail(`internal error: ${message}`, ExitCode.internal)
    case "ObjectNotFound":
    case "ObjectAlreadyExists":
    case "StoreUnavailable":
    case "StoreFailure":
    case "InvalidPath":
      return fail(`object store error at ${name}: ${message}`, ExitCode.store)
    case "ConfigError":
      return fail(`bad configuration: ${message}`, ExitCode.usage)
    case "PlatformError":
      return fail(`file system error: ${message}`, ExitCode.store)
    default:
      return fail(`${e._tag}: ${message}`, ExitCode.internal)
  }
}
