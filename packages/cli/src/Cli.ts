/**
 * The `shale` command: reads and writes a Shale / SlateDB 0.12.1 database from the shell.
 *
 * ```
 * shale --db <url> put <key> <value>      durable put (creates the database if there is none)
 * shale --db <url> get <key>              prints the value; exit code 1 if the key is absent
 * shale --db <url> delete <key>           durable delete
 * shale --db <url> scan [--prefix p] [--start a] [--end b] [--limit n] [--desc]
 *                                         (get and scan: [--checkpoint <uuid>] reads at a checkpoint)
 * shale --db <url> export [--output f]    rows as JSON lines
 * shale --db <url> import [file]          rows from JSON lines (stdin by default)
 * shale --db <url> manifest               the latest manifest, pretty-printed
 * shale --db <url> wal                    the WAL SSTs with ids, sizes and row counts
 * shale --db <url> compact [--runs 5,3]   a full compaction (or of those runs), by the database's compactor
 * shale --db <url> compactor              runs the database's compactor until Ctrl-C
 * shale --db <url> tail [--from-seq n]    prints changes (durable rows in seq order) as they arrive, until Ctrl-C
 * shale --db <url> manifests | compactions | checkpoints | checkpoint create|refresh|delete | gc [--schedule]
 *                  | clone --parent-path p | seq-to-ts --seq n | ts-to-seq --ts s    admin (./AdminCommands.ts)
 * ```
 *
 * Shared flags (./Root.ts): `--db` (a directory, `file:///abs/dir`, `memory:`, `s3://bucket/prefix`;
 * `SHALE_DB` is its fallback), `--path` (the database root inside the store), `--settings`, `--json`,
 * `--encoding` / `--key-encoding` / `--value-encoding` (utf8, hex, base64), `--progress`.
 *
 * `put`, `delete` and `import` open the database as its writer, so they fence any other writer of that
 * database. `get`, `scan` and `export` read through a read-only view (`Db.openReadOnly`; `get` and `scan`
 * also at a checkpoint, `--checkpoint <uuid>`) and `manifest`, `wal` and `tail` only read objects: they write
 * nothing and never fence. Every command but `put` and `import` refuses to run where there is no database.
 *
 * Exit codes: ./Errors.ts. Usage errors (bad flags, arguments, URLs, encodings) go to stderr with a hint,
 * exit code 2; stdout carries only the command's output.
 */
import { Console, Effect } from "effect"
import { CliOutput, Command, TerminalCapabilities } from "effect/cli"
import { adminCommands } from "./AdminCommands.ts"
import { compactCommand, compactorCommand } from "./CompactCommands.ts"
import { del, get, put, scan } from "./DataCommands.ts"
import { manifest, wal } from "./InspectCommands.ts"
import { root } from "./Root.ts"
import { tailCommand } from "./TailCommand.ts"
import { exportCommand, importCommand } from "./Transfer.ts"

export const VERSION = "0.0.1"

export const shale = root.pipe(
  Command.withSubcommands([
    put,
    get,
    del,
    scan,
    exportCommand,
    importCommand,
    manifest,
    wal,
    compactCommand,
    compactorCommand,
    tailCommand,
    ...adminCommands
  ])
)

/**
 * Help and the version on stdout (they are what was asked for); an invalid invocation's errors on stderr
 * with a pointer to the help, not the help itself (it would bury the error).
 */
export const presenter = CliOutput.layerPresenter({
  present: Effect.fnUntraced(function*(event: CliOutput.Presenter.Event) {
    if (event._tag !== "InvalidInvocation") return yield* CliOutput.defaultPresenter.present(event)
    const capabilities = yield* TerminalCapabilities.TerminalCapabilities
    const formatter = CliOutput.defaultFormatter({ colors: capabilities.canColor })
    yield* Console.error(formatter.formatErrors(event.errors))
    yield* Console.error(`Run \`${event.commandPath.join(" ")} --help\` for usage.`)
  })
})

/** Runs `shale` with the arguments of the `Stdio` service (the process's, under `NodeServices`). */
export const main = Command.run(shale, { version: VERSION })

/** Runs `shale` with explicit arguments (without the program name), e.g. in tests. */
export const runWith = Command.runWith(shale, { version: VERSION })

