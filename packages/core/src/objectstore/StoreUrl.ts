/**
 * Object stores named by URL, as SlateDB's `ObjectStore.resolve(url)` names them:
 *
 * - a local directory: `./data`, `/abs/dir`, `C:\dir`, `file:///abs/dir` (the directory is the store's root,
 *   in SlateDB's `file://` layout; created if missing);
 * - `memory:` (also `memory://`, `memory:///`): a new, empty in-memory store;
 * - `s3://bucket` or `s3://bucket/prefix`: S3 or an S3-compatible server through `@shale/s3` (an optional
 *   peer package), objects under `prefix/`. Endpoint and credentials come from the environment:
 *   `SHALE_S3_ENDPOINT` (absent: AWS), `AWS_REGION` (default `us-east-1`), `AWS_ACCESS_KEY_ID` +
 *   `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`; absent: the AWS SDK's default chain),
 *   `SHALE_S3_FORCE_PATH_STYLE` (`true` for most non-AWS servers).
 *
 * Anything else (another scheme, `file://host/...`, an empty string, an S3 URL without a bucket) is an
 * `InvalidError` whose message says what is accepted.
 *
 * Parsing is plain string work (no Node built-in). Building the layer loads the local-directory store (Node
 * only) or `@shale/s3` with a dynamic `import()` when, and only when, such a URL is used, so the engine's
 * own module graph stays free of them and a program that never names `s3://` needs no AWS SDK.
 */
import { type Config, Effect, Layer } from "effect"
import { InvalidError } from "../errors.ts"
import { makeMemory, ObjectStore } from "./ObjectStore.ts"
import type { ObjectStoreError } from "./ObjectStoreError.ts"

/** Where a store is, as parsed from its URL. A local `dir` is kept as written (relative to the process's directory). */
export type StoreLocation =
  | { readonly _tag: "Local"; readonly dir: string }
  | { readonly _tag: "Memory" }
  | { readonly _tag: "S3"; readonly bucket: string; readonly prefix: string }

/** Whatever building a store from a URL can fail with. */
export type StoreUrlError = InvalidError | ObjectStoreError | Config.ConfigError

const ACCEPTED = "expected a directory path, file:///abs/dir, memory:, or s3://bucket/prefix"

const bad = (url: string, why: string) =>
  new InvalidError({ message: `bad store URL "${url}": ${why} (${ACCEPTED})` })

/** `file:///abs/dir` → `/abs/dir` (and `file:///C:/dir` → `C:/dir`); only local (empty or `localhost`) hosts. */
const fileUrlPath = (url: string): string | InvalidError => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return bad(url, "not a valid file URL")
  }
  if (parsed.host !== "" && parsed.host !== "localhost") {
    return bad(url, `a file URL must name a local path (file:///abs/dir), not the host "${parsed.host}"`)
  }
  let path: string
  try {
    path = decodeURIComponent(parsed.pathname)
  } catch {
    return bad(url, "the path is not valid percent-encoding")
  }
  if (path.includes("\0")) return bad(url, "the path holds a NUL byte")
  return /^\/[a-zA-Z]:\//.test(path) ? path.slice(1) : path
}

/** Parses a store URL (see the module comment). */
export const parseStoreUrl = (url: string): StoreLocation | InvalidError => {
  const text = url.trim()
  if (text.length === 0) return bad(url, "it is empty")
  if (text === "memory:" || text === "memory://" || text === "memory:///") return { _tag: "Memory" }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text)
  // A one-letter "scheme" is a Windows drive (C:\...), i.e. a path.
  if (scheme === null || scheme[1]!.length === 1) return { _tag: "Local", dir: text }
  switch (scheme[1]!.toLowerCase()) {
    case "file": {
      if (!text.startsWith("file://")) return bad(url, "a file URL must start with file://")
      const dir = fileUrlPath(text)
      return typeof dir === "string" ? { _tag: "Local", dir } : dir
    }
    case "s3": {
      const m = /^s3:\/\/([^/?#]+)\/*([^?#]*)$/i.exec(text)
      if (m === null) return bad(url, "an S3 URL needs a bucket: s3://bucket or s3://bucket/prefix")
      return { _tag: "S3", bucket: m[1]!, prefix: m[2]!.replace(/\/+$/, "") }
    }
    case "memory":
      return bad(url, "the in-memory store is written memory: with nothing after it")
    default:
      return bad(url, `unsupported scheme "${scheme[1]}:"`)
  }
}

/** How a location is shown to a person. */
export const describeLocation = (location: StoreLocation): string => {
  switch (location._tag) {
    case "Local":
      return location.dir
    case "Memory":
      return "memory:"
    case "S3":
      return `s3://${location.bucket}${location.prefix.length > 0 ? `/${location.prefix}` : ""}`
  }
}

/** What this module needs from `@shale/s3` (typed here, so that core does not depend on it at build time). */
interface S3Module {
  readonly S3ObjectStore: {
    readonly layerAt: (location: { readonly bucket: string; readonly prefix: string }) => Layer.Layer<
      ObjectStore,
      ObjectStoreError | Config.ConfigError
    >
  }
}

/** A bare specifier in a variable: resolved at run time from wherever `@shale/core` is installed. */
const S3_PACKAGE = "@shale/s3"

const loadS3 = Effect.tryPromise({
  try: () => import(S3_PACKAGE) as Promise<S3Module>,
  catch: (e) =>
    new InvalidError({
      message: `s3:// stores need the ${S3_PACKAGE} package (npm install ${S3_PACKAGE}): ${
        e instanceof Error ? e.message : String(e)
      }`
    })
})

const loadLocal = Effect.promise(() => import("./LocalObjectStore.ts"))

/**
 * The `ObjectStore` layer of a location. Every call of this function (not every build of the layer) makes
 * a memory location a new store: building the returned layer again, e.g. to reopen a database, finds the
 * same objects.
 */
export const layerForLocation = (location: StoreLocation): Layer.Layer<ObjectStore, StoreUrlError> => {
  switch (location._tag) {
    case "Memory":
      return Layer.succeed(ObjectStore, makeMemory())
    case "Local":
      return Layer.unwrap(Effect.map(loadLocal, (m) => m.LocalObjectStore.layer({ root: location.dir })))
    case "S3":
      return Layer.unwrap(
        Effect.map(loadS3, (m) => m.S3ObjectStore.layerAt({ bucket: location.bucket, prefix: location.prefix }))
      )
  }
}

/** The `ObjectStore` layer named by `url`; a bad URL fails the layer with `InvalidError`. */
export const layerFromUrl = (url: string): Layer.Layer<ObjectStore, StoreUrlError> => {
  const location = parseStoreUrl(url)
  return location instanceof InvalidError
    ? Layer.effect(ObjectStore, Effect.fail(location))
    : layerForLocation(location)
}
