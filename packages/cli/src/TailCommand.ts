/**
 * `shale --db <url> tail [--from-seq <n>|earliest|latest] [--once] [--interval 100ms]`: prints the
 * database's changes as they arrive (`Changes.stream`, beyond SlateDB): every durable row in seq order,
 * one line each, following the WAL until SIGINT or SIGTERM (exit code 130, a summary on stderr).
 *
 * - Text: `<seq>\t<kind>\t<key>\t<value>` (kind `value`, `tombstone` or `merge`; a tombstone has no value
 *   column), keys and values as `scan` shows them (`--encoding`, `--key-encoding`, `--value-encoding`).
 *   `--json`: one object per line, `{"seq", "kind", "key", "value" (null for a tombstone), "createTs",
 *   "expireTs"}` (null when absent), keys and values as `scan --json` writes them.
 * - Where it starts: `--from-seq` (default `latest`: only changes made durable after it starts; `earliest`:
 *   every change still in the WAL). Changes the garbage collector has removed from the WAL cannot be
 *   printed: then it stops with exit code 1 and says which `--from-seq` works (the rows themselves are
 *   still in the database: `scan` shows their latest versions).
 * - `--once` prints what the WAL holds now and exits 0 (a count on stderr), instead of following.
 * - stdout is flushed after every batch of rows, so a pipe sees each change when it arrives; a reader that
 *   closes the pipe (`shale tail | head -3`) ends it quietly (exit 0) at the next change.
 *
 * It only lists and reads objects: it never opens the database as a writer, so it fences nobody.
 */
import { Changes, type Db } from "@shale/core"
import { Effect, Option, References, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { parseCliDuration } from "./Durations.ts"
import { type Encoding, showEncoded, toJsonBytes } from "./Encoding.ts"
import { notFound, usage } from "./Errors.ts"
import { CliIO, errLine, line } from "./Io.ts"
import { type Context, run } from "./Root.ts"
import { requireDatabase, storeLayer } from "./Target.ts"

/** `--from-seq`: a seq, `earliest` or `latest`. */
const parseStart = (text: string) =>
  text === "earliest" || text === "latest"
    ? Effect.succeed<Changes.Start>(text)
    : /^[0-9]+$/.test(text) && Number.isSafeInteger(Number(text))
    ? Effect.succeed<Changes.Start>(Number(text))
    : Effect.fail(usage(`--from-seq expects a sequence number, "earliest" or "latest", got ${JSON.stringify(text)}`))

/** One change as `tail` prints it. */
export const changeLine = (change: Db.Change, json: boolean, keyEncoding: Encoding, valueEncoding: Encoding): string => {
  if (json) {
    return JSON.stringify({
      seq: change.seq,
      kind: change.kind,
      key: toJsonBytes(change.key, keyEncoding),
      value: change.value === undefined ? null : toJsonBytes(change.value, valueEncoding),
      createTs: change.createTs ?? null,
      expireTs: change.expireTs ?? null
    })
  }
  const head = `${change.seq}\t${change.kind}\t${showEncoded(change.key, keyEncoding)}`
  return change.value === undefined ? head : `${head}\t${showEncoded(change.value, valueEncoding)}`
}

const describeStart = (start: Changes.Start): string =>
  start === "latest" ? "from the next change" : start === "earliest" ? "from the oldest change in the WAL" : `from seq ${start}`

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`

const flags = {
  fromSeq: Flag.String("from-seq").pipe(
    Flag.optional,
    Flag.withDescription(`First change to print: a sequence number, "earliest" (the oldest in the WAL) or "latest" (default: changes from now on)`)
  ),
  once: Flag.Boolean("once").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Print the changes in the WAL now and exit, instead of following it")
  ),
  interval: Flag.String("interval").pipe(
    Flag.optional,
    Flag.withDescription(`How often to look for new WAL SSTs, e.g. "100ms" (default), "1s"`)
  )
}

const tail = (c: Context, start: Changes.Start, follow: boolean, pollIntervalMs: number) =>
  Effect.gen(function*() {
    yield* requireDatabase(c.target)
    yield* errLine(
      follow
        ? `following the changes of ${c.target.name} ${describeStart(start)}; Ctrl-C stops`
        : `changes of ${c.target.name} ${describeStart(start)}:`
    )
    let count = 0
    let last: number | undefined
    const changes = Changes.stream({ root: c.target.root, fromSeq: start, follow, pollIntervalMs, storeRetry: { maxAttempts: 8 } })
    const print = Stream.runForEachArray(changes, (batch) =>
      Effect.gen(function*() {
        for (const change of batch) yield* line(changeLine(change, c.json, c.keyEncoding, c.valueEncoding))
        count += batch.length
        last = batch[batch.length - 1]!.seq
        yield* CliIO.use((io) => io.flush)
      }))
    const summary = () => `${plural(count, "change")}${last === undefined ? "" : `, the last at seq ${last}`}`
    yield* print.pipe(
      Effect.provide(storeLayer(c.target.location)),
      Effect.catchTag("ChangesGapError", (e) =>
        notFound(
          `${e.message}; ${plural(count, "change")} printed. Run again with --from-seq ${e.resumeFrom} ` +
            `(\`scan\` shows the latest version of every key)`
        )),
      Effect.onInterrupt(() => errLine(`tail stopped: ${summary()}`))
    )
    yield* errLine(`(${summary()})`)
  })

export const tailCommand = Command.make("tail", flags, (f) =>
  run((c) =>
    Effect.gen(function*() {
      const start = Option.isSome(f.fromSeq) ? yield* parseStart(f.fromSeq.value) : "latest" as const
      const intervalMs = Option.isSome(f.interval) ? yield* parseCliDuration("--interval", f.interval.value) : Changes.DEFAULT_POLL_INTERVAL_MS
      if (intervalMs <= 0) return yield* usage("--interval must be more than 0s")
      yield* tail(c, start, !f.once, intervalMs)
    })
  ).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).pipe(
    Command.withDescription("Prints the database's changes (durable rows in seq order) as they arrive, until Ctrl-C; writes nothing")
  )
