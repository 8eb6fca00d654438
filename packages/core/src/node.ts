/**
 * `@shale/core/node`: the parts of Shale that only run on Node.js, kept out of the main entry so that the
 * engine imports no Node built-in it does not need.
 *
 * - `LocalObjectStore`: the `ObjectStore` on a local directory (SlateDB's `file://` layout).
 * - `CachedObjectStore`: the disk cache of object ranges, a layer over any `ObjectStore`.
 * - `NodeFileSystem`: `@effect/platform-node`'s file system layer, which `Settings.load` and
 *   `Settings.fromFile` need in context.
 */
export * as LocalObjectStore from "./api/LocalObjectStore.ts"
export * as CachedObjectStore from "./api/CachedObjectStore.ts"
export * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
