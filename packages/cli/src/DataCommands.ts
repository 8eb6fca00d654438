/**
 * The row commands: `put` and `delete` open the database as its writer (fencing any other writer); `get`
 * and `scan` read through a read-only view (`withReadOnly`), which writes nothing and never fences a
 * running writer: the latest state, or with `--checkpoint <uuid>` the state a checkpoint pins.
 *
 * Output: text by default (values and `key<TAB>value` rows, escaped as ./Display.ts says, or hex/base64
 * with `--encoding`); with `--json` one JSON object per line (./Encoding.ts). Counts and progress go to
 * stderr, so stdout is only data.
 */
import { Admin, type Db as DbApi, Db } from "@shale/core"
import { Effect, Option, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { decodeText, type Encoding, showEncoded, toJsonBytes } from "./Encoding.ts"
import { notFound, usage } from "./Errors.ts"
import { errLine, line } from "./Io.ts"
import { startProgress } from "./Progress.ts"
import { type Context, run } from "./Root.ts"
import { parseCheckpointId, requireCheckpoint, requireDatabase, withDb, withReadOnly } from "./Target.ts"

/** An argument or flag value in `encoding` → bytes; a usage error naming `what` if it is not valid. */
export const argBytes = (text: string, encoding: Encoding, what: string) =>
  Effect.suspend(() => {
    const bytes = decodeText(text, encoding)
    return typeof bytes === "string" ? Effect.fail(usage(`${what} ${JSON.stringify(text)} is ${bytes}`)) : Effect.succeed(bytes)
  })

/** A key in messages: its text in the key encoding, quoted, cut to `max` characters. */
export const showKey = (key: Uint8Array | undefined, encoding: Encoding, max = 40): string => {
  if (key === undefined) return "-"
  const s = showEncoded(key, encoding)
  return JSON.stringify(s.length > max ? `${s.slice(0, max - 1)}…` : s)
}

/** A row (or a got value) as a JSON line. */
export const rowJson = (c: Context, kv: DbApi.KeyValue): string =>
  JSON.stringify({
    key: toJsonBytes(kv.key, c.keyEncoding),
    value: toJsonBytes(kv.value, c.valueEncoding),
    seq: kv.seq,
    createTs: kv.createTs,
    expireTs: kv.expireTs ?? null
  })

const writeResult = (c: Context, op: "put" | "delete", key: Uint8Array, h: DbApi.WriteHandle) =>
  c.json
    ? line(JSON.stringify({ op, key: toJsonBytes(key, c.keyEncoding), seq: h.seq, createTs: h.createTs }))
    : line(`${op === "put" ? "put" : "deleted"} ${showKey(key, c.keyEncoding)} (seq ${h.seq}, durable)`)

const keyArgument = Argument.String("key").pipe(Argument.withDescription("The key (in --key-encoding)"))

/** `--checkpoint` of the reading commands. */
const checkpointFlag = Flag.String("checkpoint").pipe(
  Flag.optional,
  Flag.withDescription("Read at this checkpoint (its UUID, as `shale manifest` lists it) instead of the latest state")
)

/** The database (and the checkpoint, if `--checkpoint` names one) must exist; the checkpoint id, parsed. */
const requireReadable = (c: Context, checkpoint: Option.Option<string>) =>
  Effect.gen(function*() {
    const id = Option.isSome(checkpoint) ? yield* parseCheckpointId(checkpoint.value) : undefined
    yield* requireDatabase(c.target)
    if (id !== undefined) yield* requireCheckpoint(c.target, id)
    return id
  })

export const put = Command.make("put", {
  key: keyArgument,
  value: Argument.String("value").pipe(Argument.withDescription("The value (in --value-encoding)"))
}, (args) =>
  run((c) =>
    Effect.gen(function*() {
      const key = yield* argBytes(args.key, c.keyEncoding, "key")
      const value = yield* argBytes(args.value, c.valueEncoding, "value")
      const h = yield* withDb(c.target, Db.Db.use((db) => db.put(key, value)))
      yield* writeResult(c, "put", key, h)
    })
  )).pipe(Command.withDescription("Writes a key durably; creates the database if there is none"))

export const get = Command.make("get", { key: keyArgument, checkpoint: checkpointFlag }, (args) =>
  run((c) =>
    Effect.gen(function*() {
      const key = yield* argBytes(args.key, c.keyEncoding, "key")
      const checkpointId = yield* requireReadable(c, args.checkpoint)
      const kv = yield* withReadOnly(c.target, checkpointId, (view) => view.getKeyValue(key))
      if (kv === undefined) return yield* notFound(`not found: ${showKey(key, c.keyEncoding, 200)}`)
      yield* line(c.json ? rowJson(c, kv) : showEncoded(kv.value, c.valueEncoding))
    })
  )).pipe(Command.withDescription("Prints the value of a key (exit code 1 if it is absent); writes nothing"))

export const del = Command.make("delete", { key: keyArgument }, (args) =>
  run((c) =>
    Effect.gen(function*() {
      const key = yield* argBytes(args.key, c.keyEncoding, "key")
      yield* requireDatabase(c.target)
      const h = yield* withDb(c.target, Db.Db.use((db) => db.delete(key)))
      yield* writeResult(c, "delete", key, h)
    })
  )).pipe(Command.withDescription("Deletes a key durably (writes a tombstone)"))

// ---- ranges -------------------------------------------------------------------------------------------------

/** The smallest key greater than every key starting with `prefix`; undefined if there is none. */
export const prefixEnd = (prefix: Uint8Array): Uint8Array | undefined => {
  let i = prefix.length - 1
  while (i >= 0 && prefix[i] === 0xff) i--
  if (i < 0) return undefined
  const end = prefix.slice(0, i + 1)
  end[i] = end[i]! + 1
  return end
}

/**
 * The key range of a scan: `[start, end)` intersected with the keys starting with `prefix`. Undefined when
 * the intersection is empty.
 */
export const scanRange = (options: {
  readonly prefix?: Uint8Array
  readonly start?: Uint8Array
  readonly end?: Uint8Array
}): DbApi.KeyRange | undefined => {
  let start = options.start
  let end = options.end
  if (options.prefix !== undefined && options.prefix.length > 0) {
    const p = options.prefix
    if (start === undefined || Admin.compareKeys(start, p) < 0) start = p
    const pEnd = prefixEnd(p)
    if (pEnd !== undefined && (end === undefined || Admin.compareKeys(pEnd, end) < 0)) end = pEnd
  }
  if (start !== undefined && end !== undefined && Admin.compareKeys(start, end) >= 0) return undefined
  return {
    ...(start === undefined ? {} : { start, startInclusive: true }),
    ...(end === undefined ? {} : { end, endInclusive: false })
  }
}

/** The `--prefix`, `--start`, `--end` flags of `scan` and `export`. */
export const rangeFlags = {
  prefix: Flag.String("prefix").pipe(Flag.optional, Flag.withDescription("Only keys starting with this")),
  start: Flag.String("start").pipe(Flag.optional, Flag.withDescription("First key (inclusive)")),
  end: Flag.String("end").pipe(Flag.optional, Flag.withDescription("Last key (exclusive)"))
}

/** The range the flags name, decoded with the key encoding; undefined when it is empty. */
export const rangeOf = (
  c: Context,
  flags: { readonly prefix: Option.Option<string>; readonly start: Option.Option<string>; readonly end: Option.Option<string> }
) =>
  Effect.gen(function*() {
    const bytes = (o: Option.Option<string>, what: string) =>
      Option.isSome(o) ? Effect.map(argBytes(o.value, c.keyEncoding, what), (b) => ({ value: b })) : Effect.succeed({})
    const prefix = yield* bytes(flags.prefix, "--prefix")
    const start = yield* bytes(flags.start, "--start")
    const end = yield* bytes(flags.end, "--end")
    return scanRange({
      ...("value" in prefix ? { prefix: prefix.value } : {}),
      ...("value" in start ? { start: start.value } : {}),
      ...("value" in end ? { end: end.value } : {})
    })
  })

export const scan = Command.make("scan", {
  ...rangeFlags,
  limit: Flag.Int("limit").pipe(Flag.optional, Flag.withDescription("At most this many rows")),
  desc: Flag.Boolean("desc").pipe(Flag.withDefault(false), Flag.withDescription("Descending key order")),
  checkpoint: checkpointFlag
}, (flags) =>
  run((c) =>
    Effect.gen(function*() {
      if (Option.isSome(flags.limit) && flags.limit.value < 0) return yield* usage("--limit must be ≥ 0")
      const range = yield* rangeOf(c, flags)
      const checkpointId = yield* requireReadable(c, flags.checkpoint)
      const count = yield* withReadOnly(
        c.target,
        checkpointId,
        (view) => Effect.scoped(Effect.gen(function*() {
          if (range === undefined) return 0
          const progress = yield* startProgress("scan", "rows", c.progress)
          let rows = view.scan(range, { order: flags.desc ? "desc" : "asc" })
          if (Option.isSome(flags.limit)) rows = Stream.take(rows, flags.limit.value)
          yield* Stream.runForEach(rows, (kv) => {
            progress.add(1)
            return line(c.json ? rowJson(c, kv) : `${showEncoded(kv.key, c.keyEncoding)}\t${showEncoded(kv.value, c.valueEncoding)}`)
          })
          yield* progress.stop
          return progress.count()
        }))
      )
      yield* errLine(`(${count} row${count === 1 ? "" : "s"})`)
    })
  )).pipe(Command.withDescription("Prints the rows of a key range in key order (key<TAB>value, or JSON lines); writes nothing"))
