/**
 * How an S3 store is configured (S3ObjectStore.ts): the options, their reading from the environment, and
 * the AWS SDK client's configuration they make.
 */
import type { S3ClientConfig } from "@aws-sdk/client-s3"
import { Config, Option, Redacted } from "effect"

/** How to reach the bucket. */
export interface S3ObjectStoreConfig {
  /** Custom endpoint, e.g. `http://127.0.0.1:7480` for radosgw; absent for AWS itself. */
  readonly endpoint?: string
  readonly region: string
  readonly bucket: string
  /** Key prefix for every object of this store (`db1` stores `wal/1.sst` at `db1/wal/1.sst`). */
  readonly prefix?: string
  /** Static credentials; absent: the AWS SDK's default chain (environment, profile, instance role). */
  readonly credentials?: {
    readonly accessKeyId: string
    readonly secretAccessKey: string | Redacted.Redacted<string>
    readonly sessionToken?: string
  }
  /** `https://host/bucket/key` instead of `https://bucket.host/key`; needed by most non-AWS servers. */
  readonly forcePathStyle?: boolean
  /** Attempts per request inside the AWS SDK (default 1: retrying is the caller's business). */
  readonly maxAttempts?: number
  /** Milliseconds to establish a connection (default 5000). */
  readonly connectionTimeoutMs?: number
  /** Milliseconds for a whole request and response (default 30000); exceeded → `StoreUnavailable`. */
  readonly requestTimeoutMs?: number
  /** `MaxKeys` per listing page (default: the server's, 1000 on S3). Small values exercise pagination. */
  readonly listPageSize?: number
  /**
   * Gets, ranged gets, heads and puts as signed HTTP requests without the SDK's middleware (S3Lean.ts),
   * about 1 ms less CPU per request (default true). Ignored, with the SDK making every request, when
   * `maxAttempts` is above 1 (the lean path makes one attempt) or, on AWS without a custom endpoint, when
   * the bucket cannot be a virtual host on TLS.
   */
  readonly lean?: boolean
}

/** Where a store is inside S3: the bucket and the key prefix of its objects (`""`: the bucket's top level). */
export interface S3Location {
  readonly bucket: string
  readonly prefix: string
}

/** How to reach S3, from the environment: everything but the bucket and prefix. */
const connectionConfig = Config.all({
  endpoint: Config.option(Config.NonEmptyString("SHALE_S3_ENDPOINT")),
  region: Config.NonEmptyString("AWS_REGION").pipe(Config.withDefault("us-east-1")),
  accessKeyId: Config.option(Config.NonEmptyString("AWS_ACCESS_KEY_ID")),
  secretAccessKey: Config.option(Config.Redacted("AWS_SECRET_ACCESS_KEY")),
  sessionToken: Config.option(Config.NonEmptyString("AWS_SESSION_TOKEN")),
  forcePathStyle: Config.Boolean("SHALE_S3_FORCE_PATH_STYLE").pipe(Config.withDefault(false)),
  maxAttempts: Config.Int("SHALE_S3_MAX_ATTEMPTS").pipe(Config.withDefault(1))
})

const withConnection = (location: S3Location) =>
  Config.map(connectionConfig, (c): S3ObjectStoreConfig => ({
    region: c.region,
    bucket: location.bucket,
    forcePathStyle: c.forcePathStyle,
    maxAttempts: c.maxAttempts,
    ...(Option.isSome(c.endpoint) ? { endpoint: c.endpoint.value } : {}),
    ...(location.prefix.length > 0 ? { prefix: location.prefix } : {}),
    ...(Option.isSome(c.accessKeyId) && Option.isSome(c.secretAccessKey)
      ? {
        credentials: {
          accessKeyId: c.accessKeyId.value,
          secretAccessKey: c.secretAccessKey.value,
          ...(Option.isSome(c.sessionToken) ? { sessionToken: c.sessionToken.value } : {})
        }
      }
      : {})
  }))

/**
 * The configuration read from the environment: `SHALE_S3_BUCKET` (required), `SHALE_S3_ENDPOINT`,
 * `SHALE_S3_PREFIX`, `AWS_REGION` (default `us-east-1`), `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
 * (+ `AWS_SESSION_TOKEN`; without them the SDK's default chain is used), `SHALE_S3_FORCE_PATH_STYLE`
 * (default false), `SHALE_S3_MAX_ATTEMPTS` (default 1).
 */
export const config: Config.Config<S3ObjectStoreConfig> = Config.all({
  bucket: Config.NonEmptyString("SHALE_S3_BUCKET"),
  prefix: Config.String("SHALE_S3_PREFIX").pipe(Config.withDefault(""))
}).pipe(Config.flatMap(withConnection))

/**
 * The configuration of the store at `location` (an `s3://bucket/prefix` URL's parts): bucket and prefix as
 * given, the rest from the environment as `config` reads it.
 */
export const configAt = (location: S3Location): Config.Config<S3ObjectStoreConfig> => withConnection(location)

/** The AWS SDK client's configuration for `options`. */
export const clientConfigOf = (options: S3ObjectStoreConfig): S3ClientConfig => ({
  region: options.region,
  forcePathStyle: options.forcePathStyle ?? false,
  maxAttempts: Math.max(1, options.maxAttempts ?? 1),
  requestHandler: {
    connectionTimeout: options.connectionTimeoutMs ?? 5_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    throwOnRequestTimeout: true
  },
  ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
  ...(options.credentials !== undefined
    ? {
      credentials: {
        accessKeyId: options.credentials.accessKeyId,
        secretAccessKey: Redacted.isRedacted(options.credentials.secretAccessKey)
          ? Redacted.value(options.credentials.secretAccessKey)
          : options.credentials.secretAccessKey,
        ...(options.credentials.sessionToken !== undefined ? { sessionToken: options.credentials.sessionToken } : {})
      }
    }
    : {})
})
