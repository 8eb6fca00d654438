/**
 * Checkpoints from the command line (SlateDB CLI's `list-checkpoints`, `create-checkpoint`,
 * `refresh-checkpoint`, `delete-checkpoint`, which are also accepted as these commands' names):
 *
 * - `shale checkpoints [--name X]`: the checkpoints of the latest manifest (id, the manifest version it
 *   pins, created, expires, name).
 * - `shale checkpoint create [--lifetime 7days] [--source UUID] [--name X]`: a detached checkpoint
 *   (`Admin.createCheckpoint`, SlateDB's `create_detached_checkpoint`): it pins the latest manifest (or
 *   `--source`'s); without `--lifetime` it never expires.
 * - `shale checkpoint refresh --id UUID [--lifetime 1h]`: expires `--lifetime` from now (without it: never).
 * - `shale checkpoint delete --id UUID`.
 *
 * Each is a CAS write of the next manifest version (what SlateDB's admin does), which a running writer and
 * compactor merge: nothing is opened as a writer, no epoch is claimed, nobody is fenced. A checkpoint id
 * that is not a UUID is a usage error (exit code 2); one the latest manifest does not list is "not found"
 * (exit code 1).
 */
import { Admin } from "@shale/core"
import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { formatDuration, formatSeconds, parseCliDuration, parseUuid } from "./Durations.ts"
import { notFound } from "./Errors.ts"
import { line } from "./Io.ts"
import { type Context, run } from "./Root.ts"
import { inspect, requireDatabase, type Target } from "./Target.ts"

/** A checkpoint as JSON: the manifest's fields (seconds) and the same times as ISO-8601. */
export const checkpointJson = (c: Admin.Checkpoint) => ({
  id: c.id,
  manifestId: c.manifestId,
  createTimeS: c.createTimeS,
  expireTimeS: c.expireTimeS ?? null,
  name: c.name ?? null,
  createTime: formatSeconds(c.createTimeS),
  expireTime: c.expireTimeS === undefined ? null : formatSeconds(c.expireTimeS)
})

const expiry = (c: Admin.Checkpoint, nowMs: number): string =>
  c.expireTimeS === undefined
    ? "never"
    : `${formatSeconds(c.expireTimeS)}${c.expireTimeS * 1000 <= nowMs ? " (expired)" : ""}`

/** The checkpoints as a table. */
export const formatCheckpoints = (checkpoints: ReadonlyArray<Admin.Checkpoint>, nowMs: number): Array<string> => {
  if (checkpoints.length === 0) return ["no checkpoints"]
  const rows = checkpoints.map((c) => [c.id, String(c.manifestId), formatSeconds(c.createTimeS), expiry(c, nowMs), c.name ?? ""])
  const header = ["id", "manifest", "created", "expires", "name"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const show = (r: ReadonlyArray<string>) =>
    r.map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  return [show(header), ...rows.map(show)]
}

/** Fails with "no checkpoint ..." (exit code 1) unless the latest manifest lists checkpoint `id`. */
const requireCheckpoint = (t: Target, id: string, role = "checkpoint") =>
  Effect.gen(function*() {
    const all = yield* inspect(t, Admin.listCheckpoints(t.root))
    if (!all.some((c) => c.id === id)) {
      return yield* notFound(
        `no ${role} ${id} in the latest manifest of ${t.name}` +
          (all.length === 0 ? " (it has no checkpoints)" : ` (it has ${all.map((c) => c.id).join(", ")})`)
      )
    }
  })

/** One checkpoint, as `create` and `refresh` print it. */
const printCheckpoint = (c: Context, verb: string, cp: Admin.Checkpoint) =>
  Effect.gen(function*() {
    if (c.json) return yield* line(JSON.stringify(checkpointJson(cp)))
    const now = yield* Clock.currentTimeMillis
    yield* line(
      `checkpoint ${cp.id} ${verb}: pins manifest ${cp.manifestId}, expires ${expiry(cp, now)}` +
        (cp.name === undefined ? "" : `, name ${JSON.stringify(cp.name)}`)
    )
  })

const lifetimeFlag = Flag.String("lifetime").pipe(
  Flag.withAlias("l"),
  Flag.optional,
  Flag.withDescription(`How long until it expires, e.g. "7days 30min 10s", "1h" (default: it never expires)`)
)

const idFlag = Flag.String("id").pipe(
  Flag.withAlias("i"),
  Flag.withDescription("The checkpoint's id (a UUID, as `shale checkpoints` lists it)")
)

const lifetimeMs = (text: Option.Option<string>) =>
  Option.isNone(text) ? Effect.succeed(undefined) : parseCliDuration("--lifetime", text.value)

const makeCheckpointsCommand = (name: string) =>
  Command.make(name, {
  name: Flag.String("name").pipe(
    Flag.withAlias("n"),
    Flag.optional,
    Flag.withDescription("Only the checkpoints of this name")
  )
}, (f) =>
  run((c) =>
    Effect.gen(function*() {
      yield* requireDatabase(c.target)
      const checkpoints = yield* inspect(c.target, Admin.listCheckpoints(c.target.root, Option.getOrUndefined(f.name)))
      if (c.json) return yield* line(JSON.stringify({ checkpoints: checkpoints.map(checkpointJson) }))
      yield* line(formatCheckpoints(checkpoints, yield* Clock.currentTimeMillis).join("\n"))
    })
  )).pipe(Command.withDescription("Lists the checkpoints of the latest manifest (read-only: never fences a writer)"))

export const checkpointsCommand = makeCheckpointsCommand("checkpoints")

const createFlags = {
  lifetime: lifetimeFlag,
  source: Flag.String("source").pipe(
    Flag.withAlias("s"),
    Flag.optional,
    Flag.withDescription("Pin the same manifest as this existing checkpoint (its UUID) instead of the latest")
  ),
  name: Flag.String("name").pipe(Flag.withAlias("n"), Flag.optional, Flag.withDescription("A name to list it by"))
}

const create = (name: string) =>
  Command.make(name, createFlags, (f) =>
    run((c) =>
      Effect.gen(function*() {
        const lifetime = yield* lifetimeMs(f.lifetime)
        const source = Option.isSome(f.source) ? yield* parseUuid("--source", f.source.value) : undefined
        yield* requireDatabase(c.target)
        if (source !== undefined) yield* requireCheckpoint(c.target, source, "source checkpoint")
        const cp = yield* inspect(
          c.target,
          Admin.createCheckpoint(c.target.root, { lifetimeMs: lifetime, source, name: Option.getOrUndefined(f.name) })
        )
        yield* printCheckpoint(c, "created", cp)
      })
    )).pipe(Command.withDescription("Creates a checkpoint of the latest state (or of --source's); never fences a writer"))

const refresh = (name: string) =>
  Command.make(name, { id: idFlag, lifetime: lifetimeFlag }, (f) =>
    run((c) =>
      Effect.gen(function*() {
        const id = yield* parseUuid("--id", f.id)
        const lifetime = yield* lifetimeMs(f.lifetime)
        yield* requireDatabase(c.target)
        yield* requireCheckpoint(c.target, id)
        const cp = yield* inspect(c.target, Admin.refreshCheckpoint(c.target.root, id, lifetime))
        yield* printCheckpoint(c, `refreshed${lifetime === undefined ? "" : ` (lifetime ${formatDuration(lifetime)})`}`, cp)
      })
    )).pipe(Command.withDescription("Sets a checkpoint to expire --lifetime from now (without it: never)"))

const remove = (name: string) =>
  Command.make(name, { id: idFlag }, (f) =>
    run((c) =>
      Effect.gen(function*() {
        const id = yield* parseUuid("--id", f.id)
        yield* requireDatabase(c.target)
        yield* requireCheckpoint(c.target, id)
        yield* inspect(c.target, Admin.deleteCheckpoint(c.target.root, id))
        yield* line(c.json ? JSON.stringify({ deleted: id }) : `checkpoint ${id} deleted`)
      })
    )).pipe(Command.withDescription("Deletes a checkpoint (what it pinned becomes garbage for `shale gc`)"))

export const checkpointCommand = Command.make("checkpoint").pipe(
  Command.withDescription("Creates, refreshes or deletes a checkpoint (create | refresh | delete)"),
  Command.withSubcommands([create("create"), refresh("refresh"), remove("delete")])
)

/** SlateDB CLI's names for `checkpoints`, `checkpoint create`, `checkpoint refresh`, `checkpoint delete`. */
export const slateDbCheckpointCommands = [
  Command.unlisted(makeCheckpointsCommand("list-checkpoints")),
  Command.unlisted(create("create-checkpoint")),
  Command.unlisted(refresh("refresh-checkpoint")),
  Command.unlisted(remove("delete-checkpoint"))
] as const
