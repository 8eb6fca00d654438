/**
 * Where a database lives, as the `shale` command's `--db` accepts it, and the `ObjectStore` layer for it.
 *
 * Accepted forms:
 * - a local directory: `./data`, `/abs/dir`, `file:///abs/dir` (the directory is the store's root);
 * - `memory:` (also `memory://`, `memory:///`): an in-memory store private to this process — one store per
 *   process, shared by every command run in it, so an in-process caller (tests) can put and then get;
 * - `s3://bucket` or `s3://bucket/prefix`: the bucket, objects under `prefix/`. Endpoint and credentials come
 *   from the environment: `SHALE_S3_ENDPOINT` (absent: AWS), `AWS_REGION` (default `us-east-1`),
 *   `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`; absent: the AWS SDK's default
 *   chain), `SHALE_S3_FORCE_PATH_STYLE` (`true` for most non-AWS servers).
 *
 * Anything else (another scheme, `file://host/...`, an empty string, an S3 URL without a bucket) is a
 * `BadDbUrl` whose message says what is accepted.
 */
import { ObjectStore, LocalObjectStore, makeMemory, type ObjectStoreError } from "@shale/core"
import { S3ObjectStore } from "@shale/s3"
import { Config, Data, Effect, Layer, Option } from "effect"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"

export type DbLocation =
  | { readonly _tag: "Local"; readonly dir: string }
  | { readonly _tag: "Memory" }
  | { readonly _tag: "S3"; readonly bucket: string; readonly prefix: string }

export class BadDbUrl extends Data.TaggedError("BadDbUrl")<{ readonly url: string; readonly message: string }> {}

const ACCEPTED = "expected a directory path, file:///abs/dir, memory:, or s3://bucket/prefix"

const bad = (url: string, why: string) => new BadDbUrl({ url, message: `bad database URL "${url}": ${why} (${ACCEPTED})` })

/** Parses `--db`. Relative directory paths are resolved against the current directory. */
export const parseDbUrl = (url: string): Effect.Effect<DbLocation, BadDbUrl> =>
  Effect.suspend(() => {
    const text = url.trim()
    if (text.length === 0) return Effect.fail(bad(url, "it is empty"))
    if (text === "memory:" || text === "memory://" || text === "memory:///") return Effect.succeed({ _tag: "Memory" })
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text)
    // A one-letter "scheme" is a Windows drive (C:\...), i.e. a path.
    if (scheme === null || scheme[1]!.length === 1) return Effect.succeed({ _tag: "Local", dir: resolve(text) })
    switch (scheme[1]!.toLowerCase()) {
      case "file": {
        if (!text.startsWith("file://")) return Effect.fail(bad(url, "a file URL must start with file://"))
        return Effect.try({
          try: (): DbLocation => ({ _tag: "Local", dir: fileURLToPath(text) }),
          catch: (e) => bad(url, e instanceof Error ? e.message : String(e))
        })
      }
      case "s3": {
        const m = /^s3:\/\/([^/?#]+)\/*([^?#]*)$/i.exec(text)
        if (m === null) return Effect.fail(bad(url, "an S3 URL needs a bucket: s3://bucket or s3://bucket/prefix"))
        const prefix = m[2]!.replace(/\/+$/, "")
        return Effect.succeed({ _tag: "S3", bucket: m[1]!, prefix })
      }
      case "memory":
        return Effect.fail(bad(url, "the in-memory store is written memory: with nothing after it"))
      default:
        return Effect.fail(bad(url, `unsupported scheme "${scheme[1]}:"`))
    }
  })

/** How a location is shown to the user. */
export const describeLocation = (location: DbLocation): string => {
  switch (location._tag) {
    case "Local":
      return location.dir
    case "Memory":
      return "memory:"
    case "S3":
      return `s3://${location.bucket}${location.prefix.length > 0 ? `/${location.prefix}` : ""}`
  }
}

/** The endpoint and credentials of `s3://` URLs, read from the environment (through `ConfigProvider`). */
export const s3EnvConfig = Config.all({
  endpoint: Config.option(Config.NonEmptyString("SHALE_S3_ENDPOINT")),
  region: Config.NonEmptyString("AWS_REGION").pipe(Config.withDefault("us-east-1")),
  accessKeyId: Config.option(Config.NonEmptyString("AWS_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.Redacted("AWS_SECRET_ACCESS_KEY")),
  sessionToken: Config.option(Config.NonEmptyString("AWS_SESSION_TOKEN")),
  forcePathStyle: Config.Boolean("SHALE_S3_FORCE_PATH_STYLE").pipe(Config.withDefault(false))
})

let processMemoryStore: ObjectStore["Service"] | undefined

/** The one in-memory store of this process (created on first use). */
const memoryStore = (): ObjectStore["Service"] => (processMemoryStore ??= makeMemory())

/** The `ObjectStore` for a location. Local directories are created if missing (callers check first). */
export const storeLayer = (location: DbLocation): Layer.Layer<ObjectStore, ObjectStoreError | Config.ConfigError> => {
  switch (location._tag) {
    case "Local":
      return LocalObjectStore.layer({ root: location.dir })
    case "Memory":
      return Layer.sync(ObjectStore, memoryStore)
    case "S3":
      return Layer.unwrap(Effect.map(s3EnvConfig, (c) =>
        S3ObjectStore.layer({
          bucket: location.bucket,
          region: c.region,
          forcePathStyle: c.forcePathStyle,
          ...(location.prefix.length > 0 ? { prefix: location.prefix } : {}),
          ...(Option.isSome(c.endpoint) ? { endpoint: c.endpoint.value } : {}),
          ...(Option.isSome(c.accessKeyId) && Option.isSome(c.secretAccessKey)
            ? {
              credentials: {
                accessKeyId: c.accessKeyId.value,
                secretAccessKey: c.secretAccessKey.value,
                ...(Option.isSome(c.sessionToken) ? { sessionToken: c.sessionToken.value } : {})
              }
            }
            : {})
        })))
  }
}
