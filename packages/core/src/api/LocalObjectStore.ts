/**
 * The `ObjectStore` on a local directory (Node only), in SlateDB's `file://` layout: a directory SlateDB
 * wrote through a `file://` store opens here, and the other way round.
 */
import { LocalObjectStore } from "../objectstore/LocalObjectStore.ts"

export type { LocalObjectStoreOptions as Options } from "../objectstore/LocalObjectStore.ts"

/** The store on Node's file system; the directory is created (with its parents) if missing. */
export const layer = LocalObjectStore.layer
/** The store on the `FileSystem` in context. */
export const layerWithFileSystem = LocalObjectStore.layerWithFileSystem
/** Builds the store on the `FileSystem` in context (for wrapping it). */
export const make = LocalObjectStore.make
