/**
 * `@shale/s3`: Shale's `ObjectStore` on S3 and S3-compatible servers: `S3ObjectStore.layer(config)`,
 * `S3ObjectStore.layerConfig` (from `SHALE_S3_*` / `AWS_*` variables), `S3ObjectStore.layerAt({ bucket,
 * prefix })` (what `s3://bucket/prefix` URLs resolve to in `@shale/core`).
 */
export * as S3ObjectStore from "./S3ObjectStore.ts"
export type { S3Location, S3ObjectStoreConfig } from "./S3ObjectStore.ts"
