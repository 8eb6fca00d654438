/**
 * The object store everything Shale persists goes through: the `ObjectStore` service, the in-memory store,
 * stores named by URL, the retrying wrapper the engine puts around any store, the typed store errors, and
 * what another backend (such as `@shale/s3`) needs to implement the service (`spanned`: name a request's
 * span, made only when a tracer collects it). The local-directory store is Node-only: `LocalObjectStore`
 * in `@shale/core/node`.
 */
import { Layer } from "effect"
import { makeMemory, ObjectStore } from "../objectstore/ObjectStore.ts"

export {
  type ByteRange,
  clipRange,
  type ListOptions,
  makeMemory,
  type MemoryOptions,
  type ObjectMeta,
  ObjectStore,
  type ObjectSummary,
  type PutMode,
  type PutOptions,
  type PutResult
} from "../objectstore/ObjectStore.ts"
export { isUnder, join, pathError, validatePath, validatePrefix } from "../objectstore/ObjectPath.ts"
export {
  InvalidPath,
  isTransient,
  ObjectAlreadyExists,
  ObjectNotFound,
  type ObjectStoreError,
  type StoreOp,
  StoreFailure,
  StoreUnavailable
} from "../objectstore/ObjectStoreError.ts"
export { type RetryOptions, retrySchedule, withRetries } from "../objectstore/RetryingObjectStore.ts"
export { spanned } from "../Tracing.ts"
export {
  describeLocation,
  layerForLocation,
  layerFromUrl,
  parseStoreUrl,
  type StoreLocation,
  type StoreUrlError
} from "../objectstore/StoreUrl.ts"

/** A fresh in-memory store each time the layer is built (deterministic: times from the Effect `Clock`). */
export const layerMemory: Layer.Layer<ObjectStore> = ObjectStore.layerMemory

/**
 * One in-memory store: every build of the returned layer provides the same store, so a database closed
 * and opened again on it finds its data.
 */
export const memory = (): Layer.Layer<ObjectStore> => Layer.succeed(ObjectStore, makeMemory())

/** Replaces the `ObjectStore` in context with a retrying one around it (what the engine does itself). */
export { RetryingObjectStore } from "../objectstore/RetryingObjectStore.ts"
