/** The S3 backend of Shale's `ObjectStore`: `S3ObjectStore.layer(config)` / `S3ObjectStore.layerConfig`. */
export * as S3ObjectStore from "./S3ObjectStore.ts"
export type { S3ObjectStoreConfig } from "./S3ObjectStore.ts"
