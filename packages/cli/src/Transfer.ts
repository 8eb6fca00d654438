/**
 * `shale export` and `shale import`: a database's rows as JSON lines, one row per line:
 *
 * ```
 * {"key":"user/1","value":"alice"}
 * {"key":{"base64":"AP8="},"value":"binary key","expireTs":1795541644592}
 * ```
 *
 * `key` and `value` are written in the chosen encoding (./Encoding.ts; non-UTF-8 bytes under the default
 * UTF-8 become `{"base64": ...}`), so an export is lossless and imports back to the same rows. `expireTs`
 * (milliseconds since the epoch) is present when the row has a time to live, and `import` keeps it; rows
 * without it are imported without expiry, whatever the target's default TTL.
 *
 * `export` reads through a read-only view (the latest state when it starts; it writes nothing, so a writer
 * running elsewhere goes on undisturbed).
 *
 * `import` writes in batches (`--batch-size`, default 1000 rows; each batch atomic) without waiting for
 * each to be durable, flushes the WAL at the end, and only then reports success, so everything imported is
 * durable when it exits 0. It stops at the first bad line (exit code 2, naming the line); every line before
 * it is written (and durable: closing the database flushes the WAL). It creates the database if there is
 * none, as `put` does.
 */
import { Db } from "@shale/core"
import { Effect, FileSystem, Option, type Scope, Stream } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { Argument, Command, Flag } from "effect/cli"
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { rangeFlags, rangeOf } from "./DataCommands.ts"
import { fromJsonBytes, toJsonBytes } from "./Encoding.ts"
import { type PipeClosed, usage } from "./Errors.ts"
import { CliIO, errLine, line } from "./Io.ts"
import { startProgress } from "./Progress.ts"
import { type Context, run } from "./Root.ts"
import { requireDatabase, withDb, withReadOnly } from "./Target.ts"

/** The export line of a row. */
const exportLine = (c: Context, kv: Db.KeyValue): string =>
  JSON.stringify({
    key: toJsonBytes(kv.key, c.keyEncoding),
    value: toJsonBytes(kv.value, c.valueEncoding),
    ...(kv.expireTs === undefined ? {} : { expireTs: kv.expireTs })
  })

type Write = (text: string) => Effect.Effect<void, PipeClosed | PlatformError, CliIO>

/** Where export lines go: stdout (through `CliIO`), or a file written in 64 KiB chunks. */
const openOutput = (output: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(output) || output.value === "-") return ((text) => CliIO.use((io) => io.out(text))) as Write
    const fs = yield* FileSystem.FileSystem
    const file = yield* fs.open(output.value, { flag: "w" })
    const encoder = new TextEncoder()
    let pending: Array<string> = []
    let size = 0
    const flush = Effect.suspend(() => {
      const bytes = encoder.encode(pending.join(""))
      pending = []
      size = 0
      return file.writeAll(bytes)
    })
    yield* Effect.addFinalizer(() => Effect.ignore(flush.pipe(Effect.andThen(file.sync))))
    const write: Write = (text) =>
      Effect.suspend(() => {
        pending.push(text)
        size += text.length
        return size >= 64 * 1024 ? flush : Effect.void
      })
    return write
  })

export const exportCommand = Command.make("export", {
  ...rangeFlags,
  output: Flag.String("output").pipe(
    Flag.optional,
    Flag.withDescription("Write to this file instead of stdout (- for stdout)")
  )
}, (flags) =>
  run((c) =>
    Effect.gen(function*() {
      const range = yield* rangeOf(c, flags)
      yield* requireDatabase(c.target)
      const count = yield* withReadOnly(
        c.target,
        undefined,
        (view) => Effect.scoped(Effect.gen(function*() {
          const write = yield* openOutput(flags.output)
          const progress = yield* startProgress("export", "rows", c.progress)
          if (range !== undefined) {
            yield* Stream.runForEach(view.scan(range), (kv) => {
              progress.add(1)
              return write(`${exportLine(c, kv)}\n`)
            })
          }
          yield* progress.stop
          return progress.count()
        }))
      )
      yield* errLine(`exported ${count} row${count === 1 ? "" : "s"}`)
    })
  )).pipe(Command.withDescription("Writes the rows of a key range as JSON lines (stdout or --output), for `import`"))

// ---- import -------------------------------------------------------------------------------------------------

interface ImportRow {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly expireTs: number | undefined
}

/** One line of an export → a row; a usage error naming the line when it is not one. */
const parseLine = (c: Context, text: string, lineNo: number): Effect.Effect<ImportRow, ReturnType<typeof usage>> =>
  Effect.suspend(() => {
    const bad = (why: string) => Effect.fail(usage(`import: line ${lineNo}: ${why}`))
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (e) {
      return bad(`not valid JSON (${e instanceof Error ? e.message : String(e)})`)
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return bad("expected a JSON object")
    const o = json as Record<string, unknown>
    for (const k of Object.keys(o)) if (k !== "key" && k !== "value" && k !== "expireTs") return bad(`unknown field "${k}"`)
    const key = fromJsonBytes(o["key"], c.keyEncoding)
    if (typeof key === "string") return bad(`key: ${key}`)
    const value = fromJsonBytes(o["value"], c.valueEncoding)
    if (typeof value === "string") return bad(`value: ${value}`)
    const expireTs = o["expireTs"]
    if (expireTs !== undefined && expireTs !== null && !Number.isSafeInteger(expireTs)) {
      return bad(`expireTs: expected milliseconds since the epoch, got ${JSON.stringify(expireTs)}`)
    }
    return Effect.succeed({ key, value, expireTs: typeof expireTs === "number" ? expireTs : undefined })
  })

/** The lines of a file, or of stdin (`-` or no file). */
const inputLines = (file: Option.Option<string>): Effect.Effect<Stream.Stream<string, ReturnType<typeof usage>>, ReturnType<typeof usage>, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const path = Option.getOrUndefined(file)
    const fromStdin = path === undefined || path === "-"
    if (!fromStdin) {
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false))
      if (!exists) return yield* usage(`import: cannot read ${path}: no such file`)
    }
    const input = fromStdin ? process.stdin : createReadStream(path)
    const rl = createInterface({ input, crlfDelay: Infinity })
    yield* Effect.addFinalizer(() => Effect.sync(() => rl.close()))
    return Stream.fromAsyncIterable(rl, (e) => usage(`import: cannot read ${fromStdin ? "stdin" : path}: ${String(e)}`))
  })

export const importCommand = Command.make("import", {
  file: Argument.String("file").pipe(
    Argument.optional,
    Argument.withDescription("A JSON-lines file as `export` writes it (default, or -: stdin)")
  ),
  batchSize: Flag.Int("batch-size").pipe(
    Flag.withDefault(1000),
    Flag.withDescription("Rows per atomic batch (default 1000)")
  )
}, (args) =>
  run((c) =>
    Effect.gen(function*() {
      if (args.batchSize < 1) return yield* usage("--batch-size must be ≥ 1")
      const count = yield* withDb(
        c.target,
        Effect.scoped(Effect.gen(function*() {
          const db = yield* Db.Db
          const lines = yield* inputLines(args.file)
          const progress = yield* startProgress("import", "rows", c.progress)
          yield* lines.pipe(
            Stream.zipWithIndex,
            Stream.filter(([text]) => text.trim().length > 0),
            Stream.mapEffect(([text, i]) => Effect.result(parseLine(c, text, i + 1))),
            Stream.grouped(args.batchSize),
            Stream.runForEach((parsed) =>
              Effect.gen(function*() {
                // The rows before a bad line are written (in this batch too), then the import stops.
                const bad = parsed.findIndex((r) => r._tag === "Failure")
                const rows = (bad === -1 ? parsed : parsed.slice(0, bad)).flatMap((r) => r._tag === "Success" ? [r.success] : [])
                if (rows.length > 0) {
                  const batch = new Db.WriteBatch()
                  for (const r of rows) batch.put(r.key, r.value, { ttl: r.expireTs === undefined ? "none" : { atMs: r.expireTs } })
                  yield* db.write(batch, { awaitDurable: false })
                  progress.add(rows.length)
                }
                const failed = parsed[bad]
                if (failed !== undefined && failed._tag === "Failure") return yield* failed.failure
              })
            )
          )
          // Durable before success is reported.
          yield* db.flush()
          yield* progress.stop
          return progress.count()
        })),
        { compactor: true }
      )
      yield* c.json
        ? line(JSON.stringify({ op: "import", rows: count, durable: true }))
        : line(`imported ${count} row${count === 1 ? "" : "s"} (durable)`)
    })
  )).pipe(Command.withDescription("Writes rows from JSON lines (as `export` writes them); creates the database if there is none"))
