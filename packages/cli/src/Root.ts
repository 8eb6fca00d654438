/**
 * The root `shale` command and the flags every subcommand shares (before or after the subcommand:
 * `shale --db d get k` and `shale get k --db d` are the same), and `run`, which every subcommand body goes
 * through: it parses the shared flags into a `Context` and turns every failure into a `ShaleCliError`
 * with its exit code (./Errors.ts).
 */
import { Config, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { type Encoding, ENCODINGS } from "./Encoding.ts"
import { explain } from "./Errors.ts"
import { parseTarget, type Target } from "./Target.ts"

const encodingFlag = (name: string, what: string) =>
  Flag.Literals(name, ENCODINGS).pipe(Flag.optional, Flag.withDescription(what))

export const root = Command.make("shale").pipe(
  Command.withSharedFlags({
    db: Flag.String("db").pipe(
      Flag.withFallbackConfig(Config.String("SHALE_DB")),
      Flag.withDescription("The database: a directory, file:///abs/dir, memory: or s3://bucket/prefix (env SHALE_DB)")
    ),
    path: Flag.String("path").pipe(
      Flag.withDefault(""),
      Flag.withDescription("The database root inside the store (default: the top level)")
    ),
    settings: Flag.String("settings").pipe(
      Flag.optional,
      Flag.withDescription(
        "A settings file (.json, .toml, .yaml; Shale's or SlateDB's names). Default: SlateDb.{json,toml,yaml,yml} here if present; SLATEDB_* and SHALE_* variables override"
      )
    ),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Output JSON (one document per line)")),
    encoding: Flag.Literals("encoding", ENCODINGS).pipe(
      Flag.withDefault("utf8" as const),
      Flag.withDescription("How keys and values are written in arguments and output: utf8 (default), hex, base64")
    ),
    keyEncoding: encodingFlag("key-encoding", "The encoding of keys (overrides --encoding)"),
    valueEncoding: encodingFlag("value-encoding", "The encoding of values (overrides --encoding)"),
    progress: Flag.Boolean("progress").pipe(
      Flag.optional,
      Flag.withDescription("Report progress of long commands on stderr (default: when stderr is a terminal)")
    )
  }),
  Command.withDescription("Reads and writes a Shale (SlateDB 0.12.1 format) database")
)

/** What every subcommand knows from the shared flags. */
export interface Context {
  readonly target: Target
  readonly json: boolean
  readonly keyEncoding: Encoding
  readonly valueEncoding: Encoding
  readonly progress: Option.Option<boolean>
}

/** Runs a subcommand body with the shared flags, mapping every failure to a `ShaleCliError`. */
export const run = <A, E, R>(body: (c: Context) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const flags = yield* root
    const target = yield* parseTarget(flags.db, flags.path, flags.settings)
    const c: Context = {
      target,
      json: flags.json,
      keyEncoding: Option.getOrElse(flags.keyEncoding, () => flags.encoding),
      valueEncoding: Option.getOrElse(flags.valueEncoding, () => flags.encoding),
      progress: flags.progress
    }
    return yield* body(c).pipe(Effect.mapError(explain(target.name)))
  })
