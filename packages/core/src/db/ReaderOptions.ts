/**
 * The options of a `DbReader` (DbReader.ts): SlateDB's `DbReaderOptions`, in milliseconds and bytes, with
 * its defaults and its checks (db_reader.rs `validate_options`), each failing with the same kind of error
 * (`InvalidError`) and SlateDB's message:
 *
 * - `checkpointLifetimeMs` below 1 s: "invalid checkpoint lifetime. lifetime=`…`" (`InvalidCheckpointLifetime`);
 * - `checkpointLifetimeMs` below twice `manifestPollIntervalMs`: "checkpoint lifetime must be at least double
 *   the manifest poll interval. lifetime=`…`, interval=`…`" (`CheckpointLifetimeTooShort`; the interval
 *   shown is the doubled one, as SlateDB shows it);
 * - `manifestPollIntervalMs` of 0 (a Tokio interval panics on it) or too large to double:
 *   "invalid manifest poll interval. interval=`…`" (`InvalidManifestPollInterval`).
 *
 * Durations print as Rust's `Duration` debug format does for whole milliseconds (`500ms`, `1s`, `1.5s`).
 * Beyond SlateDB (whose types rule these out), a value of the wrong type, a fraction of a millisecond or
 * byte, and an unknown option name are also `InvalidError`s.
 */
import { InvalidError } from "../errors.ts"

/** SlateDB's `DbReaderOptions` (its `object_store_cache_options` excepted: Shale's disk cache is a store layer, `CachedObjectStore`). */
export interface DbReaderOptions {
  /**
   * How often the reader looks for new manifest versions and WAL SSTs (SlateDB's
   * `manifest_poll_interval`, default 10 s). A reader at a user checkpoint never polls.
   */
  readonly manifestPollIntervalMs?: number
  /**
   * The lifetime of the checkpoint the reader keeps when it has no user checkpoint (`checkpoint_lifetime`,
   * default 10 minutes): at least 1 s and twice the poll interval. Refreshed before half of it is left.
   */
  readonly checkpointLifetimeMs?: number
  /** The largest memtable WAL replay fills before freezing it (`max_memtable_bytes`, default 64 MiB). */
  readonly maxMemtableBytes?: number
  /**
   * Replay only the WAL SSTs the manifest version covers (`replay_after_wal_id < id < next_wal_sst_id`),
   * never newer ones (`skip_wal_replay`, default false): the reader then sees what the writer's manifest
   * versions record, and new data only once a manifest says so.
   */
  readonly skipWalReplay?: boolean
}

export type ResolvedReaderOptions = Required<DbReaderOptions>

/** SlateDB's `DbReaderOptions::default()`. */
export const defaultReaderOptions: ResolvedReaderOptions = {
  manifestPollIntervalMs: 10_000,
  checkpointLifetimeMs: 600_000,
  maxMemtableBytes: 64 * 1024 * 1024,
  skipWalReplay: false
}

const KNOWN: ReadonlySet<string> = new Set(Object.keys(defaultReaderOptions))

/** Whole milliseconds as Rust's `Duration` debug format prints them. */
export const rustDuration = (ms: number): string => (ms < 1000 ? `${ms}ms` : `${ms / 1000}s`)

const wholeNumber = (name: string, v: unknown): string | undefined =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? undefined : `${name} must be a whole number ≥ 0, got ${String(v)}`

/** Why `input`'s fields are not acceptable as types (undefined: they are). */
const typeProblem = (input: Readonly<Record<string, unknown>>): string | undefined => {
  for (const name of Object.keys(input)) {
    if (!KNOWN.has(name)) return `unknown DbReader option ${JSON.stringify(name)} (known: ${[...KNOWN].join(", ")})`
  }
  for (const name of ["manifestPollIntervalMs", "checkpointLifetimeMs", "maxMemtableBytes"] as const) {
    const v = input[name]
    if (v === undefined) continue
    const problem = wholeNumber(name, v)
    if (problem !== undefined) return problem
  }
  const skip = input["skipWalReplay"]
  if (skip !== undefined && typeof skip !== "boolean") return `skipWalReplay must be a boolean, got ${String(skip)}`
  if (input["maxMemtableBytes"] === 0) return "maxMemtableBytes must be at least 1"
  return undefined
}

/** SlateDB's `validate_options`, in its order (see the module comment). */
const slateDbProblem = (o: ResolvedReaderOptions): string | undefined => {
  if (o.checkpointLifetimeMs < 1000) return `invalid checkpoint lifetime. lifetime=\`${rustDuration(o.checkpointLifetimeMs)}\``
  const double = o.manifestPollIntervalMs * 2
  if (o.manifestPollIntervalMs === 0 || !Number.isSafeInteger(double)) {
    return `invalid manifest poll interval. interval=\`${rustDuration(o.manifestPollIntervalMs)}\``
  }
  if (o.checkpointLifetimeMs < double) {
    return `checkpoint lifetime must be at least double the manifest poll interval. lifetime=\`${
      rustDuration(o.checkpointLifetimeMs)
    }\`, interval=\`${rustDuration(double)}\``
  }
  return undefined
}

/** The options with SlateDB's defaults filled in, or the `InvalidError` they deserve. */
export const resolveReaderOptions = (input: DbReaderOptions | undefined): ResolvedReaderOptions | InvalidError => {
  if (input === undefined) return defaultReaderOptions
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return new InvalidError({ message: `DbReader options must be an object, got ${input === null ? "null" : typeof input}` })
  }
  const problem = typeProblem(input as Readonly<Record<string, unknown>>)
  if (problem !== undefined) return new InvalidError({ message: problem })
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as DbReaderOptions
  const resolved: ResolvedReaderOptions = { ...defaultReaderOptions, ...defined }
  const rule = slateDbProblem(resolved)
  return rule === undefined ? resolved : new InvalidError({ message: rule })
}
